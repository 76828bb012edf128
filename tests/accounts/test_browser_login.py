"""A real browser (Debian's Chromium) logs in through the PSC stand-in and the demo login."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from tests import builders

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture
def browser_page():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium absent (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu"],
            headless=True,
        )
        try:
            yield browser.new_page()
        finally:
            browser.close()


@pytest.fixture
def live_psc(live_server, standin, settings):
    standin.reset()
    redirect_uri = live_server.url + "/connexion/psc/retour/"
    home = live_server.url + "/"
    standin.redirect_uris.append(redirect_uri)
    standin.post_logout_redirect_uris.append(home)
    settings.PSC_ISSUER = standin.issuer
    settings.PSC_CLIENT_ID = standin.client_id
    settings.PSC_CLIENT_SECRET = standin.client_secret
    settings.PSC_REDIRECT_URI = redirect_uri
    settings.PSC_POST_LOGOUT_REDIRECT_URI = home
    # What concerto/settings.py derives from PSC_ISSUER at start-up.
    policy = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)
    policy["DIRECTIVES"]["form-action"].append(standin.issuer.split("/auth/")[0])
    settings.CONTENT_SECURITY_POLICY = policy
    yield live_server
    standin.redirect_uris.remove(redirect_uri)
    standin.post_logout_redirect_uris.remove(home)


@pytest.fixture
def known_gp():
    # Data first: inside Playwright's sync API an event loop runs and Django refuses DB calls.
    return builders.gp(rpps="19999999998", last_name="MEDECINFICTIF")


@pytest.fixture
def demo_gp():
    return builders.user(username="demo-medecin", last_name="MEDECINFICTIF", first_name="Gaspard")


def test_gp_logs_in_and_out_through_psc(live_psc, standin, known_gp, browser_page):
    page = browser_page
    page.goto(live_psc.url + "/connexion/")
    page.get_by_role("link", name="Se connecter avec Pro Santé Connect").click()
    page.get_by_role("button", name=re.compile("Gaspard MEDECINFICTIF")).click()
    page.wait_for_url(live_psc.url + "/")
    assert page.get_by_role("button", name="Se déconnecter").is_visible()
    assert "MEDECINFICTIF Test" in page.content()
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(live_psc.url + "/")
    assert page.get_by_role("link", name="Se connecter").first.is_visible()
    assert standin.logouts[-1]["valid_hint"] == "True"


def test_unknown_professional_sees_what_to_do(live_psc, browser_page):
    page = browser_page
    page.goto(live_psc.url + "/connexion/")
    page.get_by_role("link", name="Se connecter avec Pro Santé Connect").click()
    page.get_by_role("button", name=re.compile("INCONNUEFICTIVE")).click()
    heading = page.get_by_role("heading", level=1)
    assert heading.inner_text() == "Votre numéro RPPS n'est pas connu de Concerto"
    assert "10000000009" in page.content()


def test_newcomer_uses_the_demo_login(live_server, demo_gp, browser_page):
    page = browser_page
    page.goto(live_server.url + "/connexion/")
    page.get_by_role("link", name="Connexion de démonstration").click()
    page.get_by_role("button", name=re.compile("Entrer comme MEDECINFICTIF")).click()
    page.wait_for_url(live_server.url + "/")
    assert "MEDECINFICTIF Gaspard" in page.content()
