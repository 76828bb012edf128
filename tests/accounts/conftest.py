"""A real OIDC provider (the PSC stand-in) on loopback, and helpers to log in through it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.conf import settings
from django.test import Client

from concerto.accounts import psc
from concerto.accounts.standin import StandinProvider

REDIRECT_URI = "http://testserver/connexion/psc/retour/"
POST_LOGOUT_URI = "http://testserver/"


@pytest.fixture(scope="session", autouse=True)
def _static_root_exists():
    # WhiteNoise warns (an error under pytest) when STATIC_ROOT is missing.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # The builders give every user a password; PBKDF2 would dominate these tests' time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def standin():
    provider = StandinProvider(
        port=0, redirect_uris=[REDIRECT_URI], post_logout_redirect_uris=[POST_LOGOUT_URI]
    ).start()
    yield provider
    provider.stop()


@pytest.fixture
def psc_settings(standin, settings):
    standin.reset()
    psc.forget_discovery()
    settings.PSC_ISSUER = standin.issuer
    settings.PSC_CLIENT_ID = standin.client_id
    settings.PSC_CLIENT_SECRET = standin.client_secret
    settings.PSC_REDIRECT_URI = REDIRECT_URI
    settings.PSC_POST_LOGOUT_REDIRECT_URI = POST_LOGOUT_URI
    yield standin
    psc.forget_discovery()


@dataclass
class Attempt:
    authorize_params: dict[str, str]
    callback_url: str
    response: object  # the callback's response from Concerto


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def go_to_psc(client: Client, next_url: str = "/") -> str:
    """Concerto's "Se connecter avec Pro Santé Connect": the URL of PSC's authorize page."""
    response = client.get("/connexion/psc/", {"next": next_url})
    assert response.status_code == 302, response.content
    return response["Location"]


def choose_person(authorize_url: str, person: str) -> str:
    """At the provider, over real HTTP: show the page, pick a person; the callback URL."""
    page = requests.get(authorize_url, timeout=10, allow_redirects=False)
    assert page.status_code == 200, page.text
    assert "Choisir une personne fictive" in page.text
    form = {**query_of(authorize_url), "person": person}
    answer = requests.post(
        authorize_url.split("?")[0], data=form, timeout=10, allow_redirects=False
    )
    assert answer.status_code == 302, answer.text
    return answer.headers["Location"]


def psc_login(client: Client, person: str = "gp", next_url: str = "/", tamper=None) -> Attempt:
    authorize_url = go_to_psc(client, next_url)
    callback_url = choose_person(authorize_url, person)
    assert callback_url.startswith(settings.PSC_REDIRECT_URI)
    if tamper is not None:
        callback_url = tamper(callback_url)
    parts = urlsplit(callback_url)
    response = client.get(f"{parts.path}?{parts.query}")
    return Attempt(query_of(authorize_url), callback_url, response)
