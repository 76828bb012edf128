"""Under production settings: PSC settings mandatory, no demo login, secure cookies.

Production settings are read in a subprocess (they are computed at import time from the
environment); the cookie flags they produce are then exercised in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests import builders
from tests.builders import PRODUCTION_ENV

PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
try:
    resolve("/connexion/demo/")
    resolved = True
except Resolver404:
    resolved = False
try:
    reverse("demo_login")
    reversed_ = True
except NoReverseMatch:
    reversed_ = False
print(json.dumps({
    "demo_url_resolves": resolved,
    "demo_url_reverses": reversed_,
    "login_url_resolves": resolve("/connexion/").url_name,
    "DEMO_LOGIN": settings.DEMO_LOGIN,
    "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
    "SESSION_COOKIE_HTTPONLY": settings.SESSION_COOKIE_HTTPONLY,
    "SESSION_COOKIE_SAMESITE": settings.SESSION_COOKIE_SAMESITE,
    "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
    "CSRF_COOKIE_SAMESITE": settings.CSRF_COOKIE_SAMESITE,
    "SESSION_IDLE_TIMEOUT": settings.SESSION_IDLE_TIMEOUT,
    "SESSION_ABSOLUTE_TIMEOUT": settings.SESSION_ABSOLUTE_TIMEOUT,
    "timeout_middleware": "concerto.accounts.middleware.SessionTimeoutMiddleware"
        in settings.MIDDLEWARE,
    "PSC_POST_LOGOUT_REDIRECT_URI": settings.PSC_POST_LOGOUT_REDIRECT_URI,
    "form_action": settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["form-action"],
    "SESSION_COOKIE_NAME": settings.SESSION_COOKIE_NAME,
    "CSRF_COOKIE_NAME": settings.CSRF_COOKIE_NAME,
}))
"""


def _run(args: list[str], **overrides: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PSC_")
        and k not in {"DATABASE_URL", "SECRET_KEY", "ALLOWED_HOSTS", "CONCERTO_DEMO_LOGIN"}
    }
    env.update(PRODUCTION_ENV)
    env.update(overrides)
    env = {k: v for k, v in env.items() if v != ""}
    env["DJANGO_SETTINGS_MODULE"] = "concerto.settings"
    return subprocess.run(
        [sys.executable, *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def production():
    result = _run(["-c", PROBE])
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_demo_login_url_does_not_exist_in_production(production):
    assert production["DEMO_LOGIN"] is False
    assert production["demo_url_resolves"] is False
    assert production["demo_url_reverses"] is False
    assert production["login_url_resolves"] == "login"


def test_demo_login_flag_in_production_fails_the_check():
    result = _run(["-m", "concerto", "check"], CONCERTO_DEMO_LOGIN="true")
    assert result.returncode != 0
    assert "concerto.E001" in result.stderr
    # Even with the flag forced on, the URL is not registered.
    probe = _run(["-c", PROBE], CONCERTO_DEMO_LOGIN="true")
    assert json.loads(probe.stdout)["demo_url_resolves"] is False


def test_production_settings_make_cookies_secure(production):
    assert production["SESSION_COOKIE_SECURE"] is True
    assert production["CSRF_COOKIE_SECURE"] is True
    assert production["SESSION_COOKIE_HTTPONLY"] is True
    assert production["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert production["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert production["SESSION_COOKIE_NAME"].startswith("__Host-")
    assert production["CSRF_COOKIE_NAME"].startswith("__Host-")
    assert production["timeout_middleware"] is True
    assert production["SESSION_IDLE_TIMEOUT"] == 1800
    assert production["SESSION_ABSOLUTE_TIMEOUT"] == 43200
    assert production["PSC_POST_LOGOUT_REDIRECT_URI"] == "https://dcc.exemple.test/"


def test_csp_lets_the_logout_form_reach_psc_and_nothing_else(production):
    assert production["form_action"] == ["'self'", "https://auth.bas.psc.esante.gouv.fr"]


@pytest.mark.django_db
def test_session_cookie_flags_at_login_under_production_values(client, settings, production):
    settings.SESSION_COOKIE_SECURE = production["SESSION_COOKIE_SECURE"]
    settings.CSRF_COOKIE_SECURE = production["CSRF_COOKIE_SECURE"]
    settings.SESSION_COOKIE_HTTPONLY = production["SESSION_COOKIE_HTTPONLY"]
    settings.SESSION_COOKIE_SAMESITE = production["SESSION_COOKIE_SAMESITE"]
    settings.SESSION_COOKIE_NAME = production["SESSION_COOKIE_NAME"]
    settings.CSRF_COOKIE_NAME = production["CSRF_COOKIE_NAME"]
    builders.user(username="demo-medecin")
    page = client.get("/connexion/demo/", secure=True)
    csrf = page.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["secure"] is True and csrf["samesite"] == "Lax"
    response = client.post("/connexion/demo/", {"username": "demo-medecin"}, secure=True)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["secure"] is True
    assert cookie["path"] == "/" and not cookie["domain"]  # what "__Host-" requires
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"


@pytest.mark.parametrize(
    "missing", ["PSC_ISSUER", "PSC_CLIENT_ID", "PSC_CLIENT_SECRET", "PSC_REDIRECT_URI"]
)
def test_production_refuses_to_start_without_psc_setting(missing):
    result = _run(["-m", "concerto", "check"], **{missing: ""})
    assert result.returncode == 2
    assert missing in result.stderr


def test_production_refuses_a_plain_http_issuer():
    result = _run(
        ["-m", "concerto", "check"], PSC_ISSUER="http://127.0.0.1:8765/auth/realms/esante-wallet"
    )
    assert result.returncode == 2
    assert "https://" in result.stderr


def test_production_passes_check_deploy_with_psc_configured():
    result = _run(["-m", "concerto", "check", "--deploy", "--fail-level", "WARNING"])
    assert result.returncode == 0, result.stdout + result.stderr
