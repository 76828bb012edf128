"""Forms of the clinicians' and secretaries' pages. They validate input; the actions
decide and change."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.conf import settings
from django.core.validators import URLValidator

from concerto.lib import clock
from concerto.rcp import cim10, uploads
from concerto.rcp.models import Board, BoardMembership, CompteRendu, Registration, Session
from concerto.rcp.rules import same_value

DATE_WIDGET = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
TIME_WIDGET = forms.TimeInput(attrs={"type": "time"}, format="%H:%M")


def session_label(session: Session) -> str:
    return f"{session.board.title} — {session.date:%d/%m/%Y} à {session.time:%H:%M}"


class SessionChoiceField(forms.ModelChoiceField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("empty_label", "Choisir une séance")
        super().__init__(*args, **kwargs)

    def label_from_instance(self, obj: Any) -> str:
        return session_label(obj)


def open_sessions() -> Any:
    """Sessions one may still register to: planned and in the future."""
    return (
        Session.objects.filter(status=Session.Status.PLANNED, starts_at__gt=clock.now())
        .select_related("board")
        .order_by("starts_at")
    )


def grouped_by_board(sessions: Any) -> list[Any]:
    """Choices for a <select> with one <optgroup> per board (boards in title order)."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for session in sessions:
        groups.setdefault(session.board.title, []).append(
            (session.pk, f"{session.date:%d/%m/%Y} à {session.time:%H:%M}")
        )
    return [("", "Choisir une séance"), *sorted(groups.items())]


class WebconferenceForm(forms.Form):
    url = forms.URLField(
        label="Lien de webconférence",
        required=False,
        assume_scheme="https",
        validators=[URLValidator(schemes=["https"], message="Adresse https://… attendue.")],
    )
    code = forms.CharField(label="Code d'accès", required=False, max_length=40)


# Sessions are planned at most this many years ahead (a typing error such as 2062 for
# 2026 is caught, and no date arithmetic reaches the calendar's end, year 9999).
PLANNING_YEARS = 5


def _check_planning_horizon(day: dt.date) -> None:
    if day.year > clock.now().year + PLANNING_YEARS:
        raise forms.ValidationError(
            f"Une séance se planifie au plus {PLANNING_YEARS} ans à l'avance"
            f" (date saisie : {day:%d/%m/%Y})."
        )


class SessionForm(forms.Form):
    date = forms.DateField(label="Date", widget=DATE_WIDGET)
    time = forms.TimeField(label="Heure", widget=TIME_WIDGET)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date"):
            _check_planning_horizon(data["date"])
        if (
            data.get("date")
            and data.get("time")
            and Session.local_start(data["date"], data["time"]) <= clock.now()
        ):
            raise forms.ValidationError("La séance doit avoir lieu dans le futur.")
        return data


class RecurringSessionForm(forms.Form):
    start = forms.DateField(label="Du", widget=DATE_WIDGET)
    end = forms.DateField(label="Au", widget=DATE_WIDGET)
    weekday = forms.TypedChoiceField(
        label="Jour", choices=Board.Weekday.choices, coerce=int, empty_value=None
    )
    time = forms.TimeField(label="Heure", widget=TIME_WIDGET)
    every_weeks = forms.TypedChoiceField(
        label="Fréquence",
        choices=[(1, "toutes les semaines"), (2, "toutes les deux semaines")],
        coerce=int,
        initial=1,
    )
    skip_holidays = forms.BooleanField(
        label="Ne pas planifier les jours fériés du territoire", required=False, initial=True
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start and end:
            if end < start:
                raise forms.ValidationError("La date de fin précède la date de début.")
            if (end - start).days > 366:
                raise forms.ValidationError("Une récurrence couvre au plus un an.")
            _check_planning_horizon(end)
        return data


class PreficheForm(forms.ModelForm):
    class Meta:
        model = Registration
        fields = [
            "reason",
            "cim10_code",
            "cim10_label",
            "histology",
            "tnm",
            "oms_status",
            "history",
            "question",
        ]
        widgets = {
            "reason": forms.Textarea(attrs={"rows": 2}),
            "cim10_code": forms.TextInput(
                attrs={"list": "cim10-liste", "autocomplete": "off", "class": "cim10-code"}
            ),
            "cim10_label": forms.TextInput(attrs={"class": "cim10-label", "size": 60}),
            "histology": forms.Textarea(attrs={"rows": 2}),
            "history": forms.Textarea(attrs={"rows": 4}),
            "question": forms.Textarea(attrs={"rows": 2}),
        }
        help_texts = {
            "cim10_code": "Saisissez un code (C50) ou un mot du libellé (sein) pour chercher.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # (Django's blank choice is "---------": said in words.)
        oms: Any = self.fields["oms_status"]
        oms.choices = [("", "Non renseigné"), *Registration.OMS.choices]

    def clean_cim10_code(self) -> str:
        value: str = (self.cleaned_data.get("cim10_code") or "").strip().upper()
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        code = data.get("cim10_code")
        if code and not data.get("cim10_label"):
            label = cim10.label_for(code)
            if label:
                data["cim10_label"] = label
        return data

    def prefiche(self) -> dict[str, Any]:
        """The pre-fiche's values (a subclass's other fields left out)."""
        return {name: self.cleaned_data[name] for name in PreficheForm.Meta.fields}

    def track_changes(self) -> None:
        """Each field carries the value shown (a hidden input): :meth:`edits` then tells
        what this user changed from what they saw, whatever others saved meanwhile."""
        for name in PreficheForm.Meta.fields:
            self.fields[name].show_hidden_initial = True

    def shown_again(self, registration: Registration, clashes: list[str]) -> PreficheForm:
        """This form after a clash: the user's edits kept, every other field as saved now,
        the values "shown" now the saved ones (so that saving again replaces them
        knowingly), each clash explained under its field."""
        # (Read again: validating a model form writes its values onto its instance.)
        fresh = Registration.objects.get(pk=registration.pk)
        saved = {
            name: "" if getattr(fresh, name) is None else str(getattr(fresh, name))
            for name in PreficheForm.Meta.fields
        }
        data = self.data.copy()  # type: ignore[attr-defined]  # (a QueryDict)
        changed = set(self.changed_data)
        for name, value in saved.items():
            data[self[name].html_initial_name] = value
            if name not in changed:  # (not this user's edit: shown as saved now)
                data[self[name].html_name] = value
        again = PreficheForm(data, instance=fresh)
        again.track_changes()
        again.is_valid()
        for name in clashes:
            again.add_error(name, f"Enregistré entre-temps : « {saved[name]} ».")
        return again

    def edits(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(the fields this user changed with their new values, the values they saw).

        A field changes when its cleaned value differs from the value shown, whether the
        user typed it or :meth:`clean` filled it in (the CIM-10 label from its code)."""
        changes, seen = {}, {}
        for name in PreficheForm.Meta.fields:
            field = self.fields[name]
            new = self.cleaned_data[name]
            if self[name].html_initial_name not in self.data:
                # (A post without the page's hidden values: nothing to compare with.)
                if name in self.changed_data:
                    changes[name] = new
                continue
            raw = field.hidden_widget().value_from_datadict(
                self.data, self.files, self[name].html_initial_name
            )
            try:
                shown = field.clean(raw)
            except forms.ValidationError:  # (an empty required value, say)
                shown = None
            if same_value(new, shown):
                continue
            changes[name], seen[name] = new, shown
        return changes, seen


class RegistrationForm(PreficheForm):
    session = SessionChoiceField(label="Séance", queryset=Session.objects.none())

    class Meta(PreficheForm.Meta):
        fields = ["session", *PreficheForm.Meta.fields]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["session"]
        field.queryset = open_sessions()
        field.choices = grouped_by_board(field.queryset)


class MoveRegistrationForm(forms.Form):
    session = SessionChoiceField(label="Nouvelle séance", queryset=Session.objects.none())

    def __init__(self, *args: Any, registration: Registration, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field: Any = self.fields["session"]
        field.queryset = (
            open_sessions()
            .filter(board=registration.session.board_id)
            .exclude(pk=registration.session_id)
        )


class WithdrawRegistrationForm(forms.Form):
    """Retirer le patient de la séance: cannot be undone, and registering the patient
    again starts from an empty file; the box says so and points to the move instead."""

    confirm = forms.BooleanField(
        label=(
            "Je confirme le retrait. La pré-fiche, les documents et la contribution du"
            " médecin traitant restent avec cette inscription retirée : une nouvelle"
            " inscription repart de zéro. Le médecin traitant ne verra plus cette"
            " présentation « à venir » ; une notification déjà envoyée n'est pas rappelée."
            " Pour présenter le patient à une autre séance, utilisez plutôt"
            " « Déplacer vers cette séance » : tout suit le dossier."
        ),
        error_messages={
            "required": "Cochez la case pour confirmer le retrait : le patient n'a pas été"
            " retiré de la séance."
        },
    )


class DocumentForm(forms.Form):
    title = forms.CharField(label="Titre du document", max_length=200, required=False)
    file = forms.FileField(
        label="Fichier (PDF, PNG ou JPEG)",
        widget=forms.ClearableFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg"}),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        limit = settings.DOCUMENT_MAX_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"Le fichier est trop volumineux ({uploads.human_size(upload.size)}) : "
                f"la taille maximale autorisée est de {uploads.human_size(limit)}."
            )
        return upload


class AttendeeChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        specialty = obj.specialty or obj.user.specialty or "spécialité non renseignée"
        return f"{obj.user.display_name} — {specialty}"


class DecisionForm(forms.Form):
    attendees = AttendeeChoiceField(
        label="Participants présents",
        queryset=BoardMembership.objects.none(),
        widget=forms.CheckboxSelectMultiple,
    )
    case_status = forms.ChoiceField(
        label="Statut du dossier",
        choices=CompteRendu.CaseStatus.choices,
        widget=forms.RadioSelect,
        initial=CompteRendu.CaseStatus.DISCUSSED,
    )
    proposal = forms.CharField(
        label="Proposition de la RCP", widget=forms.Textarea(attrs={"rows": 6})
    )
    quorum_override_reason = forms.CharField(
        label="Motif de validation sans quorum (seulement si le quorum n'est pas atteint)",
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )
    # The latest version validated when the page was shown (0: none): a second submit
    # (double click, a colleague at the same time) then creates no silent new version.
    seen_version = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)

    def __init__(self, *args: Any, board: Board, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["attendees"].queryset = (  # type: ignore[attr-defined]
            BoardMembership.objects.filter(board=board)
            .exclude(role=BoardMembership.Role.ORGANISER, specialty="")
            .select_related("user")
            .order_by("user__last_name")
        )

    def attendee_pairs(self) -> list[tuple[Any, str]]:
        return [(m.user, m.specialty or m.user.specialty) for m in self.cleaned_data["attendees"]]


class PPSForm(forms.Form):
    doctor_name = forms.CharField(label="Médecin (NOM Prénom)", max_length=200)
    establishment_name = forms.CharField(label="Établissement", max_length=200)
    content = forms.CharField(
        label="Programme personnalisé de soins", widget=forms.Textarea(attrs={"rows": 8})
    )
    # How many PPS the compte-rendu had when the page was shown (see DecisionForm).
    seen_pps = forms.IntegerField(widget=forms.HiddenInput, required=False, min_value=0)


class StatisticsForm(forms.Form):
    board = forms.ModelChoiceField(
        label="RCP", queryset=Board.objects.none(), empty_label="Choisir une RCP"
    )
    start = forms.DateField(label="Du", widget=DATE_WIDGET)
    end = forms.DateField(label="Au", widget=DATE_WIDGET)

    def __init__(self, *args: Any, boards: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["board"].queryset = boards  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError("La date de fin précède la date de début.")
        return data


def default_period(today: dt.date) -> tuple[dt.date, dt.date]:
    return dt.date(today.year, 1, 1), dt.date(today.year, 12, 31)
