"""The Annuaire Santé public extraction files: recognise a file by its header and find
each column we use by its name (never by position).

Two files (see INTEGRATION.md, "Annuaire Santé public extraction files"):

* ``PS_LibreAcces_Personne_activite_*.txt``: one line per professional × place of
  practice, 56 columns today, 52 in older files, every line ending with a trailing "|".
* ``Extraction_Correspondance_MSSante_*.txt``: one line per MSSanté mailbox, 31 columns,
  the trailing "|" present or not (⚠ both seen), and in one report the last eleven
  names lack their " structure BAL" suffix.

Names are compared after :func:`canonical`: accents, case, punctuation, the words
"d'", "de", "du"… and the suffixes "(coord. structure)", "structure BAL", "(structure)"
are dropped, so that small spelling drifts between releases still match.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

ACTIVITY = "activity"
MSSANTE = "mssante"

_STOP_WORDS = {"d", "de", "du", "des", "la", "le", "l", "les"}
_SUFFIXES = (" coord structure", " structure bal", " structure")


def canonical(name: str) -> str:
    """``"Libellé civilité d'exercice"`` → ``"libelle civilite exercice"``."""
    text = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).lower()
    text = re.sub(r"[^a-z0-9]+", " ", text).strip()
    for suffix in _SUFFIXES:
        if text.endswith(suffix):
            text = text[: -len(suffix)]
            break
    return " ".join(word for word in text.split() if word not in _STOP_WORDS)


# Logical field → published column name (canonicalised at import time).
ACTIVITY_COLUMNS = {
    "id_type": "Type d'identifiant PP",
    "id": "Identifiant PP",
    "national_id": "Identification nationale PP",
    "civility_code": "Code civilité d'exercice",
    "civility": "Libellé civilité d'exercice",
    "last_name": "Nom d'exercice",
    "first_name": "Prénom d'exercice",
    "profession_code": "Code profession",
    "profession_label": "Libellé profession",
    "skill_type": "Code type savoir-faire",
    "skill_code": "Code savoir-faire",
    "skill_label": "Libellé savoir-faire",
    "practice_mode": "Libellé mode exercice",
    "siret": "Numéro SIRET site",
    "finess_site": "Numéro FINESS site",
    "finess_legal": "Numéro FINESS établissement juridique",
    "structure_id": "Identifiant technique de la structure",
    "structure_name": "Raison sociale site",
    "trade_name": "Enseigne commerciale site",
    "street_number": "Numéro Voie (coord. structure)",
    "street_repeat": "Indice répétition voie (coord. structure)",
    "street_type": "Libellé type de voie (coord. structure)",
    "street_name": "Libellé Voie (coord. structure)",
    "postal_code": "Code postal (coord. structure)",
    "city": "Libellé commune (coord. structure)",
    "phone": "Téléphone (coord. structure)",
    "email": "Adresse e-mail (coord. structure)",
    "sector": "Libellé secteur d'activité",
    "role": "Libellé rôle",
}
ACTIVITY_REQUIRED = ("id_type", "id", "last_name", "profession_code")
# Columns only the activity file has: what tells it apart from any other "|" file.
ACTIVITY_SIGNATURE = ("structure_name", "practice_mode")

MSSANTE_COLUMNS = {
    "mailbox_type": "Type de BAL",
    "address": "Adresse BAL",
    "id_type": "Type Identifiant PP",
    "id": "Identifiant PP",
    "national_id": "Identification nationale PP",
    "structure_name": "Raison Sociale structure BAL",
    "trade_name": "Enseigne commerciale structure BAL",
}
MSSANTE_REQUIRED = ("mailbox_type", "address", "id_type", "id")

MAILBOX_KINDS = ("PER", "ORG", "APP", "CAB")


@dataclass(frozen=True)
class Layout:
    """What the header told us: the kind of file and where each field is."""

    kind: str  # ACTIVITY or MSSANTE
    names: tuple[str, ...]  # the header's own names, in order
    trailing_pipe: bool
    positions: dict[str, int]  # logical field → column index (absent optional fields omitted)

    @property
    def field_count(self) -> int:
        return len(self.names)

    @property
    def label(self) -> str:
        what = "activités" if self.kind == ACTIVITY else "MSSanté"
        pipe = "avec" if self.trailing_pipe else "sans"
        return f"fichier {what}, {self.field_count} colonnes, {pipe} « | » final"


class UnknownHeader(ValueError):
    """The first line is not the header of either extraction file."""


def recognise(header: str) -> Layout:
    header = header.lstrip("\ufeff").rstrip("\r\n")
    trailing = header.endswith("|")
    if trailing:
        header = header[:-1]
    names = tuple(name.strip() for name in header.split("|"))
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        index.setdefault(canonical(name), position)

    def locate(columns: dict[str, str]) -> dict[str, int]:
        found = {}
        for field, published in columns.items():
            position = index.get(canonical(published))
            if position is not None:
                found[field] = position
        return found

    activity = locate(ACTIVITY_COLUMNS)
    if all(f in activity for f in ACTIVITY_REQUIRED + ACTIVITY_SIGNATURE):
        return Layout(ACTIVITY, names, trailing, activity)
    mssante = locate(MSSANTE_COLUMNS)
    if all(f in mssante for f in MSSANTE_REQUIRED):
        return Layout(MSSANTE, names, trailing, mssante)
    shown = " | ".join(names[:4]) + (" | …" if len(names) > 4 else "")
    raise UnknownHeader(
        "en-tête non reconnu : ni le fichier des activités (PS_LibreAcces_Personne_activite) "
        f"ni celui des boîtes MSSanté (Extraction_Correspondance_MSSante). Début : {shown!r}"
    )
