"""Registration (inscription), pre-fiche, documents: the médecin inscripteur's pages."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from concerto.accounts import policy
from concerto.audit.access import record_access
from concerto.directory import lookup
from concerto.directory.models import Professional
from concerto.lib.errors import ActionRefused
from concerto.notifications.queries import statuses_for
from concerto.patients import actions as patient_actions
from concerto.patients.forms import DeclaredGPForm
from concerto.patients.models import Patient
from concerto.patients.views import reachable_patient
from concerto.rcp import actions, cim10, uploads
from concerto.rcp.access import clinical_registration, deny
from concerto.rcp.forms import (
    DocumentForm,
    MoveRegistrationForm,
    PreficheForm,
    RegistrationForm,
    WithdrawRegistrationForm,
)
from concerto.rcp.models import Document, Registration
from concerto.rcp.views.outcome import act, refusal_text


@login_required
@require_http_methods(["GET", "POST"])
def register(request: HttpRequest, patient_pk: int) -> HttpResponse:
    patient = reachable_patient(request, patient_pk)
    record_access(
        request,
        action="patient.view",
        patient_id=patient.pk,
        obj=patient,
        role=policy.Role.REGISTRAR,
    )
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            registration = actions.register_patient(
                by=request.user,
                session=form.cleaned_data["session"],
                patient=patient,
                **form.prefiche(),
            )
        except ActionRefused as exc:
            form.add_error(None, refusal_text(exc))
        else:
            messages.success(
                request,
                "Patient inscrit. Joignez les documents puis marquez la pré-fiche complète.",
            )
            return redirect("rcp:registration", pk=registration.pk)
    return render(
        request,
        "rcp/register.html",
        {"patient": patient, "form": form, "cim10": cim10.entries()},
    )


@login_required
@require_GET
def registration_detail(request: HttpRequest, pk: int) -> HttpResponse:
    registration = clinical_registration(request, pk, action="registration.view")
    return _registration_page(request, registration)


def _registration_page(
    request: HttpRequest,
    registration: Registration,
    *,
    document_form: DocumentForm | None = None,
    withdraw_form: WithdrawRegistrationForm | None = None,
) -> HttpResponse:
    """The file's page, its read traced; ``document_form``: a refused upload, shown
    again at its fields with the title typed; ``withdraw_form``: a withdrawal sent
    without its confirmation, the error at the box."""
    board = registration.session.board
    record_access(
        request,
        action="registration.view",
        patient_id=registration.patient_id,
        obj=registration,
        role=policy.role_of(request.user, board),
    )
    compte_rendus = list(registration.compte_rendus.all())
    return render(
        request,
        "rcp/registration_detail.html",
        {
            "registration": registration,
            # What the GP was or will be told (the registrar's pré-fiche is one of its
            # conditions: its deadline is said while pending).
            "notification": statuses_for([registration]).get(registration.pk),
            "patient": registration.patient,
            "documents": registration.documents.all(),
            "contribution": getattr(registration, "gp_contribution", None),
            "compte_rendus": compte_rendus,
            "frozen": any(cr.is_validated for cr in compte_rendus),
            "document_form": document_form or DocumentForm(),
            "move_form": MoveRegistrationForm(registration=registration),
            "withdraw_form": withdraw_form or WithdrawRegistrationForm(),
            "can_decide": policy.can_decide(request.user, board),
            "is_member": policy.can_take_part(request.user, board),
            "max_size": uploads.human_size(_max_bytes()),
        },
    )


def _max_bytes() -> int:
    return int(settings.DOCUMENT_MAX_BYTES)


@login_required
@require_http_methods(["GET", "POST"])
def prefiche_edit(request: HttpRequest, pk: int) -> HttpResponse:
    registration = clinical_registration(request, pk, action="registration.edit")
    record_access(
        request,
        action="registration.edit_view",
        patient_id=registration.patient_id,
        obj=registration,
        role=policy.role_of(request.user, registration.session.board),
    )
    form = PreficheForm(request.POST or None, instance=registration)
    form.track_changes()  # only what this user changed is written (two editors at once)
    if request.method == "POST" and form.is_valid():
        changes, seen = form.edits()
        try:
            actions.update_prefiche(
                by=request.user, registration=registration, seen=seen, **changes
            )
        except actions.PreficheChanged as exc:
            form = form.shown_again(registration, exc.fields)
            form.add_error(None, refusal_text(exc))
        except ActionRefused as exc:
            form.add_error(None, refusal_text(exc))
        else:
            messages.success(request, "Pré-fiche enregistrée.")
            return redirect("rcp:registration", pk=registration.pk)
    return render(
        request,
        "rcp/prefiche_edit.html",
        {"registration": registration, "form": form, "cim10": cim10.entries()},
    )


@login_required
@require_POST
def registration_complete(request: HttpRequest, pk: int) -> HttpResponse:
    registration = clinical_registration(request, pk, action="registration.complete")
    act(
        request,
        lambda: actions.complete_prefiche(by=request.user, registration=registration),
        "Pré-fiche marquée complète.",
    )
    return redirect("rcp:registration", pk=registration.pk)


@login_required
@require_POST
def registration_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    registration = clinical_registration(request, pk, action="registration.withdraw")
    form = WithdrawRegistrationForm(request.POST)
    if not form.is_valid():  # (one click must not withdraw: it cannot be undone)
        return _registration_page(request, registration, withdraw_form=form)
    act(
        request,
        lambda: actions.withdraw_registration(by=request.user, registration=registration),
        "Inscription retirée de la séance.",
    )
    return redirect("rcp:registration", pk=registration.pk)


def _to_another_session(
    request: HttpRequest,
    pk: int,
    *,
    action: str,
    do: Any,
    anchor: str,
    done: str,
) -> HttpResponse:
    """Déplacer / Présenter à nouveau: the file, a later session of its board chosen in
    the form, the action ``do(by=…, registration=…, session=…)``; on to the new file."""
    registration = clinical_registration(request, pk, action=action)
    back = reverse("rcp:registration", args=[registration.pk]) + anchor
    form = MoveRegistrationForm(request.POST, registration=registration)
    if not form.is_valid():
        messages.error(request, "Choisissez une séance à venir de la même RCP.")
        return redirect(back)
    try:
        new = do(by=request.user, registration=registration, session=form.cleaned_data["session"])
    except ActionRefused as exc:
        messages.error(request, refusal_text(exc))
        return redirect(back)
    messages.success(request, done)
    return redirect("rcp:registration", pk=new.pk)


@login_required
@require_POST
def registration_move(request: HttpRequest, pk: int) -> HttpResponse:
    return _to_another_session(
        request,
        pk,
        action="registration.move",
        do=actions.move_registration,
        anchor="#deplacer",
        done="Dossier déplacé vers la nouvelle séance.",
    )


@login_required
@require_POST
def registration_represent(request: HttpRequest, pk: int) -> HttpResponse:
    """Présenter à nouveau: a decided file starts a new registration at a later session."""
    return _to_another_session(
        request,
        pk,
        action="registration.represent",
        do=actions.represent_registration,
        anchor="#representer",
        done="Nouvelle présentation créée : la pré-fiche et les documents ont été repris. "
        "Mettez la pré-fiche à jour, puis marquez-la complète (la notification du médecin "
        "traitant en dépend).",
    )


def _gp_change_text(name: str, rpps: str | None, former_rpps: str | None, same: bool) -> str:
    """What the change means for the portal: who sees the patient now, who no more."""
    if not name and not rpps:
        text = "Le patient n'a plus de médecin traitant déclaré."
    elif rpps:
        text = f"Médecin traitant déclaré : {name}. Il voit le patient dans son portail."
    else:
        text = (
            f"Médecin traitant déclaré : {name}, sans RPPS : il ne peut ni consulter le"
            " portail ni être notifié avant la RCP."
        )
    if former_rpps and not same:
        text += " Le précédent ne voit plus le patient dans son portail."
    return text


@login_required
@require_http_methods(["GET", "POST"])
def declared_gp(request: HttpRequest, pk: int) -> HttpResponse:
    """Change the patient's declared GP (a mistake at creation, a new médecin traitant):
    the registrar and the board's members, from the patient's file."""
    registration = clinical_registration(request, pk, action="patient.declare_gp")
    if not registration.is_active:  # (its patient is no longer this board's to change)
        messages.error(
            request,
            "Cette inscription a été retirée : le médecin traitant ne se"
            " change que depuis une inscription active.",
        )
        return redirect("rcp:registration", pk=registration.pk)
    patient = Patient.objects.get(pk=registration.patient_id)
    role = policy.role_of(request.user, registration.session.board)
    record_access(
        request, action="patient.declare_gp_view", patient_id=patient.pk, obj=patient, role=role
    )
    before = (patient.gp_rpps, patient.gp_name)  # (the form's validation sets the new ones)
    form = DeclaredGPForm(request.POST or None, instance=patient)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        name, rpps = data["gp_name"] or "", data["gp_rpps"]
        if (rpps or None, name) == (before[0] or None, before[1]):
            messages.info(request, "Médecin traitant inchangé.")
        else:
            patient_actions.declare_gp(
                by=request.user,
                patient=patient,
                gp_name=name,
                gp_rpps=rpps,
                role=role,
            )
            messages.success(request, _gp_change_text(name, rpps, before[0], before[0] == rpps))
        return redirect("rcp:registration", pk=registration.pk)
    return render(
        request,
        "rcp/declared_gp.html",
        {"registration": registration, "patient": registration.patient, "form": form},
    )


@login_required
@require_POST
def document_upload(request: HttpRequest, pk: int) -> HttpResponse:
    registration = clinical_registration(request, pk, action="document.upload")
    form = DocumentForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            actions.attach_document(
                by=request.user,
                registration=registration,
                title=form.cleaned_data["title"],
                original_name=upload.name or "document",
                content=upload.read(),
            )
        except ActionRefused as exc:
            form.add_error("file", refusal_text(exc))
        else:
            messages.success(request, "Document ajouté.")
            return redirect("rcp:registration", pk=registration.pk)
    # The page again, the errors at their fields and the title kept (a redirect lost
    # both, and the message did not say which field).
    return _registration_page(request, registration, document_form=form)


@login_required
@require_GET
def document_download(request: HttpRequest, pk: int) -> FileResponse:
    """Serve a document to anyone who may see its registration (policy), GPs included."""
    document = (
        Document.objects.select_related("registration__session__board")
        .filter(pk=pk, registration__in=policy.visible_registrations(request.user))
        .first()
    )
    if document is None:
        patient_id = (
            Document.objects.filter(pk=pk)
            .values_list("registration__patient_id", flat=True)
            .first()
        )
        raise deny(request, action="document.download", patient_id=patient_id)
    registration = document.registration
    # A GP who also takes part in boards reads their own patient's document as the GP.
    role = (
        policy.Role.GP
        if policy.is_gp_of(request.user, registration.patient)
        else policy.role_of(request.user, registration.session.board)
    )
    try:
        handle = uploads.path_of(document.stored_name).open("rb")
        missing = None
    except (FileNotFoundError, ValueError) as exc:
        # Authorised, but the file is gone (storage restored from an older backup, say):
        # traced too, so that the trail explains the user's 404.
        missing = exc
    record_access(
        request,
        action="document.download",
        patient_id=registration.patient_id,
        obj=document,
        role=role,
        details={"error": "file_missing"} if missing else None,
    )
    if missing:
        raise Http404("Fichier absent") from missing
    filename = f"{document.title or 'document'}.{uploads.extension_for(document.content_type)}"
    response = FileResponse(
        handle, as_attachment=True, filename=filename, content_type=document.content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def cim10_search(request: HttpRequest) -> JsonResponse:
    """CIM-10 subset search by code or label (not patient data: GET is fine)."""
    found = cim10.search(request.GET.get("q", "")[:60])
    return JsonResponse({"results": [{"code": e.code, "label": e.label} for e in found]})


_BOARD_ROLES = {policy.Role.ORGANISER, policy.Role.PARTICIPANT}


@login_required
@require_GET
def gp_search(request: HttpRequest) -> HttpResponse:
    """Directory search of a GP (a médecin) by name or RPPS (professional data, not
    patient data): for registrars, and board members (who may change a declared GP)."""
    user = request.user
    if not (policy.can_register_patients(user) or policy.roles(user) & _BOARD_ROLES):
        raise Http404("Introuvable")
    query = request.GET.get("q", "").strip()[:60]
    results: list[Professional] = []
    if len(query) >= 2:
        results = lookup.search_doctors(query)
    if request.GET.get("format") == "json":
        return JsonResponse(
            {
                "results": [
                    {
                        "rpps": p.rpps,
                        "name": f"Dr {p.display_name}",
                        "specialty": p.specialty_label,
                    }
                    for p in results
                ]
            }
        )
    return render(request, "rcp/gp_search.html", {"query": query, "results": results})
