"""Session time-outs: idle (``SESSION_IDLE_TIMEOUT``) and absolute
(``SESSION_ABSOLUTE_TIMEOUT``), both in seconds, enforced server side.

The login instant and the last request are kept in the session; a session past either
limit is flushed (the row is deleted, so its cookie is worthless) and the request goes
on as anonymous.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect

from concerto.lib import clock

LOGIN_AT = "concerto_login_at"
SEEN_AT = "concerto_seen_at"
# The last-request instant is rewritten at most this often: saving the session on every
# request costs a database write per page. An idle session may thus end up to this many
# seconds early, never late.
SEEN_WRITE_INTERVAL = 30


def mark_login(sender: object, request: HttpRequest | None = None, **kwargs: object) -> None:
    """``user_logged_in`` receiver: every login (PSC, demo, admin, tests'
    ``force_login``) starts both clocks."""
    if request is None or not hasattr(request, "session"):
        return
    instant = clock.now().timestamp()
    request.session[LOGIN_AT] = instant
    request.session[SEEN_AT] = instant


ID_TOKEN_KEY = "psc_id_token"  # noqa: S105 — a session key name (set by the PSC login)


def _psc_end_session(id_token: object) -> str:
    """PSC's end-session URL for this ID token, or "" (no PSC login, PSC not configured)."""
    if not isinstance(id_token, str) or not id_token:
        return ""
    from concerto.accounts import psc  # (authlib: imported when first needed)

    config = psc.PSCConfig.from_settings()
    return psc.end_session_url(config, id_token) if config.configured else ""


class SessionTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = clock.now().timestamp()
            login_at = request.session.get(LOGIN_AT)
            seen_at = request.session.get(SEEN_AT)
            if not isinstance(login_at, int | float) or not isinstance(seen_at, int | float):
                # A session authenticated without the login signal (none in Concerto's
                # code paths): its clocks start now rather than never.
                login_at = seen_at = now
                request.session[LOGIN_AT] = request.session[SEEN_AT] = now
            expired = (
                now - login_at > settings.SESSION_ABSOLUTE_TIMEOUT
                or now - seen_at > settings.SESSION_IDLE_TIMEOUT
            )
            if expired:
                id_token = request.session.get(ID_TOKEN_KEY)
                logout(request)
                messages.info(request, "Votre session a expiré : reconnectez-vous.")
                end = _psc_end_session(id_token)
                if end:
                    # PSC's own session may outlive ours: left open, the next person at
                    # this browser (a shared workstation) would be logged in as this
                    # doctor without their card. It is ended too, as by "Se déconnecter".
                    return HttpResponseRedirect(end)
            elif now - seen_at >= SEEN_WRITE_INTERVAL:
                request.session[SEEN_AT] = now
        return self.get_response(request)
