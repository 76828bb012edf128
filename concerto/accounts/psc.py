"""Pro Santé Connect (PSC): the OpenID Connect relying party.

Authlib's requests client speaks OAuth 2 (authorization URL with PKCE S256, code
exchange with client_secret_basic); joserfc verifies every JWT (ID token, signed
userinfo) against the provider's JWKS. No JOSE is written by hand here.

Facts (../shared/INTEGRATION.md, "Pro Santé Connect"): discovery lives at
``{issuer}/.well-known/wallet-openid-configuration`` (not the standard name);
``scope=openid scope_all``; ``acr_values=eidas1`` and an ID token whose ``acr`` is not
``eidas1`` is refused; userinfo may be JSON or a signed JWT (``application/jwt``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from django.conf import settings
from joserfc import jwt
from joserfc.errors import (
    BadSignatureError,
    ExpiredTokenError,
    InvalidClaimError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

DISCOVERY_PATH = "/.well-known/wallet-openid-configuration"
# Asymmetric algorithms only: "none" and HMAC (which a forger could sign with the
# public client secret's sibling, or with nothing at all) are never accepted.
ALLOWED_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384"]
DISCOVERY_TTL = 3600
CLOCK_LEEWAY = 60  # seconds of clock skew tolerated on exp/iat


class PSCError(Exception):
    """A login through PSC is refused. ``reason`` picks the French page; ``detail`` is
    a short technical code shown on it and written to the log (never patient data)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class PSCConfig:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    post_logout_redirect_uri: str
    scopes: str
    acr: str
    timeout: float

    @classmethod
    def from_settings(cls) -> PSCConfig:
        return cls(
            issuer=settings.PSC_ISSUER.rstrip("/"),
            client_id=settings.PSC_CLIENT_ID,
            client_secret=settings.PSC_CLIENT_SECRET,
            redirect_uri=settings.PSC_REDIRECT_URI,
            post_logout_redirect_uri=settings.PSC_POST_LOGOUT_REDIRECT_URI,
            scopes=settings.PSC_SCOPES,
            acr=settings.PSC_ACR,
            timeout=settings.PSC_HTTP_TIMEOUT,
        )

    @property
    def configured(self) -> bool:
        return bool(self.issuer and self.client_id and self.client_secret and self.redirect_uri)


def is_configured() -> bool:
    return PSCConfig.from_settings().configured


# Discovery ----------------------------------------------------------------------------

_discovery_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_discovery_lock = threading.Lock()


def discover(config: PSCConfig) -> dict[str, Any]:
    """The provider's metadata, cached an hour per issuer."""
    with _discovery_lock:
        cached = _discovery_cache.get(config.issuer)
        if cached and cached[0] > time.monotonic():
            return cached[1]
    try:
        response = requests.get(config.issuer + DISCOVERY_PATH, timeout=config.timeout)
        response.raise_for_status()
        metadata = response.json()
    except (requests.RequestException, ValueError) as exc:
        raise PSCError("unavailable", "discovery") from exc
    if not isinstance(metadata, dict) or metadata.get("issuer", "").rstrip("/") != config.issuer:
        # OIDC Discovery §4.3: the issuer in the document must be the one we asked.
        raise PSCError("unavailable", "discovery_issuer")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not metadata.get(key):
            raise PSCError("unavailable", f"discovery_{key}")
    with _discovery_lock:
        _discovery_cache[config.issuer] = (time.monotonic() + DISCOVERY_TTL, metadata)
    return metadata


def forget_discovery() -> None:
    with _discovery_lock:
        _discovery_cache.clear()


def fetch_jwks(config: PSCConfig, metadata: dict[str, Any]) -> KeySet:
    # Fetched at every login (logins are rare): a key rotation at PSC is seen at once.
    try:
        response = requests.get(metadata["jwks_uri"], timeout=config.timeout)
        response.raise_for_status()
        return KeySet.import_key_set(response.json())
    except (requests.RequestException, ValueError, JoseError) as exc:
        raise PSCError("unavailable", "jwks") from exc


# Authorization request ------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """What the browser's session keeps between the redirect and the callback."""

    state: str
    nonce: str
    code_verifier: str
    next_url: str
    started_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "nonce": self.nonce,
            "code_verifier": self.code_verifier,
            "next_url": self.next_url,
            "started_at": self.started_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Flow:
        return cls(
            state=str(data["state"]),
            nonce=str(data["nonce"]),
            code_verifier=str(data["code_verifier"]),
            next_url=str(data.get("next_url", "")),
            started_at=float(data["started_at"]),
        )


def _session(config: PSCConfig) -> OAuth2Session:
    return OAuth2Session(
        client_id=config.client_id,
        client_secret=config.client_secret,
        scope=config.scopes,
        redirect_uri=config.redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 — a method name
    )


def start(config: PSCConfig, *, next_url: str, now: float) -> tuple[str, Flow]:
    """The URL to send the browser to, and the flow to keep in its session."""
    metadata = discover(config)
    flow = Flow(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),
        next_url=next_url,
        started_at=now,
    )
    with _session(config) as client:
        url, _ = client.create_authorization_url(
            metadata["authorization_endpoint"],
            state=flow.state,
            code_verifier=flow.code_verifier,
            nonce=flow.nonce,
            acr_values=config.acr,
        )
    return url, flow


# Callback ----------------------------------------------------------------------------------


@dataclass
class Identity:
    """What PSC told us about the person, once every check passed."""

    sub: str
    claims: dict[str, Any]
    id_token: str
    id_token_claims: dict[str, Any] = field(default_factory=dict)


def _claims_registry(config: PSCConfig, nonce: str) -> jwt.JWTClaimsRegistry:
    return jwt.JWTClaimsRegistry(
        leeway=CLOCK_LEEWAY,
        iss={"essential": True, "value": config.issuer},
        aud={"essential": True, "value": config.client_id},
        exp={"essential": True},
        sub={"essential": True},
        nonce={"essential": True, "value": nonce},
    )


def _decode(value: str, keys: KeySet, *, what: str) -> jwt.Token:
    try:
        return jwt.decode(value, keys, algorithms=ALLOWED_ALGORITHMS)
    except BadSignatureError as exc:
        raise PSCError("invalid_token", f"{what}_signature") from exc
    except JoseError as exc:
        # Unsupported algorithm ("none", HS256…), unknown key, malformed token.
        raise PSCError("invalid_token", f"{what}_{exc.error}") from exc
    except ValueError as exc:
        raise PSCError("invalid_token", f"{what}_malformed") from exc


def verify_id_token(config: PSCConfig, id_token: str, keys: KeySet, nonce: str) -> dict[str, Any]:
    token = _decode(id_token, keys, what="id_token")
    claims = dict(token.claims)
    try:
        _claims_registry(config, nonce).validate(claims)
    except ExpiredTokenError as exc:
        raise PSCError("invalid_token", "id_token_expired") from exc
    except (InvalidClaimError, MissingClaimError) as exc:
        raise PSCError("invalid_token", f"id_token_claim_{exc.claim}") from exc
    except JoseError as exc:
        raise PSCError("invalid_token", f"id_token_{exc.error}") from exc
    # joserfc accepts a list holding the expected value for any claim: be exact where
    # OIDC says the claim is a single string.
    for name, expected in (("iss", config.issuer), ("nonce", nonce)):
        if not isinstance(claims[name], str) or claims[name] != expected:
            raise PSCError("invalid_token", f"id_token_claim_{name}")
    if not isinstance(claims["sub"], str) or not claims["sub"]:
        raise PSCError("invalid_token", "id_token_claim_sub")
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if len(audiences) > 1 and claims.get("azp") != config.client_id:
        raise PSCError("invalid_token", "id_token_claim_azp")
    if claims.get("acr") != config.acr:
        # Checked apart from the others: it has its own page (use the CPS / e-CPS).
        raise PSCError("acr_refused", f"acr={str(claims.get('acr'))[:20]}")
    return claims


def fetch_userinfo(
    config: PSCConfig, metadata: dict[str, Any], access_token: str, keys: KeySet
) -> dict[str, Any]:
    """Userinfo as JSON or as a signed JWT (``application/jwt``), verified against the JWKS."""
    endpoint = metadata.get("userinfo_endpoint")
    if not endpoint:
        raise PSCError("unavailable", "discovery_userinfo_endpoint")
    try:
        response = requests.get(
            endpoint,
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=config.timeout,
        )
        response.raise_for_status()
    except requests.RequestException as exc:
        raise PSCError("unavailable", "userinfo") from exc
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type == "application/jwt":
        token = _decode(response.text.strip(), keys, what="userinfo")
        claims = dict(token.claims)
        # OIDC Core §5.3.2: a signed userinfo SHOULD carry iss and aud; check them when there.
        if "iss" in claims and claims["iss"] != config.issuer:
            raise PSCError("invalid_token", "userinfo_claim_iss")
        if "aud" in claims:
            audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
            if config.client_id not in audiences:
                raise PSCError("invalid_token", "userinfo_claim_aud")
        return claims
    try:
        claims = response.json()
    except ValueError as exc:
        raise PSCError("invalid_token", "userinfo_malformed") from exc
    if not isinstance(claims, dict):
        raise PSCError("invalid_token", "userinfo_malformed")
    return claims


def complete(config: PSCConfig, flow: Flow, *, state: str, code: str) -> Identity:
    """Exchange the code (with the PKCE verifier), verify the ID token, read userinfo."""
    if not secrets.compare_digest(state.encode(), flow.state.encode()):
        raise PSCError("state", "state_mismatch")
    metadata = discover(config)
    with _session(config) as client:
        try:
            token = client.fetch_token(
                metadata["token_endpoint"],
                grant_type="authorization_code",
                code=code,
                code_verifier=flow.code_verifier,
                timeout=config.timeout,
            )
        except OAuthError as exc:  # PSC answered with an OAuth error (RFC 6749 §5.2)
            raise PSCError("provider_error", f"token_{str(exc.error)[:30]}") from exc
        except (requests.RequestException, ValueError) as exc:
            raise PSCError("unavailable", "token_endpoint") from exc
    id_token = token.get("id_token")
    access_token = token.get("access_token")
    if not id_token or not access_token:
        raise PSCError("invalid_token", "token_response")
    keys = fetch_jwks(config, metadata)
    id_claims = verify_id_token(config, id_token, keys, flow.nonce)
    userinfo = fetch_userinfo(config, metadata, access_token, keys)
    if userinfo.get("sub") != id_claims["sub"]:
        raise PSCError("invalid_token", "userinfo_sub")
    claims = {**id_claims, **userinfo}
    return Identity(
        sub=str(id_claims["sub"]), claims=claims, id_token=id_token, id_token_claims=id_claims
    )


# Logout --------------------------------------------------------------------------------------


def end_session_url(config: PSCConfig, id_token: str) -> str:
    """PSC's end-session URL with ``id_token_hint`` and ``post_logout_redirect_uri``."""
    try:
        endpoint = discover(config).get("end_session_endpoint")
    except PSCError:
        endpoint = None
    endpoint = endpoint or config.issuer + "/protocol/openid-connect/logout"
    query = urlencode(
        {
            "id_token_hint": id_token,
            "post_logout_redirect_uri": config.post_logout_redirect_uri,
            "client_id": config.client_id,
        }
    )
    return f"{endpoint}?{query}"


def pkce_challenge(verifier: str) -> str:
    """S256 code challenge (used by the stand-in to check the verifier)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
