"""The pages: status codes, permission 404s, access trail, actions through forms,
no state change on GET, documents served only to those allowed."""

from __future__ import annotations

import csv
import datetime as dt
import io
import stat

import pytest
from bs4 import BeautifulSoup
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from concerto.audit.models import AuditEvent
from concerto.directory.models import Establishment
from concerto.patients.models import Patient
from concerto.rcp import actions, uploads
from concerto.rcp.models import (
    PPS,
    Board,
    BoardMembership,
    CompteRendu,
    Document,
    NewsItem,
    Registration,
    Session,
)
from tests.builders import World, gp, paris, user
from tests.rcp.conftest import ELF, PDF, SESSION_DAY

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("frozen")]


@pytest.fixture
def world():
    return World()


@pytest.fixture
def session(world):
    return world.session(SESSION_DAY)


@pytest.fixture
def registration(world, session):
    doctor = gp()
    reg = world.register(session, world.patient(gp_rpps=doctor.rpps, gp_name="Dr GP"))
    reg.gp = doctor  # type: ignore[attr-defined]
    return reg


@pytest.fixture
def document(world, registration):
    return actions.attach_document(
        by=world.registrar,
        registration=registration,
        title="Scanner",
        original_name="scanner.pdf",
        content=PDF,
    )


@pytest.fixture
def outsider():
    """A participant of another board."""
    other = World()
    return other.participants[0][0]


def login(client, who):
    client.force_login(who)
    return client


def denied(action: str) -> bool:
    return AuditEvent.objects.filter(action=action, outcome="denied").exists()


# --- Boards and sessions -----------------------------------------------------------------


def test_anonymous_users_are_sent_to_the_login_page(client, world):
    response = client.get(reverse("rcp:home"))
    assert response.status_code == 302
    assert response["Location"].startswith("/connexion/")


def test_my_boards_lists_the_board_for_its_secretary(client, world, outsider):
    page = login(client, world.secretary).get(reverse("rcp:home"))
    assert page.status_code == 200
    assert world.board.title in page.content.decode()
    other = login(client, outsider).get(reverse("rcp:home"))
    assert world.board.title not in other.content.decode()


def test_my_upcoming_registrations_say_when_the_session_was_cancelled(client, world, frozen):
    """'Mes inscriptions à venir': a file whose session was cancelled is to move (it said
    'inscrit'), even once that day has passed; a moved file is its new line only; a
    withdrawn one is listed apart, where its pré-fiche is still found."""
    cancelled, later, third = (
        world.session(SESSION_DAY + dt.timedelta(days=days)) for days in (0, 7, 14)
    )
    to_move, moved, withdrawn, active = (
        world.register(session, world.patient()) for session in (cancelled, cancelled, later, later)
    )
    actions.cancel_session(by=world.secretary, session=cancelled)
    new = actions.move_registration(by=world.registrar, registration=moved, session=third)
    actions.withdraw_registration(by=world.registrar, registration=withdrawn)

    def rows(table):  # {patient's name: its line's cells}
        return {
            tr.select("td")[1].get_text(strip=True): tr.select("td")
            for tr in table.select("tbody tr")
        }

    for day in (SESSION_DAY - dt.timedelta(days=1), SESSION_DAY + dt.timedelta(days=1)):
        frozen.move_to(paris(day.year, day.month, day.day, 9))
        login(client, world.registrar)  # (a login of the day: the session's time-out)
        page = BeautifulSoup(client.get(reverse("rcp:home")).content.decode(), "html.parser")
        upcoming = rows(page.select_one("table:has(caption:-soup-contains('à venir'))"))
        assert set(upcoming) == {
            r.patient.identity_label for r in (to_move, new, active)
        }  # (the moved file once, at its new session; not the withdrawn one)
        status = upcoming[to_move.patient.identity_label][3]
        assert status.get_text(strip=True) == "Séance annulée — à déplacer"
        assert status.a["href"] == reverse("rcp:registration", args=[to_move.pk]) + "#deplacer"
        assert upcoming[active.patient.identity_label][3].get_text(strip=True) == "inscrit"
        apart = rows(page.select_one("table:has(caption:-soup-contains('retirées'))"))
        assert set(apart) == {withdrawn.patient.identity_label}
    detail = client.get(reverse("rcp:registration", args=[to_move.pk])).content.decode()
    assert 'id="deplacer"' in detail


def test_board_page_shows_members_and_consent_log(client, world, outsider):
    page = login(client, world.secretary).get(reverse("rcp:board", args=[world.board.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Journal des accords" in html
    assert world.participants[0][0].display_name in html
    assert "Radiothérapie" in html
    assert "activée depuis le" in html
    assert (
        login(client, outsider).get(reverse("rcp:board", args=[world.board.pk])).status_code == 404
    )


def test_withdrawing_my_consent_switches_the_notification_off(client, world):
    participant = world.participants[0][0]
    url = reverse("rcp:board-consent", args=[world.board.pk])
    assert login(client, participant).get(url).status_code == 405
    # One click would stop every GP's notice of the board: a confirmation first.
    refused = client.post(url, {"agreed": "0"})
    assert refused.status_code == 400
    page = BeautifulSoup(refused.content, "html.parser")
    box = page.find("input", attrs={"name": "confirm"})
    assert box["aria-invalid"] == "true"
    assert "Cochez la case pour confirmer" in page.find(id=box["aria-describedby"]).get_text()
    assert page.find("label", attrs={"for": box["id"]}) is not None
    world.board.refresh_from_db()
    assert world.board.notifications_enabled
    assert not AuditEvent.objects.filter(
        action="board.notification_consent", details__agreed=False
    ).exists()
    response = client.post(url, {"agreed": "0", "confirm": "1"})
    assert response.status_code == 302
    world.board.refresh_from_db()
    assert not world.board.notifications_enabled
    withdrawal = AuditEvent.objects.filter(action="board.notification_consent").latest("id")
    assert withdrawal.details == {"user_id": participant.pk, "agreed": False}
    assert AuditEvent.objects.filter(action="board.notifications_disabled").exists()
    page = client.get(reverse("rcp:board", args=[world.board.pk])).content.decode()
    assert "retrait" in page
    # Re-enabling needs everyone: refused while the participant has withdrawn.
    login(client, world.secretary).post(
        reverse("rcp:board-notifications", args=[world.board.pk]), {"enable": "1"}
    )
    world.board.refresh_from_db()
    assert not world.board.notifications_enabled
    login(client, participant).post(url, {"agreed": "1"})
    login(client, world.secretary).post(
        reverse("rcp:board-notifications", args=[world.board.pk]), {"enable": "1"}
    )
    world.board.refresh_from_db()
    assert world.board.notifications_enabled


@pytest.mark.parametrize("link", ["http://visio.exemple.test/", "ftp://visio.exemple.test/"])
def test_a_webconference_link_is_https(client, world, link):
    url = reverse("rcp:board-webconference", args=[world.board.pk])
    page = login(client, world.secretary).post(url, {"url": link, "code": "1"})
    world.board.refresh_from_db()
    assert world.board.webconference_url != link  # (was saved: "https attendue" said otherwise)
    # Shown again as typed, the error at its field (not the saved link, as if taken).
    field = BeautifulSoup(page.content, "html.parser").select_one("input[name=url]")
    assert page.status_code == 200 and field["value"] == link and field["aria-invalid"] == "true"


def test_the_secretary_is_not_offered_the_participants_actions(client, world, registration, frozen):
    """Decision and PPS are the participants' (their pages are a 404 for the secretary)."""
    frozen.move_to(registration.session.starts_at)
    login(client, world.participants[0][0])
    client.post(
        reverse("rcp:decision", args=[registration.pk]),
        {
            "attendees": _members(world),
            "case_status": "discussed",
            "proposal": "X.",
            "validate": "1",
            "seen_version": "0",
        },
    )
    cr = CompteRendu.objects.get()
    login(client, world.secretary)
    for url in (
        reverse("rcp:session", args=[registration.session_id]),
        reverse("rcp:registration", args=[registration.pk]),
        reverse("rcp:compte-rendu", args=[cr.pk]),
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        for link in BeautifulSoup(page.content, "html.parser").select("main a[href]"):
            if link["href"].startswith("/rcp/"):
                assert client.get(link["href"]).status_code != 404, (url, link["href"])


def test_a_member_is_picked_by_name(world):
    member = world.participants[0][0]
    assert str(member) == f"{member.last_name.upper()} {member.first_name} ({member.username})"


def test_only_organisers_edit_the_webconference(client, world):
    url = reverse("rcp:board-webconference", args=[world.board.pk])
    data = {"url": "https://visio.exemple.test/nouveau", "code": "999"}
    assert login(client, world.participants[0][0]).post(url, data).status_code == 404
    assert login(client, world.secretary).post(url, data).status_code == 302
    world.board.refresh_from_db()
    assert world.board.webconference_code == "999"
    assert AuditEvent.objects.filter(
        action="board.webconference", actor_id=world.secretary.pk
    ).exists()


def test_secretary_creates_one_off_and_recurring_sessions(client, world):
    url = reverse("rcp:board-sessions", args=[world.board.pk])
    login(client, world.secretary)
    assert client.get(url).status_code == 200
    client.post(
        url, {"kind": "single", "single-date": "2026-03-19", "single-time": "12:30"}, follow=True
    )
    assert Session.objects.filter(date=dt.date(2026, 3, 19), time=dt.time(12, 30)).exists()
    response = client.post(
        url,
        {
            "kind": "recurring",
            "rec-start": "2026-04-01",
            "rec-end": "2026-04-30",
            "rec-weekday": "0",
            "rec-time": "14:00",
            "rec-every_weeks": "1",
            "rec-skip_holidays": "on",
        },
        follow=True,
    )
    # Mondays of April 2026: 6 (Easter Monday, skipped), 13, 20, 27.
    mondays = Session.objects.filter(board=world.board, time=dt.time(14)).values_list(
        "date", flat=True
    )
    assert sorted(mondays) == [dt.date(2026, 4, 13), dt.date(2026, 4, 20), dt.date(2026, 4, 27)]
    assert "06/04/2026" in response.content.decode()


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "single", "single-date": "9999-12-31", "single-time": "12:30"},
        {"kind": "recurring", "rec-start": "9999-12-20", "rec-end": "9999-12-31"},
        {"kind": "recurring", "rec-start": "2062-03-02", "rec-end": "2062-03-30"},
    ],
)
def test_a_session_years_ahead_is_refused_by_the_form(client, world, data):
    # (9999-12-20 … 9999-12-31 was a 500: the weekly steps overflowed the calendar)
    data = {"rec-weekday": "0", "rec-time": "14:00", "rec-every_weeks": "1", **data}
    url = reverse("rcp:board-sessions", args=[world.board.pk])
    response = login(client, world.secretary).post(url, data)
    assert response.status_code == 200
    assert "au plus 5 ans à l&#x27;avance" in response.content.decode()
    assert not Session.objects.exists()


def test_a_session_in_the_past_is_refused_by_the_form(client, world):
    url = reverse("rcp:board-sessions", args=[world.board.pk])
    response = login(client, world.secretary).post(
        url, {"kind": "single", "single-date": "2026-02-01", "single-time": "12:30"}
    )
    assert response.status_code == 200
    assert "dans le futur" in response.content.decode()
    assert not Session.objects.exists()
    # The form is below the calendar: the top of the page says so and leads to it.
    html = BeautifulSoup(response.content, "html.parser")
    alert = html.select_one("h1 ~ [role=alert]")
    assert "La séance n'a pas été créée" in alert.get_text()
    assert html.select_one(alert.a["href"]).get_text() == "Créer une séance"


def test_participants_cannot_create_sessions(client, world):
    url = reverse("rcp:board-sessions", args=[world.board.pk])
    response = login(client, world.participants[0][0]).post(
        url, {"kind": "single", "single-date": "2026-03-19", "single-time": "12:30"}
    )
    assert response.status_code == 404
    assert not Session.objects.exists()


def test_cancel_and_move_through_the_session_page(client, world, session):
    login(client, world.secretary)
    assert client.get(reverse("rcp:session-cancel", args=[session.pk])).status_code == 405
    client.post(
        reverse("rcp:session-move", args=[session.pk]),
        {"move-date": "2026-03-24", "move-time": "16:00"},
    )
    session.refresh_from_db()
    assert session.date == dt.date(2026, 3, 24)
    # One click does not cancel a meeting: the confirmation is asked (it did, at once).
    page = client.post(reverse("rcp:session-cancel", args=[session.pk]), follow=True)
    assert "Cochez la confirmation" in page.content.decode()
    session.refresh_from_db()
    assert session.status == Session.Status.PLANNED
    client.post(reverse("rcp:session-cancel", args=[session.pk]), {"confirm": "on"})
    session.refresh_from_db()
    assert session.status == Session.Status.CANCELLED
    assert AuditEvent.objects.filter(action="session.cancel", actor_id=world.secretary.pk).exists()


def test_a_session_set_on_a_public_holiday_or_a_weekend_is_kept_with_a_warning(
    client, world, session
):
    url = reverse("rcp:board-sessions", args=[world.board.pk])
    login(client, world.secretary)
    # Ascension Day 2026 (a Thursday): created, and said to be a holiday.
    page = client.post(
        url, {"kind": "single", "single-date": "2026-05-14", "single-time": "12:30"}, follow=True
    )
    assert Session.objects.filter(date=dt.date(2026, 5, 14)).exists()
    text = BeautifulSoup(page.content, "html.parser").select_one(".messages").get_text()
    assert "Attention : le 14/05/2026 est un jour férié (Ascension)." in text
    # A working day: no warning.
    page = client.post(
        url, {"kind": "single", "single-date": "2026-05-13", "single-time": "12:30"}, follow=True
    )
    assert "Attention" not in page.content.decode()
    # Recurring sessions planned on holidays on purpose: listed as such.
    page = client.post(
        url,
        {
            "kind": "recurring",
            "rec-start": "2026-05-01",
            "rec-end": "2026-05-31",
            "rec-weekday": "3",
            "rec-time": "09:00",
            "rec-every_weeks": "1",
        },
        follow=True,
    )
    assert "Dont jours fériés (planifiés comme demandé) : 14/05/2026." in page.content.decode()
    # Moved to a Sunday: moved, and said to be a Sunday.
    page = client.post(
        reverse("rcp:session-move", args=[session.pk]),
        {"move-date": "2026-03-22", "move-time": "16:00"},
        follow=True,
    )
    session.refresh_from_db()
    assert session.date == dt.date(2026, 3, 22)
    assert "le 22/03/2026 est un dimanche" in page.content.decode()


def test_a_refused_move_is_told_at_its_field_with_the_date_kept(client, world, session):
    login(client, world.secretary)
    page = client.post(
        reverse("rcp:session-move", args=[session.pk]),
        {"move-date": "2026-02-01", "move-time": "16:00"},  # in the past
    )
    assert page.status_code == 200  # (was a redirect: the date typed lost)
    html = BeautifulSoup(page.content, "html.parser")
    assert html.select_one("details.actions").has_attr("open")
    assert html.select_one("input[name=move-date]")["value"] == "2026-02-01"
    assert "dans le futur" in html.get_text()
    session.refresh_from_db()
    assert session.date == SESSION_DAY


def test_session_page_shows_files_contribution_and_notification_status(
    client, world, registration, document, outsider
):
    gp_user = user(last_name="Generaliste", specialty="Médecine générale")
    actions.save_gp_contribution(
        by=gp_user, registration=registration, comment="Très entouré.", wants_to_join=True
    )
    url = reverse("rcp:session", args=[registration.session_id])
    page = login(client, world.participants[1][0]).get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert registration.patient.identity_label in html
    assert "Commentaire du Docteur GENERALISTE, Médecine générale" in html
    assert "Souhaite participer à la RCP" in html
    assert "Notification du médecin traitant" in html
    assert reverse("rcp:document-download", kwargs={"pk": document.pk}) in html
    assert AuditEvent.objects.filter(
        action="session.view_registration", patient_id=registration.patient_id
    ).exists()
    assert login(client, outsider).get(url).status_code == 404


# --- Registration --------------------------------------------------------------------------


def test_patient_search_is_a_post_and_traces_each_hit(client, world, registration):
    patient = registration.patient
    url = reverse("rcp:patient-search")
    other_registrar = user(is_registrar=True)
    login(client, other_registrar)
    assert client.get(url).status_code == 200
    page = client.post(url, {"birth_name": patient.birth_name, "birth_date": "1944-09-14"})
    html = page.content.decode()
    assert patient.identity_label in html
    register_url = reverse("rcp:register", kwargs={"patient_pk": patient.pk})
    assert register_url in html
    assert AuditEvent.objects.filter(
        action="patient.search_hit", patient_id=patient.pk, actor_id=other_registrar.pk
    ).exists()
    # Found by the search: reachable for the registration step.
    assert client.get(register_url).status_code == 200


@pytest.mark.parametrize(
    "saved, typed",
    [
        (("Lefèvre", "Zoé"), ("LEFEVRE", "zoe")),
        (("Lefèvre", "Zoé"), ("lefèvre", "Zoé")),
        (("Lefèvre", "Zoé"), ("Lefévre", "ZOÉ")),
        # Letters Unicode does not decompose (they stayed as typed: "ØSTERGAARD").
        (("Østergaard", "Łucja"), ("OSTERGAARD", "lucja")),
        (("Đorđević", "Þóra"), ("Dordevic", "THORA")),
    ],
)
def test_a_patient_is_found_however_the_accents_are_typed(client, world, saved, typed):
    login(client, world.registrar)
    client.post(
        reverse("rcp:patient-create"),
        _identity(
            birth_name=saved[0],
            first_names=saved[1],
            ins_number="",
            ins_oid="",
            identity_status="PROV",
        ),
    )
    patient = Patient.objects.get()
    assert patient.birth_name.isascii() and patient.first_names.isascii()
    name, first = typed
    page = client.post(
        reverse("rcp:patient-search"),
        {"birth_name": name, "first_name": first, "birth_date": "1950-01-31"},
    )
    assert patient.identity_label in page.content.decode()  # (was none: a duplicate followed)


def test_an_identity_typed_twice_asks_for_confirmation(client, world):
    login(client, world.registrar)
    data = _identity(ins_number="", ins_oid="", identity_status="PROV", first_names="Zoé Marie")
    assert client.post(reverse("rcp:patient-create"), data).status_code == 302
    again = client.post(reverse("rcp:patient-create"), data | {"first_names": "ZOE"})
    assert again.status_code == 200  # (was a second patient: one person, two files)
    assert "existe déjà : recherchez-le" in again.content.decode()
    assert 'name="not_a_duplicate"' in again.content.decode()
    assert Patient.objects.count() == 1
    shown = BeautifulSoup(again.content, "html.parser").find("input", {"name": "shown"})["value"]
    assert shown == str(Patient.objects.get().pk)  # (the ids the warning named, in the form)
    confirmed = data | {"first_names": "ZOE", "not_a_duplicate": "on", "shown": shown}
    assert client.post(reverse("rcp:patient-create"), confirmed).status_code == 302
    assert Patient.objects.count() == 2


def test_an_identity_saved_with_accents_before_is_still_a_duplicate(client, world):
    Patient.objects.create(  # (a row from before names were stored as traits)
        birth_name="LEFÈVRE",
        first_names="ZOÉ",
        sex="F",
        birth_date=dt.date(1950, 1, 31),
        birth_place_code="86194",
    )
    login(client, world.registrar)
    data = _identity(
        birth_name="Lefèvre", first_names="Zoé", ins_number="", ins_oid="", identity_status="PROV"
    )
    again = client.post(reverse("rcp:patient-create"), data)
    assert again.status_code == 200 and "existe déjà" in again.content.decode()
    assert Patient.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "message"),
    [("Lœuvre" + "a" * 94, "100 caractères au plus"), ("\u0301", "obligatoire")],
)
def test_a_name_is_checked_as_it_will_be_stored(client, world, name, message):
    login(client, world.registrar)
    data = _identity(birth_name=name, ins_number="", ins_oid="", identity_status="PROV")
    page = client.post(reverse("rcp:patient-create"), data)  # (was a 500)
    assert page.status_code == 200 and message in page.content.decode()
    assert not Patient.objects.exists()


def test_a_patient_not_found_by_search_is_not_reachable(client, world, registration):
    login(client, user(is_registrar=True))
    url = reverse("rcp:register", kwargs={"patient_pk": registration.patient_id})
    assert client.get(url).status_code == 404


def test_non_registrars_cannot_search_patients(client, world):
    login(client, world.participants[0][0])
    assert client.get(reverse("rcp:patient-search")).status_code == 404
    assert client.get(reverse("rcp:patient-create")).status_code == 404


def test_create_patient_then_register_with_prefiche(client, world, session):
    doctor = gp(last_name="GENERALISTEVUE")
    login(client, world.registrar)
    response = client.post(
        reverse("rcp:patient-create"),
        {
            "birth_name": "Essai-Vue",
            "first_names": "Marie Anne",
            "sex": "F",
            "birth_date": "1950-01-31",
            "birth_place_code": "86194",
            "identity_status": "PROV",
            "gp_rpps": doctor.rpps,
            "gp_name": "",
        },
    )
    patient = Patient.objects.get(birth_name="ESSAI-VUE")
    assert response["Location"] == reverse("rcp:register", kwargs={"patient_pk": patient.pk})
    assert patient.gp_name == "Dr GENERALISTEVUE Test"
    response = client.post(
        response["Location"],
        {
            "session": session.pk,
            "reason": "Bilan d'extension",
            "cim10_code": "c50.4",
            "cim10_label": "",
            "question": "Chirurgie d'emblée ?",
        },
    )
    registration = Registration.objects.get(patient=patient)
    assert response["Location"] == reverse("rcp:registration", args=[registration.pk])
    assert registration.cim10_code == "C50.4"
    assert registration.cim10_label == "Tumeur maligne du quadrant supéro-externe du sein"
    client.post(reverse("rcp:registration-complete", args=[registration.pk]))
    registration.refresh_from_db()
    assert registration.prefiche_completed_at is not None


def test_qualified_identity_needs_an_ins(client, world):
    login(client, world.registrar)
    response = client.post(
        reverse("rcp:patient-create"),
        {
            "birth_name": "ESSAI",
            "first_names": "MARIE",
            "sex": "F",
            "birth_date": "1950-01-31",
            "birth_place_code": "86194",
            "identity_status": "QUAL",
        },
    )
    assert response.status_code == 200
    assert "matricule INS" in response.content.decode()
    assert not Patient.objects.exists()


def _identity(**changes: str) -> dict[str, str]:
    nir = "2500186194001"  # a woman born in January 1950
    return {
        "birth_name": "ESSAI",
        "first_names": "MARIE",
        "sex": "F",
        "birth_date": "1950-01-31",
        "birth_place_code": "86194",
        "identity_status": "QUAL",
        "ins_number": f"{nir}{97 - int(nir) % 97:02d}",
        "ins_oid": "1.2.250.1.213.1.4.8",
    } | changes


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sex": "M"}, "celui d&#x27;une femme"),  # another person's INS pasted
        ({"birth_date": "1951-01-31"}, "naissance en 50, pas en 51"),
        ({"birth_date": "1950-02-28"}, "le mois 01, pas 02"),
        ({"birth_date": "2099-01-01", "ins_number": ""}, "dans le futur"),
        ({"birth_date": "1850-01-01", "ins_number": ""}, "précède le 01/01/1900"),
    ],
)
def test_a_patients_ins_and_birth_date_are_checked_against_the_identity(
    client, world, changes, message
):
    login(client, world.registrar)
    data = _identity(**changes)
    if not data["ins_number"]:
        data |= {"identity_status": "PROV", "ins_oid": ""}
    response = client.post(reverse("rcp:patient-create"), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Patient.objects.exists()


def test_a_consistent_ins_is_accepted_and_a_concurrent_duplicate_is_a_form_error(
    client, world, monkeypatch
):
    login(client, world.registrar)
    response = client.post(reverse("rcp:patient-create"), _identity(birth_place_code="2a004"))
    assert response.status_code == 302
    assert Patient.objects.get().birth_place_code == "2A004"  # (was refused in lower case)
    assert AuditEvent.objects.get(action="patient.create").actor_role == "medecin_inscripteur"
    # Another registrar's save of the same INS landing between the check and the INSERT:
    # the database's unique constraint refuses it, and the form says so (was a 500).
    # (Another name: the same identity would be told apart before, as a possible duplicate.)
    monkeypatch.setattr(Patient, "validate_unique", lambda self, exclude=None: None)
    response = client.post(reverse("rcp:patient-create"), _identity(birth_name="AUTRENOM"))
    assert response.status_code == 200
    assert "vient d&#x27;être enregistré" in response.content.decode()
    assert Patient.objects.count() == 1


def test_the_declared_gp_is_changed_from_the_file(client, world, registration, outsider):
    old_gp, new_gp = registration.gp, gp(last_name="NOUVEAUMEDECIN")
    url = reverse("rcp:registration-gp", args=[registration.pk])
    login(client, outsider)
    assert client.get(url).status_code == 404 and denied("patient.declare_gp")
    assert client.post(url, {"gp_rpps": outsider.rpps or "", "gp_name": "x"}).status_code == 404
    login(client, world.registrar)
    page = client.get(reverse("rcp:registration", args=[registration.pk])).content.decode()
    assert url in page  # "Changer le médecin traitant"
    assert client.get(url).status_code == 200
    unknown = client.post(url, {"gp_rpps": "19999999998", "gp_name": ""})
    assert "n&#x27;est pas dans l&#x27;annuaire" in unknown.content.decode()
    assert client.post(url, {"gp_rpps": new_gp.rpps, "gp_name": ""}).status_code == 302
    patient = Patient.objects.get(pk=registration.patient_id)
    assert (patient.gp_rpps, patient.gp_name) == (new_gp.rpps, "Dr NOUVEAUMEDECIN Test")
    event = AuditEvent.objects.get(action="patient.declare_gp", outcome="ok")
    assert event.details["previous_gp_rpps"] == old_gp.rpps
    assert event.actor_role == "medecin_inscripteur"  # (the trail says as what)
    # The portal follows: the new GP sees the patient's lines and pre-fiche, the old one no more.
    prefiche = reverse("portal:prefiche", args=[registration.pk])
    login(client, user(rpps=new_gp.rpps))
    assert client.get(prefiche).status_code == 200
    assert patient.birth_name in client.get(reverse("portal:dashboard")).content.decode()
    login(client, user(rpps=old_gp.rpps))
    assert client.get(prefiche).status_code == 404
    assert patient.birth_name not in client.get(reverse("portal:dashboard")).content.decode()


def test_the_declared_gp_is_not_changed_through_a_withdrawn_file(client, world, registration):
    actions.withdraw_registration(by=world.registrar, registration=registration)
    login(client, world.registrar)
    url = reverse("rcp:registration-gp", args=[registration.pk])
    response = client.post(url, {"gp_rpps": gp().rpps, "gp_name": ""}, follow=True)
    assert "Cette inscription a été retirée" in response.content.decode()
    assert Patient.objects.get(pk=registration.patient_id).gp_rpps == registration.gp.rpps


def test_a_wrong_birth_place_code_is_told_at_its_field(client, world):
    login(client, world.registrar)
    data = _identity(birth_place_code="abc", ins_number="", ins_oid="", identity_status="PROV")
    page = client.post(reverse("rcp:patient-create"), data).content.decode()
    assert "La contrainte" not in page  # (the database constraint's name was shown)
    assert "Code INSEE de la commune de naissance" in page
    assert 'id="id_birth_place_code"' in page and 'aria-invalid="true"' in page


def test_gp_directory_search_by_name_or_rpps(client, world):
    doctor = gp(last_name="GENERALISTECHERCHE")
    login(client, world.registrar)
    url = reverse("rcp:gp-search")
    by_name = client.get(url, {"q": "cherche", "format": "json"}).json()
    assert by_name["results"][0]["rpps"] == doctor.rpps
    by_rpps = client.get(url, {"q": doctor.rpps[:8], "format": "json"}).json()
    assert doctor.rpps in [r["rpps"] for r in by_rpps["results"]]
    assert "GENERALISTECHERCHE" in client.get(url, {"q": "cherche"}).content.decode()


def test_cim10_search_endpoint(client, world):
    login(client, world.registrar)
    data = client.get(reverse("rcp:cim10-search"), {"q": "prostate"}).json()
    assert data["results"] == [{"code": "C61", "label": "Tumeur maligne de la prostate"}]


def test_registration_page_edit_withdraw_and_move(client, world, registration, outsider):
    later = world.session(SESSION_DAY + dt.timedelta(days=7))
    login(client, world.registrar)
    url = reverse("rcp:registration", args=[registration.pk])
    assert client.get(url).status_code == 200
    edit = reverse("rcp:prefiche-edit", args=[registration.pk])
    assert client.get(edit).status_code == 200
    data = {
        "reason": "Bilan",
        "cim10_code": "C04.0",
        "cim10_label": "Tumeur maligne du plancher antérieur de la bouche",
        "tnm": "cT2N1M0",
        "question": "Quelle stratégie ?",
    }
    assert client.post(edit, data).status_code == 302
    registration.refresh_from_db()
    assert registration.tnm == "cT2N1M0"
    client.post(reverse("rcp:registration-move", args=[registration.pk]), {"session": later.pk})
    moved = Registration.objects.get(session=later)
    assert moved.tnm == "cT2N1M0"
    client.post(reverse("rcp:registration-withdraw", args=[moved.pk]), {"confirm": "on"})
    moved.refresh_from_db()
    assert moved.status == Registration.Status.WITHDRAWN
    assert login(client, outsider).get(url).status_code == 404
    assert denied("registration.view")


def test_withdrawing_a_patient_asks_for_a_confirmation_naming_what_is_lost(
    client, world, registration
):
    """Withdrawing cannot be undone and a new registration starts from an empty file: one
    click no longer does it (it did), and the box says what stays behind."""
    login(client, world.registrar)
    withdraw = reverse("rcp:registration-withdraw", args=[registration.pk])
    page = BeautifulSoup(
        client.get(reverse("rcp:registration", args=[registration.pk])).content, "html.parser"
    )
    box = page.select_one(f'form[action^="{withdraw}"] input[type=checkbox][name=confirm]')
    label = " ".join(page.select_one(f"label[for={box['id']}]").get_text().split())
    assert box.has_attr("required")
    for lost in ("pré-fiche", "documents", "contribution du médecin traitant", "à venir"):
        assert lost in label, lost
    assert "notification déjà envoyée n'est pas rappelée" in label
    assert "« Déplacer vers cette séance »" in label
    # Without the box: the page again, the error at the box, nothing withdrawn.
    response = client.post(withdraw)
    assert response.status_code == 200
    registration.refresh_from_db()
    assert registration.status == Registration.Status.ACTIVE
    assert not AuditEvent.objects.filter(action="registration.withdraw").exists()
    page = BeautifulSoup(response.content, "html.parser")
    box = page.select_one("input[type=checkbox][name=confirm]")
    assert box["aria-invalid"] == "true"
    error = page.select_one(f"#{box['aria-describedby']}")
    assert error.find_parent(attrs={"role": "alert"}) is not None
    assert "Cochez la case pour confirmer le retrait" in error.get_text()
    # Confirmed: withdrawn.
    client.post(withdraw, {"confirm": "on"})
    registration.refresh_from_db()
    assert registration.status == Registration.Status.WITHDRAWN


def test_the_registration_page_says_its_state_in_the_feminine(client, world, registration):
    """'Inscription : retiré le …' (and 'inscrit'): the word agrees with 'inscription'."""
    later = world.session(SESSION_DAY + dt.timedelta(days=7))
    login(client, world.registrar)

    def state(pk):
        page = BeautifulSoup(
            client.get(reverse("rcp:registration", args=[pk])).content.decode(), "html.parser"
        )
        line = page.find(string=lambda text: "Inscription :" in text).parent
        return " ".join(line.get_text().split()).split("Inscription : ")[1]

    assert state(registration.pk) == "active."
    moved = registration
    registration = actions.move_registration(by=world.registrar, registration=moved, session=later)
    assert state(moved.pk) == (
        "déplacée le 02/03/2026 09:00 vers une autre séance : voir la nouvelle inscription."
    )
    page = client.get(reverse("rcp:registration", args=[moved.pk])).content.decode()
    assert reverse("rcp:registration", args=[registration.pk]) in page
    actions.withdraw_registration(by=world.registrar, registration=registration)
    assert state(registration.pk) == "retirée le 02/03/2026 09:00."


def test_a_file_moved_by_the_secretary_stays_the_registrars(client, world, registration):
    later = world.session(SESSION_DAY + dt.timedelta(days=7))
    login(client, world.secretary)
    client.post(reverse("rcp:registration-move", args=[registration.pk]), {"session": later.pk})
    moved = Registration.objects.get(session=later)
    assert moved.registered_by == world.registrar  # was the secretary: the registrar lost it
    login(client, world.registrar)
    assert client.get(reverse("rcp:registration", args=[moved.pk])).status_code == 200


def test_refused_reads_of_a_session_and_of_a_patient_are_traced(
    client, world, session, registration, outsider
):
    login(client, outsider)
    assert client.get(reverse("rcp:session", args=[session.pk])).status_code == 404
    assert denied("session.view")
    for action in ("session.cancel", "session.held"):  # a participant, not an organiser
        login(client, world.participants[0][0])
        url = reverse(f"rcp:{action.replace('.', '-')}", args=[session.pk])
        assert client.post(url).status_code == 404
        assert denied(action)
    stranger = user(is_registrar=True)
    login(client, stranger)
    url = reverse("rcp:register", args=[registration.patient_id])
    assert client.get(url).status_code == 404
    event = AuditEvent.objects.get(action="patient.view", outcome="denied")
    assert (event.actor_id, event.patient_id) == (stranger.pk, registration.patient_id)


def test_administrators_manage_the_board_but_read_no_patient_file(
    client, world, session, registration, document
):
    """SPEC §1 gives administrators directory, users and territories: no clinical role."""
    territory_admin = user()
    territory_admin.admin_territories.add(world.board.territory)
    for admin in (territory_admin, user(is_regional_admin=True)):
        login(client, admin)
        assert client.get(reverse("rcp:board", args=[world.board.pk])).status_code == 200
        for url in (
            reverse("rcp:registration", args=[registration.pk]),
            reverse("rcp:prefiche-edit", args=[registration.pk]),
            reverse("rcp:registration-gp", args=[registration.pk]),
            reverse("rcp:document-download", args=[document.pk]),
        ):
            assert client.get(url).status_code == 404, url
        assert (
            client.post(reverse("rcp:registration-withdraw", args=[registration.pk])).status_code
            == 404
        )
        assert AuditEvent.objects.filter(actor_id=admin.pk, outcome="denied").count() >= 5
        # The session page: its management, not its files (the board's pages link to it).
        page = client.get(reverse("rcp:session", args=[session.pk]))
        assert page.status_code == 200
        text = page.content.decode()
        assert "réservés aux membres" in text and registration.patient.birth_name not in text
        assert reverse("rcp:session-cancel", args=[session.pk]) in text
        assert (
            not AuditEvent.objects.filter(actor_id=admin.pk, patient_id__isnull=False)
            .exclude(outcome="denied")
            .exists()
        )
    registration.refresh_from_db()
    assert registration.status == Registration.Status.ACTIVE


def _form_data(page) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """What the browser would post from the page's form: its inputs, hidden ones included."""
    form = BeautifulSoup(page.content, "html.parser").select_one("main form")
    data = {i["name"]: i.get("value", "") for i in form.select("input[name]")}
    data |= {t["name"]: t.get_text() for t in form.select("textarea[name]")}
    for select in form.select("select[name]"):
        chosen = select.select_one("option[selected]")
        data[select["name"]] = chosen["value"] if chosen else ""
    data.pop("csrfmiddlewaretoken", None)
    return data


def test_two_editors_of_one_prefiche_lose_nothing(client, world, registration):
    edit = reverse("rcp:prefiche-edit", args=[registration.pk])
    first, second = Client(), Client()
    login(first, world.registrar)
    login(second, world.participants[0][0])
    seen_by_first = _form_data(first.get(edit))
    seen_by_second = _form_data(second.get(edit))
    # Each changes a different field, from the page they opened at the same time.
    assert first.post(edit, {**seen_by_first, "histology": "Adénocarcinome"}).status_code == 302
    assert second.post(edit, {**seen_by_second, "tnm": "cT3N0M0"}).status_code == 302
    registration.refresh_from_db()
    assert (registration.histology, registration.tnm) == ("Adénocarcinome", "cT3N0M0")
    # Both change the same field: the second is told, and nothing of theirs is written.
    page = second.post(edit, {**seen_by_second, "histology": "Carcinome épidermoïde"})
    assert page.status_code == 200
    text = " ".join(BeautifulSoup(page.content, "html.parser").get_text(" ").split())
    assert "modifiée entre-temps par quelqu'un d'autre (histologie)" in text
    assert "Enregistré entre-temps : « Adénocarcinome »" in text
    registration.refresh_from_db()
    assert registration.histology == "Adénocarcinome"
    # Saving again from the page shown replaces it, knowingly.
    assert second.post(edit, _form_data(page)).status_code == 302
    registration.refresh_from_db()
    assert (registration.histology, registration.tnm) == ("Carcinome épidermoïde", "cT3N0M0")


def test_a_prefiche_saved_twice_and_a_label_filled_in_from_its_code(client, world, registration):
    edit = reverse("rcp:prefiche-edit", args=[registration.pk])
    login(client, world.registrar)
    shown = _form_data(client.get(edit))
    data = {**shown, "histology": "Adénocarcinome"}
    # A double click on "Enregistrer": the second post is no clash with the first.
    assert client.post(edit, data).status_code == 302
    assert client.post(edit, data).status_code == 302
    # A code alone: the label the form fills in from it is saved too.
    shown = _form_data(client.get(edit))
    client.post(edit, {**shown, "cim10_code": "C50.9", "cim10_label": ""})
    registration.refresh_from_db()
    assert (registration.cim10_code, registration.cim10_label) == (
        "C50.9",
        "Tumeur maligne du sein, sans précision",
    )
    assert registration.histology == "Adénocarcinome"


def test_a_complete_prefiche_cannot_be_emptied(client, world, registration):
    actions.complete_prefiche(by=world.registrar, registration=registration)
    edit = reverse("rcp:prefiche-edit", args=[registration.pk])
    login(client, world.registrar)
    data = _form_data(client.get(edit))
    page = client.post(edit, {**data, "question": ""})
    assert page.status_code == 200
    assert "marquée complète : ces champs restent obligatoires" in page.content.decode()
    registration.refresh_from_db()
    assert registration.question


def test_the_patients_gp_cannot_use_the_clinicians_pages(client, registration):
    gp_user = user(rpps=registration.gp.rpps)
    login(client, gp_user)
    assert client.get(reverse("rcp:registration", args=[registration.pk])).status_code == 404
    assert client.get(reverse("rcp:decision", args=[registration.pk])).status_code == 404


# --- Documents -----------------------------------------------------------------------------


def test_upload_through_the_page(client, world, registration):
    login(client, world.registrar)
    url = reverse("rcp:document-upload", args=[registration.pk])
    page = client.post(
        url,
        {"title": "IRM", "file": SimpleUploadedFile("irm.png", b"\x89PNG\r\n\x1a\n")},
        follow=True,
    ).content.decode()
    assert Document.objects.get().content_type == "image/png"
    assert "IRM</a> (PNG, 8" in page  # (was "image/png")


def test_a_renamed_executable_is_refused_by_the_page(client, world, registration):
    login(client, world.registrar)
    url = reverse("rcp:document-upload", args=[registration.pk])
    response = client.post(
        url, {"title": "", "file": SimpleUploadedFile("resultat.pdf", ELF)}, follow=True
    )
    assert "Type de fichier refusé" in response.content.decode()
    assert not Document.objects.exists()


def test_a_refused_upload_is_told_at_its_field_with_the_title_kept(client, world, registration):
    login(client, world.registrar)
    url = reverse("rcp:document-upload", args=[registration.pk])
    page = client.post(
        url, {"title": "Scanner thoracique", "file": SimpleUploadedFile("x.pdf", ELF)}
    )
    assert page.status_code == 200  # (was a redirect: the title lost, the field not named)
    form = BeautifulSoup(page.content, "html.parser")
    assert form.select_one("input[name=title]")["value"] == "Scanner thoracique"
    assert form.select_one("input[name=file]")["aria-invalid"] == "true"
    assert "Type de fichier refusé" in form.select_one("#id_file_error").get_text()


def test_an_oversized_upload_is_refused_with_a_clear_message(client, world, registration, settings):
    settings.DOCUMENT_MAX_BYTES = 2048
    login(client, world.registrar)
    url = reverse("rcp:document-upload", args=[registration.pk])
    response = client.post(
        url, {"title": "", "file": SimpleUploadedFile("gros.pdf", PDF + b"0" * 4096)}, follow=True
    )
    html = response.content.decode()
    assert "Le fichier est trop volumineux" in html
    assert "la taille maximale autorisée est de 2 Ko" in html
    assert not Document.objects.exists()


def test_document_download_for_participants_and_the_patients_gp(
    client, world, registration, document
):
    url = reverse("rcp:document-download", kwargs={"pk": document.pk})
    response = login(client, world.participants[0][0]).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert response["X-Content-Type-Options"] == "nosniff"
    gp_user = user(rpps=registration.gp.rpps)
    assert login(client, gp_user).get(url).status_code == 200
    assert AuditEvent.objects.filter(
        action="document.download", actor_id=gp_user.pk, outcome="ok"
    ).exists()


def test_a_gp_who_sits_on_the_board_downloads_as_the_gp_and_a_lost_file_is_traced(
    client, world, registration, document, documents_dir
):
    participant = world.participants[0][0]
    participant.rpps = registration.gp.rpps  # the patient's GP also sits on the board
    participant.save(update_fields=["rpps"])
    url = reverse("rcp:document-download", kwargs={"pk": document.pk})
    assert login(client, participant).get(url).status_code == 200
    event = AuditEvent.objects.filter(action="document.download").latest("id")
    assert (event.actor_role, event.outcome) == ("medecin_traitant", "ok")
    for stored in documents_dir.rglob("*"):
        if stored.is_file():
            stored.unlink()
    assert client.get(url).status_code == 404
    event = AuditEvent.objects.filter(action="document.download").latest("id")
    assert event.details["error"] == "file_missing" and event.patient_id == registration.patient_id


def test_another_boards_patients_document_is_not_downloadable(client, document, outsider):
    url = reverse("rcp:document-download", kwargs={"pk": document.pk})
    assert login(client, outsider).get(url).status_code == 404
    assert denied("document.download")
    assert login(client, user(rpps=gp().rpps)).get(url).status_code == 404


# --- Decision, compte-rendu, PPS, statistics ----------------------------------------------


def _members(world):
    return list(
        BoardMembership.objects.filter(
            board=world.board, role=BoardMembership.Role.PARTICIPANT
        ).values_list("pk", flat=True)
    )


def test_decision_check_then_validate_then_pdf_and_pps(
    client, world, registration, outsider, frozen
):
    frozen.move_to(registration.session.starts_at)  # decisions are taken at the meeting
    participant = world.participants[0][0]
    login(client, participant)
    url = reverse("rcp:decision", args=[registration.pk])
    assert client.get(url).status_code == 200
    data = {
        "attendees": _members(world),
        "case_status": "discussed",
        "proposal": "Chirurgie puis radiothérapie.",
        "check": "1",
    }
    page = client.post(url, data)
    assert "Quorum atteint" in page.content.decode()
    assert not CompteRendu.objects.exists()
    del data["check"]
    data["validate"] = "1"
    response = client.post(url, data)
    cr = CompteRendu.objects.get()
    assert response["Location"] == reverse("rcp:compte-rendu", args=[cr.pk])
    assert cr.quorum_met and cr.validated_by == participant
    assert sorted(a["specialty"] for a in cr.attendees) == [
        "Chirurgie",
        "Oncologie médicale",
        "Radiothérapie",
    ]
    assert client.get(response["Location"]).status_code == 200
    pdf = client.get(reverse("rcp:compte-rendu-pdf", args=[cr.pk]))
    assert pdf.content.startswith(b"%PDF")
    assert pdf["Content-Disposition"].startswith("attachment;")
    pps_url = reverse("rcp:pps-create", args=[cr.pk])
    assert client.get(pps_url).status_code == 200
    client.post(
        pps_url,
        {
            "doctor_name": "ONCOFICTIF Odile",
            "establishment_name": "CHU Fictif",
            "content": "Chirurgie.",
        },
    )
    pps = PPS.objects.get()
    assert NewsItem.objects.filter(pps=pps).exists()
    assert client.get(reverse("rcp:pps-pdf", args=[pps.pk])).content.startswith(b"%PDF")
    login(client, outsider)
    assert client.get(reverse("rcp:compte-rendu", args=[cr.pk])).status_code == 404
    assert client.get(reverse("rcp:compte-rendu-pdf", args=[cr.pk])).status_code == 404
    assert client.get(reverse("rcp:pps-pdf", args=[pps.pk])).status_code == 404
    assert client.post(url, data).status_code == 404


def test_validation_without_quorum_needs_a_reason(client, world, registration, frozen):
    frozen.move_to(registration.session.starts_at)  # decisions are taken at the meeting
    login(client, world.participants[0][0])
    url = reverse("rcp:decision", args=[registration.pk])
    data = {
        "attendees": _members(world)[:2],
        "case_status": "discussed",
        "proposal": "Chirurgie.",
        "validate": "1",
    }
    page = client.post(url, data)
    assert page.status_code == 200
    assert "Quorum non atteint" in page.content.decode()
    assert not CompteRendu.objects.exists()
    data["quorum_override_reason"] = "Avis radiothérapeute recueilli par écrit."
    assert client.post(url, data).status_code == 302
    assert not CompteRendu.objects.get().quorum_met


def test_a_decision_page_with_a_version_that_never_existed_is_refused(
    client, world, registration, frozen
):
    frozen.move_to(registration.session.starts_at)
    login(client, world.participants[0][0])
    url = reverse("rcp:decision", args=[registration.pk])
    data = {"attendees": _members(world), "case_status": "discussed", "validate": "1"}
    page = client.post(url, {**data, "proposal": "Chirurgie.", "seen_version": "3"})  # was a 500
    assert page.status_code == 200
    assert "n&#x27;est plus à jour" in page.content.decode()
    assert not CompteRendu.objects.exists()


def test_a_correction_makes_version_two_and_keeps_version_one(client, world, registration, frozen):
    frozen.move_to(registration.session.starts_at)  # decisions are taken at the meeting
    login(client, world.participants[0][0])
    url = reverse("rcp:decision", args=[registration.pk])
    data = {"attendees": _members(world), "case_status": "discussed", "validate": "1"}
    client.post(url, {**data, "proposal": "Première.", "seen_version": "0"})
    page = client.get(url).content.decode()
    assert "crée la version 2" in page
    assert 'name="seen_version" value="1"' in page
    client.post(url, {**data, "proposal": "Corrigée.", "seen_version": "1"})
    assert list(CompteRendu.objects.values_list("version", "proposal")) == [
        (1, "Première."),
        (2, "Corrigée."),
    ]


def _decision_form_data(page) -> dict:  # type: ignore[no-untyped-def]
    data = _form_data(page)
    form = BeautifulSoup(page.content, "html.parser").select_one("main form")
    data["attendees"] = [i["value"] for i in form.select("input[name=attendees][checked]")]
    data["case_status"] = form.select_one("input[name=case_status][checked]")["value"]
    data["validate"] = "1"
    data.pop("check", None)
    return data


def test_a_second_submit_of_the_same_page_creates_no_silent_version(
    client, world, registration, frozen
):
    """A double click, or two participants validating the same file at once: the second
    submit was made on a page that showed no version; it must not become version 2."""
    frozen.move_to(registration.session.starts_at)
    login(client, world.participants[0][0])
    url = reverse("rcp:decision", args=[registration.pk])
    page = client.get(url).content.decode()
    assert 'name="seen_version" value="0"' in page
    data = {
        "attendees": _members(world),
        "case_status": "discussed",
        "proposal": "Chirurgie.",
        "validate": "1",
        "seen_version": "0",
    }
    client.post(url, data)
    # A double click (the same decision): the user lands on the version validated.
    double = client.post(url, data, follow=True)
    first = CompteRendu.objects.get()
    assert (first.version, first.proposal) == (1, "Chirurgie.")
    assert double.redirect_chain[-1][0] == reverse("rcp:compte-rendu", args=[first.pk])
    # A colleague's different decision, from a page that showed none: refused, their
    # input kept, and the page now shows version 1 (validating again makes version 2).
    other = client.post(url, {**data, "proposal": "Autre avis."})
    assert other.status_code == 200
    text = other.content.decode()
    assert "validé entre-temps (version 1)" in text and "Autre avis." in text
    assert 'name="seen_version" value="1"' in text
    assert CompteRendu.objects.count() == 1
    assert NewsItem.objects.filter(kind="compte_rendu").count() == 1
    again = client.post(url, _decision_form_data(other))
    assert again.status_code == 302
    assert list(CompteRendu.objects.values_list("version", "proposal")) == [
        (1, "Chirurgie."),
        (2, "Autre avis."),
    ]


def test_the_pps_establishment_is_the_boards_or_left_to_choose(client, world, registration, frozen):
    """Without an establishment on the board, the form offered the directory's first one
    in alphabetical order (a PPS could name a hospital the patient never set foot in)."""
    Establishment.objects.create(finess="860000001", name="AAA CLINIQUE SANS RAPPORT")
    frozen.move_to(registration.session.starts_at)
    participant = world.participants[0][0]
    cr = actions.validate_compte_rendu(
        by=participant,
        registration=registration,
        case_status="discussed",
        proposal="Chirurgie.",
        attendees=world.attendees(),
    )
    login(client, participant)
    url = reverse("rcp:pps-create", args=[cr.pk])

    def establishment_field(page):
        return BeautifulSoup(page.content.decode(), "html.parser").select_one(
            "input[name=establishment_name]"
        )

    field = establishment_field(client.get(url))
    assert field.get("value", "") == "" and field.has_attr("required")
    data = {"doctor_name": "ONCOFICTIF Odile", "content": "Chirurgie.", "seen_pps": "0"}
    refused = establishment_field(client.post(url, data))
    assert refused["aria-invalid"] == "true"  # the field must be filled in: nothing chosen
    assert not PPS.objects.exists()
    # The board's own establishment is offered when it has one.
    world.board.establishment = Establishment.objects.create(finess="860000002", name="CHU FICTIF")
    world.board.save(update_fields=["establishment"])
    assert establishment_field(client.get(url))["value"] == "CHU FICTIF"


def test_a_pps_only_from_the_latest_version_and_not_twice(client, world, registration, frozen):
    frozen.move_to(registration.session.starts_at)
    participant = world.participants[0][0]
    login(client, participant)
    url = reverse("rcp:decision", args=[registration.pk])
    data = {"attendees": _members(world), "case_status": "discussed", "validate": "1"}
    client.post(url, {**data, "proposal": "Chirurgie.", "seen_version": "0"})
    first = CompteRendu.objects.get()
    pps_data = {
        "doctor_name": "ONCOFICTIF Odile",
        "establishment_name": "CHU Fictif",
        "content": "Chirurgie.",
    }
    pps_url = reverse("rcp:pps-create", args=[first.pk])
    assert 'name="seen_pps" value="0"' in client.get(pps_url).content.decode()
    # A double click: one PPS, the second submit lands on the compte-rendu.
    client.post(pps_url, {**pps_data, "seen_pps": "0"})
    again = client.post(pps_url, {**pps_data, "seen_pps": "0"}, follow=True)
    assert PPS.objects.count() == 1
    assert "Un PPS a été généré entre-temps" in again.content.decode()
    # Once corrected (version 2), version 1 makes no PPS.
    client.post(url, {**data, "proposal": "Radiothérapie.", "seen_version": "1"})
    page = client.post(pps_url, {**pps_data, "seen_pps": "1"})
    assert page.status_code == 200
    assert "Cette décision a été corrigée (version 2)" in page.content.decode()
    assert PPS.objects.count() == 1 and NewsItem.objects.filter(kind="pps").count() == 1


def test_statistics_page_and_csv_for_the_secretary_only(client, world, registration):
    query = {"board": world.board.pk, "start": "2026-01-01", "end": "2026-12-31"}
    login(client, world.secretary)
    assert client.get(reverse("rcp:statistics")).status_code == 200
    page = client.get(reverse("rcp:statistics"), query).content.decode()
    assert "Dossiers inscrits" in page
    csv = client.get(reverse("rcp:statistics-csv"), query)
    assert csv["Content-Type"].startswith("text/csv")
    text = csv.content.decode("utf-8-sig")
    assert text.splitlines()[0] == "RCP;Du;Au;Indicateur;Valeur"
    assert f"{world.board.title};01/01/2026;31/12/2026;Dossiers inscrits" in text
    login(client, world.participants[0][0])
    assert client.get(reverse("rcp:statistics-csv"), query).status_code == 404
    assert client.get(reverse("rcp:statistics"), query).status_code == 404


@pytest.mark.parametrize("board", ["²", "①", "٢"])
def test_statistics_board_in_other_digits_is_a_404(client, world, registration, board):
    # "²".isdigit() but int("²") raises: was a 500 on both pages.
    login(client, world.secretary)
    query = {"board": board, "start": "2026-01-01", "end": "2026-12-31"}
    assert client.get(reverse("rcp:statistics"), query).status_code == 404
    assert client.get(reverse("rcp:statistics-csv"), query).status_code == 404


def test_statistics_csv_cells_cannot_start_a_formula(client, world, registration):
    Board.objects.filter(pk=world.board.pk).update(title="=HYPERLINK(1)")
    login(client, world.secretary)
    query = {"board": world.board.pk, "start": "2026-01-01", "end": "2026-12-31"}
    text = client.get(reverse("rcp:statistics-csv"), query).content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))[1:]
    assert rows and all(row[0] == "'=HYPERLINK(1)" for row in rows)
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_pages_send_no_inline_script_or_style(client, world, registration, document):
    urls = [
        reverse("rcp:home"),
        reverse("rcp:board", args=[world.board.pk]),
        reverse("rcp:board-sessions", args=[world.board.pk]),
        reverse("rcp:session", args=[registration.session_id]),
        reverse("rcp:registration", args=[registration.pk]),
        reverse("rcp:prefiche-edit", args=[registration.pk]),
        reverse("rcp:statistics"),
    ]
    pages = [(world.secretary, url) for url in urls]
    pages.append((world.participants[0][0], reverse("rcp:decision", args=[registration.pk])))
    for who, url in pages:
        login(client, who)
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert "<style" not in html and " style=" not in html, url
        assert "<script>" not in html and " onclick=" not in html, url
        assert 'lang="fr"' in html


@pytest.mark.parametrize(
    "name",
    [
        "rcp:board-webconference",
        "rcp:board-consent",
        "rcp:board-notifications",
        "rcp:session-cancel",
        "rcp:session-move",
        "rcp:session-held",
        "rcp:registration-complete",
        "rcp:registration-withdraw",
        "rcp:registration-move",
        "rcp:document-upload",
    ],
)
def test_no_get_changes_state(client, world, registration, name):
    pk = {
        "rcp:board-webconference": world.board.pk,
        "rcp:board-consent": world.board.pk,
        "rcp:board-notifications": world.board.pk,
        "rcp:session-cancel": registration.session_id,
        "rcp:session-move": registration.session_id,
        "rcp:session-held": registration.session_id,
    }.get(name, registration.pk)
    before = AuditEvent.objects.count()
    assert login(client, world.secretary).get(reverse(name, args=[pk])).status_code == 405
    assert AuditEvent.objects.count() == before


def test_a_past_session_is_marked_held(client, world, session, frozen):
    frozen.move_to(dt.datetime(2026, 3, 17, 18, tzinfo=dt.UTC))
    login(client, world.secretary)
    page = client.get(reverse("rcp:session", args=[session.pk])).content.decode()
    assert "Marquer la séance comme tenue" in page
    client.post(reverse("rcp:session-held", args=[session.pk]))
    session.refresh_from_db()
    assert session.status == Session.Status.HELD
    assert (
        login(client, world.participants[0][0])
        .post(reverse("rcp:session-held", args=[session.pk]))
        .status_code
        == 404
    )


def test_reading_a_registration_is_traced_with_the_role(client, world, registration):
    login(client, world.participants[2][0]).get(reverse("rcp:registration", args=[registration.pk]))
    event = AuditEvent.objects.get(action="registration.view", outcome="ok")
    assert event.patient_id == registration.patient_id
    assert event.actor_id == world.participants[2][0].pk
    assert event.actor_role == "participant"


def test_anonymous_download_goes_to_login(client, document):
    response = client.get(reverse("rcp:document-download", kwargs={"pk": document.pk}))
    assert response.status_code == 302
    assert response["Location"].startswith("/connexion/")


def test_the_registration_form_offers_no_cancelled_or_past_session(client, world, session):
    cancelled = world.session(SESSION_DAY + dt.timedelta(days=7))
    actions.cancel_session(by=world.secretary, session=cancelled)
    patient = world.patient()
    login(client, world.registrar)
    client.post(
        reverse("rcp:patient-search"),
        {"birth_name": patient.birth_name, "birth_date": "1944-09-14"},
    )
    url = reverse("rcp:register", kwargs={"patient_pk": patient.pk})
    html = client.get(url).content.decode()
    assert f'<optgroup label="{world.board.title}">' in html
    select = BeautifulSoup(html, "html.parser").find("select", id="id_session")
    offered = [o["value"] for o in select.find_all("option") if o["value"]]
    assert offered == [str(session.pk)]
    response = client.post(
        url,
        {"session": cancelled.pk, "reason": "Bilan", "question": "?", "cim10_code": "C61"},
    )
    assert response.status_code == 200
    assert not Registration.objects.filter(patient=patient).exists()


def test_secretary_and_territory_admin_cannot_decide(client, world, registration):
    """Decisions belong to the board's participants (SPEC §1), not to its organisers."""
    from tests.builders import user

    territory_admin = user()
    territory_admin.admin_territories.add(world.board.territory)
    for who in (world.secretary, territory_admin):
        login(client, who)
        assert client.get(reverse("rcp:decision", args=[registration.pk])).status_code == 404
    login(client, world.participants[0][0])
    assert client.get(reverse("rcp:decision", args=[registration.pk])).status_code == 200


def test_a_stored_document_is_readable_by_the_service_account_only(settings, tmp_path):
    # A documents folder prepared by the operator with the usual 0755: the service's own
    # mkdir(mode=0o700) changes nothing there; each file is 0600 (was 0644).
    folder = tmp_path / "documents"
    folder.mkdir(mode=0o755)
    settings.DOCUMENTS_DIR = folder
    name = uploads.store(PDF)
    assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600


def test_changing_the_gp_says_what_changed_and_names_the_rpps_own_doctor(
    client, world, registration
):
    url = reverse("rcp:registration-gp", args=[registration.pk])
    new_gp = gp(last_name="NOUVEAUMEDECIN")
    login(client, world.registrar)

    def said(data: dict[str, str]) -> str:
        page = client.post(url, data, follow=True).content.decode()
        return " ".join(BeautifulSoup(page, "html.parser").select_one("[role=status]").text.split())

    # A name that is not the RPPS's: the directory's name is kept (was "Dr Inconnu").
    text = said({"gp_rpps": new_gp.rpps, "gp_name": "Dr Inconnu"})
    patient = Patient.objects.get(pk=registration.patient_id)
    assert patient.gp_name == "Dr NOUVEAUMEDECIN Test"
    assert "Le précédent ne voit plus le patient" in text
    # The same GP again: nothing changes, nothing traced (was "le précédent ne le voit plus").
    events = AuditEvent.objects.filter(action="patient.declare_gp").count()
    assert said({"gp_rpps": new_gp.rpps, "gp_name": ""}) == "Médecin traitant inchangé."
    assert AuditEvent.objects.filter(action="patient.declare_gp").count() == events
    # Emptied: said so (was "Médecin traitant déclaré : aucun. Il voit désormais …").
    text = said({"gp_rpps": "", "gp_name": ""})
    assert text.startswith("Le patient n'a plus de médecin traitant déclaré.")
    assert Patient.objects.get(pk=patient.pk).gp_rpps is None


def test_the_decision_page_says_when_a_decision_can_be_validated(
    client, world, registration, frozen
):
    url = reverse("rcp:decision", args=[registration.pk])
    frozen.move_to(registration.session.starts_at - dt.timedelta(minutes=20))
    login(client, world.participants[0][0])
    page = BeautifulSoup(client.get(url).content, "html.parser")
    # Before the meeting: said at once, and no button that can only be refused.
    assert "sa décision se valide à partir du début de la séance" in page.get_text()
    assert page.find("button", string="Valider le compte-rendu") is None
    # The quorum is checked before the proposal is written (it only said "obligatoire").
    checked = client.post(url, {"attendees": _members(world), "check": "1"}).content.decode()
    assert "Quorum atteint" in checked and "Ce champ est obligatoire" not in checked
    frozen.move_to(registration.session.starts_at)
    page = BeautifulSoup(client.get(url).content, "html.parser")
    assert page.find("button", string="Valider le compte-rendu") is not None
    # Both buttons in one POST (crafted): a check, not a validation (was a 500).
    both = {"attendees": _members(world), "check": "1", "validate": "1", "seen_version": "0"}
    assert client.post(url, both).status_code == 200
    assert not CompteRendu.objects.exists()


def test_an_invalid_gp_rpps_is_told_once(client, world, registration):
    login(client, world.registrar)
    url = reverse("rcp:registration-gp", args=[registration.pk])
    page = client.post(url, {"gp_rpps": "12345678901", "gp_name": ""}).content.decode()
    assert "pas dans l&#x27;annuaire" not in page  # (was said too, misleading)
    assert page.count('class="errorlist') == 1  # the RPPS's own error only


def test_a_member_who_never_agreed_can_object_from_the_board_page(client, world):
    newcomer = user(specialty="Radiologie")
    actions.add_member(
        by=world.secretary,
        board=world.board,
        user=newcomer,
        role=BoardMembership.Role.PARTICIPANT,
        specialty="Radiologie",
    )
    login(client, newcomer)
    page = BeautifulSoup(
        client.get(reverse("rcp:board", args=[world.board.pk])).content, "html.parser"
    )
    buttons = [b.get_text() for b in page.select("button[name=agreed]")]
    assert buttons == ["Je donne mon accord", "Je m'oppose à la notification"]
    client.post(reverse("rcp:board-consent", args=[world.board.pk]), {"agreed": "1"})
    page = BeautifulSoup(
        client.get(reverse("rcp:board", args=[world.board.pk])).content, "html.parser"
    )
    assert [b.get_text() for b in page.select("button[name=agreed]")] == ["Je retire mon accord"]


def test_a_past_session_not_yet_marked_held_is_pointed_out(client, world, frozen):
    """Its GPs read "A venir" a past date until it is marked held: the calendar says so
    and leads to the button, open on the session's page."""
    past = Session.objects.create(board=world.board, date=dt.date(2026, 2, 24), time=dt.time(14))
    coming = world.session(SESSION_DAY)
    login(client, world.secretary)
    page = BeautifulSoup(
        client.get(reverse("rcp:board-sessions", args=[world.board.pk])).content, "html.parser"
    )
    rows = {
        row.find("a").get_text(): " ".join(row.get_text().split())
        for row in page.select("tbody tr")
    }
    assert "passée : à marquer « tenue »" in rows["mardi 24/02/2026"]
    assert "passée" not in rows["mardi 17/03/2026"]
    link = page.find("a", string="à marquer « tenue »")
    assert link["href"] == reverse("rcp:session", args=[past.pk]) + "#gerer"
    session_page = BeautifulSoup(client.get(link["href"]).content, "html.parser")
    manage = session_page.find(id="gerer")
    assert manage.has_attr("open")
    assert manage.find("button", string="Marquer la séance comme tenue") is not None
    coming_page = BeautifulSoup(
        client.get(reverse("rcp:session", args=[coming.pk])).content, "html.parser"
    )
    assert not coming_page.find(id="gerer").has_attr("open")


def test_presenting_again_with_a_document_lost_from_storage_creates_nothing(
    client, world, session, registration, document, frozen, documents_dir
):
    later = world.session(SESSION_DAY + dt.timedelta(days=14))
    frozen.move_to(paris(2026, 3, 17, 16))
    world.decide(registration, "represent", "À représenter (proposition fictive).")
    (documents_dir / document.stored_name).unlink()  # (storage restored from an old backup)
    login(client, world.registrar)
    response = client.post(
        reverse("rcp:registration-represent", args=[registration.pk]),
        {"session": later.pk},
        follow=True,
    )
    assert response.status_code == 200
    assert f"Le document « {document.title} » est introuvable" in response.content.decode()
    assert not Registration.objects.filter(session=later).exists()
    assert not AuditEvent.objects.filter(action="registration.represent").exists()


def test_the_registrar_sees_what_the_gp_will_be_told_and_by_when(client, world, session):
    """Condition 1 of the notice is the registrar's (the pré-fiche complete by day N): their
    page says the status and, while pending, the deadline; an organiser's session page
    names the files withdrawn or moved, where they went, and what their GP was told."""
    doctor = gp()
    pending = world.register(session, world.patient(gp_rpps=doctor.rpps), complete=False)
    login(client, world.registrar)
    page = BeautifulSoup(
        client.get(reverse("rcp:registration", args=[pending.pk])).content, "html.parser"
    )
    status = " ".join(page.select_one("p.notification").get_text().split())
    assert status.startswith("Notification du médecin traitant : En attente de la pré-fiche")
    assert "à compléter au plus tard le 13/03/2026" in status
    withdrawn = world.register(session, world.patient(gp_rpps=gp().rpps))
    moved = world.register(session, world.patient(gp_rpps=gp().rpps))
    actions.withdraw_registration(by=world.registrar, registration=withdrawn)
    later = world.session(SESSION_DAY + dt.timedelta(days=7))
    new = actions.move_registration(by=world.registrar, registration=moved, session=later)
    login(client, world.secretary)
    page = BeautifulSoup(
        client.get(reverse("rcp:session", args=[session.pk])).content, "html.parser"
    )
    rows = {
        row.find("a").get_text(): [" ".join(cell.get_text().split()) for cell in row("td")]
        for row in page.select("#retirees + .table-frame tbody tr")
    }
    assert rows[withdrawn.patient.identity_label][1] == "retirée le 02/03/2026"
    assert (
        rows[moved.patient.identity_label][1]
        == "déplacée le 02/03/2026 vers la séance du 24/03/2026"
    )
    assert "inscription retirée" in rows[withdrawn.patient.identity_label][2].lower()
    link = page.find("a", string="24/03/2026")
    assert link["href"] == reverse("rcp:registration", args=[new.pk])
    assert page.find("a", href="#retirees") is not None
    assert AuditEvent.objects.filter(
        action="session.view_registration", patient_id=withdrawn.patient_id
    ).exists()


def test_a_decided_file_is_presented_again_from_its_prefiche_and_documents(
    client, world, session, registration, document, frozen, documents_dir
):
    """ "À représenter": a later session of the board takes a copy of the pré-fiche and of
    the documents (they used to be typed and uploaded again), to be reviewed and marked
    complete; the decided file and its compte-rendu stay as they are."""
    later = world.session(SESSION_DAY + dt.timedelta(days=14))
    represent = reverse("rcp:registration-represent", args=[registration.pk])
    login(client, world.registrar)
    # Without a validated decision: not offered, and refused if sent.
    page = client.get(reverse("rcp:registration", args=[registration.pk])).content.decode()
    assert 'id="representer"' not in page
    client.post(represent, {"session": later.pk})
    assert not Registration.objects.filter(session=later).exists()
    frozen.move_to(paris(2026, 3, 17, 16))
    world.decide(registration, "represent", "À représenter avec le TEP (proposition fictive).")
    login(client, world.registrar)  # (a fortnight later)
    page = BeautifulSoup(
        client.get(reverse("rcp:registration", args=[registration.pk])).content, "html.parser"
    )
    form = page.find("form", action=represent)
    assert form is not None
    assert str(later.pk) in [option.get("value") for option in form("option")]
    response = client.post(represent, {"session": later.pk})
    new = Registration.objects.get(session=later)
    assert response["Location"] == reverse("rcp:registration", args=[new.pk])
    for name in actions.PREFICHE_FIELDS:
        assert getattr(new, name) == getattr(registration, name), name
    assert new.prefiche_completed_at is None  # (to review: the GP's notice depends on it)
    copies = list(new.documents.all())
    assert [(d.title, d.sha256) for d in copies] == [(document.title, document.sha256)]
    assert copies[0].stored_name != document.stored_name
    assert (documents_dir / copies[0].stored_name).read_bytes() == PDF
    registration.refresh_from_db()
    assert registration.is_active and registration.documents.count() == 1
    assert registration.compte_rendus.get().case_status == "represent"
    line = NewsItem.objects.get(registration=new, kind="upcoming")
    assert line.text.endswith("le 31/03/2026")
    event = AuditEvent.objects.get(action="registration.represent")
    assert event.details == {"from_registration": registration.pk, "decision_version": 1}
    assert new.registered_by == registration.registered_by  # (still the registrar's file)
    # Sent twice (a double click), or towards another later session: one new presentation.
    even_later = world.session(SESSION_DAY + dt.timedelta(days=28))
    for target in (later, even_later):
        again = client.post(represent, {"session": target.pk}, follow=True)
        assert "déjà inscrit à une séance suivante de cette RCP, le 31/03/2026" in (
            again.content.decode()
        )
    assert Registration.objects.filter(patient=registration.patient).count() == 2
    assert new.documents.count() == 1
    # Another board's session is not offered, nor taken.
    elsewhere = World().session(SESSION_DAY + dt.timedelta(days=21))
    client.post(represent, {"session": elsewhere.pk})
    assert not Registration.objects.filter(session=elsewhere).exists()
