"""Sessions: time-outs (frozen time), logout (local, then PSC), replayed cookies."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
import requests
import time_machine
from django.conf import settings
from django.contrib.sessions.models import Session as DjangoSession
from django.test import Client

from concerto.audit.models import AuditEvent
from tests import builders
from tests.accounts.conftest import POST_LOGOUT_URI, psc_login, query_of

pytestmark = pytest.mark.django_db

GP_RPPS = "19999999998"
START = dt.datetime(2026, 11, 27, 8, 0, tzinfo=dt.UTC)


@pytest.fixture
def known_gp(psc_settings):
    return builders.gp(rpps=GP_RPPS, last_name="MEDECINFICTIF")


def _authenticated(response) -> bool:
    return bool(response.wsgi_request.user.is_authenticated)


def test_idle_timeout(client, known_gp, psc_settings):
    assert settings.SESSION_IDLE_TIMEOUT == 30 * 60
    with time_machine.travel(START, tick=False) as traveller:
        psc_login(client, "gp")
        traveller.shift(dt.timedelta(minutes=29))
        assert _authenticated(client.get("/"))
        traveller.shift(dt.timedelta(minutes=29))  # 58 min since login, 29 idle
        assert _authenticated(client.get("/"))
        id_token = client.session["psc_id_token"]
        traveller.shift(dt.timedelta(minutes=30, seconds=1))
        response = client.get("/")
        assert not _authenticated(response)
        # PSC's session is ended too (a shared workstation: the next person must not
        # find the doctor still logged in at PSC), as by "Se déconnecter".
        assert response.status_code == 302
        location = response["Location"]
        assert location.startswith(psc_settings.issuer + "/protocol/openid-connect/logout?")
        assert query_of(location)["id_token_hint"] == id_token
        assert query_of(location)["post_logout_redirect_uri"] == POST_LOGOUT_URI
        home = client.get("/")
        assert not _authenticated(home)
        assert "Votre session a expiré" in home.content.decode()


def _login_link(client) -> str:
    """The login page's "Se connecter avec Pro Santé Connect" link, as the GP clicks it."""
    page = html.unescape(client.get("/connexion/").content.decode())
    match = re.search(r'href="(/connexion/psc/\?next=[^"]*)"', page)
    assert match, page
    return match.group(1)


@pytest.mark.parametrize("method", ["get", "post", "warning"])
def test_the_next_login_after_a_time_out_lands_where_the_gp_was_going(
    client, known_gp, psc_settings, method
):
    """The e-mail's link clicked in a browser whose PSC session timed out (GET), or the
    contribution sent after the time-out (POST): PSC's session is ended, the browser comes
    back to the home page, and the login that follows lands on the pré-fiche, not on the
    dashboard."""
    prefiche = "/portail/inscription/4242/"
    with time_machine.travel(START, tick=False) as traveller:
        psc_login(client, "gp")
        traveller.shift(dt.timedelta(minutes=31))
        if method == "get":
            response = client.get(prefiche)
        elif method == "warning":  # "Se reconnecter" of the page's time-out warning
            response = client.get("/connexion/", {"next": prefiche})
        else:
            response = client.post(
                prefiche + "contribution/",
                {"comment": "Texte"},
                HTTP_REFERER=f"http://testserver{prefiche}",
            )
        assert response["Location"].startswith(psc_settings.issuer)  # PSC's end-session
        assert "Votre session a expiré" in client.get("/").content.decode()
        link = _login_link(client)
        assert query_of(link)["next"] == prefiche
        attempt = psc_login(client, "gp", next_url=query_of(link)["next"])
        assert attempt.response.status_code == 302
        assert attempt.response["Location"] == prefiche
        # Used once: a later visit to the login page goes home by default.
        assert query_of(_login_link(client))["next"] == "/"


def test_a_remembered_destination_is_for_a_login_soon_and_for_pages_only(
    client, known_gp, psc_settings
):
    """A shared workstation: hours later, the next person's login does not land on the
    page the previous doctor was reading; a script's request (a search's JSON) is no
    destination."""
    prefiche = "/portail/inscription/4242/"
    with time_machine.travel(START, tick=False) as traveller:
        psc_login(client, "gp")
        traveller.shift(dt.timedelta(minutes=31))
        client.get(prefiche)
        traveller.shift(dt.timedelta(minutes=16))
        assert query_of(_login_link(client))["next"] == "/"
        psc_login(client, "gp")
        traveller.shift(dt.timedelta(minutes=31))
        client.get("/rcp/cim10/", {"q": "C04"}, HTTP_SEC_FETCH_MODE="cors")
        assert client.get("/")["Location"].startswith(psc_settings.issuer)  # (see below)
        assert query_of(_login_link(client))["next"] == "/"
        # A page left open hours after its session ended, reloaded or followed from
        # within the site: not remembered; the e-mail's link (from outside): remembered.
        for site, kept in (("same-origin", "/"), ("cross-site", prefiche), ("none", prefiche)):
            psc_login(client, "gp")
            traveller.shift(dt.timedelta(hours=3))
            client.get(prefiche, HTTP_SEC_FETCH_SITE=site, HTTP_SEC_FETCH_MODE="navigate")
            assert query_of(_login_link(client))["next"] == kept, site


def test_a_time_out_found_by_the_keep_alive_still_ends_the_psc_session(
    client, known_gp, psc_settings
):
    """The page's script (the keep-alive) follows no redirect: PSC's end-session, which a
    shared workstation needs (the next person must not be logged in as this doctor
    without a card), is done at the browser's next page load."""
    prefiche = "/portail/inscription/4242/"
    with time_machine.travel(START, tick=False) as traveller:
        psc_login(client, "gp")
        id_token = client.session["psc_id_token"]
        traveller.shift(dt.timedelta(minutes=31))
        ping = client.post("/connexion/prolonger/", HTTP_SEC_FETCH_MODE="same-origin")
        assert not ping["Location"].startswith(psc_settings.issuer)
        assert "_auth_user_id" not in client.session
        page = client.get(prefiche, HTTP_SEC_FETCH_MODE="navigate")
        location = page["Location"]
        assert location.startswith(psc_settings.issuer + "/protocol/openid-connect/logout?")
        assert query_of(location)["id_token_hint"] == id_token
        assert "Votre session a expiré" in client.get("/").content.decode()
        assert query_of(_login_link(client))["next"] == prefiche
        # Done once.
        assert client.get("/", HTTP_SEC_FETCH_MODE="navigate").status_code == 200


def test_a_timed_out_session_without_psc_just_ends(client, known_gp):
    """(A demo or admin login has no PSC session to end.)"""
    with time_machine.travel(START, tick=False) as traveller:
        client.force_login(builders.user(username="sans-psc"))
        assert _authenticated(client.get("/"))
        traveller.shift(dt.timedelta(minutes=31))
        response = client.get("/")
        assert response.status_code == 200 and not _authenticated(response)
        assert "Votre session a expiré" in response.content.decode()


def test_absolute_timeout(client, known_gp):
    assert settings.SESSION_ABSOLUTE_TIMEOUT == 12 * 3600
    with time_machine.travel(START, tick=False) as traveller:
        psc_login(client, "gp")
        for _ in range(35):  # active every 20 minutes for 11 h 40: never idle
            traveller.shift(dt.timedelta(minutes=20))
            assert _authenticated(client.get("/"))
        traveller.shift(dt.timedelta(minutes=20, seconds=1))  # 12 h 00 min 01 s after login
        assert not _authenticated(client.get("/"))


def test_timeouts_follow_the_settings(client, known_gp, settings):
    settings.SESSION_IDLE_TIMEOUT = 60
    with time_machine.travel(START, tick=False) as traveller:
        psc_login(client, "gp")
        traveller.shift(dt.timedelta(seconds=59))
        assert _authenticated(client.get("/"))
        traveller.shift(dt.timedelta(seconds=61))
        assert not _authenticated(client.get("/"))


def test_logout_is_local_then_psc_end_session(client, known_gp, psc_settings):
    psc_login(client, "gp")
    id_token = client.session["psc_id_token"]
    response = client.post("/deconnexion/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(psc_settings.issuer + "/protocol/openid-connect/logout?")
    params = query_of(location)
    assert params["id_token_hint"] == id_token
    assert params["post_logout_redirect_uri"] == POST_LOGOUT_URI
    assert "_auth_user_id" not in client.session  # local session ended before PSC's
    # The browser follows to PSC, which checks the hint and sends it back home.
    answer = requests.get(location, timeout=10, allow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["Location"] == POST_LOGOUT_URI
    assert psc_settings.logouts[-1] == {"valid_hint": "True", "redirect": POST_LOGOUT_URI}
    assert AuditEvent.objects.filter(action="accounts.logout").count() == 1


def test_logout_needs_post(client, known_gp):
    psc_login(client, "gp")
    assert client.get("/deconnexion/").status_code == 405
    assert _authenticated(client.get("/"))


def test_cookie_replayed_after_logout_is_refused(client, known_gp):
    psc_login(client, "gp")
    cookie_name = settings.SESSION_COOKIE_NAME
    stolen = client.cookies[cookie_name].value
    assert _authenticated(client.get("/"))
    client.post("/deconnexion/")
    assert not DjangoSession.objects.filter(session_key=stolen).exists()
    attacker = Client()
    attacker.cookies[cookie_name] = stolen
    response = attacker.get("/")
    assert not _authenticated(response)


def test_logout_without_psc_token_goes_home(client, settings):
    user = builders.user(username="demo-secretaire")
    client.force_login(user)
    response = client.post("/deconnexion/")
    assert response["Location"] == "/"
    assert not _authenticated(client.get("/"))


@pytest.mark.django_db
def test_the_session_cookie_ends_with_the_browser(client: Client) -> None:
    """Closing the browser of a shared workstation ends the doctor's session (the cookie
    was kept 12 hours)."""
    builders.user(username="demo-medecin")
    response = client.post("/connexion/demo/", {"username": "demo-medecin"})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert not cookie["max-age"] and not cookie["expires"], dict(cookie)


def test_the_page_counts_down_and_staying_connected_restarts_the_idle_clock(client):
    """WCAG 2.2.1: the pages know how long the session has left (the script warns before
    it ends); "Rester connecté" restarts the idle time-out, never the absolute one."""
    from bs4 import BeautifulSoup
    from django.urls import reverse

    with time_machine.travel(START, tick=False) as traveller:
        client.force_login(builders.user(username="compte-a-rebours"))
        traveller.shift(dt.timedelta(minutes=10))
        page = BeautifulSoup(client.get("/rcp/").content, "html.parser")
        box = page.select_one("#session-limite")
        # Seen 10 min ago (the middleware rewrites the instant at most every 30 s, and
        # did now): 30 min of idle time left, 11 h 50 of the 12 h.
        assert (box["data-idle"], box["data-absolute"]) == ("1800", str(12 * 3600 - 600))
        assert box["data-keepalive"] == reverse("keep_alive")
        assert page.select_one("script[src$='concerto/session.js']") is not None
        traveller.shift(dt.timedelta(seconds=20))  # (within the rewrite interval)
        assert client.get(reverse("keep_alive")).status_code == 405  # a POST only
        answer = client.post(reverse("keep_alive"))
        assert answer.json() == {"idle": 1800, "absolute": 12 * 3600 - 620}
        # 30 min 10 s after the page, 29 min 50 s after the keep-alive: still connected.
        traveller.shift(dt.timedelta(minutes=29, seconds=50))
        assert _authenticated(client.get("/"))
    # No session: the login page's redirect (the script then says the session ended),
    # and no countdown on public pages.
    client.logout()
    gone = client.post(reverse("keep_alive"))
    assert gone.status_code == 302 and gone["Location"].startswith(settings.LOGIN_URL)
    assert b"session-limite" not in client.get(reverse("login")).content


def test_the_back_office_warns_of_the_time_out_too(client):
    """Secretaries fill in forms there as well (boards, members, sessions)."""
    from bs4 import BeautifulSoup

    secretary = builders.user(username="secretaire-minute", is_staff=True)
    client.force_login(secretary)
    page = BeautifulSoup(client.get("/admin/").content, "html.parser")
    box = page.select_one("footer #session-limite")
    assert box is not None and int(box["data-idle"]) > 0
    assert page.select_one("script[src$='concerto/session.js']") is not None
    assert page.select_one("link[href$='concerto/session.css']") is not None
    assert page.select_one("input[name=csrfmiddlewaretoken]") is not None  # (its token)
    assert "Concerto — administration" in page.get_text()
