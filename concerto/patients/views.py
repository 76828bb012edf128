"""Find or create the patient before registering them (médecin inscripteur).

The identity search is a POST form: patient traits never appear in a URL. Patients
found by the search become reachable by this user for the registration step (kept in
the server-side session), and each one shown is written to the access trail.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from concerto.accounts import policy
from concerto.audit.access import record_access, record_accesses
from concerto.audit.models import AuditEvent
from concerto.patients import actions
from concerto.patients.forms import PatientForm, PatientSearchForm
from concerto.patients.models import Patient

SESSION_KEY = "concerto_patient_hits"


def remember(request: HttpRequest, patient_ids: list[int]) -> None:
    hits = set(request.session.get(SESSION_KEY, []))
    hits.update(patient_ids)
    request.session[SESSION_KEY] = sorted(hits)[-200:]


def reachable_patient(request: HttpRequest, pk: int) -> Patient:
    """A patient the registrar may register: visible by policy, or found by their search.
    A refusal is traced, naming the patient asked for when there is one."""
    patient = None
    if policy.can_register_patients(request.user):
        patient = policy.visible_patients(request.user).filter(pk=pk).first()
        if patient is None and pk in request.session.get(SESSION_KEY, []):
            patient = Patient.objects.filter(pk=pk).first()
    if patient is None:
        exists = Patient.objects.filter(pk=pk).exists()
        record_access(
            request,
            action="patient.view",
            patient_id=pk if exists else None,
            outcome=AuditEvent.Outcome.DENIED,
        )
        raise Http404("Introuvable")
    return patient


@login_required
@require_http_methods(["GET", "POST"])
def search(request: HttpRequest) -> HttpResponse:
    if not policy.can_register_patients(request.user):
        raise Http404("Introuvable")
    form = PatientSearchForm(request.POST or None)
    results = None
    if request.method == "POST" and form.is_valid():
        results = list(form.results())
        remember(request, [p.pk for p in results])
        for patient in results:
            record_access(
                request,
                action="patient.search_hit",
                patient_id=patient.pk,
                obj=patient,
                role=policy.Role.REGISTRAR,
            )
    return render(request, "patients/search.html", {"form": form, "results": results})


@login_required
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest) -> HttpResponse:
    if not policy.can_register_patients(request.user):
        raise Http404("Introuvable")
    form = PatientForm(request.POST or None)
    valid = request.method == "POST" and form.is_valid()
    if form.same_traits:  # "existe déjà" tells of these patients, as a search hit would
        record_accesses(
            request,
            action="patient.duplicate_hit",
            patient_ids=form.same_traits,
            role=policy.Role.REGISTRAR,
        )
    if valid:
        try:
            patient = actions.create_patient(
                by=request.user,
                role=policy.Role.REGISTRAR,
                homonyms=form.homonyms,
                **form.action_kwargs(),
            )
        except actions.PossibleDuplicate as exc:  # saved meanwhile (a double click)
            form.warn_duplicates(exc.patient_ids, named=[*form.homonyms, *exc.patient_ids])
            record_accesses(
                request,
                action="patient.duplicate_hit",
                patient_ids=exc.patient_ids,
                role=policy.Role.REGISTRAR,
            )
        except IntegrityError:  # the same INS saved meanwhile (two clicks, two registrars)
            form.add_error(
                "ins_number",
                "Un patient avec ce matricule INS vient d'être enregistré : recherchez-le.",
            )
        else:
            remember(request, [patient.pk])
            messages.success(request, f"Patient {patient.display_name} créé.")
            return redirect("rcp:register", patient_pk=patient.pk)
    return render(request, "patients/create.html", {"form": form})
