"""The CIM-10 oncology subset shipped with Concerto (``data/cim10_oncologie.csv``) and
its search by code or label, for the pre-fiche form.

A small hand-picked subset of the French CIM-10 (chapter II, tumours): enough for
the demo and for most RCP files. A full CIM-10 import can replace the file later;
any well-formed code is still accepted by the pre-fiche.
"""

from __future__ import annotations

import csv
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_FILE = Path(__file__).with_name("data") / "cim10_oncologie.csv"


@dataclass(frozen=True)
class Cim10Entry:
    code: str
    label: str


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def entries() -> tuple[Cim10Entry, ...]:
    with DATA_FILE.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter=";")
        return tuple(Cim10Entry(row["code"].strip(), row["libelle"].strip()) for row in reader)


def label_for(code: str) -> str | None:
    code = code.strip().upper()
    for entry in entries():
        if entry.code == code:
            return entry.label
    return None


def search(query: str, *, limit: int = 20) -> list[Cim10Entry]:
    """Entries whose code starts with ``query`` or whose label contains every word of it
    (case and accents ignored). Codes first."""
    query = query.strip()
    if not query:
        return []
    folded = _fold(query)
    words = folded.split()
    by_code = [e for e in entries() if _fold(e.code).startswith(folded)]
    by_label = [
        e for e in entries() if e not in by_code and all(word in _fold(e.label) for word in words)
    ]
    return (by_code + by_label)[:limit]
