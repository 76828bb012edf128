"""The demo login: one button per demo person, only in demo mode."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from concerto.accounts.views import DEMO_PEOPLE
from concerto.audit.models import AuditEvent
from tests import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo_people():
    return {
        username: builders.user(username=username, last_name=f"DEMO{i}")
        for i, (_, username, _) in enumerate(DEMO_PEOPLE)
    }


def _csrf(client: Client, url: str) -> tuple[str, str]:
    page = client.get(url).content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token
    return page, token.group(1)


def test_login_page_links_to_the_demo_login(client):
    page = client.get("/connexion/").content.decode()
    assert "Connexion de démonstration" in page
    assert 'href="/connexion/demo/' in page


def test_demo_page_lists_people_by_role_with_one_button_each(client, demo_people):
    page = client.get("/connexion/demo/").content.decode()
    assert "<h1>Connexion de démonstration</h1>" in page
    for role in ("Médecin traitant", "Secrétaire", "Participant", "Administrateur", "inscripteur"):
        assert role in page
    buttons = re.findall(r'name="username" value="([^"]+)"', page)
    assert sorted(buttons) == sorted(demo_people)
    assert page.count('method="post"') >= len(demo_people)


def test_demo_login_with_csrf_and_next(demo_people):
    client = Client(enforce_csrf_checks=True)
    _, token = _csrf(client, "/connexion/demo/")
    response = client.post(
        "/connexion/demo/",
        {"username": "demo-medecin", "next": "/portail/", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert response["Location"] == "/portail/"
    assert client.session["_auth_user_id"] == str(demo_people["demo-medecin"].pk)
    event = AuditEvent.objects.get(action="accounts.login")
    assert event.details == {"method": "demo"}


def test_demo_login_refuses_without_csrf(demo_people):
    client = Client(enforce_csrf_checks=True)
    response = client.post("/connexion/demo/", {"username": "demo-medecin"})
    assert response.status_code == 403
    assert "_auth_user_id" not in client.session


def test_demo_login_only_for_demo_accounts(client, demo_people):
    someone = builders.user(username="psc-19999999998")
    response = client.post("/connexion/demo/", {"username": someone.username})
    assert response.status_code == 302
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="accounts.login_refused").count() == 1


def test_demo_login_rotates_the_session_key(client, demo_people):
    client.get("/connexion/demo/")
    client.get("/connexion/psc/")  # any anonymous session data
    before = client.session.session_key
    client.post("/connexion/demo/", {"username": "demo-secretaire"})
    assert client.session.session_key != before


def test_demo_view_is_locked_when_the_flag_is_off(client, demo_people, settings):
    settings.DEMO_LOGIN = False
    assert client.get("/connexion/demo/").status_code == 404
    response = client.post("/connexion/demo/", {"username": "demo-medecin"})
    assert response.status_code == 404
    assert "_auth_user_id" not in client.session
    assert "Connexion de démonstration" not in client.get("/connexion/").content.decode()


def test_password_form_is_gone(client, demo_people):
    page = client.get("/connexion/").content.decode()
    assert 'type="password"' not in page
    response = client.post(
        "/connexion/", {"username": "demo-medecin", "password": "test-password-123"}
    )
    assert response.status_code == 405


def test_login_page_never_links_a_demo_login_that_does_not_exist(client, settings):
    # Production with the flag forced on (the system check fails, but the page must not).
    settings.PRODUCTION = True
    settings.DEMO_LOGIN = True
    response = client.get("/connexion/")
    assert response.status_code == 200
    assert "Connexion de démonstration" not in response.content.decode()
    assert client.post("/connexion/demo/", {"username": "demo-medecin"}).status_code == 404
