"""Pro Santé Connect login, end to end against the stand-in provider on loopback.

Concerto's side runs in Django's test client; the token, JWKS and userinfo calls are
real HTTP requests from Concerto to the provider, and the browser's visit to the
provider's authorize page is a real HTTP request too.
"""

from __future__ import annotations

import html
import logging
from urllib.parse import urlencode, urlsplit

import pytest
import requests
from django.conf import settings

from concerto.accounts.models import User
from concerto.audit.models import AuditEvent
from tests import builders
from tests.accounts.conftest import go_to_psc, psc_login, query_of

pytestmark = pytest.mark.django_db

GP_RPPS = "19999999998"  # the stand-in's "gp" person


@pytest.fixture
def known_gp(psc_settings):
    """Dr MEDECINFICTIF in the directory, declared GP of one patient."""
    builders.gp(rpps=GP_RPPS, last_name="MEDECINFICTIF")
    world = builders.World()
    patient = world.patient(gp_rpps=GP_RPPS)
    return patient


def _logged_in_user(client):
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def test_authorization_request_carries_psc_parameters(client, psc_settings):
    response = client.get("/connexion/psc/")
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(psc_settings.issuer + "/protocol/openid-connect/auth?")
    params = query_of(location)
    assert params["response_type"] == "code"
    assert params["scope"] == "openid scope_all"
    assert params["acr_values"] == "eidas1"
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert len(params["state"]) >= 32 and len(params["nonce"]) >= 32
    assert params["state"] != params["nonce"]
    assert params["redirect_uri"] == settings.PSC_REDIRECT_URI
    assert params["client_id"] == psc_settings.client_id


@pytest.mark.parametrize("userinfo_format", ["json", "jwt"])
def test_known_gp_logs_in_and_account_is_created(client, known_gp, psc_settings, userinfo_format):
    psc_settings.userinfo_format = userinfo_format
    assert not User.objects.filter(rpps=GP_RPPS).exists()
    attempt = psc_login(client, "gp", next_url="/portail/")
    assert attempt.response.status_code == 302
    assert attempt.response["Location"] == "/portail/"
    user = _logged_in_user(client)
    assert user is not None and user.rpps == GP_RPPS
    assert user.last_name == "MEDECINFICTIF"
    assert user.psc_sub == psc_settings.people["gp"].sub
    assert user.psc_sub != GP_RPPS and GP_RPPS not in user.psc_sub
    assert not user.has_usable_password()
    assert AuditEvent.objects.filter(action="accounts.user_created", actor_id=user.pk).count() == 1
    login_event = AuditEvent.objects.get(action="accounts.login", actor_id=user.pk)
    assert login_event.details == {"method": "psc"}
    # The same person comes back: same account, no second creation.
    client.post("/deconnexion/")
    psc_login(client, "gp")
    assert _logged_in_user(client) == user
    assert User.objects.filter(rpps=GP_RPPS).count() == 1
    assert AuditEvent.objects.filter(action="accounts.user_created").count() == 1


def test_existing_account_is_linked_and_sub_stored(client, known_gp, psc_settings):
    account = builders.user(username="dr-medecinfictif", rpps=GP_RPPS)
    psc_login(client, "gp")
    account.refresh_from_db()
    assert _logged_in_user(client) == account
    assert account.psc_sub == psc_settings.people["gp"].sub


def test_unsafe_next_falls_back_to_home(client, known_gp):
    attempt = psc_login(client, "gp", next_url="https://evil.example/steal")
    assert attempt.response["Location"] == "/"


def test_session_key_changes_at_login(client, known_gp):
    client.get("/connexion/psc/")  # an anonymous session now holds the flow
    before = client.session.session_key
    assert before
    psc_login(client, "gp")
    after = client.session.session_key
    assert after and after != before
    assert _logged_in_user(client) is not None


# Refusals --------------------------------------------------------------------------------


def _tamper_state(url: str) -> str:
    params = query_of(url)
    params["state"] = "x" * 43
    return url.split("?")[0] + "?" + urlencode(params)


# (case, person, provider faults, tamper, expected reason, expected detail prefix, page text)
REFUSAL_CASES = [
    ("wrong state", "gp", {}, _tamper_state, "state", "unknown_state", "n'est plus valable"),
    ("wrong nonce", "gp", {"nonce": "another-nonce"}, None, "invalid_token",
     "id_token_claim_nonce", "pas pu être vérifiée"),
    ("wrong issuer", "gp", {"iss": "https://faux-psc.exemple.test/auth/realms/esante-wallet"},
     None, "invalid_token", "id_token_claim_iss", "pas pu être vérifiée"),
    ("wrong audience", "gp", {"aud": "another-client"}, None, "invalid_token",
     "id_token_claim_aud", "pas pu être vérifiée"),
    ("expired token", "gp", {"exp_delta": -3600}, None, "invalid_token", "id_token_expired",
     "pas pu être vérifiée"),
    ("alg=none", "gp", {"alg_none": True}, None, "invalid_token", "id_token_",
     "pas pu être vérifiée"),
    ("bad signature", "gp", {"bad_signature": True}, None, "invalid_token", "id_token_signature",
     "pas pu être vérifiée"),
    ("acr other than eidas1", "gp", {"acr": "eidas2"}, None, "acr_refused", "acr=eidas2",
     "carte CPS ou l'application e-CPS"),
    ("unknown RPPS", "unknown", {}, None, "unknown_professional", "", "pas connu de Concerto"),
    ("ADELI only", "adeli", {}, None, "adeli_only", "", "inscrits au RPPS"),
]  # fmt: skip


def test_every_bad_answer_is_refused_with_its_page(client, known_gp, psc_settings, caplog):
    refused = []
    for case, person, faults, tamper, reason, detail, text in REFUSAL_CASES:
        psc_settings.faults = dict(faults)
        client.logout()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="concerto.accounts.login"):
            attempt = psc_login(client, person, tamper=tamper)
        response = attempt.response
        page = html.unescape(response.content.decode())
        assert response.status_code == 403, case
        assert f'data-reason="{reason}"' in page, (case, page)
        assert text in page, case
        assert _logged_in_user(client) is None, case
        event = AuditEvent.objects.filter(action="accounts.login_refused").latest("id")
        assert event.outcome == AuditEvent.Outcome.DENIED
        assert event.details["reason"] == reason, case
        assert event.details.get("detail", "").startswith(detail), (case, event.details)
        assert any(f"reason={reason}" in r.getMessage() for r in caplog.records), case
        refused.append(case)
    assert not User.objects.filter(psc_sub__isnull=False).exists()
    print(f"\nPSC refusals: {len(refused)}/{len(REFUSAL_CASES)} refused with their page")
    assert len(refused) == len(REFUSAL_CASES) == 10


def test_alg_none_is_not_mistaken_for_a_signature_failure(client, known_gp, psc_settings):
    psc_settings.faults = {"alg_none": True}
    psc_login(client, "gp")
    event = AuditEvent.objects.get(action="accounts.login_refused")
    assert event.details["detail"] != "id_token_signature"
    assert "algorithm" in event.details["detail"] or "header" in event.details["detail"]


def test_unknown_rpps_page_shows_the_number_and_what_to_do(client, known_gp):
    attempt = psc_login(client, "unknown")
    page = attempt.response.content.decode()
    assert "10000000009" in page
    assert "secrétariat de la RCP" in page
    assert not User.objects.filter(rpps="10000000009").exists()


def test_signed_userinfo_with_forged_signature_is_refused(client, known_gp, psc_settings):
    psc_settings.userinfo_format = "jwt"
    original_sign = psc_settings.sign

    def sign(claims):  # only the userinfo (it carries SubjectNameID) is forged
        if "SubjectNameID" in claims:
            psc_settings.faults = {"bad_signature": True}
            try:
                return original_sign(claims)
            finally:
                psc_settings.faults = {}
        return original_sign(claims)

    psc_settings.sign = sign
    try:
        attempt = psc_login(client, "gp")
    finally:
        del psc_settings.sign
    assert attempt.response.status_code == 403
    event = AuditEvent.objects.get(action="accounts.login_refused")
    assert event.details["detail"] == "userinfo_signature"


def test_replayed_callback_is_refused(client, known_gp):
    attempt = psc_login(client, "gp")
    assert _logged_in_user(client) is not None
    client.post("/deconnexion/")
    parts = urlsplit(attempt.callback_url)
    replay = client.get(f"{parts.path}?{parts.query}")
    assert replay.status_code == 403
    assert 'data-reason="state"' in replay.content.decode()
    assert _logged_in_user(client) is None


def test_cancel_at_psc_lands_on_a_page(client, known_gp):
    attempt = psc_login(client, "")
    assert attempt.response.status_code == 403
    assert "Connexion annulée" in attempt.response.content.decode()


def test_trying_again_after_a_refusal_keeps_the_destination(client, known_gp):
    """The GP who picked the wrong card, or cancelled, tries again and still lands on the
    pré-fiche of the e-mail's link, not on the home page."""
    attempt = psc_login(client, "", next_url="/portail/inscription/4242/")
    assert attempt.response.status_code == 403
    page = html.unescape(attempt.response.content.decode())
    assert 'href="/connexion/?next=%2Fportail%2Finscription%2F4242%2F"' in page
    # A refusal that knows no destination offers the plain login page.
    unknown = client.get("/connexion/psc/retour/", {"state": "inconnu", "code": "x"})
    assert 'href="/connexion/"' in unknown.content.decode()


def test_provider_checks_pkce(psc_settings, client, known_gp):
    """The stand-in really enforces PKCE: a code presented without the verifier fails."""
    from tests.accounts.conftest import choose_person, go_to_psc

    callback = choose_person(go_to_psc(client), "gp")
    token = requests.post(
        psc_settings.issuer + "/protocol/openid-connect/token",
        data={
            "grant_type": "authorization_code",
            "code": query_of(callback)["code"],
            "redirect_uri": settings.PSC_REDIRECT_URI,
        },
        auth=(psc_settings.client_id, psc_settings.client_secret),
        timeout=10,
    )
    assert token.status_code == 400
    assert token.json()["error_description"] == "PKCE"


def test_psc_not_configured_says_so(client, settings):
    settings.PSC_ISSUER = ""
    page = client.get("/connexion/").content.decode()
    assert "pas configurée" in page
    response = client.get("/connexion/psc/")
    assert response.status_code == 403
    assert 'data-reason="not_configured"' in response.content.decode()


def test_unreachable_provider_is_reported(client, settings):
    settings.PSC_ISSUER = "http://127.0.0.1:9/auth/realms/esante-wallet"
    settings.PSC_HTTP_TIMEOUT = 2
    response = client.get("/connexion/psc/")
    assert response.status_code == 403
    assert 'data-reason="unavailable"' in response.content.decode()


def test_login_page_offers_psc(client, psc_settings):
    page = client.get("/connexion/").content.decode()
    assert "Se connecter avec Pro Santé Connect" in page
    assert 'lang="fr"' in page


def test_userinfo_about_someone_else_is_refused(client, known_gp, psc_settings):
    psc_settings.faults = {"userinfo_sub": psc_settings.people["oncologist"].sub}
    attempt = psc_login(client, "gp")
    assert attempt.response.status_code == 403
    event = AuditEvent.objects.get(action="accounts.login_refused")
    assert event.details["detail"] == "userinfo_sub"
    assert _logged_in_user(client) is None


def test_wrong_client_secret_is_reported_as_provider_refusal(client, known_gp, settings):
    settings.PSC_CLIENT_SECRET = "not-the-secret"
    attempt = psc_login(client, "gp")
    assert attempt.response.status_code == 403
    assert 'data-reason="provider_error"' in attempt.response.content.decode()
    event = AuditEvent.objects.get(action="accounts.login_refused")
    assert event.details["detail"] == "token_invalid_client"


@pytest.mark.parametrize(
    ("faults", "detail"),
    [
        ({"nonce": None}, "id_token_claim_nonce"),  # nonce absent
        # Several audiences, authorised party someone else (OIDC Core §3.1.3.7).
        (
            {"aud": ["another-client", "concerto-demo"], "azp": "another-client"},
            "id_token_claim_azp",
        ),
    ],
)
def test_more_id_token_defects(client, known_gp, psc_settings, faults, detail):
    assert psc_settings.client_id == "concerto-demo"
    psc_settings.faults = dict(faults)
    psc_login(client, "gp")
    event = AuditEvent.objects.get(action="accounts.login_refused")
    assert event.details["detail"] == detail
    assert _logged_in_user(client) is None


def test_nonce_hidden_in_a_list_is_refused(client, known_gp, psc_settings):
    # joserfc alone would accept ["<nonce>", …]; Concerto wants the exact string.
    original = psc_settings.id_token

    def id_token(grant):
        psc_settings.faults = {"nonce": [grant.nonce, "another"]}
        return original(grant)

    psc_settings.id_token = id_token
    try:
        psc_login(client, "gp")
    finally:
        del psc_settings.id_token
    event = AuditEvent.objects.get(action="accounts.login_refused")
    assert event.details["detail"] == "id_token_claim_nonce"


def test_a_forged_provider_error_is_not_written_as_sent(client, known_gp, psc_settings, caplog):
    """The ``error`` of the callback is attacker-chosen: a line break in it would forge a
    log line. Only an OAuth error code is recorded as it is."""
    authorize_url = go_to_psc(client)
    state = query_of(authorize_url)["state"]
    forged = "x\n2026-11-28 INFO concerto.accounts login ok"
    response = client.get("/connexion/psc/retour/", {"state": state, "error": forged})
    assert response.status_code == 403
    event = AuditEvent.objects.get(action="accounts.login_refused")
    assert event.details["detail"] == "other"
    assert "login ok" not in caplog.text and "detail=other" in caplog.text
    # A real error code is kept.
    state = query_of(go_to_psc(client))["state"]
    client.get("/connexion/psc/retour/", {"state": state, "error": "server_error"})
    assert AuditEvent.objects.filter(details__detail="server_error").exists()
