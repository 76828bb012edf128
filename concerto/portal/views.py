"""The GP's portal (SPEC §5): news feed, pre-fiche, contribution, compte-rendu, PPS,
documents — only for the patients whose declared GP the user is.

Every view decides through :mod:`concerto.accounts.policy` (refusal = 404, never 403)
and writes the access trail (:mod:`concerto.audit.access`), refusals included.
"""

from __future__ import annotations

import functools
import hashlib
from html import escape as html_escape
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from concerto.accounts import policy
from concerto.audit import access
from concerto.audit.models import AuditEvent
from concerto.lib import clock
from concerto.lib.errors import ActionRefused
from concerto.notifications import queries as notification_queries
from concerto.patients.models import identity_label
from concerto.portal.forms import ContributionForm
from concerto.portal.tokens import PatientTokens
from concerto.rcp import actions as rcp_actions
from concerto.rcp import rules
from concerto.rcp.models import PPS, CompteRendu, GPContribution, NewsItem, Registration, Session

NEWS_PER_PAGE = 20
ROLE = policy.Role.GP


def _refuse(
    request: HttpRequest, *, action: str, patient_id: int | None, obj: Any = None
) -> Http404:
    """Trace the refused attempt; the caller raises the returned 404."""
    access.record_access(
        request,
        action=action,
        patient_id=patient_id,
        obj=obj,
        role=ROLE,
        outcome=AuditEvent.Outcome.DENIED,
    )
    return Http404("Page introuvable.")


def _gp_registration(request: HttpRequest, pk: int, *, action: str) -> Registration:
    """The registration ``pk`` if the user is its patient's declared GP; 404 otherwise.
    Its GP's contribution comes with it (one LEFT JOIN, not a query of its own)."""
    registration = (
        Registration.objects.select_related("session__board", "patient", "gp_contribution")
        .filter(pk=pk)
        .first()
    )
    if registration is None:
        raise _refuse(request, action=action, patient_id=None)
    if not policy.is_gp_of(request.user, registration.patient):
        raise _refuse(request, action=action, patient_id=registration.patient_id, obj=registration)
    return registration


# --- Tableau de bord / Actualités -----------------------------------------------------------


# A news line's link, by kind: (what it links to, view name, the icon's text alternative).
_NEWS_LINKS = {
    NewsItem.Kind.UPCOMING: ("registration", "portal:prefiche", "Ouvrir la pré-fiche"),
    NewsItem.Kind.COMPTE_RENDU: ("registration", "portal:compte_rendu", "Lire le compte-rendu"),
    NewsItem.Kind.PPS: ("pps", "portal:pps", "Lire le PPS"),
}
# An id no row has, replaced in a reversed URL by each line's id.
_ID_MARK = 9_876_543_210_123
# Any page number past the end shows the last page; this bound keeps OFFSET in range.
_MAX_PAGE = 1_000_000


def _page_number(raw: str | None) -> int:
    try:
        number = int(raw or 1)
    except ValueError:
        return 1
    return min(max(number, 1), _MAX_PAGE)


def _news_page(
    user: Any, patient_id: int | None, number: int
) -> tuple[list[tuple[Any, ...]], int, int]:
    """The lines of page ``number`` (the last page past the end, like Paginator.get_page),
    the page number shown and the number of pages: one query (a second one only for a
    page number past the end)."""
    offset = (number - 1) * NEWS_PER_PAGE
    rows, total = policy.gp_news_rows(
        user, patient_id=patient_id, offset=offset, limit=NEWS_PER_PAGE
    )
    num_pages = max(1, -(-total // NEWS_PER_PAGE))
    if not rows and number > num_pages:
        number = num_pages
        rows, total = policy.gp_news_rows(
            user, patient_id=patient_id, offset=(number - 1) * NEWS_PER_PAGE, limit=NEWS_PER_PAGE
        )
    return rows, number, num_pages


@functools.lru_cache(maxsize=64)
def _patient_filter(
    user_id: int, rows: tuple[tuple[Any, ...], ...]
) -> tuple[dict[int, str], str, str]:
    """The GP's patients labelled, and the filter's options (none selected), from their
    rows: the same every time until a patient joins, leaves or is renamed, so kept (by
    user and rows, in this process) rather than remade, a label and a keyed hash each,
    on every page (0.8 of the dashboard's own 3.9 ms of CPU, 100 patients). Every value
    through html.escape (what django.utils.html.escape does, without its lazy-string
    wrapper); tokens are hex."""
    labels = {pk: identity_label(*traits) for pk, *traits in rows}
    tokens = PatientTokens(user_id)
    options = "".join(
        f'<option value="{tokens.token(pk)}">{html_escape(label)}</option>'
        for pk, label in labels.items()
    )
    # Which list this is (the trail records the filter once per session and list).
    digest = hashlib.sha256(repr(sorted(labels.items())).encode()).hexdigest()
    return labels, options, digest


_FILTER_TRACED = "concerto_portal_filter_traced"


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    # The GP's patients as plain rows (the filter lists them all: no model instance
    # each), labelled once for both the filter and the lines.
    labels, options, listed = _patient_filter(user.pk, tuple(policy.gp_patient_rows(user)))
    token = request.GET.get("patient", "")
    selected: int | None = None
    if token:
        selected = PatientTokens(user.pk).resolve(token, list(labels))
        if selected is None:
            raise _refuse(request, action="portal.dashboard", patient_id=None)
        # (the token is one of the options', all hex: found as it is)
        options = options.replace(f'"{token}">', f'"{token}" selected>', 1)
    rows, number, num_pages = _news_page(user, selected, _page_number(request.GET.get("page")))
    # A patient whose GP changed between the two queries: their lines are left out.
    rows = [row for row in rows if row[3] in labels]
    # The filter names every patient of the GP: traced once per login session for each
    # list shown (again when a patient joins, leaves or is renamed); the lines below are
    # traced on every page.
    if labels and request.session.get(_FILTER_TRACED) != listed:
        access.record_accesses(
            request, action="portal.patient_filter", patient_ids=list(labels), role=ROLE
        )
        request.session[_FILTER_TRACED] = listed
    access.record_accesses(
        request,
        action="portal.dashboard",
        patient_ids=[row[3] for row in rows],
        role=ROLE,
        details={"page": number},
    )
    # The page's lines are rendered here, every value through html.escape (as the
    # filter's options): per line, the template language costs far more.
    icon = html_escape(static("portal/fiche.svg"))
    urls: dict[str, str] = {}  # one reverse per kind of link, not one per line
    lines = []
    for date, text, kind, patient_id, registration_id, pps_id in rows:
        link = ""
        target, view_name, alt = _NEWS_LINKS.get(kind, ("", "", ""))
        target_id = registration_id if target == "registration" else pps_id
        if target and target_id:
            if view_name not in urls:
                urls[view_name] = html_escape(reverse(view_name, args=[_ID_MARK]))
            url = urls[view_name].replace(str(_ID_MARK), str(int(target_id)))
            link = (
                f'<a class="icon-link" href="{url}">'
                f'<img src="{icon}" alt="{alt}" width="20" height="20"></a>'
            )
        lines.append(
            f'<tr role="row"><td role="cell">{date:%d/%m/%Y}</td>'
            f'<td role="cell">{html_escape(labels[patient_id])}</td>'
            f'<td role="cell">{html_escape(text)} {link}</td></tr>'
        )
    return render(
        request,
        "portal/dashboard.html",
        {
            "lines": mark_safe("\n".join(lines)),  # noqa: S308 — every value escaped
            "number": number,
            "num_pages": num_pages,
            "previous": number - 1 if number > 1 else None,
            "next": number + 1 if number < num_pages else None,
            "options": mark_safe(options),  # noqa: S308 — labels escaped, tokens hex
            "selected_token": token if selected is not None else "",
            "is_gp": bool(labels),
            "can_search_audit": policy.can_search_audit(user),
        },
    )


# --- Pré-fiche and contribution ---------------------------------------------------------------


def document_url(pk: int) -> str:
    """The clinicians' download view: it authorises through the policy (the patient's
    GP included) and writes the access trail."""
    return reverse("rcp:document-download", args=[pk])


def _prefiche_context(request: HttpRequest, registration: Registration) -> dict[str, Any]:
    user: Any = request.user
    board = registration.session.board
    latest = (
        registration.compte_rendus.filter(validated_at__isnull=False).order_by("-version").first()
    )
    # (read with the registration: absent, the reverse one-to-one raises AttributeError)
    contribution: GPContribution | None = getattr(registration, "gp_contribution", None)
    session = registration.session
    notice = notification_queries.notice_sent(registration, user.rpps)
    # The webconference is for the meeting still to come that will discuss this file.
    closed = rules.webconference_closed(
        session_cancelled=session.status == Session.Status.CANCELLED,
        moved=bool(registration.moved_to_id),
        withdrawn=not registration.is_active,
        decided=latest is not None,
        session_date=session.date,
        today=timezone.localdate(clock.now()),
    )
    webconference = board.has_webconference and notice is not None
    # The notice announced another date (the session, or the file, moved since): said, so
    # that the GP does not connect on the date of the e-mail.
    announced = (
        notice.session_starts_at
        if notice is not None
        and notice.session_starts_at is not None
        and notice.session_starts_at != session.starts_at
        and not closed
        else None
    )
    return {
        "registration": registration,
        "patient": registration.patient,
        "session": registration.session,
        "board": board,
        "starts_at": timezone.localtime(registration.session.starts_at),
        "documents": [(doc, document_url(doc.pk)) for doc in registration.documents.all()],
        "contribution": contribution,
        "compte_rendu": latest,
        # A PPS is generated from a validated compte-rendu only (rcp.actions.generate_pps).
        "pps_list": list(PPS.objects.filter(compte_rendu__registration=registration))
        if latest
        else [],
        "show_webconference": webconference and not closed,
        "webconference_closed": closed if webconference else "",
        "notice": notice,
        "announced_at": timezone.localtime(announced) if announced else None,
        # Only web links: a board's URL is validated on input, this guards old rows too.
        "webconference_url": board.webconference_url
        if board.webconference_url.lower().startswith(("https://", "http://"))
        else "",
        "editable": latest is None
        and registration.is_active
        and registration.session.status != Session.Status.CANCELLED,
        "cancelled": registration.session.status == Session.Status.CANCELLED,
        # The wish to join is asked until the meeting starts, not after.
        "meeting_started": registration.session.starts_at <= clock.now(),
        # A file moved to another session: the GP's e-mail links here, the news is there.
        "moved_to": Registration.objects.select_related("session")
        .filter(pk=registration.moved_to_id)
        .first()
        if registration.moved_to_id
        else None,
    }


def _why_not_saved(registration: Registration) -> str:
    """Why a contribution cannot be saved on this registration (now), for the GP."""
    not_saved = "votre contribution n'a pas été enregistrée."
    if registration.moved_to_id:
        return (
            f"Le dossier a été déplacé vers une autre séance entre-temps : {not_saved} "
            "Votre texte est repris ci-dessous : enregistrez-le sur la pré-fiche à jour."
        )
    if not registration.is_active:
        return f"L'inscription a été retirée entre-temps : {not_saved}"
    if registration.session.status == Session.Status.CANCELLED:
        return f"La séance a été annulée entre-temps : {not_saved}"
    if registration.compte_rendus.filter(validated_at__isnull=False).exists():
        return f"Le compte-rendu a été validé entre-temps : {not_saved}"
    return ""


def _render_prefiche(
    request: HttpRequest,
    registration: Registration,
    form: ContributionForm | None = None,
    status: int = 200,
    details: dict[str, Any] | None = None,
    unsaved: str = "",
) -> HttpResponse:
    """The pre-fiche page, its read traced; without ``form``, the form shows the saved
    contribution. ``unsaved``: a comment that could not be saved, shown to be copied."""
    access.record_access(
        request,
        action="portal.prefiche",
        patient_id=registration.patient_id,
        obj=registration,
        role=ROLE,
        details=details,
    )
    context = _prefiche_context(request, registration)
    if form is None:
        contribution = context["contribution"]
        initial = (
            {"comment": contribution.comment, "wants_to_join": contribution.wants_to_join}
            if contribution
            else {}
        )
        form = ContributionForm(initial=initial)
    context["form"] = form
    context["unsaved"] = unsaved
    return render(request, "portal/prefiche.html", context, status=status)


@login_required
@require_GET
def prefiche(request: HttpRequest, pk: int) -> HttpResponse:
    registration = _gp_registration(request, pk, action="portal.prefiche")
    return _render_prefiche(request, registration)


@login_required
@require_POST
def contribute(request: HttpRequest, pk: int) -> HttpResponse:
    registration = _gp_registration(request, pk, action="portal.contribution")
    form = ContributionForm(request.POST)
    if not form.is_valid():
        # The pre-fiche is shown again (with the form's errors): a read, traced as one.
        return _render_prefiche(
            request, registration, form, status=400, details={"after": "contribution_invalid"}
        )
    try:
        rcp_actions.save_gp_contribution(
            by=request.user,
            registration=registration,
            comment=form.cleaned_data["comment"],
            wants_to_join=form.cleaned_data["wants_to_join"],
            role=ROLE,
            ip=access.client_ip(request),
        )
    except rcp_actions.NothingToSave as empty:  # (nothing refused: nothing written)
        messages.info(request, " ".join(empty.messages))
    except ActionRefused as refused:
        access.record_access(
            request,
            action="portal.contribution",
            patient_id=registration.patient_id,
            obj=registration,
            role=ROLE,
            outcome=AuditEvent.Outcome.DENIED,
            details={"reason": "frozen_or_withdrawn"},
        )
        # The file changed since the page was shown (another tab, the board meanwhile):
        # the page comes back with why, in the GP's terms, and what they typed, to copy.
        messages.error(request, _why_not_saved(registration) or " ".join(refused.messages))
        return _render_prefiche(
            request,
            registration,
            form,
            status=409,
            details={"after": "contribution_refused"},
            unsaved=form.cleaned_data["comment"],
        )
    else:
        messages.success(request, "Votre contribution a été enregistrée.")
    return redirect(reverse("portal:prefiche", args=[registration.pk]) + "#contribution")


# --- After the meeting: compte-rendu and PPS ----------------------------------------------------


@login_required
@require_GET
def compte_rendu(request: HttpRequest, pk: int) -> HttpResponse:
    registration = _gp_registration(request, pk, action="portal.compte_rendu")
    versions = list(
        CompteRendu.objects.filter(registration=registration, validated_at__isnull=False)
        .select_related("validated_by")
        .order_by("-version")
    )
    if not versions:
        raise Http404("Aucun compte-rendu validé.")
    access.record_access(
        request,
        action="portal.compte_rendu",
        patient_id=registration.patient_id,
        obj=versions[0],
        role=ROLE,
    )
    return render(
        request,
        "portal/compte_rendu.html",
        {
            "registration": registration,
            "patient": registration.patient,
            "board": registration.session.board,
            "starts_at": timezone.localtime(registration.session.starts_at),
            "current": versions[0],
            "previous": versions[1:],
            "pps_list": list(PPS.objects.filter(compte_rendu__registration=registration)),
        },
    )


@login_required
@require_GET
def pps(request: HttpRequest, pk: int) -> HttpResponse:
    item = (
        PPS.objects.select_related("patient", "compte_rendu__registration__session__board")
        .filter(pk=pk)
        .first()
    )
    if item is None:
        raise _refuse(request, action="portal.pps", patient_id=None)
    if not policy.is_gp_of(request.user, item.patient):
        raise _refuse(request, action="portal.pps", patient_id=item.patient_id, obj=item)
    access.record_access(
        request, action="portal.pps", patient_id=item.patient_id, obj=item, role=ROLE
    )
    return render(
        request,
        "portal/pps.html",
        {"pps": item, "patient": item.patient, "registration": item.compte_rendu.registration},
    )
