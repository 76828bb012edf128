"""Search form of the access trail (administrators)."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from concerto.lib.identifiers import INS_RE

# An internal patient id (an INS, 15 characters, is told apart by INS_RE first).
PATIENT_ID = re.compile(r"[0-9]{1,12}")


class AuditSearchForm(forms.Form):
    patient = forms.CharField(
        label="Patient (n° interne ou matricule INS)",
        required=False,
        max_length=15,
        help_text="Le numéro interne du patient, ou son matricule INS (15 caractères).",
    )
    user = forms.CharField(
        label="Utilisateur (identifiant de connexion, ou nom complet tel qu'enregistré)",
        required=False,
        max_length=150,
    )
    start = forms.DateField(
        label="Du (jj/mm/aaaa)", required=False, input_formats=["%d/%m/%Y", "%Y-%m-%d"]
    )
    end = forms.DateField(
        label="Au (jj/mm/aaaa)", required=False, input_formats=["%d/%m/%Y", "%Y-%m-%d"]
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("patient") and not data.get("user"):
            raise forms.ValidationError("Indiquez un patient ou un utilisateur.")
        patient = (data.get("patient") or "").strip().upper()
        if patient and not (PATIENT_ID.fullmatch(patient) or INS_RE.match(patient)):
            self.add_error("patient", "Numéro interne (chiffres) ou matricule INS attendu.")
        data["patient"] = patient
        return data
