"""Every workflow step through its action, with the audit trail written, and the
invalid transitions refused."""

from __future__ import annotations

import datetime as dt
import re
import zlib

import pytest
from django.core.exceptions import ValidationError

from concerto.audit.models import AuditEvent
from concerto.lib.errors import ActionRefused
from concerto.rcp import actions, pdf, rules, uploads
from concerto.rcp.models import (
    CompteRendu,
    Document,
    FrozenError,
    NewsItem,
    Registration,
    Session,
)
from concerto.rcp.stats import board_statistics
from tests.builders import World, gp
from tests.rcp.conftest import ELF, MZ, PDF, PNG, SESSION_DAY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def test_schedule_sessions_creates_each_with_its_event_and_skips_existing():
    world = World()
    first = world.session(SESSION_DAY)
    created, existing = actions.schedule_sessions(
        by=world.secretary,
        board=world.board,
        dates=[SESSION_DAY, SESSION_DAY + dt.timedelta(days=7)],
        time=dt.time(14, 0),
    )
    assert existing == [SESSION_DAY]
    assert [s.date for s in created] == [SESSION_DAY + dt.timedelta(days=7)]
    assert Session.objects.filter(board=world.board).count() == 2
    assert [e.object_id for e in events("session.schedule")] == [str(first.pk), str(created[0].pk)]


def test_schedule_sessions_refuses_a_past_date_and_creates_nothing():
    world = World()
    with pytest.raises(ActionRefused, match="passée"):
        actions.schedule_sessions(
            by=world.secretary,
            board=world.board,
            dates=[SESSION_DAY, dt.date(2026, 2, 24)],
            time=dt.time(14, 0),
        )
    assert not Session.objects.exists()
    assert not events("session.schedule")


def test_cancel_and_move_session_are_traced():
    world = World()
    session = world.session(SESSION_DAY)
    actions.move_session(
        by=world.secretary, session=session, date=dt.date(2026, 3, 24), time=dt.time(15, 30)
    )
    session.refresh_from_db()
    assert (session.date, session.time) == (dt.date(2026, 3, 24), dt.time(15, 30))
    assert events("session.move")[0].details["to"] == ["2026-03-24", "15:30:00"]
    registration = world.register(session, world.patient(gp_rpps=gp().rpps))
    actions.cancel_session(by=world.secretary, session=session)
    session.refresh_from_db()
    assert session.status == Session.Status.CANCELLED
    assert len(events("session.cancel")) == 1
    # The GP's line says so (it vanished: the GP saw the presentation disappear, unsaid),
    # and a rename of the board keeps it said.
    line = NewsItem.objects.get(registration=registration)
    assert line.text == f"Séance annulée : présentation en {world.board.title} le 24/03/2026"
    world.board.title = "RCP renommée"
    world.board.save()
    actions.refresh_upcoming_news(world.board)
    line.refresh_from_db()
    assert line.text == "Séance annulée : présentation en RCP renommée le 24/03/2026"


def test_registering_to_a_cancelled_session_is_refused():
    world = World()
    session = world.session(SESSION_DAY)
    actions.cancel_session(by=world.secretary, session=session)
    with pytest.raises(ActionRefused, match="annulée"):
        world.register(session, world.patient())
    assert not Registration.objects.exists()


def test_registering_to_a_past_session_is_refused():
    world = World()
    past = Session.objects.create(board=world.board, date=dt.date(2026, 2, 24), time=dt.time(14))
    with pytest.raises(ActionRefused, match="déjà eu lieu"):
        world.register(past, world.patient())


def test_registration_prefiche_withdraw_and_move_are_traced():
    world = World()
    session = world.session(SESSION_DAY)
    later = world.session(SESSION_DAY + dt.timedelta(days=7))
    registration = world.register(session, world.patient(), complete=False)
    actions.update_prefiche(by=world.registrar, registration=registration, tnm="pT2N0M0")
    actions.complete_prefiche(by=world.registrar, registration=registration)
    actions.attach_document(
        by=world.registrar,
        registration=registration,
        title="Scanner",
        original_name="scanner.pdf",
        content=PDF,
    )
    moved = actions.move_registration(by=world.registrar, registration=registration, session=later)
    registration.refresh_from_db()
    assert registration.status == Registration.Status.WITHDRAWN
    assert moved.session == later
    assert moved.tnm == "pT2N0M0"
    assert moved.prefiche_completed_at == registration.prefiche_completed_at
    assert moved.documents.count() == 1
    for action in (
        "registration.update_prefiche",
        "registration.complete_prefiche",
        "document.upload",
        "registration.withdraw",
        "registration.move",
    ):
        assert events(action), action
        assert events(action)[-1].patient_id == registration.patient_id
    actions.withdraw_registration(by=world.registrar, registration=moved)
    assert not NewsItem.objects.filter(kind=NewsItem.Kind.UPCOMING, registration=moved).exists()


def test_completing_an_incomplete_prefiche_is_refused_with_the_missing_fields():
    world = World()
    session = world.session(SESSION_DAY)
    registration = world.register(session, world.patient(), complete=False, question="")
    with pytest.raises(ActionRefused, match="question posée"):
        actions.complete_prefiche(by=world.registrar, registration=registration)


# --- Documents ----------------------------------------------------------------------------


@pytest.fixture
def registration():
    world = World()
    return world, world.register(world.session(SESSION_DAY), world.patient())


@pytest.mark.parametrize("content", [PDF, PNG, b"\xff\xd8\xff\xe0" + b"\x00" * 20])
def test_accepted_documents_are_stored_privately_under_a_random_name(
    registration, documents_dir, content
):
    world, reg = registration
    document = actions.attach_document(
        by=world.registrar,
        registration=reg,
        title="",
        original_name="compte rendu opératoire.pdf",
        content=content,
    )
    stored = documents_dir / document.stored_name
    assert stored.read_bytes() == content
    assert "compte" not in document.stored_name and len(document.stored_name) >= 32
    assert document.content_type == uploads.sniff(content)
    assert document.title == "compte rendu opératoire.pdf"


@pytest.mark.parametrize("content", [ELF, MZ, b"<html><script>alert(1)</script>"])
def test_a_renamed_executable_is_refused(registration, documents_dir, content):
    world, reg = registration
    with pytest.raises(ActionRefused, match="Type de fichier refusé"):
        actions.attach_document(
            by=world.registrar,
            registration=reg,
            title="",
            original_name="resultat.pdf",
            content=content,
        )
    assert not Document.objects.exists()
    assert not documents_dir.exists() or not any(documents_dir.iterdir())


def test_an_oversized_document_is_refused_with_a_clear_message(registration, settings):
    world, reg = registration
    settings.DOCUMENT_MAX_BYTES = 1024 * 1024
    with pytest.raises(ActionRefused) as refused:
        actions.attach_document(
            by=world.registrar,
            registration=reg,
            title="",
            original_name="irm.pdf",
            content=PDF + b"0" * (1024 * 1024),
        )
    assert "trop volumineux" in refused.value.messages[0]
    assert "1 Mo" in refused.value.messages[0]
    assert not Document.objects.exists()


def test_a_failed_document_record_leaves_no_file(registration, documents_dir):
    world, reg = registration
    actions.withdraw_registration(by=world.registrar, registration=reg)
    with pytest.raises(ActionRefused, match="retirée"):
        actions.attach_document(
            by=world.registrar, registration=reg, title="", original_name="a.pdf", content=PDF
        )
    assert not any(documents_dir.iterdir())


# --- Decision, compte-rendu, PPS ---------------------------------------------------------


def test_a_session_is_held_only_once_started_and_never_cancelled_or_moved_once_decided(
    registration, frozen
):
    world, reg = registration
    session = reg.session
    frozen.move_to(session.starts_at - dt.timedelta(days=14))
    with pytest.raises(ActionRefused, match="pas encore commencé"):
        actions.mark_session_held(by=world.secretary, session=session)
    frozen.move_to(session.starts_at)
    actions.validate_compte_rendu(
        by=world.participants[0][0],
        registration=reg,
        case_status=CompteRendu.CaseStatus.DISCUSSED,
        proposal="Chirurgie.",
        attendees=world.attendees(),
    )
    later = dt.date(2026, 4, 28)
    with pytest.raises(ActionRefused, match="La séance a commencé"):
        actions.move_session(by=world.secretary, session=session, date=later, time=dt.time(14))
    with pytest.raises(ActionRefused, match="décisions de cette séance sont validées"):
        actions.cancel_session(by=world.secretary, session=session)
    session.refresh_from_db()
    assert session.status == Session.Status.PLANNED and session.date == SESSION_DAY
    actions.mark_session_held(by=world.secretary, session=session)
    actions.mark_session_held(by=world.secretary, session=session)  # a second click: no-op
    assert len(events("session.held")) == 1


def test_a_decision_is_not_validated_before_the_meeting(registration, frozen):
    world, reg = registration
    everyone = world.attendees()

    def validate():  # type: ignore[no-untyped-def]
        return actions.validate_compte_rendu(
            by=everyone[0][0],
            registration=reg,
            case_status=CompteRendu.CaseStatus.DISCUSSED,
            proposal="Chirurgie.",
            attendees=everyone,
        )

    frozen.move_to(reg.session.starts_at - dt.timedelta(minutes=1))
    with pytest.raises(ActionRefused, match="n'a pas encore eu lieu"):
        validate()
    assert not CompteRendu.objects.exists()
    frozen.move_to(reg.session.starts_at)
    assert validate().version == 1


def test_validation_without_quorum_is_refused_unless_a_reason_is_recorded(registration, frozen):
    world, reg = registration
    frozen.move_to(reg.session.starts_at)  # decisions are taken at the meeting
    two = world.attendees()[:2]
    with pytest.raises(ActionRefused, match="Quorum non atteint"):
        actions.validate_compte_rendu(
            by=two[0][0],
            registration=reg,
            case_status=CompteRendu.CaseStatus.DISCUSSED,
            proposal="Chirurgie.",
            attendees=two,
        )
    assert not CompteRendu.objects.exists()
    cr = actions.validate_compte_rendu(
        by=two[0][0],
        registration=reg,
        case_status=CompteRendu.CaseStatus.DISCUSSED,
        proposal="Chirurgie.",
        attendees=two,
        quorum_override_reason="Radiothérapeute joint par téléphone.",
    )
    assert not cr.quorum_met
    assert cr.quorum_override_reason == "Radiothérapeute joint par téléphone."
    assert events("compte_rendu.validate")[0].details == {"version": 1, "quorum_met": False}


def test_a_board_requiring_core_specialties_needs_the_radiotherapist(registration, frozen):
    world, reg = registration
    frozen.move_to(reg.session.starts_at)  # decisions are taken at the meeting
    world.board.requires_core_specialties = True
    world.board.save()
    present = [
        (world.participants[0][0], rules.SURGERY),
        (world.participants[1][0], rules.MEDICAL_ONCOLOGY),
        (world.secretary, "Anatomopathologie"),
    ]
    with pytest.raises(ActionRefused, match="Radiothérapie"):
        actions.validate_compte_rendu(
            by=world.participants[0][0],
            registration=reg,
            case_status=CompteRendu.CaseStatus.DISCUSSED,
            proposal="Chirurgie.",
            attendees=present,
        )


def test_a_validated_compte_rendu_is_frozen_and_a_correction_is_version_two(registration, frozen):
    world, reg = registration
    frozen.move_to(reg.session.starts_at)  # decisions are taken at the meeting
    by = world.participants[0][0]
    first = actions.validate_compte_rendu(
        by=by,
        registration=reg,
        case_status=CompteRendu.CaseStatus.DISCUSSED,
        proposal="Chirurgie première.",
        attendees=world.attendees(),
    )
    first.proposal = "Modifié en place"
    with pytest.raises(FrozenError):
        first.save()
    with pytest.raises(ActionRefused, match="validé"):
        actions.update_prefiche(by=world.registrar, registration=reg, tnm="T1")
    second = actions.validate_compte_rendu(
        by=by,
        registration=reg,
        case_status=CompteRendu.CaseStatus.REPRESENT,
        proposal="À représenter après IRM.",
        attendees=world.attendees(),
    )
    assert second.version == 2
    first.refresh_from_db()
    assert first.proposal == "Chirurgie première."
    assert [cr.version for cr in CompteRendu.objects.filter(registration=reg)] == [1, 2]
    # The same decision sent again (Back, a second click on a reloaded page): no version 3,
    # no second "compte-rendu validé" line in the GP's feed (there was one of each).
    lines = NewsItem.objects.filter(kind=NewsItem.Kind.COMPTE_RENDU).count()
    with pytest.raises(actions.AlreadyValidated, match="Rien n'a changé") as same:
        actions.validate_compte_rendu(
            by=by,
            registration=reg,
            case_status=CompteRendu.CaseStatus.REPRESENT,
            proposal="À représenter après IRM.",
            attendees=list(reversed(world.attendees())),
            seen_version=2,
        )
    assert same.value.repeat and same.value.compte_rendu == second
    assert CompteRendu.objects.filter(registration=reg).count() == 2
    assert NewsItem.objects.filter(kind=NewsItem.Kind.COMPTE_RENDU).count() == lines
    # Who was present is part of the decision: one more participant is a new version.
    third = actions.validate_compte_rendu(
        by=by,
        registration=reg,
        case_status=CompteRendu.CaseStatus.REPRESENT,
        proposal="À représenter après IRM.",
        attendees=world.attendees()[:-1],
        quorum_override_reason="Radiothérapeute absent, avis demandé.",
        seen_version=2,
    )
    assert third.version == 3


def test_the_gp_contribution_is_quoted_in_the_compte_rendu(registration, frozen):
    world, reg = registration
    frozen.move_to(reg.session.starts_at)  # decisions are taken at the meeting
    from tests.builders import user

    gp = user(last_name="Generaliste", specialty="Médecine générale")
    actions.save_gp_contribution(
        by=gp, registration=reg, comment="Patient très entouré.", wants_to_join=True
    )
    cr = actions.validate_compte_rendu(
        by=world.participants[0][0],
        registration=reg,
        case_status=CompteRendu.CaseStatus.DISCUSSED,
        proposal="Chirurgie.",
        attendees=world.attendees(),
    )
    assert cr.gp_contribution_quote == (
        "Commentaire du Docteur GENERALISTE, Médecine générale : Patient très entouré."
    )


def test_pps_from_a_validated_decision_creates_the_news_line(registration, frozen):
    world, reg = registration
    frozen.move_to(reg.session.starts_at)  # decisions are taken at the meeting
    cr = actions.validate_compte_rendu(
        by=world.participants[0][0],
        registration=reg,
        case_status=CompteRendu.CaseStatus.DISCUSSED,
        proposal="Chirurgie.",
        attendees=world.attendees(),
    )
    pps = actions.generate_pps(
        by=world.participants[0][0],
        compte_rendu=cr,
        doctor_name="ONCOFICTIF Odile",
        establishment_name="CHU Fictif",
        content="Chirurgie puis surveillance.",
    )
    news = NewsItem.objects.get(kind=NewsItem.Kind.PPS, pps=pps)
    assert "Nouveau PPS généré par ONCOFICTIF Odile (CHU Fictif)" in news.text
    assert events("pps.generate")[0].patient_id == reg.patient_id
    # The same PPS again (the form sent twice, its count reloaded): refused, not a second
    # "Nouveau PPS" line for the GP.
    with pytest.raises(actions.AlreadyGenerated, match="déjà été généré"):
        actions.generate_pps(
            by=world.participants[0][0],
            compte_rendu=cr,
            doctor_name="ONCOFICTIF Odile",
            establishment_name="CHU Fictif",
            content="Chirurgie puis surveillance.",
            seen_pps=1,
        )
    assert NewsItem.objects.filter(kind=NewsItem.Kind.PPS).count() == 1


def _pdf_characters(document: bytes) -> set[str]:
    """The characters a PDF's embedded fonts print (their ToUnicode maps)."""
    found = set()
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", document, re.S):
        try:
            text = zlib.decompress(stream)
        except zlib.error:  # (an uncompressed stream)
            text = stream
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", text, re.S):
            for code in re.findall(rb"<[0-9A-F]{4}> <([0-9A-F]{4,})>", block):
                found.add(chr(int(code, 16)))
    return found


def test_compte_rendu_and_pps_pdfs_print_clinical_notation(registration, frozen):
    world, reg = registration
    frozen.move_to(reg.session.starts_at)
    notation = "β-HCG élevée, HER2−, 5 μg, 10⁹/L, T→N, ≥ 3, œdème"
    cr = actions.validate_compte_rendu(
        by=world.participants[0][0],
        registration=reg,
        case_status=CompteRendu.CaseStatus.DISCUSSED,
        proposal=notation,
        attendees=world.attendees(),
    )
    pps = actions.generate_pps(
        by=world.participants[0][0],
        compte_rendu=cr,
        doctor_name="ONCOFICTIF Odile",
        establishment_name="CHU Fictif",
        content=notation,
    )
    for document in (pdf.compte_rendu_pdf(cr), pdf.pps_pdf(pps)):
        assert set("βμ−⁹→≥œé") <= _pdf_characters(document)  # (printed "?" in Latin-1 fonts)


def test_board_statistics_name_each_reason_and_status_in_french(frozen):
    world = World()
    session = world.session(SESSION_DAY)
    world.register(session, world.patient())  # no GP: not eligible
    world.register(session, world.patient())
    world.register(session, world.patient(gp_rpps=gp().rpps, gp_name="Dr FICTIF"))  # pending
    rows = dict(board_statistics(world.board, dt.date(2026, 1, 1), dt.date(2026, 12, 31)).rows())
    # Each reason once, counted per file (the status label already says "Non éligible").
    assert rows["Non éligible : pas de médecin traitant déclaré"] == "2"
    assert not any("Non éligible : Non éligible" in key for key in rows)
    assert rows["Notification en attente"] == "1"
    assert not any("«" in key for key in rows)  # no internal code such as « pending »


def test_frozen_error_is_a_validation_error():
    assert issubclass(FrozenError, ValidationError)


# --- Statistics ---------------------------------------------------------------------------


def test_board_statistics_count_sessions_files_and_quorum(registration, frozen):
    world, reg = registration
    other = world.register(world.session(SESSION_DAY + dt.timedelta(days=7)), world.patient())
    cancelled = world.session(SESSION_DAY + dt.timedelta(days=14))
    actions.cancel_session(by=world.secretary, session=cancelled)
    frozen.move_to(reg.session.starts_at)  # decisions are taken at the meeting
    actions.validate_compte_rendu(
        by=world.participants[0][0],
        registration=reg,
        case_status=CompteRendu.CaseStatus.DISCUSSED,
        proposal="Chirurgie.",
        attendees=world.attendees(),
    )
    frozen.move_to(other.session.starts_at)
    actions.validate_compte_rendu(
        by=world.participants[0][0],
        registration=other,
        case_status=CompteRendu.CaseStatus.DISCUSSED,
        proposal="Chirurgie.",
        attendees=world.attendees()[:1],
        quorum_override_reason="Urgence.",
    )
    actions.mark_session_held(by=world.secretary, session=reg.session)
    result = board_statistics(world.board, dt.date(2026, 3, 1), dt.date(2026, 3, 31))
    assert result.sessions_held == 1
    assert result.sessions_planned == 1
    assert result.sessions_cancelled == 1
    assert result.registrations == 2
    # "other" was decided at its meeting, not yet marked held: it was presented too.
    assert result.files_presented == 2
    assert (result.files_decided, result.files_with_quorum) == (2, 1)
    assert result.quorum_share == "50 %"
    assert sum(result.notification_codes.values()) == 2
