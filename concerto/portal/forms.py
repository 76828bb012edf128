"""Forms of the GP's portal."""

from __future__ import annotations

from django import forms

from concerto.rcp.models import GPContribution

COMMENT_MAX_LENGTH = GPContribution._meta.get_field("comment").max_length or 4000
_LIMIT = f"{COMMENT_MAX_LENGTH:,}".replace(",", "\u202f")  # "4 000" (narrow no-break space)


class ContributionForm(forms.Form):
    """Contribution du médecin traitant: plain text (shown escaped) and the wish to join."""

    comment = forms.CharField(
        label="Votre commentaire",
        required=False,
        max_length=COMMENT_MAX_LENGTH,
        help_text=(
            f"Texte libre, {_LIMIT} caractères au plus. Il sera accessible aux "
            "participants à la RCP et conservé au sein du compte-rendu."
        ),
        widget=forms.Textarea(attrs={"rows": 6, "cols": 60}),
    )
    wants_to_join = forms.BooleanField(
        label="Je suis intéressé à la participation à la RCP", required=False
    )
