"""Django field validators built on :mod:`concerto.lib.identifiers`."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from concerto.lib import identifiers


def validate_rpps(value: str) -> None:
    if not identifiers.RPPS_RE.match(value or ""):
        raise ValidationError("Le numéro RPPS doit compter exactement 11 chiffres.", code="rpps")
    if not identifiers.is_valid_rpps(value):
        raise ValidationError(
            "Le numéro RPPS %(value)s est invalide (clé de contrôle).",
            code="rpps_luhn",
            params={"value": value},
        )


def validate_ins(value: str) -> None:
    if not identifiers.is_valid_ins(value or ""):
        raise ValidationError(
            "Le matricule INS doit compter 15 caractères (13 + clé) et sa clé doit être juste.",
            code="ins",
        )


def validate_cim10(value: str) -> None:
    if not identifiers.is_valid_cim10(value or ""):
        raise ValidationError(
            "Code CIM-10 invalide (forme attendue : lettre, deux chiffres, puis « . » et "
            "un ou deux caractères, par exemple C04.0).",
            code="cim10",
        )
