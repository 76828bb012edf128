"""Decision and compte-rendu (versioned, frozen once validated), PPS, and their PDFs."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from concerto.accounts import policy
from concerto.audit.access import record_access
from concerto.lib import clock
from concerto.lib.errors import ActionRefused
from concerto.rcp import actions, pdf, rules
from concerto.rcp.access import deciding_registration, deny
from concerto.rcp.forms import DecisionForm, PPSForm
from concerto.rcp.models import PPS, BoardMembership, CompteRendu
from concerto.rcp.views.outcome import refusal_text


@login_required
@require_http_methods(["GET", "POST"])
def decision(request: HttpRequest, pk: int) -> HttpResponse:
    """Record the board's decision. "Vérifier le quorum" only computes; "Valider"
    validates as the next version (a correction after a validation is version N+1)."""
    registration = deciding_registration(request, pk, action="compte_rendu.edit")
    board = registration.session.board
    record_access(
        request,
        action="compte_rendu.edit_view",
        patient_id=registration.patient_id,
        obj=registration,
        role=policy.role_of(request.user, board),
    )
    latest = registration.compte_rendus.order_by("-version").first()
    initial: dict[str, object] = {"seen_version": latest.version if latest else 0}
    if latest is not None:
        ids = {a.get("user_id") for a in latest.attendees}
        initial |= {
            "attendees": BoardMembership.objects.filter(board=board, user_id__in=ids),
            "case_status": latest.case_status,
            "proposal": latest.proposal,
        }
    form = DecisionForm(request.POST or None, board=board, initial=initial)
    quorum = None
    validating = "validate" in request.POST and "check" not in request.POST
    if request.method == "POST" and not validating:
        # "Vérifier le quorum", before the proposal and the status are written too: the
        # quorum of those ticked; those two are asked at validation.
        if not form.is_valid():
            for name in ("proposal", "case_status"):
                form.errors.pop(name, None)
        if "attendees" in form.cleaned_data:
            pairs = form.attendee_pairs()
            quorum = rules.quorum(
                (s for _, s in pairs), requires_core=board.requires_core_specialties
            )
    elif request.method == "POST" and form.is_valid():
        pairs = form.attendee_pairs()
        quorum = rules.quorum((s for _, s in pairs), requires_core=board.requires_core_specialties)
        if validating:
            try:
                compte_rendu = actions.validate_compte_rendu(
                    by=request.user,
                    registration=registration,
                    case_status=form.cleaned_data["case_status"],
                    proposal=form.cleaned_data["proposal"],
                    attendees=pairs,
                    quorum_override_reason=form.cleaned_data["quorum_override_reason"],
                    seen_version=form.cleaned_data["seen_version"],
                )
            except actions.AlreadyValidated as exc:
                validated = exc.compte_rendu
                if exc.repeat:
                    # A double click, or the same decision sent again: the user sees the
                    # version already validated.
                    messages.info(
                        request,
                        refusal_text(exc)
                        if validated.version == form.cleaned_data["seen_version"]
                        else f"Compte-rendu validé (version {validated.version}).",
                    )
                    return redirect("rcp:compte-rendu", pk=validated.pk)
                # Someone else validated meanwhile: the input is kept, the page now shows
                # that version, and validating again makes the next one, knowingly.
                latest = validated
                data = request.POST.copy()
                data["seen_version"] = str(validated.version)
                form = DecisionForm(data, board=board, initial=initial)
                form.is_valid()
                form.add_error(None, refusal_text(exc))
            except ActionRefused as exc:
                form.add_error(None, refusal_text(exc))
            else:
                messages.success(request, f"Compte-rendu validé (version {compte_rendu.version}).")
                return redirect("rcp:compte-rendu", pk=compte_rendu.pk)
    return render(
        request,
        "rcp/decision.html",
        {
            "registration": registration,
            "patient": registration.patient,
            "board": board,
            "form": form,
            "quorum": quorum,
            "latest": latest,
            "contribution": getattr(registration, "gp_contribution", None),
            # A decision is validated from the meeting's start on (rcp.actions).
            "starts_at": timezone.localtime(registration.session.starts_at)
            if registration.session.starts_at > clock.now()
            else None,
        },
    )


def _compte_rendu(request: HttpRequest, pk: int, *, action: str) -> CompteRendu:
    """A compte-rendu of a registration the user may see (policy): participants,
    registrar, and the patient's GP (who reads compte-rendus and PPS)."""
    compte_rendu = (
        CompteRendu.objects.select_related(
            "registration__session__board", "registration__patient", "validated_by"
        )
        .filter(pk=pk, registration__in=policy.visible_registrations(request.user))
        .first()
    )
    if compte_rendu is None:
        patient_id = (
            CompteRendu.objects.filter(pk=pk)
            .values_list("registration__patient_id", flat=True)
            .first()
        )
        raise deny(request, action=action, patient_id=patient_id)
    return compte_rendu


def _role(request: HttpRequest, compte_rendu: CompteRendu) -> str:
    registration = compte_rendu.registration
    return policy.role_of(request.user, registration.session.board) or (
        policy.Role.GP if policy.is_gp_of(request.user, registration.patient) else ""
    )


@login_required
@require_GET
def compte_rendu_detail(request: HttpRequest, pk: int) -> HttpResponse:
    compte_rendu = _compte_rendu(request, pk, action="compte_rendu.view")
    registration = compte_rendu.registration
    record_access(
        request,
        action="compte_rendu.view",
        patient_id=registration.patient_id,
        obj=compte_rendu,
        role=_role(request, compte_rendu),
    )
    versions = registration.compte_rendus.order_by("version")
    return render(
        request,
        "rcp/compte_rendu.html",
        {
            "cr": compte_rendu,
            "registration": registration,
            "patient": registration.patient,
            "versions": versions,
            "is_latest": compte_rendu.version == max(v.version for v in versions),
            "can_decide": policy.can_decide(request.user, registration.session.board),
            "is_member": policy.can_take_part(request.user, registration.session.board),
            "pps_list": compte_rendu.pps.all(),
        },
    )


def _pdf_response(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def compte_rendu_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    compte_rendu = _compte_rendu(request, pk, action="compte_rendu.pdf")
    record_access(
        request,
        action="compte_rendu.pdf",
        patient_id=compte_rendu.registration.patient_id,
        obj=compte_rendu,
        role=_role(request, compte_rendu),
    )
    return _pdf_response(
        pdf.compte_rendu_pdf(compte_rendu),
        f"compte-rendu-{compte_rendu.pk}-v{compte_rendu.version}.pdf",
    )


@login_required
@require_http_methods(["GET", "POST"])
def pps_create(request: HttpRequest, pk: int) -> HttpResponse:
    compte_rendu = _compte_rendu(request, pk, action="pps.create")
    registration = deciding_registration(request, compte_rendu.registration_id, action="pps.create")
    board = registration.session.board
    # The board's establishment, or none: the required field makes the doctor name it
    # (not a guess the PPS would carry to the GP).
    establishment = board.establishment
    form = PPSForm(
        request.POST or None,
        initial={
            "doctor_name": request.user.display_name,  # type: ignore[union-attr]
            "establishment_name": establishment.name if establishment else "",
            "content": compte_rendu.proposal,
            "seen_pps": PPS.objects.filter(compte_rendu=compte_rendu).count(),
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            pps = actions.generate_pps(
                by=request.user, compte_rendu=compte_rendu, **form.cleaned_data
            )
        except actions.AlreadyGenerated as exc:
            messages.warning(request, refusal_text(exc))
            return redirect("rcp:compte-rendu", pk=compte_rendu.pk)
        except ActionRefused as exc:
            form.add_error(None, refusal_text(exc))
        else:
            messages.success(
                request, "PPS généré ; le médecin traitant le voit dans ses actualités."
            )
            return redirect("rcp:compte-rendu", pk=pps.compte_rendu_id)
    record_access(
        request,
        action="pps.create_view",
        patient_id=registration.patient_id,
        obj=compte_rendu,
        role=policy.role_of(request.user, board),
    )
    return render(
        request,
        "rcp/pps_form.html",
        {"cr": compte_rendu, "patient": registration.patient, "form": form},
    )


@login_required
@require_GET
def pps_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    pps = (
        PPS.objects.select_related("compte_rendu__registration__session__board", "patient")
        .filter(pk=pk, compte_rendu__registration__in=policy.visible_registrations(request.user))
        .first()
    )
    if pps is None:
        patient_id = PPS.objects.filter(pk=pk).values_list("patient_id", flat=True).first()
        raise deny(request, action="pps.pdf", patient_id=patient_id)
    record_access(
        request,
        action="pps.pdf",
        patient_id=pps.patient_id,
        obj=pps,
        role=_role(request, pps.compte_rendu),
    )
    return _pdf_response(pdf.pps_pdf(pps), f"pps-{pps.pk}.pdf")
