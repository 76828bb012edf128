"""Small extraction files written line by line for the directory tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from concerto.directory.sample import ACTIVITY_HEADER, MSSANTE_HEADER, fictional_rpps

RPPS = [fictional_rpps(n) for n in range(1, 30)]
BAD_LUHN = RPPS[0][:-1] + str((int(RPPS[0][-1]) + 1) % 10)


def activity_row(rpps: str, **values: Any) -> dict[str, str]:
    row = {
        "Type d'identifiant PP": "8",
        "Identifiant PP": rpps,
        "Identification nationale PP": "8" + rpps,
        "Code civilité d'exercice": "DR",
        "Libellé civilité d'exercice": "Docteur",
        "Nom d'exercice": f"NOMFICTIF{rpps[-3:]}",
        "Prénom d'exercice": "Jean",
        "Code profession": "10",
        "Libellé profession": "Médecin",
        "Code type savoir-faire": "S",
        "Code savoir-faire": "SM54",
        "Libellé savoir-faire": "Médecine générale",
        "Libellé mode exercice": "Libéral",
        "Raison sociale site": f"CABINET FICTIF {rpps[-3:]}",
        "Numéro Voie (coord. structure)": "3",
        "Libellé type de voie (coord. structure)": "Rue",
        "Libellé Voie (coord. structure)": "DES EXEMPLES",
        "Code postal (coord. structure)": "86000",
        "Libellé commune (coord. structure)": "Poitiers",
    }
    row.update(values)
    return row


def mailbox_row(address: str, rpps: str = "", kind: str = "PER", **values: Any) -> dict[str, str]:
    row = {
        "Type de BAL": kind,
        "Adresse BAL": address,
        "Type Identifiant PP": "8" if rpps else "",
        "Identifiant PP": rpps,
        "Identification nationale PP": "8" + rpps if rpps else "",
        "Raison Sociale structure BAL": "CABINET FICTIF",
    }
    row.update(values)
    return row


def write(
    path: Path,
    header: list[str],
    rows: list[dict[str, str] | str],
    *,
    trailing: bool,
    encoding: str = "utf-8",
    newline: str = "\n",
) -> Path:
    """Rows are dicts by column name, or raw lines written as they are."""
    end = "|" + newline if trailing else newline
    with open(path, "w", encoding=encoding, newline="") as out:
        out.write("|".join(header) + end)
        for row in rows:
            if isinstance(row, str):
                out.write(row + newline)
            else:
                out.write("|".join(row.get(name, "") for name in header) + end)
    return path


def activity_file(
    directory: Path, rows: list[dict[str, str] | str], *, columns: int = 56, **kw: Any
) -> Path:
    header = ACTIVITY_HEADER if columns == 56 else ACTIVITY_HEADER[:52]
    kw.setdefault("trailing", True)
    name = kw.pop("name", "PS_LibreAcces_Personne_activite_202611270300.txt")
    return write(directory / name, header, rows, **kw)


def mssante_file(
    directory: Path, rows: list[dict[str, str] | str], *, header: list[str] | None = None, **kw: Any
) -> Path:
    kw.setdefault("trailing", False)
    name = kw.pop("name", "Extraction_Correspondance_MSSante_202611270300.txt")
    return write(directory / name, header or MSSANTE_HEADER, rows, **kw)
