"""Patient actions: create a patient, declare their GP."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import connection, transaction

from concerto.audit import trail
from concerto.lib.errors import ActionRefused
from concerto.lib.identifiers import identity_trait
from concerto.patients.models import Patient


class PossibleDuplicate(ActionRefused):
    """A patient with the same identity traits exists: a homonym must be confirmed."""

    def __init__(self, patient_ids: list[int]) -> None:
        super().__init__(
            "Un patient de même nom de naissance, premier prénom et date de naissance"
            " existe déjà : recherchez-le plutôt que d'en créer un second. S'il s'agit"
            " bien d'un autre patient, cochez la confirmation ci-dessous."
        )
        self.patient_ids = patient_ids


def same_identity(birth_name: str, first_names: str, birth_date: dt.date) -> list[int]:
    """Patients with the same birth name, first birth first name and birth date (an
    identity typed twice: one patient would then have two files)."""
    name, first = identity_trait(birth_name), identity_trait(first_names).split(" ")[0]
    # (rows saved before names were stored as traits keep their accents: compared
    # without them, in Python, among the few born that day)
    born = Patient.objects.filter(birth_date=birth_date).only("pk", "birth_name", "first_names")
    return [
        p.pk
        for p in born[:500]
        if identity_trait(p.birth_name) == name
        and identity_trait(p.first_names).split(" ")[0] == first
    ]


# The advisory lock's first key: patient creations (the second is the birth date).
_PATIENT_LOCK = 0x50415449  # "PATI"


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
    homonyms: Iterable[int] = (),
) -> Patient:
    """``role``: the one in which ``by`` acts, for the trail. An identity already saved
    (:func:`same_identity`) is refused (:class:`PossibleDuplicate`) unless the user
    confirmed those patients are others (``homonyms``: the ones they were shown):
    checked here, in the transaction, one creation per birth date at a time, so that a
    double click cannot make two files of one person, confirmed homonym or not."""
    if connection.vendor == "postgresql":  # (SQLite: writers are serialised already)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [_PATIENT_LOCK, birth_date.toordinal()]
            )
    confirmed = set(homonyms)
    same = [pk for pk in same_identity(birth_name, first_names, birth_date) if pk not in confirmed]
    if same:
        raise PossibleDuplicate(same[:20])
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
    which ``by`` acts, for the trail. The row is read again, locked: the previous GP
    traced is the one this change replaces, even when two changes cross."""
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
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
