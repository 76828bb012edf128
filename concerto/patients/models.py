"""Patients, with the identity traits of the INS rules (référentiel national
d'identitovigilance) and their declared GP (médecin traitant), by RPPS."""

from __future__ import annotations

import datetime as dt

from django.db import models

from concerto.lib.identifiers import INS_OIDS
from concerto.lib.validators import validate_ins, validate_rpps


class Patient(models.Model):
    class Sex(models.TextChoices):
        MALE = "M", "Homme"
        FEMALE = "F", "Femme"
        UNKNOWN = "I", "Indéterminé"

    class IdentityStatus(models.TextChoices):
        PROVISIONAL = "PROV", "Identité provisoire"
        RETRIEVED = "RECUP", "Identité récupérée"
        VALIDATED = "VALI", "Identité validée"
        QUALIFIED = "QUAL", "Identité qualifiée"

    birth_name = models.CharField("nom de naissance", max_length=100)
    used_name = models.CharField("nom utilisé", max_length=100, blank=True)
    first_names = models.CharField(
        "prénom(s) de naissance",
        max_length=200,
        help_text="Liste complète, séparée par des espaces.",
    )
    used_first_name = models.CharField("prénom utilisé", max_length=100, blank=True)
    sex = models.CharField("sexe", max_length=1, choices=Sex.choices)
    birth_date = models.DateField("date de naissance")
    birth_place_code = models.CharField(
        "code INSEE du lieu de naissance",
        max_length=5,
        help_text="Code commune INSEE, ou 99xxx pour une naissance à l'étranger.",
    )
    ins_number = models.CharField(
        "matricule INS",
        max_length=15,
        blank=True,
        null=True,
        unique=True,
        validators=[validate_ins],
    )
    ins_oid = models.CharField(
        "OID de l'INS",
        max_length=30,
        blank=True,
        choices=[(oid, label) for oid, label in INS_OIDS.items()],
    )
    identity_status = models.CharField(
        "statut de l'identité",
        max_length=5,
        choices=IdentityStatus.choices,
        default=IdentityStatus.PROVISIONAL,
    )
    gp_name = models.CharField("médecin traitant déclaré", max_length=200, blank=True)
    gp_rpps = models.CharField(
        "RPPS du médecin traitant",
        max_length=11,
        blank=True,
        null=True,
        db_index=True,
        validators=[validate_rpps],
    )
    created_at = models.DateTimeField("créé le", auto_now_add=True)

    class Meta:
        verbose_name = "patient"
        verbose_name_plural = "patients"
        ordering = ["birth_name", "first_names"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(gp_rpps__isnull=True) | models.Q(gp_rpps__regex=r"^[0-9]{11}$"),
                name="patient_gp_rpps_11_digits",
            ),
            models.CheckConstraint(
                condition=models.Q(birth_place_code__regex=r"^[0-9][0-9AB][0-9]{3}$"),
                name="patient_birth_place_insee",
            ),
            models.CheckConstraint(
                condition=models.Q(ins_number__isnull=True)
                | models.Q(ins_number__regex=r"^[12][0-9]{4}([0-9]{2}|2A|2B)[0-9]{8}$"),
                name="patient_ins_format",
            ),
            models.CheckConstraint(
                condition=models.Q(ins_number__isnull=True) | ~models.Q(ins_oid=""),
                name="patient_ins_has_oid",
            ),
        ]

    def __str__(self) -> str:
        return self.identity_label

    @property
    def display_name(self) -> str:
        return display_name(self.birth_name, self.used_name, self.first_names, self.used_first_name)

    @property
    def identity_label(self) -> str:
        """As in K-Process' news feed: "Homme DCC DENIS (14/09/1944)"."""
        return identity_label(
            self.sex,
            self.birth_name,
            self.used_name,
            self.first_names,
            self.used_first_name,
            self.birth_date,
        )

    @property
    def ins_usable(self) -> bool:
        """The INS may be used and sent only when the identity is qualified."""
        return bool(self.ins_number) and self.identity_status == self.IdentityStatus.QUALIFIED


# The labels as plain functions of the traits, for lists built from ``values_list`` rows
# (the GP portal's patient filter) without a model instance per patient.
IDENTITY_FIELDS = (
    "sex",
    "birth_name",
    "used_name",
    "first_names",
    "used_first_name",
    "birth_date",
)
_SEX_LABELS = {str(value): str(label) for value, label in Patient.Sex.choices}


def display_name(birth_name: str, used_name: str, first_names: str, used_first_name: str) -> str:
    name = (used_name or birth_name).upper()
    first = (used_first_name or first_names.split(" ")[0]).upper()
    return f"{name} {first}".strip()


def identity_label(
    sex: str,
    birth_name: str,
    used_name: str,
    first_names: str,
    used_first_name: str,
    birth_date: dt.date,
) -> str:
    """``Patient.identity_label`` from the values of :data:`IDENTITY_FIELDS`, in order:
    the birth name and first birth first name always (the traits a search uses,
    identity-vigilance), the used ones after them when they differ:
    "Femme DUPONT MARIE — nom utilisé MARTIN, prénom utilisé MIMI (14/09/1944)"."""
    birth = birth_name.upper()
    first = first_names.split(" ")[0].upper()
    used = []
    if used_name and used_name.upper() != birth:
        used.append(f"nom utilisé {used_name.upper()}")
    if used_first_name and used_first_name.upper() != first:
        used.append(f"prénom utilisé {used_first_name.upper()}")
    also = f" — {', '.join(used)}" if used else ""
    return f"{_SEX_LABELS.get(sex, sex)} {birth} {first}{also} ({birth_date:%d/%m/%Y})"
