"""Session time-outs: idle (``SESSION_IDLE_TIMEOUT``) and absolute
(``SESSION_ABSOLUTE_TIMEOUT``), both in seconds, enforced server side.

The login instant and the last request are kept in the session; a session past either
limit is flushed (the row is deleted, so its cookie is worthless) and the request goes
on as anonymous.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from concerto.lib import clock

LOGIN_AT = "concerto_login_at"
SEEN_AT = "concerto_seen_at"
# Where a session that timed out was going: the login that follows goes on there (the
# e-mail's link to a pré-fiche, clicked in a browser whose session has expired, must
# still land on the pré-fiche, also through PSC's end-session and the home page).
RESUME_KEY = "concerto_resume_at"
# ... if the login follows soon: later, it may be someone else's at this browser (a shared
# workstation), who did not choose that page.
RESUME_LIFETIME = 15 * 60  # seconds


def remember_destination(request: HttpRequest, path: str) -> None:
    """Where the next login (soon) goes: ``path``, on this site (checked when used)."""
    request.session[RESUME_KEY] = {"to": path, "at": clock.now().timestamp()}


def take_destination(request: HttpRequest) -> str | None:
    """The destination remembered, once, if still fresh."""
    kept = request.session.pop(RESUME_KEY, None)
    if not isinstance(kept, dict) or not isinstance(kept.get("to"), str):
        return None
    at = kept.get("at")
    if not isinstance(at, int | float) or clock.now().timestamp() - at > RESUME_LIFETIME:
        return None
    return str(kept["to"])


def _page_load(request: HttpRequest) -> bool:
    """A page the browser navigates to (not a script's request: a search's JSON, the
    keep-alive); without the header (older browsers, tests), taken as one."""
    return request.headers.get("Sec-Fetch-Mode", "navigate") == "navigate"


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


def seconds_left(request: HttpRequest) -> tuple[int, int] | None:
    """(seconds until the idle time-out, seconds until the absolute one) of this
    request's session, or None without a logged-in session: what the page's warning
    counts down from (concerto/static/concerto/session.js)."""
    if not request.user.is_authenticated:
        return None
    login_at, seen_at = request.session.get(LOGIN_AT), request.session.get(SEEN_AT)
    if not isinstance(login_at, int | float) or not isinstance(seen_at, int | float):
        return None
    now = clock.now().timestamp()
    return (
        max(0, int(seen_at + settings.SESSION_IDLE_TIMEOUT - now)),
        max(0, int(login_at + settings.SESSION_ABSOLUTE_TIMEOUT - now)),
    )


def mark_seen(request: HttpRequest) -> None:
    """The user is here now: the idle time-out starts again (the "Rester connecté"
    button, or typing in a form, through concerto/static/concerto/session.js)."""
    request.session[SEEN_AT] = clock.now().timestamp()


# A session that timed out on a script's request: PSC's end-session is still due.
END_PSC_KEY = "concerto_psc_end_due"


def _remember_page(request: HttpRequest) -> None:
    """The page being loaded, as the next login's destination (the login page's own
    ``next``: "Se reconnecter" of the time-out warning)."""
    if request.method not in ("GET", "HEAD") or not _page_load(request):
        return
    if not request.path.startswith(_ACCOUNT_PATHS):
        remember_destination(request, request.get_full_path())
    elif request.path == reverse("login") and request.GET.get("next"):
        remember_destination(request, request.GET["next"])


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
        if (
            not request.user.is_authenticated
            and END_PSC_KEY in request.session
            and _page_load(request)
        ):
            end = _psc_end_session(request.session.pop(END_PSC_KEY))
            if end:
                _remember_page(request)
                return HttpResponseRedirect(end)
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
                # A form posted to a page (not a login or a logout, whose own answer
                # stands): lost, and said so.
                account = request.path.startswith(_ACCOUNT_PATHS)
                posted = request.method not in ("GET", "HEAD") and not account
                # A page left open long after its session ended, then used from within
                # the site (a reload, a link, "Se reconnecter"): maybe by someone else at
                # this workstation, who did not choose it. A link from outside (the
                # e-mail's, a typed address) is always someone's choice.
                ended = min(
                    seen_at + settings.SESSION_IDLE_TIMEOUT,
                    login_at + settings.SESSION_ABSOLUTE_TIMEOUT,
                )
                stale = (
                    now - ended > RESUME_LIFETIME
                    and request.headers.get("Sec-Fetch-Site") == "same-origin"
                )
                if posted and not stale:
                    remember_destination(request, _form_page(request))
                elif not stale:
                    _remember_page(request)
                messages.info(
                    request,
                    "Votre session a expiré : reconnectez-vous."
                    + (
                        " Le formulaire que vous veniez d'envoyer n'a pas été enregistré :"
                        " saisissez-le à nouveau."
                        if posted
                        else ""
                    ),
                )
                end = _psc_end_session(id_token)
                if end and not _page_load(request):
                    # A script's request (the keep-alive) follows no redirect: PSC's
                    # session is ended at this browser's next page load instead.
                    request.session[END_PSC_KEY] = id_token
                elif end:
                    # PSC's own session may outlive ours: left open, the next person at
                    # this browser (a shared workstation) would be logged in as this
                    # doctor without their card. It is ended too, as by "Se déconnecter".
                    return HttpResponseRedirect(end)
                if posted:
                    # Back to the form's page after the login, not to the address the
                    # form posts to (which only takes a POST: a blank page).
                    return redirect_to_login(_form_page(request))
            elif now - seen_at >= SEEN_WRITE_INTERVAL:
                request.session[SEEN_AT] = now
        response = self.get_response(request)
        if response.status_code == 405 and request.method == "GET" and not response.content:
            # An address that only takes a form's POST, opened as a page (after a login,
            # from the history): a French page with a way on, not a blank one (still 405).
            page = render(request, "405.html", status=405)
            page["Allow"] = response.get("Allow", "")
            return page
        return response


# Login and logout addresses (/connexion/…, /deconnexion/): their POST is no form to lose.
_ACCOUNT_PATHS = ("/connexion/", "/deconnexion/")


def _form_page(request: HttpRequest) -> str:
    """The page the form was posted from (the Referer, on this site), else the home."""
    referer = request.headers.get("referer", "")
    if referer and url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        parts = urlsplit(referer)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    return resolve_url("home")
