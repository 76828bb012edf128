"""Pure RCP rules (no database): quorum and news texts."""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SURGERY = "Chirurgie"
MEDICAL_ONCOLOGY = "Oncologie médicale"
RADIOTHERAPY = "Radiothérapie"
CORE_SPECIALTIES = (SURGERY, MEDICAL_ONCOLOGY, RADIOTHERAPY)
QUORUM_MIN_SPECIALTIES = 3


@dataclass(frozen=True)
class Quorum:
    met: bool
    specialties: tuple[str, ...]
    missing_core: tuple[str, ...]

    @property
    def explanation(self) -> str:
        if self.met:
            return "Quorum atteint."
        parts = []
        if len(self.specialties) < QUORUM_MIN_SPECIALTIES:
            parts.append(
                f"{len(self.specialties)} spécialité(s) différente(s) présente(s), "
                f"il en faut au moins {QUORUM_MIN_SPECIALTIES}"
            )
        if self.missing_core:
            parts.append("spécialité(s) requise(s) absente(s) : " + ", ".join(self.missing_core))
        return "Quorum non atteint : " + " ; ".join(parts) + "."


def _normalise(specialty: str) -> str:
    """Case, accents, hyphens and spaces aside: "Radio-diagnostic" = "radiodiagnostic"."""
    decomposed = unicodedata.normalize("NFKD", specialty.casefold())
    plain = "".join(char for char in decomposed if not unicodedata.combining(char))
    return " ".join(plain.replace("-", " ").replace("'", " ").split())


# One specialty under its several names: as typed for a board's member, and as the RPPS
# directory labels it (a member's own specialty comes from there: "Oncologie option
# médicale"), so that one specialty is not counted twice nor missed as a required one.
_SAME_SPECIALTY = {
    SURGERY: ("chirurgie", "chirurgien"),
    MEDICAL_ONCOLOGY: ("oncologie medicale", "oncologie option medicale", "oncologue medical"),
    RADIOTHERAPY: (
        "radiotherapie",
        "oncologie option radiotherapie",
        "oncologie radiotherapie",
        "oncologie radiotherapique",
        "radiotherapie oncologique",
        "radiotherapeute",
    ),
    "Anatomopathologie": (
        "anatomopathologie",
        "anatomie et cytologie pathologiques",
        "anatomie pathologique",
        "anatomo pathologie",
        "anatomopathologiste",
        "pathologiste",
    ),
    "Radiologie": (
        "radiologie",
        "radio diagnostic",
        "radiodiagnostic",
        "radiodiagnostic et imagerie medicale",
        "radiologie et imagerie medicale",
        "radiologue",
    ),
}
_NAMES = {name: label for label, names in _SAME_SPECIALTY.items() for name in names}


def _counted(specialty: str) -> tuple[str, str]:
    """(the key the quorum counts, the label it shows)."""
    key = _normalise(specialty)
    label = _NAMES.get(key)
    return (_normalise(label), label) if label else (key, " ".join(specialty.split()))


def _is_surgery(key: str) -> bool:
    """A surgical specialty: "Chirurgie", "Chirurgien", "Chirurgie viscérale et
    digestive"…, not a dentist's ("Chirurgien-dentiste", "Chirurgie dentaire")."""
    if key in ("chirurgie", "chirurgien"):
        return True
    return key.startswith("chirurgie ") and not key.startswith("chirurgie dentaire")


def quorum(specialties: Iterable[str], *, requires_core: bool = False) -> Quorum:
    """At least three physicians of different specialties (INCa RCP référentiel);
    a board may also require surgeon, medical oncologist and radiotherapist. Any surgical
    specialty ("Chirurgie générale", "Chirurgie thoracique") is a surgeon's."""
    distinct: dict[str, str] = {}
    for specialty in specialties:
        if specialty and specialty.strip():
            key, label = _counted(specialty)
            distinct.setdefault(key, label)
    present = {
        core
        for core in CORE_SPECIALTIES
        if (any(map(_is_surgery, distinct)) if core == SURGERY else _counted(core)[0] in distinct)
    }
    missing = tuple(core for core in CORE_SPECIALTIES if requires_core and core not in present)
    met = len(distinct) >= QUORUM_MIN_SPECIALTIES and not missing
    return Quorum(met=met, specialties=tuple(sorted(distinct.values())), missing_core=missing)


def upcoming_text(board_title: str, session_date: dt.date) -> str:
    return f"A venir : présentation en {board_title} le {session_date:%d/%m/%Y}"


def presented_text(board_title: str, session_date: dt.date) -> str:
    return f"Présenté en {board_title} le {session_date:%d/%m/%Y}"


def cancelled_text(board_title: str, session_date: dt.date) -> str:
    return f"Séance annulée : présentation en {board_title} le {session_date:%d/%m/%Y}"


def compte_rendu_text(board_title: str, version: int) -> str:
    suffix = f" (version {version})" if version > 1 else ""
    return f"Compte-rendu de la RCP {board_title} validé{suffix}"


def pps_text(diagnosis_label: str, doctor_name: str, establishment_name: str) -> str:
    return f"{diagnosis_label} Nouveau PPS généré par {doctor_name} ({establishment_name})".strip()


def same_value(a: Any, b: Any) -> bool:
    """Two pre-fiche values compare equal: empty is empty (None or ""), and a text's line
    ends do not count (browsers send CRLF, other writers may have stored LF)."""
    a, b = ("" if a is None else a), ("" if b is None else b)
    if isinstance(a, str) and isinstance(b, str):
        return a.replace("\r\n", "\n") == b.replace("\r\n", "\n")
    return bool(a == b)


def webconference_closed(
    *,
    session_cancelled: bool,
    moved: bool,
    withdrawn: bool,
    decided: bool,
    session_date: dt.date,
    today: dt.date,
) -> str:
    """Why a notified GP is no longer offered the webconference of a file (French), or ""
    while the meeting still to come will discuss it. Not the session marked "tenue": it
    may be so from its start, while the files are still discussed; the file's validated
    decision ends its discussion, and the meeting's day its meeting."""
    if session_cancelled:
        return "La séance est annulée : l'accès à la webconférence n'est plus valable."
    if moved:
        return (
            "Le dossier a été déplacé vers une autre séance : l'accès à la webconférence "
            "figure sur la pré-fiche à jour."
        )
    if withdrawn:
        return "Cette inscription a été retirée : l'accès à la webconférence n'est plus valable."
    if decided:
        return "La RCP a rendu son avis : l'accès à la webconférence n'est plus proposé."
    if today > session_date:
        return (
            f"La réunion a eu lieu le {session_date:%d/%m/%Y} : l'accès à la webconférence "
            "n'est plus proposé."
        )
    return ""
