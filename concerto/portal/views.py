"""The GP's portal (SPEC §5): news feed, pre-fiche, contribution, compte-rendu, PPS,
documents — only for the patients whose declared GP the user is.

Every view decides through :mod:`concerto.accounts.policy` (refusal = 404, never 403)
and writes the access trail (:mod:`concerto.audit.access`), refusals included.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_POST

from concerto.accounts import policy
from concerto.audit import access
from concerto.audit.models import AuditEvent
from concerto.lib.errors import ActionRefused
from concerto.notifications import queries as notification_queries
from concerto.portal.forms import ContributionForm
from concerto.portal.tokens import PatientTokens
from concerto.rcp import actions as rcp_actions
from concerto.rcp.models import PPS, CompteRendu, GPContribution, Registration

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
    """The registration ``pk`` if the user is its patient's declared GP; 404 otherwise."""
    registration = (
        Registration.objects.select_related("session__board", "patient").filter(pk=pk).first()
    )
    if registration is None:
        raise _refuse(request, action=action, patient_id=None)
    if not policy.is_gp_of(request.user, registration.patient):
        raise _refuse(request, action=action, patient_id=registration.patient_id, obj=registration)
    return registration


# --- Tableau de bord / Actualités -----------------------------------------------------------


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    patients = list(
        policy.gp_patients(user)
        .only("sex", "birth_name", "used_name", "first_names", "used_first_name", "birth_date")
        .order_by("birth_name", "first_names", "pk")
    )
    tokens = PatientTokens(user.pk)
    token = request.GET.get("patient", "")
    selected: int | None = None
    if token:
        selected = tokens.resolve(token, [p.pk for p in patients])
        if selected is None:
            raise _refuse(request, action="portal.dashboard", patient_id=None)
    news = policy.gp_news(user)
    if selected is not None:
        news = news.filter(patient_id=selected)
    news = news.select_related("patient").order_by("-date", "-created_at", "-id")
    page = Paginator(news, NEWS_PER_PAGE).get_page(request.GET.get("page"))
    access.record_accesses(
        request,
        action="portal.dashboard",
        patient_ids=[item.patient_id for item in page.object_list],
        role=ROLE,
        details={"page": page.number},
    )
    # The patient filter's options, rendered here (labels escaped; tokens are hex): one
    # option per patient of the GP, which the template language renders far more slowly.
    options = mark_safe(  # noqa: S308
        "".join(
            f'<option value="{tokens.token(p.pk)}"'
            f"{' selected' if p.pk == selected else ''}>{escape(p.identity_label)}</option>"
            for p in patients
        )
    )
    return render(
        request,
        "portal/dashboard.html",
        {
            "page": page,
            "options": options,
            "selected_token": token if selected is not None else "",
            "is_gp": bool(patients),
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
    validated = list(
        registration.compte_rendus.filter(validated_at__isnull=False).order_by("-version")
    )
    contribution = GPContribution.objects.filter(registration=registration).first()
    notified = board.has_webconference and notification_queries.gp_was_notified(
        registration, user.rpps
    )
    return {
        "registration": registration,
        "patient": registration.patient,
        "session": registration.session,
        "board": board,
        "starts_at": timezone.localtime(registration.session.starts_at),
        "documents": [(doc, document_url(doc.pk)) for doc in registration.documents.all()],
        "contribution": contribution,
        "compte_rendu": validated[0] if validated else None,
        "pps_list": list(PPS.objects.filter(compte_rendu__registration=registration)),
        "show_webconference": notified,
        # Only web links: a board's URL is validated on input, this guards old rows too.
        "webconference_url": board.webconference_url
        if board.webconference_url.lower().startswith(("https://", "http://"))
        else "",
        "editable": not validated and registration.is_active,
    }


def _render_prefiche(
    request: HttpRequest, registration: Registration, form: ContributionForm, status: int = 200
) -> HttpResponse:
    context = _prefiche_context(request, registration)
    context["form"] = form
    return render(request, "portal/prefiche.html", context, status=status)


@login_required
@require_GET
def prefiche(request: HttpRequest, pk: int) -> HttpResponse:
    registration = _gp_registration(request, pk, action="portal.prefiche")
    access.record_access(
        request,
        action="portal.prefiche",
        patient_id=registration.patient_id,
        obj=registration,
        role=ROLE,
    )
    contribution = GPContribution.objects.filter(registration=registration).first()
    initial = (
        {"comment": contribution.comment, "wants_to_join": contribution.wants_to_join}
        if contribution
        else {}
    )
    return _render_prefiche(request, registration, ContributionForm(initial=initial))


@login_required
@require_POST
def contribute(request: HttpRequest, pk: int) -> HttpResponse:
    registration = _gp_registration(request, pk, action="portal.contribution")
    form = ContributionForm(request.POST)
    if not form.is_valid():
        return _render_prefiche(request, registration, form, status=400)
    try:
        rcp_actions.save_gp_contribution(
            by=request.user,
            registration=registration,
            comment=form.cleaned_data["comment"],
            wants_to_join=form.cleaned_data["wants_to_join"],
        )
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
        messages.error(request, " ".join(refused.messages))
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
