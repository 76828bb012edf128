"""Login and logout pages: Pro Santé Connect, and the demo login (demo mode only)."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from concerto.accounts import actions, psc
from concerto.accounts.identity import IdentityRefused, rpps_of
from concerto.accounts.middleware import (
    ID_TOKEN_KEY,
    mark_seen,
    remember_destination,
    seconds_left,
    take_destination,
)
from concerto.accounts.models import User
from concerto.audit.access import client_ip

FLOW_KEY = "psc_flows"
FLOW_LIFETIME = 600  # seconds between the redirect to PSC and its answer
_OAUTH_ERROR = re.compile(r"[a-z_]{1,40}")
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"

# What each refusal says, and what to do about it.
REFUSALS: dict[str, tuple[str, list[str]]] = {
    "state": (
        "Cette demande de connexion n'est plus valable",
        [
            "Elle a expiré, a déjà servi, ou ne vient pas de ce navigateur.",
            "Recommencez la connexion depuis la page « Connexion ».",
        ],
    ),
    "cancelled": (
        "Connexion annulée",
        ["Vous avez annulé la connexion sur Pro Santé Connect. Vous pouvez recommencer."],
    ),
    "provider_error": (
        "Pro Santé Connect n'a pas accepté la demande",
        [
            "Recommencez la connexion. Si le refus persiste, contactez l'assistance de "
            "Concerto en indiquant le code ci-dessous.",
        ],
    ),
    "unavailable": (
        "Pro Santé Connect ne répond pas",
        [
            "Le service national d'authentification est momentanément injoignable.",
            "Réessayez dans quelques minutes ; si cela dure, contactez l'assistance.",
        ],
    ),
    "not_configured": (
        "La connexion par Pro Santé Connect n'est pas configurée",
        [
            "L'administrateur de ce serveur doit renseigner les réglages PSC_ISSUER, "
            "PSC_CLIENT_ID et PSC_CLIENT_SECRET (voir le README).",
        ],
    ),
    "invalid_token": (
        "La réponse de Pro Santé Connect n'a pas pu être vérifiée",
        [
            "Par sécurité, la connexion est refusée : la réponse reçue n'est pas "
            "authentique, plus valable, ou ne vous est pas destinée.",
            "Recommencez la connexion. Si le problème persiste, contactez l'assistance "
            "en indiquant le code ci-dessous.",
        ],
    ),
    "acr_refused": (
        "Niveau d'authentification insuffisant",
        [
            "Concerto donne accès à des données de santé : il exige une connexion avec "
            "votre carte CPS ou l'application e-CPS (niveau « eidas1 »).",
            "Reconnectez-vous en choisissant la carte CPS ou e-CPS sur Pro Santé Connect.",
        ],
    ),
    "unknown_professional": (
        "Votre numéro RPPS n'est pas connu de Concerto",
        [
            "Pro Santé Connect vous a bien identifié, mais votre numéro RPPS n'est pas "
            "dans l'annuaire santé importé par Concerto, et aucun compte ne lui est associé.",
            "Si votre inscription au RPPS est récente, l'annuaire est mis à jour chaque "
            "jour : réessayez demain. Sinon, contactez le secrétariat de la RCP (3C) ou "
            "l'administrateur Concerto de votre territoire en indiquant votre numéro RPPS.",
        ],
    ),
    "adeli_only": (
        "Connexion réservée aux professionnels inscrits au RPPS",
        [
            "Pro Santé Connect vous identifie par un numéro ADELI. Concerto reconnaît les "
            "médecins par leur numéro RPPS.",
            "Si vous êtes médecin, vérifiez votre inscription au RPPS auprès de votre "
            "ordre ; sinon, contactez le secrétariat de la RCP qui vous a sollicité.",
        ],
    ),
    "no_identifier": (
        "Identité professionnelle absente",
        [
            "Pro Santé Connect n'a pas transmis de numéro RPPS valable.",
            "Contactez l'assistance de Concerto en indiquant le code ci-dessous.",
        ],
    ),
    "identity_inconsistent": (
        "Identité incohérente",
        [
            "Les identifiants transmis par Pro Santé Connect ne concordent pas avec votre "
            "compte. Par sécurité, la connexion est refusée.",
            "Contactez l'administrateur Concerto de votre territoire.",
        ],
    ),
    "account_disabled": (
        "Compte désactivé",
        ["Votre compte Concerto est désactivé. Contactez l'administrateur de votre territoire."],
    ),
}


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("home")


def _refused(
    request: HttpRequest,
    reason: str,
    detail: str = "",
    next_url: str | None = None,
    **context: Any,
) -> HttpResponse:
    """The refusal page; ``next_url``: where the login was going, which trying again
    keeps (the pré-fiche of the e-mail's link)."""
    actions.record_login(
        user=None, method="psc", ok=False, ip=client_ip(request), reason=reason, detail=detail
    )
    title, paragraphs = REFUSALS.get(reason, REFUSALS["provider_error"])
    again = reverse("login")
    if next_url:
        again += "?" + urlencode({"next": _safe_next(request, next_url)})
    return render(
        request,
        "accounts/refused.html",
        {
            "title": title,
            "paragraphs": paragraphs,
            "reason": reason,
            "detail": detail,
            "again": again,
            **context,
        },
        status=403,
    )


@require_GET
@never_cache
def login_page(request: HttpRequest) -> HttpResponse:
    # Without a destination: where the session that just timed out was going, if any.
    resume = take_destination(request)
    next_url = _safe_next(request, request.GET.get("next") or resume)
    return render(
        request,
        "accounts/login.html",
        {
            "next": next_url,
            "psc_configured": psc.is_configured(),
            "demo_login": settings.DEMO_LOGIN and not settings.PRODUCTION,
        },
    )


@require_GET
@never_cache
def psc_start(request: HttpRequest) -> HttpResponse:
    config = psc.PSCConfig.from_settings()
    if not config.configured:
        return _refused(request, "not_configured")
    next_url = _safe_next(request, request.GET.get("next"))
    try:
        url, flow = psc.start(config, next_url=next_url, now=time.time())
    except psc.PSCError as exc:
        return _refused(request, exc.reason, exc.detail)
    flows = request.session.get(FLOW_KEY, {})
    # Keep the three most recent flows (a user may have opened two tabs).
    flows = dict(sorted(flows.items(), key=lambda item: item[1]["started_at"])[-2:])
    flows[flow.state] = flow.as_dict()
    request.session[FLOW_KEY] = flows
    return HttpResponseRedirect(url)


@require_GET
@never_cache
def psc_callback(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    flows = request.session.get(FLOW_KEY, {})
    data = flows.pop(state, None) if state else None
    request.session[FLOW_KEY] = flows  # a flow serves once
    error = request.GET.get("error")
    if data is None:
        return _refused(request, "state", "unknown_state")
    flow = psc.Flow.from_dict(data)
    if time.time() - flow.started_at > FLOW_LIFETIME:
        return _refused(request, "state", "flow_expired", next_url=flow.next_url)
    if error:
        if error == "access_denied":
            return _refused(request, "cancelled", "access_denied", next_url=flow.next_url)
        # The code as sent is attacker-chosen (line breaks forge log lines): only an
        # OAuth 2.0 error code (RFC 6749 §4.1.2.1, [a-z_]) is kept as it is.
        return _refused(
            request,
            "provider_error",
            error if _OAUTH_ERROR.fullmatch(error) else "other",
            next_url=flow.next_url,
        )
    code = request.GET.get("code", "")
    if not code:
        return _refused(request, "provider_error", "missing_code", next_url=flow.next_url)
    config = psc.PSCConfig.from_settings()
    try:
        identity = psc.complete(config, flow, state=state, code=code)
        rpps = rpps_of(identity.claims)
    except (psc.PSCError, IdentityRefused) as exc:
        return _refused(request, exc.reason, exc.detail, next_url=flow.next_url)
    try:
        user = actions.link_psc_login(
            sub=identity.sub, rpps=rpps, claims=identity.claims, ip=client_ip(request)
        )
    except actions.AccountRefused as exc:
        return _refused(request, exc.reason, exc.detail, next_url=flow.next_url, rpps=rpps)
    login(request, user, backend=MODEL_BACKEND)  # rotates the session key
    request.session[ID_TOKEN_KEY] = identity.id_token
    actions.record_login(user=user, method="psc", ok=True, ip=client_ip(request))
    return redirect(_safe_next(request, flow.next_url))


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    """Local logout first (the session row is deleted), then PSC's end-session."""
    user = request.user if request.user.is_authenticated else None
    id_token = request.session.get(ID_TOKEN_KEY)
    logout(request)
    if user is not None:
        actions.record_logout(user=user, ip=client_ip(request))  # type: ignore[arg-type]
    # "Se déconnecter et se reconnecter" on a page someone else's session could not open
    # (a shared workstation): the next login goes there (through PSC's end-session).
    resume = request.POST.get("next")
    if resume and _safe_next(request, resume) == resume:
        remember_destination(request, resume)
    config = psc.PSCConfig.from_settings()
    if id_token and config.configured:
        return HttpResponseRedirect(psc.end_session_url(config, id_token))
    messages.info(request, "Vous êtes déconnecté.")
    return redirect("home")


@login_required
@require_POST
def keep_alive(request: HttpRequest) -> JsonResponse:
    """ "Rester connecté" (and typing in a form): the idle time-out starts again; the
    absolute one cannot be pushed back. Answers the seconds left of each. A session
    already ended gets the login page's redirect (the script then says it has ended)."""
    mark_seen(request)
    left = seconds_left(request)
    idle, absolute = left if left is not None else (0, 0)
    return JsonResponse({"idle": idle, "absolute": absolute})


def admin_login(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """Replaces the admin site's password form: staff log in like everyone else
    (Pro Santé Connect, or the demo login in demo mode), then come back."""
    next_url = _safe_next(request, request.GET.get("next") or reverse("admin:index"))
    if request.user.is_authenticated:
        if request.user.is_active and request.user.is_staff:
            return redirect(next_url)
        messages.error(
            request, "L'administration est réservée aux secrétaires de RCP et aux administrateurs."
        )
        return redirect("home")
    return redirect_to_login(next_url, login_url=reverse("login"))


def admin_logout(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """The admin site's "Déconnexion": the same logout as everywhere (PSC's too)."""
    return logout_view(request)


# Demo login ---------------------------------------------------------------------------------

# (role shown on the page, username from concerto.demo, what they see)
DEMO_PEOPLE: list[tuple[str, str, str]] = [
    (
        "Médecin traitant",
        "demo-medecin",
        "patients notifiés, en attente, inscrits trop tard, compte-rendu et PPS",
    ),
    ("Médecin traitant", "demo-medecin-2", "un autre cabinet : ne voit que ses patients"),
    ("Secrétaire / organisatrice de RCP", "demo-secretaire", "séances, membres, notifications"),
    ("Participant à la RCP", "demo-oncologue", "oncologue médicale, membre de toutes les RCP"),
    ("Participant à la RCP", "demo-chirurgien", "chirurgien, membre de toutes les RCP"),
    ("Médecin inscripteur", "demo-inscripteur", "inscrit les patients et remplit la pré-fiche"),
    ("Administrateur", "demo-admin", "administrateur régional"),
]
DEMO_USERNAMES = frozenset(username for _, username, _ in DEMO_PEOPLE)


def _demo_enabled() -> None:
    # The URL is not even registered in production; this is the second lock.
    if not settings.DEMO_LOGIN or settings.PRODUCTION:
        raise Http404


@require_http_methods(["GET", "POST"])
@never_cache
def demo_login(request: HttpRequest) -> HttpResponse:
    _demo_enabled()
    if request.method == "POST":
        username = request.POST.get("username", "")
        next_url = _safe_next(request, request.POST.get("next"))
        user = (
            User.objects.filter(username=username, is_active=True).first()
            if username in DEMO_USERNAMES
            else None
        )
        if user is None:
            actions.record_login(
                user=None, method="demo", ok=False, ip=client_ip(request), reason="unknown_demo"
            )
            messages.error(request, "Ce compte de démonstration n'existe pas.")
            return redirect("demo_login")
        login(request, user, backend=MODEL_BACKEND)
        actions.record_login(user=user, method="demo", ok=True, ip=client_ip(request))
        return redirect(next_url)
    users = {
        u.username: u for u in User.objects.filter(username__in=DEMO_USERNAMES, is_active=True)
    }
    people = [
        {"role": role, "user": users[username], "about": about}
        for role, username, about in DEMO_PEOPLE
        if username in users
    ]
    return render(
        request,
        "accounts/demo_login.html",
        {"people": people, "next": _safe_next(request, request.GET.get("next"))},
    )
