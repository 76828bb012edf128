"""Patient forms: the identity search (POST only: traits never go in a URL) and the
creation form with the INS traits, identity status and declared GP."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django import forms
from django.db.models import Q
from django.utils import timezone

from concerto.directory.models import Professional
from concerto.lib.identifiers import identity_trait, ins_trait_mismatches, is_valid_rpps
from concerto.patients.actions import PossibleDuplicate, same_identity
from concerto.patients.models import Patient

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
# A date of birth before this one is a typing error (the oldest living people were born
# in the 1900s).
EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)


class PatientSearchForm(forms.Form):
    birth_name = forms.CharField(label="Nom de naissance", max_length=100, required=False)
    birth_date = forms.DateField(label="Date de naissance", widget=DATE_WIDGET, required=False)
    first_name = forms.CharField(
        label="Premier prénom (facultatif)", max_length=100, required=False
    )
    ins_number = forms.CharField(
        label="ou matricule INS (15 caractères)", max_length=15, required=False
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("ins_number") and not (data.get("birth_name") and data.get("birth_date")):
            raise forms.ValidationError(
                "Indiquez le nom de naissance et la date de naissance, ou le matricule INS."
            )
        return data

    def results(self) -> Any:
        data = self.cleaned_data
        if data.get("ins_number"):
            return Patient.objects.filter(ins_number=data["ins_number"].strip().upper())
        # Names are stored as traits (capitals, no diacritics); rows saved before that
        # are found as typed.
        name = data["birth_name"].strip()
        found = Patient.objects.filter(
            Q(birth_name=identity_trait(name)) | Q(birth_name__iexact=name),
            birth_date=data["birth_date"],
        )
        if data.get("first_name"):
            first = data["first_name"].strip()
            found = found.filter(
                Q(first_names__startswith=identity_trait(first)) | Q(first_names__istartswith=first)
            )
        return found.order_by("birth_name", "first_names")[:20]


def _clean_gp_rpps(form: forms.ModelForm) -> str | None:  # type: ignore[type-arg]
    value = (form.cleaned_data.get("gp_rpps") or "").strip()
    return value or None


def _clean_gp(form: forms.ModelForm, data: dict[str, Any]) -> None:  # type: ignore[type-arg]
    """The declared GP: by RPPS, named from the directory (whatever name was typed: a
    name that is not the RPPS's would show one doctor and notify another); a name alone
    is accepted (a GP without an RPPS known here), an unknown RPPS only with a name."""
    rpps = data.get("gp_rpps")
    if rpps and is_valid_rpps(rpps):  # (an invalid one is told once, by its field)
        professional = Professional.objects.filter(rpps=rpps).first()
        if professional is not None:
            data["gp_name"] = f"Dr {professional.display_name}"
        elif not data.get("gp_name"):
            form.add_error(
                "gp_name",
                "Ce RPPS n'est pas dans l'annuaire : indiquez le nom du médecin traitant.",
            )


def _ids(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip().isdigit()]


class PatientForm(forms.ModelForm):
    not_a_duplicate = forms.BooleanField(
        label="Je confirme qu'il s'agit d'un autre patient (homonyme)", required=False
    )
    # The patients the warning named (ids, in the form's body, never in a URL).
    shown = forms.CharField(required=False, widget=forms.HiddenInput)

    class Meta:
        model = Patient
        fields = [
            "birth_name",
            "first_names",
            "used_name",
            "used_first_name",
            "sex",
            "birth_date",
            "birth_place_code",
            "ins_number",
            "ins_oid",
            "identity_status",
            "gp_rpps",
            "gp_name",
        ]
        widgets = {"birth_date": DATE_WIDGET}
        help_texts = {
            "gp_rpps": "Cherchez le médecin traitant dans l'annuaire ci-dessous (nom ou RPPS).",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (Django's blank choice is "---------": said in words.)
        sex: Any = self.fields["sex"]
        sex.choices = [("", "Choisir"), *Patient.Sex.choices]
        oid: Any = self.fields["ins_oid"]
        oid.choices = [("", "Non renseigné"), *[c for c in oid.choices if c[0]]]

    def clean_ins_number(self) -> str | None:
        value = (self.cleaned_data.get("ins_number") or "").strip().upper()
        return value or None

    def _trait(self, name: str) -> str:
        """A name as it will be stored (identity_trait), checked as stored: "Œ" makes two
        letters, a lone accent none."""
        value = identity_trait(self.cleaned_data.get(name) or "")
        limit = getattr(Patient._meta.get_field(name), "max_length", None) or 0
        if len(value) > limit:
            raise forms.ValidationError(f"{limit} caractères au plus (sans accents, Œ → OE).")
        if self.fields[name].required and not value:
            raise forms.ValidationError("Ce champ est obligatoire.")
        return value

    def clean_birth_name(self) -> str:
        return self._trait("birth_name")

    def clean_first_names(self) -> str:
        return self._trait("first_names")

    def clean_used_name(self) -> str:
        return self._trait("used_name")

    def clean_used_first_name(self) -> str:
        return self._trait("used_first_name")

    def clean_birth_date(self) -> dt.date:
        value: dt.date = self.cleaned_data["birth_date"]
        if value > timezone.localdate():
            raise forms.ValidationError("La date de naissance est dans le futur.")
        if value < EARLIEST_BIRTH_DATE:
            raise forms.ValidationError(
                f"La date de naissance précède le {EARLIEST_BIRTH_DATE:%d/%m/%Y} : vérifiez-la."
            )
        return value

    def clean_birth_place_code(self) -> str:
        value = str(self.cleaned_data.get("birth_place_code") or "").strip().upper()  # 2a → 2A
        if not re.fullmatch(r"[0-9][0-9AB][0-9]{3}", value):  # (the table's constraint)
            raise forms.ValidationError(
                "Code INSEE de la commune de naissance : 5 caractères (ex. 86194, 2A004),"
                " ou 99 suivi du code du pays pour une naissance à l'étranger."
            )
        return value

    clean_gp_rpps = _clean_gp_rpps

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        status = data.get("identity_status")
        has_ins = bool(data.get("ins_number"))
        if (
            status in {Patient.IdentityStatus.RETRIEVED, Patient.IdentityStatus.QUALIFIED}
            and not has_ins
        ):
            self.add_error(
                "ins_number",
                "Une identité récupérée ou qualifiée a un matricule INS (téléservice INSi).",
            )
        same = self._same_traits(data)[:20]
        # The confirmation covers the patients the warning named (its page carries their
        # ids), not one saved since: the confirmed form sent twice would make two files.
        confirmed = set(_ids(data.get("shown", ""))) if data.get("not_a_duplicate") else set()
        self.homonyms = [pk for pk in same if pk in confirmed]
        self.same_traits = [pk for pk in same if pk not in confirmed]
        if self.same_traits:
            self.warn_duplicates(self.same_traits, named=same)
        if has_ins and not data.get("ins_oid"):
            self.add_error("ins_oid", "Précisez l'OID du matricule INS.")
        if has_ins:
            mismatches = ins_trait_mismatches(
                data["ins_number"], sex=data.get("sex", ""), birth_date=data.get("birth_date")
            )
            if mismatches:
                self.add_error(
                    "ins_number",
                    "Ce matricule INS ne correspond pas à l'identité saisie ("
                    + " ; ".join(mismatches)
                    + ") : vérifiez qu'il est bien celui de ce patient.",
                )
        _clean_gp(self, data)
        return data

    def warn_duplicates(self, unconfirmed: list[int], *, named: list[int]) -> None:
        """Say that a patient of this identity exists (``unconfirmed``: not confirmed as
        another), and let the page shown again carry the ids of all those ``named``, for
        the confirmation to cover them."""
        self.add_error(None, " ".join(PossibleDuplicate(unconfirmed).messages))
        shown = self.data.copy()  # type: ignore[attr-defined]  # (a QueryDict)
        shown[self.add_prefix("shown")] = ",".join(map(str, named))
        self.data = shown
        self.show_confirmation = True

    show_confirmation = False
    same_traits: list[int] = []  # the patients it may duplicate (their existence is told)
    homonyms: list[int] = []  # the same identity, confirmed as other patients

    @staticmethod
    def _same_traits(data: dict[str, Any]) -> list[int]:
        if not (data.get("birth_name") and data.get("first_names") and data.get("birth_date")):
            return []
        return same_identity(data["birth_name"], data["first_names"], data["birth_date"])

    def action_kwargs(self) -> dict[str, Any]:
        return {name: self.cleaned_data[name] for name in self.Meta.fields}


class DeclaredGPForm(forms.ModelForm):
    """Change the patient's declared GP (médecin traitant): who sees the patient in the
    GP portal and is notified before their boards."""

    class Meta:
        model = Patient
        fields = ["gp_rpps", "gp_name"]
        help_texts = PatientForm.Meta.help_texts

    clean_gp_rpps = _clean_gp_rpps

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        _clean_gp(self, data)
        return data
