"""Patient actions: create a patient, declare their GP."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from concerto.audit import trail
from concerto.lib.identifiers import identity_trait
from concerto.patients.models import Patient


@transaction.atomic
def create_patient(
    *,
    by: Any,
    birth_name: str,
    first_names: str,
    sex: str,
    birth_date: dt.date,
    birth_place_code: str,
    used_name: str = "",
    used_first_name: str = "",
    ins_number: str | None = None,
    ins_oid: str = "",
    identity_status: str = Patient.IdentityStatus.PROVISIONAL,
    gp_name: str = "",
    gp_rpps: str | None = None,
    role: str = "",
) -> Patient:
    """``role``: the one in which ``by`` acts, for the trail."""
    patient = Patient(
        birth_name=identity_trait(birth_name),
        first_names=identity_trait(first_names),
        used_name=identity_trait(used_name),
        used_first_name=identity_trait(used_first_name),
        sex=sex,
        birth_date=birth_date,
        birth_place_code=birth_place_code,
        ins_number=ins_number or None,
        ins_oid=ins_oid,
        identity_status=identity_status,
        gp_name=gp_name,
        gp_rpps=gp_rpps or None,
    )
    patient.full_clean()
    patient.save()
    trail.record(by=by, action="patient.create", obj=patient, patient_id=patient.pk, role=role)
    return patient


@transaction.atomic
def declare_gp(
    *, by: Any, patient: Patient, gp_name: str, gp_rpps: str | None, role: str = ""
) -> Patient:
    """Declare (or change) the patient's médecin traitant, by RPPS. ``role``: the one in
    which ``by`` acts, for the trail."""
    before = patient.gp_rpps
    patient.gp_name = gp_name
    patient.gp_rpps = gp_rpps or None
    patient.full_clean()
    patient.save(update_fields=["gp_name", "gp_rpps"])
    trail.record(
        by=by,
        action="patient.declare_gp",
        obj=patient,
        patient_id=patient.pk,
        role=role,
        details={"previous_gp_rpps": before, "gp_rpps": patient.gp_rpps},
    )
    return patient
