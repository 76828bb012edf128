"""The whole RCP walk in Debian's Chromium: a secretary creates a session, a registrar
finds-or-creates the patient, registers them with a document and completes the
pre-fiche, a participant records and validates the decision and generates the PPS.
Screenshots go to test-artifacts/rcp/."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone

from concerto.rcp.models import PPS, CompteRendu, Document, Registration, Session
from tests.builders import World, gp
from tests.rcp.conftest import PDF

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "rcp"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium absent"),
]


def _cookie_for(user, base_url: str) -> dict:
    client = Client()
    client.force_login(user)
    return {
        "name": settings.SESSION_COOKIE_NAME,
        "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
        "url": base_url,
    }


def _next_tuesday(after_days: int = 10) -> dt.date:
    day = timezone.localdate() + dt.timedelta(days=after_days)
    while day.weekday() != 1:
        day += dt.timedelta(days=1)
    return day


def test_registration_to_pps_in_the_browser(live_server, monkeypatch, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls below
    # are plain synchronous test code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    world = World(title="RCP navigateur digestif")
    doctor = gp(last_name="GENERALISTENAVIGATEUR")
    participant = world.participants[0][0]
    day = _next_tuesday()
    document_file = tmp_path / "scanner-thoracique.pdf"
    document_file.write_bytes(PDF)
    base = live_server.url
    errors: list[str] = []
    # All database work happens outside the Playwright block: its greenlet has its own
    # context, so a connection opened there would outlive the test.
    cookies = {u.pk: _cookie_for(u, base) for u in (world.secretary, world.registrar)}

    def launch(p):  # type: ignore[no-untyped-def]
        return p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
        )

    def page_for(browser, user):  # type: ignore[no-untyped-def]
        context = browser.new_context(locale="fr-FR")
        context.add_cookies([cookies[user.pk]])
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        return page

    with sync_playwright() as p:
        browser = launch(p)

        # 1. The secretary creates a session.
        page = page_for(browser, world.secretary)
        page.goto(f"{base}/rcp/")
        page.get_by_role("link", name="calendrier").first.click()
        page.fill("#id_single-date", day.isoformat())
        page.fill("#id_single-time", "14:00")
        page.get_by_role("button", name="Créer la séance").click()
        expect(page.get_by_text(f"Séance du {day:%d/%m/%Y} à 14:00 créée.")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "1-secretaire-seance-creee.png"), full_page=True)

        # 2. The registrar finds no patient, creates one (GP from the directory),
        # registers them, attaches a document and completes the pre-fiche.
        page = page_for(browser, world.registrar)
        page.goto(f"{base}/rcp/")
        page.get_by_role("link", name="Inscrire un patient").click()
        page.fill("#id_birth_name", "NAVIGATEUR-FICTIF")
        page.fill("#id_birth_date", "1951-06-02")
        page.get_by_role("button", name="Rechercher").click()
        expect(page.get_by_text("Aucun patient ne correspond.")).to_be_visible()
        assert "NAVIGATEUR" not in page.url
        page.get_by_role("link", name="Créer un nouveau patient").click()
        page.fill("#id_birth_name", "NAVIGATEUR-FICTIF")
        page.fill("#id_first_names", "Jeanne Marie")
        page.select_option("#id_sex", "F")
        page.fill("#id_birth_date", "1951-06-02")
        page.fill("#id_birth_place_code", "86194")
        page.select_option("#id_identity_status", "PROV")
        page.fill("#gp-query", "navigateur")
        page.get_by_role("button", name="Rechercher dans l'annuaire").click()
        page.get_by_role(
            "button", name=f"Choisir Dr GENERALISTENAVIGATEUR Test (RPPS {doctor.rpps})"
        ).click()
        expect(page.locator("#id_gp_rpps")).to_have_value(doctor.rpps)
        page.screenshot(path=str(ARTIFACTS / "2-inscripteur-nouveau-patient.png"), full_page=True)
        page.get_by_role("button", name="Créer le patient").click()
        expect(
            page.get_by_role("heading", name="Inscrire Femme NAVIGATEUR-FICTIF JEANNE")
        ).to_be_visible()
        page.select_option("#id_session", index=1)
        page.fill("#id_reason", "Découverte d'une masse sigmoïdienne")
        page.fill("#id_cim10_code", "C18.7")
        page.dispatch_event("#id_cim10_code", "change")
        expect(page.locator("#id_cim10_label")).to_have_value("Tumeur maligne du côlon sigmoïde")
        page.fill("#id_tnm", "cT3N0M0")
        page.fill("#id_question", "Chirurgie d'emblée ?")
        page.get_by_role("button", name="Inscrire le patient").click()
        expect(page.get_by_text("Patient inscrit.")).to_be_visible()
        page.fill("#id_title", "Scanner thoraco-abdominal")
        page.set_input_files("#id_file", str(document_file))
        page.get_by_role("button", name="Joindre le document").click()
        expect(page.get_by_role("link", name="Scanner thoraco-abdominal")).to_be_visible()
        page.get_by_role("button", name="Marquer la pré-fiche complète").click()
        expect(page.get_by_text("Pré-fiche marquée complète.")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "3-inscripteur-prefiche-complete.png"), full_page=True)
        browser.close()

    # 3. The day of the meeting: a participant records the decision, checks the quorum,
    # validates, makes the PPS. (The clock moves for the live server's thread too.)
    session = Session.objects.get(board=world.board, date=day)
    meeting = time_machine.travel(session.starts_at + dt.timedelta(minutes=5), tick=True)
    meeting.start()
    cookies[participant.pk] = _cookie_for(participant, base)
    try:
        with sync_playwright() as p:
            browser = launch(p)
            page = page_for(browser, participant)
            page.goto(f"{base}/rcp/")
            page.get_by_role("link", name=f"{day:%d/%m/%Y} à 14:00").click()
            expect(page.get_by_text("Scanner thoraco-abdominal")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "4-participant-seance.png"), full_page=True)
            page.get_by_role("link", name="Enregistrer la décision").click()
            for _, specialty in world.participants:
                page.get_by_label(specialty, exact=False).check()
            page.get_by_label("dossier discuté").check()
            page.fill("#id_proposal", "Colectomie sigmoïdienne puis surveillance.")
            page.get_by_role("button", name="Vérifier le quorum").click()
            expect(page.get_by_text("Quorum atteint.")).to_be_visible()
            page.get_by_role("button", name="Valider le compte-rendu").click()
            expect(page.get_by_text("Compte-rendu validé (version 1).")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "5-participant-compte-rendu.png"), full_page=True)
            page.get_by_role("link", name="Générer le PPS").click()
            page.fill("#id_establishment_name", "Centre Hospitalier Fictif")
            page.get_by_role("button", name="Générer le PPS").click()
            expect(page.get_by_text("PPS généré")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "6-participant-pps.png"), full_page=True)
            browser.close()
    finally:
        meeting.stop()
    assert Session.objects.filter(board=world.board, date=day).exists()
    registration = Registration.objects.get(patient__birth_name="NAVIGATEUR-FICTIF")
    assert registration.patient.gp_rpps == doctor.rpps
    assert registration.prefiche_completed_at is not None
    assert Document.objects.get(registration=registration).content_type == "application/pdf"
    cr = CompteRendu.objects.get(registration=registration)
    assert cr.quorum_met and cr.validated_by == participant
    assert PPS.objects.filter(compte_rendu=cr).count() == 1
    assert not [e for e in errors if "Content Security Policy" in e], errors
