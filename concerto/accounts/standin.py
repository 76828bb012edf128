"""A Pro Santé Connect stand-in: a small, real OpenID Connect provider on loopback.

For development (``concerto psc-standin --port 8765``) and for the tests, which start
it on port 0 and log in through Concerto's real code path. It speaks the parts of
PSC that Concerto uses, with PSC's paths and claim shapes:

* discovery at ``{issuer}/.well-known/wallet-openid-configuration``;
* ``{issuer}/protocol/openid-connect/auth`` (a page to pick a fictional person),
  ``/token`` (client_secret_basic or _post, single-use codes, PKCE S256 required),
  ``/userinfo`` (JSON or signed JWT), ``/certs`` (JWKS), ``/logout``;
* ID tokens signed RS256 with ``acr=eidas1``; userinfo with ``SubjectNameID``,
  ``preferred_username``, ``otherIds``, ``SubjectRefPro.exercices[]``.

Signing and verification use joserfc. ``faults`` lets a test make the provider
misbehave (wrong issuer, audience, nonce, expired token, ``alg=none``, a forged
signature, another ``acr``, a userinfo about someone else) to prove Concerto
refuses it. Never for production.
"""

from __future__ import annotations

import base64
import html
import json
import secrets
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus, urlencode, urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, RSAKey

from concerto.accounts.psc import DISCOVERY_PATH, pkce_challenge

REALM_PATH = "/auth/realms/esante-wallet"
OIDC = "/protocol/openid-connect"
CODE_LIFETIME = 60
TOKEN_LIFETIME = 300


@dataclass(frozen=True)
class Person:
    """A fictional professional as PSC would describe them."""

    key: str
    label: str
    given_name: str
    family_name: str
    rpps: str = ""
    adeli: str = ""
    profession_code: str = "10"
    savoir_faire: str = "SM54"

    @property
    def national_id(self) -> str:
        return "8" + self.rpps if self.rpps else "0" + self.adeli

    @property
    def sub(self) -> str:
        # Opaque, like PSC's: deliberately not the RPPS.
        return "f:550dc1c8-d97b-4b1e-ac8c-8eb4471cf9dd:ANS-" + self.key

    def userinfo(self) -> dict[str, Any]:
        other_ids = []
        if self.rpps:
            other_ids.append({"identifiant": self.rpps, "origine": "RPPS", "qualite": 1})
        if self.adeli:
            other_ids.append({"identifiant": self.adeli, "origine": "ADELI", "qualite": 1})
        return {
            "sub": self.sub,
            "SubjectNameID": self.national_id,
            "preferred_username": self.national_id,
            "given_name": self.given_name,
            "family_name": self.family_name,
            "SubjectOrganization": "CABINET MEDICAL FICTIF",
            "SubjectOrganizationID": "R10000000000000",
            "SubjectRole": [f"{self.profession_code}^1.2.250.1.213.1.1.5.5"],
            "PSI_Locale": "1.2.250.1.213.1.3.1.1",
            "Mode_acces_raison": "",
            "Access_regulation_code": "",
            "otherIds": other_ids,
            "SubjectRefPro": {
                "codeCivilite": "",
                "exercices": [
                    {
                        "codeProfession": self.profession_code,
                        "codeCategorieProfessionnelle": "C",
                        "codeCiviliteDExercice": "DR" if self.profession_code == "10" else "",
                        "nomDExercice": self.family_name,
                        "prenomDExercice": self.given_name,
                        "codeTypeSavoirFaire": "S" if self.savoir_faire else "",
                        "codeSavoirFaire": self.savoir_faire,
                        "activities": [
                            {
                                "codeModeExercice": "L",
                                "codeSecteurDActivite": "SA07",
                                "raisonSocialeSite": "CABINET MEDICAL FICTIF",
                                "numeroFinessSite": "",
                                "numeroSiretSite": "00000000000000",
                                "identifiantTechniqueDeLaStructure": "R10000000000000",
                            }
                        ],
                    }
                ],
            },
        }


# Obviously fictional people; the first two match the demo region (concerto seed-demo).
DEFAULT_PEOPLE = [
    Person(
        key="gp",
        label="Dr Gaspard MEDECINFICTIF — médecin traitant (compte demo-medecin)",
        given_name="Gaspard",
        family_name="MEDECINFICTIF",
        rpps="19999999998",
    ),
    Person(
        key="oncologist",
        label="Dr Odile ONCOFICTIF — oncologue, participante (compte demo-oncologue)",
        given_name="Odile",
        family_name="ONCOFICTIF",
        rpps="19900091000",
        savoir_faire="SM50",
    ),
    Person(
        key="unknown",
        label="Dr Ursule INCONNUEFICTIVE — RPPS absent de l'annuaire (refusé)",
        given_name="Ursule",
        family_name="INCONNUEFICTIVE",
        rpps="10000000009",
    ),
    Person(
        key="adeli",
        label="Alain ADELIFICTIF — infirmier, identifiant ADELI seulement (refusé)",
        given_name="Alain",
        family_name="ADELIFICTIF",
        adeli="869999999",
        profession_code="60",
        savoir_faire="",
    ),
]


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class _Grant:
    person: Person
    client_id: str
    redirect_uri: str
    nonce: str
    code_challenge: str
    expires_at: float


class StandinProvider:
    """The provider's state; :meth:`start` serves it on a background thread."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = "concerto-demo",
        client_secret: str = "concerto-demo-secret",  # noqa: S107 — stand-in only
        redirect_uris: list[str] | None = None,
        post_logout_redirect_uris: list[str] | None = None,
        people: list[Person] | None = None,
        userinfo_format: str = "json",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = list(redirect_uris or [])
        self.post_logout_redirect_uris = list(post_logout_redirect_uris or [])
        self.people = {p.key: p for p in (people or DEFAULT_PEOPLE)}
        self.userinfo_format = userinfo_format
        self.faults: dict[str, Any] = {}
        self.logouts: list[dict[str, str]] = []
        self.token_requests = 0
        self.key = RSAKey.generate_key(
            2048, parameters={"kid": "standin-1", "use": "sig", "alg": "RS256"}
        )
        self._codes: dict[str, _Grant] = {}
        self._access: dict[str, tuple[Person, float]] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None
        bound_port = self._server.server_address[1]
        self.issuer = f"http://{host}:{bound_port}{REALM_PATH}"

    # Serving ---------------------------------------------------------------------------

    def start(self) -> StandinProvider:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self) -> None:
        self.faults = {}
        self.logouts.clear()
        self.userinfo_format = "json"

    # Documents ---------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        base = self.issuer + OIDC
        return {
            "issuer": self.issuer,
            "authorization_endpoint": base + "/auth",
            "token_endpoint": base + "/token",
            "userinfo_endpoint": base + "/userinfo",
            "end_session_endpoint": base + "/logout",
            "jwks_uri": base + "/certs",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "userinfo_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "scope_all"],
            "acr_values_supported": ["eidas1"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "claims_supported": [
                "sub",
                "SubjectNameID",
                "preferred_username",
                "given_name",
                "family_name",
                "otherIds",
                "SubjectRefPro",
            ],
        }

    def jwks(self) -> dict[str, Any]:
        return dict(KeySet([self.key]).as_dict(private=False))

    def sign(self, claims: dict[str, Any]) -> str:
        if self.faults.get("alg_none"):
            return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
        key = self.key
        if self.faults.get("bad_signature"):
            # A forger's key announced under the real key id.
            key = RSAKey.generate_key(2048, parameters={"kid": "standin-1", "alg": "RS256"})
        return jwt.encode({"alg": "RS256", "kid": "standin-1", "typ": "JWT"}, claims, key)

    def id_token(self, grant: _Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.faults.get("iss", self.issuer),
            "aud": self.faults.get("aud", grant.client_id),
            "sub": grant.person.sub,
            "exp": now + TOKEN_LIFETIME + int(self.faults.get("exp_delta", 0)),
            "iat": now,
            "auth_time": now,
            "jti": secrets.token_hex(16),
            "typ": "ID",
            "azp": self.faults.get("azp", grant.client_id),
            "nonce": self.faults.get("nonce", grant.nonce),
            "session_state": secrets.token_hex(16),
            "sid": secrets.token_hex(16),
            "acr": self.faults.get("acr", "eidas1"),
            "preferred_username": grant.person.national_id,
        }
        return self.sign(claims)

    # Protocol steps (called by the handler) ------------------------------------------------

    def authorize_problem(self, params: dict[str, str]) -> str | None:
        """Why an authorization request must not be answered with a redirect."""
        if params.get("client_id") != self.client_id:
            return "client_id inconnu"
        if params.get("redirect_uri") not in self.redirect_uris:
            return "redirect_uri non enregistrée"
        return None

    def authorize_error(self, params: dict[str, str]) -> str | None:
        """Errors reported back to the client by redirect (RFC 6749 §4.1.2.1)."""
        if params.get("response_type") != "code":
            return "unsupported_response_type"
        if "openid" not in params.get("scope", "").split():
            return "invalid_scope"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "invalid_request"
        if not params.get("nonce"):
            return "invalid_request"
        return None

    def issue_code(self, params: dict[str, str], person: Person) -> str:
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._codes[code] = _Grant(
                person=person,
                client_id=params["client_id"],
                redirect_uri=params["redirect_uri"],
                nonce=params["nonce"],
                code_challenge=params["code_challenge"],
                expires_at=time.time() + CODE_LIFETIME,
            )
        return code

    def exchange(
        self, form: dict[str, str], basic: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any]]:
        self.token_requests += 1
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        if client_id != self.client_id or not secrets.compare_digest(
            secret.encode(), self.client_secret.encode()
        ):
            return 401, {"error": "invalid_client"}
        if form.get("grant_type") != "authorization_code":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # single use
        if grant is None or grant.expires_at < time.time() or grant.client_id != client_id:
            return 400, {"error": "invalid_grant"}
        if form.get("redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant", "error_description": "redirect_uri"}
        verifier = form.get("code_verifier", "")
        if not verifier or pkce_challenge(verifier) != grant.code_challenge:
            return 400, {"error": "invalid_grant", "error_description": "PKCE"}
        access = secrets.token_urlsafe(32)
        with self._lock:
            self._access[access] = (grant.person, time.time() + TOKEN_LIFETIME)
        return 200, {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "id_token": self.id_token(grant),
            "scope": "openid scope_all",
        }

    def userinfo_for(self, access_token: str) -> Person | None:
        with self._lock:
            found = self._access.get(access_token)
        if found is None or found[1] < time.time():
            return None
        return found[0]

    def check_id_token_hint(self, hint: str) -> bool:
        try:
            token = jwt.decode(hint, KeySet([self.key]), algorithms=["RS256"])
        except (JoseError, ValueError):
            return False
        return token.claims.get("aud") == self.client_id


def _handler_for(provider: StandinProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "PSCStandin/1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return  # quiet: the tests and the developer's console stay readable

        # helpers
        def _send(
            self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def _json(self, status: int, data: dict[str, Any]) -> None:
            self._send(status, json.dumps(data).encode(), "application/json")

        def _redirect(self, location: str) -> None:
            self._send(302, b"", "text/plain", {"Location": location})

        def _page(self, status: int, title: str, body: str) -> None:
            page = (
                '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
                f"<title>{html.escape(title)} — simulateur Pro Santé Connect</title></head>"
                f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
            )
            self._send(status, page.encode(), "text/html; charset=utf-8")

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode()
            return {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}

        def _route(self) -> tuple[str, dict[str, str]]:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
            return parts.path, query

        # verbs
        def do_GET(self) -> None:  # noqa: N802
            path, query = self._route()
            if path == REALM_PATH + DISCOVERY_PATH:
                self._json(200, provider.discovery())
            elif path == REALM_PATH + OIDC + "/certs":
                self._json(200, provider.jwks())
            elif path == REALM_PATH + OIDC + "/auth":
                self._authorize_page(query)
            elif path == REALM_PATH + OIDC + "/userinfo":
                self._userinfo()
            elif path == REALM_PATH + OIDC + "/logout":
                self._logout(query)
            else:
                self._json(404, {"error": "not_found"})

        def do_POST(self) -> None:  # noqa: N802
            path, _ = self._route()
            form = self._form()
            if path == REALM_PATH + OIDC + "/auth":
                self._authorize_choice(form)
            elif path == REALM_PATH + OIDC + "/token":
                self._token(form)
            elif path == REALM_PATH + OIDC + "/userinfo":
                self._userinfo()
            else:
                self._json(404, {"error": "not_found"})

        def _authorize_page(self, params: dict[str, str]) -> None:
            problem = provider.authorize_problem(params)
            if problem:
                self._page(400, "Demande refusée", f"<p>{html.escape(problem)}</p>")
                return
            error = provider.authorize_error(params)
            if error:
                self._redirect(
                    params["redirect_uri"]
                    + "?"
                    + urlencode({"error": error, "state": params.get("state", "")})
                )
                return
            hidden = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                for k, v in params.items()
            )
            buttons = "".join(
                f'<li><button type="submit" name="person" value="{html.escape(p.key)}">'
                f"{html.escape(p.label)}</button></li>"
                for p in provider.people.values()
            )
            self._page(
                200,
                "Choisir une personne fictive",
                "<p>Simulateur local de Pro Santé Connect : aucune carte CPS n'est lue.</p>"
                f'<form method="post">{hidden}<ul>{buttons}</ul>'
                '<p><button type="submit" name="person" value="">Annuler</button></p></form>',
            )

        def _authorize_choice(self, form: dict[str, str]) -> None:
            problem = provider.authorize_problem(form) or provider.authorize_error(form)
            if problem:
                self._page(400, "Demande refusée", f"<p>{html.escape(problem)}</p>")
                return
            person = provider.people.get(form.get("person", ""))
            state = form.get("state", "")
            if person is None:
                query = {"error": "access_denied", "state": state}
            else:
                query = {"code": provider.issue_code(form, person), "state": state}
                if "state" in provider.faults:
                    query["state"] = provider.faults["state"]
            self._redirect(form["redirect_uri"] + "?" + urlencode(query))

        def _token(self, form: dict[str, str]) -> None:
            basic = None
            header = self.headers.get("Authorization", "")
            if header.startswith("Basic "):
                try:
                    decoded = base64.b64decode(header[6:]).decode()
                    user, _, password = decoded.partition(":")
                    basic = (unquote_plus(user), unquote_plus(password))
                except ValueError:
                    basic = ("", "")
            status, body = provider.exchange(form, basic)
            self._json(status, body)

        def _userinfo(self) -> None:
            header = self.headers.get("Authorization", "")
            person = provider.userinfo_for(header[7:]) if header.startswith("Bearer ") else None
            if person is None:
                self._send(
                    401, b"", "text/plain", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                )
                return
            claims = person.userinfo()
            if "userinfo_sub" in provider.faults:
                claims["sub"] = provider.faults["userinfo_sub"]
            if provider.userinfo_format == "jwt":
                claims.update(iss=provider.issuer, aud=provider.client_id)
                self._send(200, provider.sign(claims).encode(), "application/jwt")
            else:
                self._json(200, claims)

        def _logout(self, query: dict[str, str]) -> None:
            hint = query.get("id_token_hint", "")
            target = query.get("post_logout_redirect_uri", "")
            valid = provider.check_id_token_hint(hint)
            provider.logouts.append({"valid_hint": str(valid), "redirect": target})
            if valid and target in provider.post_logout_redirect_uris:
                self._redirect(target)
                return
            self._page(200, "Déconnecté", "<p>Vous êtes déconnecté du simulateur.</p>")

    return Handler
