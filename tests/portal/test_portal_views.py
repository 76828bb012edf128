"""The GP portal's pages: what a GP sees, what they may change, what is traced."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from bs4 import BeautifulSoup
from django.test import Client
from django.urls import reverse

from concerto.accounts.middleware import RESUME_KEY
from concerto.audit.models import AuditEvent
from concerto.lib import clock
from concerto.patients import actions as patient_actions
from concerto.patients.models import Patient
from concerto.portal.tokens import patient_token
from concerto.portal.views import document_url
from concerto.rcp import actions
from concerto.rcp.models import GPContribution, NewsItem
from tests import builders
from tests.portal.conftest import TODAY, PortalWorld

WARNING = (
    "Attention : ces éléments pourront évoluer jusqu'à la RCP avant validation du compte-rendu."
)


def client_for(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def text_of(response) -> str:  # type: ignore[no-untyped-def]
    return " ".join(BeautifulSoup(response.content, "html.parser").get_text(" ").split())


@pytest.mark.django_db
def test_dashboard_lists_the_gps_news_newest_first(portal_world: PortalWorld) -> None:
    case = portal_world.gps[0]
    response = client_for(case.user).get(reverse("portal:dashboard"))
    assert response.status_code == 200
    soup = BeautifulSoup(response.content, "html.parser")
    headers = [th.get_text(strip=True) for th in soup.select("table thead th")]
    assert headers == ["Date", "Identité du patient", "Informations"]
    rows = soup.select("table tbody tr")
    # Two "A venir" lines (one per registration), the compte-rendu and the PPS; nobody else's.
    assert len(rows) == 4
    dates = [
        dt.date(*reversed([int(x) for x in r.td.get_text(strip=True).split("/")])) for r in rows
    ]
    assert dates == sorted(dates, reverse=True)
    first = rows[0].get_text(" ", strip=True)
    assert first.startswith(f"{case.upcoming.session.date:%d/%m/%Y}")
    assert case.upcoming.patient.identity_label in first
    assert "A venir : présentation en" in first
    link = rows[0].select_one("a.icon-link")
    assert link["href"] == reverse("portal:prefiche", args=[case.upcoming.pk])
    assert link.img["alt"] == "Ouvrir la pré-fiche"
    other = portal_world.gps[1].upcoming.patient.identity_label
    assert other not in response.content.decode()
    assert "Nouveau PPS généré par BENANDFICTIF Philippe (Polyclinique Imaginaire)" in text_of(
        response
    )


@pytest.mark.django_db
def test_identity_label_as_in_the_seed(portal_world: PortalWorld) -> None:
    patient = portal_world.gps[0].upcoming.patient
    assert re.fullmatch(r"Homme FICTIFA0 DENIS \(14/09/1944\)", patient.identity_label)


@pytest.mark.django_db
def test_dashboard_filter_uses_an_opaque_token(portal_world: PortalWorld) -> None:
    case = portal_world.gps[0]
    client = client_for(case.user)
    page = BeautifulSoup(client.get(reverse("portal:dashboard")).content, "html.parser")
    values = [o["value"] for o in page.select("#filtre-patient option") if o["value"]]
    assert len(values) == 2
    patient = case.upcoming.patient
    for value in values:
        assert str(patient.pk) != value
        assert patient.birth_name.lower() not in value.lower()
    token = patient_token(user_id=case.user.pk, patient_id=patient.pk)
    assert token in values
    response = client.get(reverse("portal:dashboard"), {"patient": token})
    rows = BeautifulSoup(response.content, "html.parser").select("table tbody tr")
    assert len(rows) == 1 and patient.identity_label in rows[0].get_text()
    # Another GP's token for the same patient id means nothing here.
    foreign = patient_token(user_id=portal_world.gps[1].user.pk, patient_id=patient.pk)
    assert client.get(reverse("portal:dashboard"), {"patient": foreign}).status_code == 404


@pytest.mark.django_db
def test_dashboard_filter_follows_the_gps_patients(portal_world: PortalWorld) -> None:
    """The filter's options are kept between pages (per user and patient rows): a renamed
    patient, a patient who leaves, and the selected option are still shown as they are."""
    case = portal_world.gps[0]
    client = client_for(case.user)
    patient = case.upcoming.patient
    token = patient_token(user_id=case.user.pk, patient_id=patient.pk)

    def options(**query: str) -> dict[str, tuple[str, bool]]:
        page = BeautifulSoup(client.get(reverse("portal:dashboard"), query).content, "html.parser")
        return {
            o["value"]: (o.get_text(strip=True), o.has_attr("selected"))
            for o in page.select("#filtre-patient option")
            if o["value"]
        }

    before = options()
    assert before[token] == (patient.identity_label, False)
    assert options(patient=token)[token] == (patient.identity_label, True)
    assert not any(chosen for _, chosen in options().values())  # nothing left selected
    Patient.objects.filter(pk=patient.pk).update(used_name="RENOMMEEFICTIF")
    patient.refresh_from_db()
    assert "RENOMMEEFICTIF" in patient.identity_label
    assert options()[token] == (patient.identity_label, False)
    patient_actions.declare_gp(
        by=portal_world.world.secretary, patient=patient, gp_name="Dr AUTREFICTIF", gp_rpps=None
    )
    after = options()
    assert token not in after and len(after) == len(before) - 1


@pytest.mark.django_db
def test_dashboard_is_paginated(portal_world: PortalWorld, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from concerto.portal import views

    monkeypatch.setattr(views, "NEWS_PER_PAGE", 3)
    client = client_for(portal_world.gps[0].user)
    first = BeautifulSoup(client.get(reverse("portal:dashboard")).content, "html.parser")
    second = BeautifulSoup(
        client.get(reverse("portal:dashboard"), {"page": 2}).content, "html.parser"
    )
    assert len(first.select("table tbody tr")) == 3
    assert len(second.select("table tbody tr")) == 1
    assert "Page 1 sur 2" in first.get_text()
    assert "Page 2 sur 2" in second.get_text()
    # Past the end: the last page (as Django's Paginator.get_page); not a number: the first.
    for raw, shown, rows in (("9", 2, 1), ("99999999999999999999", 2, 1), ("x", 1, 3), ("0", 1, 3)):
        page = BeautifulSoup(
            client.get(reverse("portal:dashboard"), {"page": raw}).content, "html.parser"
        )
        assert f"Page {shown} sur 2" in page.get_text()
        assert len(page.select("table tbody tr")) == rows


@pytest.mark.django_db
def test_prefiche_shows_every_section_board_date_warning_and_documents(
    portal_world: PortalWorld,
) -> None:
    case = portal_world.gps[0]
    registration = case.upcoming
    response = client_for(case.user).get(reverse("portal:prefiche", args=[registration.pk]))
    assert response.status_code == 200
    text = text_of(response)
    assert WARNING in text
    assert portal_world.world.board.title in text
    session = registration.session  # date and time are Europe/Paris
    assert f"le {session.date:%d/%m/%Y} à {session.time:%H:%M}" in text
    for value in (
        registration.reason,
        registration.cim10_code,
        registration.cim10_label,
        registration.question,
    ):
        assert value in text
    for label in ("Motif de présentation", "Histologie", "Stade TNM", "État général (OMS)"):
        assert label in text
    soup = BeautifulSoup(response.content, "html.parser")
    link = soup.find("a", string="Imagerie (fictive)")
    assert link["href"] == document_url(case.document.pk)
    assert link["href"].endswith(f"/{case.document.pk}/")


@pytest.mark.django_db
def test_document_download_is_authorised_and_traced(portal_world: PortalWorld) -> None:
    case = portal_world.gps[0]
    response = client_for(case.user).get(reverse("rcp:document-download", args=[case.document.pk]))
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")
    assert "attachment" in response["Content-Disposition"]
    event = AuditEvent.objects.filter(action="document.download").latest("id")
    assert event.patient_id == case.upcoming.patient_id
    assert event.outcome == "ok" and event.actor_id == case.user.pk


@pytest.mark.django_db
def test_webconference_block_only_when_notified(
    portal_world: PortalWorld, notified: set[tuple[int, str]]
) -> None:
    case = portal_world.gps[0]
    client = client_for(case.user)
    url = reverse("portal:prefiche", args=[case.upcoming.pk])
    before = text_of(client.get(url))
    assert "Accès Webconférence (Médecins notifiés)" in before
    assert "134679" not in before and "visio.exemple.test" not in before
    notified.add((case.upcoming.pk, case.user.rpps))
    after = client.get(url)
    soup = BeautifulSoup(after.content, "html.parser")
    aside = soup.select_one("aside")
    assert aside.find("a")["href"] == "https://visio.exemple.test/rcp"
    assert "134679" in aside.get_text()
    assert "le nom de votre patient" in aside.get_text()
    assert "micro fermé" in aside.get_text()


@pytest.mark.django_db
def test_no_webconference_block_when_board_has_none(
    portal_world: PortalWorld, notified: set[tuple[int, str]], docs_dir
) -> None:  # type: ignore[no-untyped-def]
    from tests import builders
    from tests.portal.conftest import make_gp_case

    bare = builders.World(webconference=False)
    case = make_gp_case(bare, docs_dir, 7)
    notified.add((case.upcoming.pk, case.user.rpps))
    text = text_of(client_for(case.user).get(reverse("portal:prefiche", args=[case.upcoming.pk])))
    assert "Code d'accès" not in text and "Lien :" not in text


@pytest.mark.django_db
def test_contribution_saved_and_shown(portal_world: PortalWorld) -> None:
    case = portal_world.gps[0]
    client = client_for(case.user)
    url = reverse("portal:contribute", args=[case.upcoming.pk])
    response = client.post(url, {"comment": "Patient suivi au cabinet.", "wants_to_join": "on"})
    assert response.status_code == 302
    contribution = GPContribution.objects.get(registration=case.upcoming)
    assert contribution.wants_to_join and contribution.author == case.user
    shown = client.get(reverse("portal:prefiche", args=[case.upcoming.pk]))
    page = text_of(shown)
    assert "Commentaire du Docteur GENERALISTEFICTIF0, Médecine Générale" in page
    assert "Patient suivi au cabinet." in page
    # The confirmation is where the form brings the doctor back (#contribution), not at
    # the top of the page, out of view.
    html = BeautifulSoup(shown.content, "html.parser")
    messages = html.select(".messages")
    assert len(messages) == 1
    assert messages[0].get_text(strip=True) == "Votre contribution a été enregistrée."
    assert messages[0].find_parent(id="contribution") is not None
    # Edit: the wish can be withdrawn.
    client.post(url, {"comment": "Modifié."})
    contribution.refresh_from_db()
    assert contribution.comment == "Modifié." and not contribution.wants_to_join
    # Each save is traced with the author's role and address.
    saves = AuditEvent.objects.filter(action="registration.gp_contribution")
    assert saves.count() == 2
    assert {(e.actor_role, e.ip, e.patient_id) for e in saves} == {
        ("medecin_traitant", "127.0.0.1", case.upcoming.patient_id)
    }


@pytest.mark.django_db
def test_a_moved_file_keeps_the_contribution_and_the_old_link_leads_to_it(
    portal_world: PortalWorld,
) -> None:
    """The GP's e-mail links to the registration of then: once the file is moved to
    another session, that page leads to the new one, where the contribution now is."""
    case = portal_world.gps[0]
    client = client_for(case.user)
    client.post(
        reverse("portal:contribute", args=[case.upcoming.pk]),
        {"comment": "Patient suivi au cabinet.", "wants_to_join": "on"},
    )
    world = portal_world.world
    later = world.session(case.upcoming.session.date + dt.timedelta(days=7))
    moved = actions.move_registration(by=world.registrar, registration=case.upcoming, session=later)
    contribution = GPContribution.objects.get(registration=moved)
    assert contribution.wants_to_join and contribution.comment == "Patient suivi au cabinet."
    old_page = BeautifulSoup(
        client.get(reverse("portal:prefiche", args=[case.upcoming.pk])).content, "html.parser"
    )
    assert "le dossier a été déplacé vers la séance du" in old_page.get_text()
    link = old_page.find("a", string="voir la pré-fiche à jour")
    assert link["href"] == reverse("portal:prefiche", args=[moved.pk])
    new_page = text_of(client.get(link["href"]))
    assert "Patient suivi au cabinet." in new_page


@pytest.mark.django_db
def test_contribution_length_limited(portal_world: PortalWorld) -> None:
    case = portal_world.gps[0]
    response = client_for(case.user).post(
        reverse("portal:contribute", args=[case.upcoming.pk]), {"comment": "x" * 4001}
    )
    assert response.status_code == 400
    assert not GPContribution.objects.filter(registration=case.upcoming).exists()
    # The page shown again is the pre-fiche: its read is traced like a GET's.
    assert case.upcoming.patient.identity_label in text_of(response)
    shown = AuditEvent.objects.get(action="portal.prefiche")
    assert (shown.actor_id, shown.patient_id, shown.outcome) == (
        case.user.pk,
        case.upcoming.patient_id,
        "ok",
    )


@pytest.mark.django_db
def test_contribution_read_only_after_validation(portal_world: PortalWorld) -> None:
    case = portal_world.gps[0]
    client = client_for(case.user)
    page = BeautifulSoup(
        client.get(reverse("portal:prefiche", args=[case.past.pk])).content, "html.parser"
    )
    assert page.select_one("#contribution form") is None
    assert "ne peut plus être modifiée" in page.get_text()
    # The pre-fiche no longer says it may change (it said so after the validation too).
    assert WARNING not in page.get_text()
    assert (
        "Le compte-rendu de la RCP est validé : ces éléments ne changeront plus." in page.get_text()
    )
    response = client.post(
        reverse("portal:contribute", args=[case.past.pk]), {"comment": "Trop tard."}, follow=True
    )
    assert "compte-rendu est validé" in text_of(response)
    assert not GPContribution.objects.filter(registration=case.past).exists()
    assert AuditEvent.objects.filter(action="portal.contribution", outcome="denied").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "why"),
    [
        ("validated", "Le compte-rendu a été validé entre-temps"),
        ("moved", "Le dossier a été déplacé vers une autre séance entre-temps"),
        ("withdrawn", "L'inscription a été retirée entre-temps"),
        ("cancelled", "La séance a été annulée entre-temps"),
    ],
)
def test_a_contribution_refused_meanwhile_is_given_back(
    portal_world: PortalWorld, change: str, why: str
) -> None:
    """The GP wrote in a page opened before the file changed (another tab, the board
    meanwhile): nothing is saved, the page says why in the GP's terms and gives the text
    back, to be copied (it used to be lost, behind the registrar's wording)."""
    case, world = portal_world.gps[0], portal_world.world
    client = client_for(case.user)
    registration = case.past if change == "validated" else case.upcoming
    if change == "moved":
        later = world.session(registration.session.date + dt.timedelta(days=7))
        actions.move_registration(by=world.registrar, registration=registration, session=later)
    elif change == "withdrawn":
        actions.withdraw_registration(by=world.registrar, registration=registration)
    elif change == "cancelled":
        actions.cancel_session(by=world.secretary, session=registration.session)
    before = list(GPContribution.objects.values_list("registration_id", "comment"))
    text = "Patient suivi depuis 2019 <b>ne pas perdre</b>."
    response = client.post(reverse("portal:contribute", args=[registration.pk]), {"comment": text})
    assert response.status_code == 409
    page = BeautifulSoup(response.content, "html.parser")
    assert f"{why} : votre contribution n'a pas été enregistrée." in page.get_text()
    kept = page.select_one("#contribution textarea[readonly]")
    assert kept is not None and kept.get_text() == text
    assert page.find("label", attrs={"for": kept["id"]}) is not None
    assert page.select_one("#contribution form") is None
    assert page.find("b") is None  # (escaped)
    assert list(GPContribution.objects.values_list("registration_id", "comment")) == before
    assert AuditEvent.objects.filter(action="portal.contribution", outcome="denied").exists()


@pytest.mark.django_db
def test_compte_rendu_quotes_the_contribution_and_pps_readable(
    portal_world: PortalWorld,
) -> None:
    case = portal_world.gps[0]
    world = portal_world.world
    client = client_for(case.user)
    client.post(
        reverse("portal:contribute", args=[case.upcoming.pk]),
        {"comment": "Antécédents familiaux à signaler."},
    )
    with clock.as_of(case.upcoming.session.starts_at + dt.timedelta(hours=1)):
        actions.validate_compte_rendu(
            by=world.participants[0][0],
            registration=case.upcoming,
            case_status="discussed",
            proposal="Chirurgie (fictive).",
            attendees=world.attendees(),
        )
    response = client.get(reverse("portal:compte_rendu", args=[case.upcoming.pk]))
    text = text_of(response)
    assert "Chirurgie (fictive)." in text
    assert (
        "Commentaire du Docteur GENERALISTEFICTIF0, Médecine Générale : "
        "Antécédents familiaux à signaler." in text
    )
    pps = text_of(client.get(reverse("portal:pps", args=[case.pps.pk])))
    assert "Programme fictif." in pps and "BENANDFICTIF Philippe" in pps
    # Both as PDF too, from their pages (the GP had no way to the PDFs participants get).
    for page, name in (
        (response, "rcp:compte-rendu-pdf"),
        (client.get(reverse("portal:pps", args=[case.pps.pk])), "rcp:pps-pdf"),
    ):
        link = BeautifulSoup(page.content, "html.parser").find("a", string=re.compile("PDF"))
        assert reverse(name, args=[0]).split("/0/")[0] in link["href"]
        pdf = client.get(link["href"])
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert AuditEvent.objects.filter(action="pps.pdf", actor_role="medecin_traitant").exists()
    # No validated compte-rendu yet → nothing to read.
    other = portal_world.gps[1]
    assert (
        client_for(other.user)
        .get(reverse("portal:compte_rendu", args=[other.upcoming.pk]))
        .status_code
        == 404
    )


@pytest.mark.django_db
def test_gp_no_longer_declared_loses_access(portal_world: PortalWorld) -> None:
    case = portal_world.gps[0]
    patient = case.upcoming.patient
    patient.gp_rpps = portal_world.gps[1].user.rpps
    patient.save(update_fields=["gp_rpps"])
    client = client_for(case.user)
    assert client.get(reverse("portal:prefiche", args=[case.upcoming.pk])).status_code == 404
    assert patient.identity_label not in text_of(client.get(reverse("portal:dashboard")))


def feed_labels(user) -> list[str]:  # type: ignore[no-untyped-def]
    page = BeautifulSoup(client_for(user).get(reverse("portal:dashboard")).content, "html.parser")
    return [row.select("td")[1].get_text(strip=True) for row in page.select("table tbody tr")]


@pytest.mark.django_db
def test_news_lines_follow_the_patients_declared_gp(portal_world: PortalWorld) -> None:
    """The feed reads ``NewsItem.gp_rpps``, which the database keeps equal to the patient's
    GP (migration rcp 0002): through the action, a bare UPDATE, and back."""
    first, second = portal_world.gps[0], portal_world.gps[1]
    patient = first.upcoming.patient
    lines = NewsItem.objects.filter(patient=patient).count()
    assert lines >= 1
    before = len(feed_labels(second.user))
    patient_actions.declare_gp(
        by=portal_world.world.registrar,
        patient=patient,
        gp_name=str(second.user),
        gp_rpps=second.user.rpps,
    )
    assert set(NewsItem.objects.filter(patient=patient).values_list("gp_rpps", flat=True)) == {
        second.user.rpps
    }
    assert feed_labels(second.user).count(patient.identity_label) == lines
    assert len(feed_labels(second.user)) == before + lines
    assert patient.identity_label not in feed_labels(first.user)
    # An UPDATE that bypasses the model and its actions is followed all the same.
    Patient.objects.filter(pk=patient.pk).update(gp_rpps=first.user.rpps)
    assert feed_labels(first.user).count(patient.identity_label) == lines
    assert len(feed_labels(second.user)) == before
    # No GP any more: the lines are nobody's.
    Patient.objects.filter(pk=patient.pk).update(gp_rpps=None)
    assert not NewsItem.objects.filter(patient=patient, gp_rpps__isnull=False).exists()
    assert patient.identity_label not in feed_labels(first.user)


@pytest.mark.django_db
def test_a_news_lines_gp_is_the_databases_not_the_applications(
    portal_world: PortalWorld,
) -> None:
    first, second = portal_world.gps[0], portal_world.gps[1]
    patient = first.upcoming.patient
    line = NewsItem.objects.create(
        patient=patient,
        kind=NewsItem.Kind.PPS,
        date=TODAY,
        text="Ligne écrite à la main",
        created_at=clock.now(),
        gp_rpps=second.user.rpps,  # ignored: the patient's GP is written instead
    )
    line.refresh_from_db()
    assert line.gp_rpps == first.user.rpps
    NewsItem.objects.filter(pk=line.pk).update(gp_rpps=second.user.rpps)
    line.refresh_from_db()
    assert line.gp_rpps == first.user.rpps
    NewsItem.objects.filter(pk=line.pk).update(patient=second.upcoming.patient)
    line.refresh_from_db()
    assert line.gp_rpps == second.user.rpps


@pytest.mark.django_db
def test_every_view_of_patient_data_is_traced(portal_world: PortalWorld) -> None:
    case = portal_world.gps[0]
    client = client_for(case.user)
    client.get(reverse("portal:dashboard"), REMOTE_ADDR="192.0.2.10")
    shown = set(
        AuditEvent.objects.filter(action="portal.dashboard").values_list("patient_id", flat=True)
    )
    assert shown == {case.upcoming.patient_id, case.past.patient_id}
    for action, url, patient_id in (
        (
            "portal.prefiche",
            reverse("portal:prefiche", args=[case.upcoming.pk]),
            case.upcoming.patient_id,
        ),
        (
            "portal.compte_rendu",
            reverse("portal:compte_rendu", args=[case.past.pk]),
            case.past.patient_id,
        ),
        ("portal.pps", reverse("portal:pps", args=[case.pps.pk]), case.past.patient_id),
    ):
        assert client.get(url, REMOTE_ADDR="192.0.2.10").status_code == 200
        event = AuditEvent.objects.filter(action=action).latest("id")
        assert event.patient_id == patient_id
        assert event.actor_id == case.user.pk
        assert event.actor_role == "medecin_traitant"
        assert event.outcome == "ok"
        assert event.ip == "192.0.2.10"
        assert event.object_id
        assert event.at.utcoffset() == dt.timedelta(0)


@pytest.mark.django_db
def test_refused_attempt_is_traced(portal_world: PortalWorld) -> None:
    intruder, victim = portal_world.gps[1], portal_world.gps[0]
    client = client_for(intruder.user)
    response = client.get(
        reverse("portal:prefiche", args=[victim.upcoming.pk]), REMOTE_ADDR="198.51.100.7"
    )
    assert response.status_code == 404
    event = AuditEvent.objects.filter(outcome="denied").latest("id")
    assert event.actor_id == intruder.user.pk
    assert event.patient_id == victim.upcoming.patient_id
    assert event.ip == "198.51.100.7"
    assert victim.upcoming.patient.birth_name not in response.content.decode()
    missing = client.get(reverse("portal:prefiche", args=[999999]))
    assert missing.status_code == 404
    assert AuditEvent.objects.filter(outcome="denied", patient_id=None).exists()


@pytest.mark.django_db
def test_webconference_link_only_for_web_urls(
    portal_world: PortalWorld, notified: set[tuple[int, str]]
) -> None:
    from concerto.rcp.models import Board

    case = portal_world.gps[0]
    notified.add((case.upcoming.pk, case.user.rpps))
    # A row written around the form validation (e.g. an old import) must not become a link.
    Board.objects.filter(pk=portal_world.world.board.pk).update(
        webconference_url="javascript:alert(1)"
    )
    page = client_for(case.user).get(reverse("portal:prefiche", args=[case.upcoming.pk]))
    aside = BeautifulSoup(page.content, "html.parser").select_one("aside")
    assert aside.find("a") is None
    assert "134679" in aside.get_text()


@pytest.mark.django_db
def test_an_empty_first_contribution_is_not_saved(portal_world: PortalWorld) -> None:
    case = portal_world.gps[0]
    client = client_for(case.user)
    url = reverse("portal:contribute", args=[case.upcoming.pk])
    page = text_of(client.post(url, {"comment": "   "}, follow=True))
    assert "Rien à enregistrer" in page
    # (was saved: the participants read "Pas de commentaire. Pas de souhait…")
    assert not GPContribution.objects.filter(registration=case.upcoming).exists()


@pytest.mark.django_db
def test_no_contribution_to_a_cancelled_session(portal_world: PortalWorld) -> None:
    case = portal_world.gps[0]
    actions.cancel_session(by=portal_world.world.secretary, session=case.upcoming.session)
    client = client_for(case.user)
    page = BeautifulSoup(
        client.get(reverse("portal:prefiche", args=[case.upcoming.pk])).content, "html.parser"
    )
    assert page.select_one("#contribution form") is None  # (was offered, wish included)
    assert "La séance est annulée : la contribution n'est plus possible." in page.get_text()
    assert WARNING not in page.get_text()
    response = client.post(
        reverse("portal:contribute", args=[case.upcoming.pk]),
        {"comment": "Trop tard.", "wants_to_join": "on"},
        follow=True,
    )
    assert "La séance est annulée" in text_of(response)
    assert not GPContribution.objects.filter(registration=case.upcoming).exists()


@pytest.mark.django_db
def test_the_wish_to_join_is_not_asked_once_the_meeting_has_started(
    portal_world: PortalWorld,
) -> None:
    case = portal_world.gps[0]
    url = reverse("portal:contribute", args=[case.upcoming.pk])
    client_for(case.user).post(url, {"comment": "Avant.", "wants_to_join": "on"})
    with builders.at(case.upcoming.session.starts_at + dt.timedelta(minutes=30)):
        client = client_for(case.user)
        page = BeautifulSoup(
            client.get(reverse("portal:prefiche", args=[case.upcoming.pk])).content,
            "html.parser",
        )
        assert page.select_one("input[name=wants_to_join]") is None
        assert "le souhait de participation n'est plus demandé" in page.get_text()
        # The comment may still change until the compte-rendu; the wish given stays.
        client.post(url, {"comment": "Pendant."})
    contribution = GPContribution.objects.get(registration=case.upcoming)
    assert (contribution.comment, contribution.wants_to_join) == ("Pendant.", True)


@pytest.mark.django_db
def test_a_link_opened_in_someone_elses_session_offers_to_log_in_as_oneself(
    portal_world: PortalWorld,
) -> None:
    """A shared workstation: Dr B opens the e-mail's link while Dr A is still logged in.
    The 404 (the same for a record that does not exist) names who is logged in and offers
    to log out and back in; the next login lands on the link's page."""
    doctor_a, doctor_b = portal_world.gps[0], portal_world.gps[1]
    client = client_for(doctor_a.user)
    link = reverse("portal:prefiche", args=[doctor_b.upcoming.pk])
    response = client.get(link)
    assert response.status_code == 404
    page = BeautifulSoup(response.content, "html.parser")
    assert f"Vous êtes connecté en tant que {doctor_a.user.display_name}" in " ".join(
        page.get_text().split()
    )
    form = page.find("button", string="Se déconnecter et se reconnecter").find_parent("form")
    assert form["action"] == reverse("logout")
    fields = {field["name"]: field["value"] for field in form.find_all("input")}
    assert fields["next"] == link
    client.post(reverse("logout"), {"next": fields["next"]})
    login_page = html.unescape(client.get(reverse("login")).content.decode())
    assert f'href="/connexion/demo/?next={link}"' in login_page
    # Elsewhere than this page, or once logged out, no such offer; a foreign "next" is
    # not kept.
    assert "Se déconnecter et se reconnecter" not in client.get(link, follow=True).content.decode()
    client.post(reverse("logout"), {"next": "https://ailleurs.example/"})
    assert RESUME_KEY not in client.session
    assert "ailleurs" not in client.get(reverse("login")).content.decode()
