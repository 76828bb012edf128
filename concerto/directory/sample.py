"""Synthetic Annuaire Santé extraction files (``concerto make-directory-sample``).

Real files cannot be downloaded here. These follow the published layout exactly —
header names, "|" separators, the activity file's trailing "|" on every line — with
obviously fictional people (names ending in FICTIF, EXEMPLE, …) and Luhn-valid RPPS in
the 17… range, plus the irregularities the real files have: ADELI lines, accented
names, empty optional fields, doubled spaces, ORG mailboxes without a professional,
a few addresses listed twice.

``churn`` derives a "newer" file from the same seed: a share of the professionals is
removed, renamed or added, so that a refresh has additions, changes and removals.
Streamed line by line: memory does not grow with the number of professionals.
"""

from __future__ import annotations

import random
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stdnum import luhn

ACTIVITY_HEADER = [
    "Type d'identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Code civilité d'exercice",
    "Libellé civilité d'exercice",
    "Code civilité",
    "Libellé civilité",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Code profession",
    "Libellé profession",
    "Code catégorie professionnelle",
    "Libellé catégorie professionnelle",
    "Code type savoir-faire",
    "Libellé type savoir-faire",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Code mode exercice",
    "Libellé mode exercice",
    "Numéro SIRET site",
    "Numéro SIREN site",
    "Numéro FINESS site",
    "Numéro FINESS établissement juridique",
    "Identifiant technique de la structure",
    "Raison sociale site",
    "Enseigne commerciale site",
    "Complément destinataire (coord. structure)",
    "Complément point géographique (coord. structure)",
    "Numéro Voie (coord. structure)",
    "Indice répétition voie (coord. structure)",
    "Code type de voie (coord. structure)",
    "Libellé type de voie (coord. structure)",
    "Libellé Voie (coord. structure)",
    "Mention distribution (coord. structure)",
    "Bureau cedex (coord. structure)",
    "Code postal (coord. structure)",
    "Code commune (coord. structure)",
    "Libellé commune (coord. structure)",
    "Code pays (coord. structure)",
    "Libellé pays (coord. structure)",
    "Téléphone (coord. structure)",
    "Téléphone 2 (coord. structure)",
    "Télécopie (coord. structure)",
    "Adresse e-mail (coord. structure)",
    "Code Département (structure)",
    "Libellé Département (structure)",
    "Ancien identifiant de la structure",
    "Autorité d'enregistrement",
    "Code secteur d'activité",
    "Libellé secteur d'activité",
    "Code section tableau pharmaciens",
    "Libellé section tableau pharmaciens",
    "Code rôle",
    "Libellé rôle",
    "Code genre activité",
    "Libellé genre activité",
]
# ⚠ Which four columns the older 52-column files lack is not documented; the importer
# matches by name, so the sample simply drops the last four.
ACTIVITY_HEADER_52 = ACTIVITY_HEADER[:52]

MSSANTE_HEADER = [
    "Type de BAL",
    "Adresse BAL",
    "Type Identifiant PP",
    "Identifiant PP",
    "Identification nationale PP",
    "Type identifiant structure",
    "Identification Structure",
    "Service de rattachement",
    "Civilité d'exercice",
    "Nom d'exercice",
    "Prénom d'exercice",
    "Catégorie profession",
    "Libellé de catégorie profession",
    "Code Profession",
    "Libellé Profession",
    "Code savoir-faire",
    "Libellé savoir-faire",
    "Dématérialisation",
    "Raison Sociale structure BAL",
    "Enseigne commerciale structure BAL",
    "L2COMPLEMENTLOCALISATION structure BAL",
    "L3COMPLEMENTDISTRIBUTION structure BAL",
    "L4NUMEROVOIE structure BAL",
    "L4COMPLEMENTNUMEROVOIE structure BAL",
    "NL4TYPEVOIE structure BAL",
    "L4LIBELLEVOIE structure BAL",
    "L5LIEUDITMENTION structure BAL",
    "L6LIGNEACHEMINEMENT structure BAL",
    "Code postal structure BAL",
    "Département structure BAL",
    "Pays structure BAL",
]

LAST_NAMES = [
    "FICTIF",
    "EXEMPLE",
    "DEMO",
    "ESSAI",
    "SYNTHESE",
    "MODELE",
    "FACTICE",
    "IMAGINAIRE",
    "POSTICHE",
    "SIMULE",
    "D'EXEMPLE",
    "LÉGENDAIRE",
    "CHIMÈRE",
]
SYLLABLES = ["BA", "CO", "DI", "FA", "GU", "LO", "MA", "NE", "PI", "RO", "SU", "TA", "VE", "ZO"]
FIRST_NAMES = [
    ("M", "JEAN"),
    ("M", "FRANÇOIS"),
    ("M", "JÉRÔME"),
    ("M", "LUC"),
    ("M", "NOËL"),
    ("M", "PIERRE"),
    ("MME", "ÉLOÏSE"),
    ("MME", "HÉLÈNE"),
    ("MME", "CLAIRE"),
    ("MME", "ANNE"),
    ("MME", "MARIE-ANGE"),
    ("MME", "SOPHIE"),
]
# (code, label, share, share with a personal MSSanté mailbox)
PROFESSIONS = [
    ("10", "Médecin", 0.45, 0.60),
    ("60", "Infirmier", 0.25, 0.16),
    ("21", "Pharmacien", 0.10, 0.16),
    ("70", "Masseur-Kinésithérapeute", 0.09, 0.16),
    ("40", "Chirurgien-Dentiste", 0.06, 0.16),
    ("50", "Sage-Femme", 0.05, 0.16),
]
SPECIALTIES = [
    ("SM54", "Médecine générale"),
    ("SM54", "Médecine générale"),
    ("SM54", "Médecine générale"),
    ("SM42", "Oncologie option médicale"),
    ("SM57", "Radiothérapie"),
    ("SM44", "Pneumologie"),
    ("SM24", "Gastro-entérologie et hépatologie"),
    ("SM05", "Chirurgie générale"),
    ("SM01", "Anatomie et cytologie pathologiques"),
]
PLACES = [
    ("86000", "86194", "POITIERS", "86", "Vienne"),
    ("87000", "87085", "LIMOGES", "87", "Haute-Vienne"),
    ("33000", "33063", "BORDEAUX", "33", "Gironde"),
    ("17000", "17300", "LA ROCHELLE", "17", "Charente-Maritime"),
    ("79000", "79191", "NIORT", "79", "Deux-Sèvres"),
    ("64000", "64445", "PAU", "64", "Pyrénées-Atlantiques"),
]
STREETS = [
    ("R", "Rue", "DES EXEMPLES"),
    ("AV", "Avenue", "DU  DOCTEUR FICTIF"),
    ("BD", "Boulevard", "DE LA DÉMONSTRATION"),
    ("PL", "Place", "IMAGINAIRE"),
    ("CHE", "Chemin", "DES ESSAIS"),
]
MODES = [("L", "Libéral,indépendant,artisan,commerçant"), ("S", "Salarié"), ("B", "Bénévole")]


def fictional_rpps(index: int) -> str:
    """Luhn-valid, 11 digits, in a 17… range no real professional uses in our data."""
    base = f"17{index:08d}"
    return base + luhn.calc_check_digit(base)


def _ascii(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return "".join(ch for ch in text.lower() if ch.isalnum() or ch in ".-")


def _digits(rng: random.Random, count: int) -> str:
    return f"{rng.randrange(10**count):0{count}d}"


@dataclass
class SampleReport:
    activity_path: Path
    mssante_path: Path
    professionals: int = 0
    activity_lines: int = 0
    adeli_lines: int = 0
    mssante_lines: int = 0
    duplicated_addresses: int = 0
    mailboxes: Counter[str] = field(default_factory=Counter)


def _churn(index: int, churn: float) -> str:
    """ "" (unchanged), "removed", "renamed" or "added" — a fixed function of the index."""
    if churn <= 0:
        return ""
    bucket = (index * 2654435761 + 97) % 1_000_003
    if bucket >= churn * 1_000_003:
        return ""
    return ("removed", "renamed", "added")[bucket % 3]


def write_sample(
    out: Path,
    *,
    professionals: int,
    seed: int = 1,
    activity_columns: int = 56,
    encoding: str = "utf-8",
    mssante_trailing_pipe: bool = False,
    churn: float = 0.0,
    stamp: str = "202611270300",
    as_zip: bool = False,
) -> SampleReport:
    out.mkdir(parents=True, exist_ok=True)
    header = ACTIVITY_HEADER if activity_columns == 56 else ACTIVITY_HEADER_52
    activity_path = out / f"PS_LibreAcces_Personne_activite_{stamp}.txt"
    mssante_path = out / f"Extraction_Correspondance_MSSante_{stamp}.txt"
    report = SampleReport(activity_path, mssante_path)
    rng = random.Random(seed)
    cumulative = []
    total = 0.0
    for profession in PROFESSIONS:
        total += profession[2]
        cumulative.append((total, profession))
    mss_end = "|\n" if mssante_trailing_pipe else "\n"
    with (
        open(activity_path, "w", encoding=encoding, errors="replace", newline="") as act,
        open(mssante_path, "w", encoding=encoding, errors="replace", newline="") as mss,
    ):
        act.write("|".join(header) + "|\n")
        mss.write("|".join(MSSANTE_HEADER) + mss_end)
        for index in range(professionals):
            # The base draw always consumes the generator the same way, so that a churned
            # file shares every unchanged line with the file of the same seed.
            record = _draw(rng, index, cumulative)
            fate = _churn(index, churn)
            people = [record]
            if fate == "removed":
                people = []
            elif fate == "renamed":
                record["last"] = record["last"] + "-MODIFIE"
            elif fate == "added":
                newcomer = _draw(random.Random(seed * 7919 + index), 90_000_000 + index, cumulative)
                people.append(newcomer)
            for person in people:
                _write_person(act, mss, mss_end, person, header, report)
    if as_zip:
        for path in (activity_path, mssante_path):
            archive = path.with_suffix(".zip")
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.write(path, path.name)
            path.unlink()
        report.activity_path = activity_path.with_suffix(".zip")
        report.mssante_path = mssante_path.with_suffix(".zip")
    return report


def _draw(
    rng: random.Random, index: int, cumulative: list[tuple[float, tuple[str, str, float, float]]]
) -> dict[str, Any]:
    pick = rng.random()
    profession = next((p for limit, p in cumulative if pick <= limit), cumulative[-1][1])
    sex, first = FIRST_NAMES[rng.randrange(len(FIRST_NAMES))]
    last = (
        SYLLABLES[rng.randrange(len(SYLLABLES))]
        + SYLLABLES[rng.randrange(len(SYLLABLES))]
        + LAST_NAMES[rng.randrange(len(LAST_NAMES))]
    )
    roll = rng.random()
    count = 1 if roll < 0.58 else 2 if roll < 0.85 else 3 if roll < 0.95 else 4
    places = []
    for _ in range(count):
        places.append(
            {
                "place": PLACES[rng.randrange(len(PLACES))],
                "street": STREETS[rng.randrange(len(STREETS))],
                "number": str(rng.randrange(1, 200)),
                "mode": MODES[0 if rng.random() < 0.6 else 1 if rng.random() < 0.95 else 2],
                "siret": _digits(rng, 14),
                "finess": _digits(rng, 9),
                "hospital": rng.random() < 0.3,
                "phone": "05" + _digits(rng, 8),
            }
        )
    return {
        "index": index,
        "adeli": rng.random() < 0.01,
        "profession": profession,
        "specialty": SPECIALTIES[rng.randrange(len(SPECIALTIES))],
        "sex": sex,
        "first": "" if rng.random() < 0.002 else first,
        "last": last,
        "places": places,
        "per": rng.random() < profession[3],
        "org": rng.random() < 0.064,
        "twice": rng.random() < 0.0003,
        "upper": rng.random() < 0.01,
    }


def _write_person(act, mss, mss_end, person, header, report: SampleReport) -> None:  # type: ignore[no-untyped-def]
    index = person["index"]
    code, label, _, _ = person["profession"]
    adeli = person["adeli"]
    rpps = f"{index % 10**9:09d}" if adeli else fictional_rpps(index)
    doctor = code == "10"
    spec_code, spec_label = person["specialty"] if doctor else ("", "")
    first, last, sex = person["first"], person["last"], person["sex"]
    report.professionals += 0 if adeli else 1
    columns = len(header)
    for place in person["places"]:
        postal, commune_code, city, dep, dep_label = place["place"]
        street_code, street_type, street_name = place["street"]
        mode_code, mode_label = place["mode"]
        name = (
            f"CENTRE HOSPITALIER FICTIF DE {city}"
            if place["hospital"]
            else f"CABINET DU DR {last} {first}".strip()
        )
        fields = [
            "0" if adeli else "8",
            rpps,
            ("0" if adeli else "8") + rpps,
            "DR" if doctor else "",
            "Docteur" if doctor else "",
            sex,
            "Monsieur" if sex == "M" else "Madame",
            last,
            first,
            code,
            label,
            "C",
            "Civil",
            "S" if doctor else "",
            "Spécialité ordinale" if doctor else "",
            spec_code,
            spec_label,
            mode_code,
            mode_label,
            place["siret"],
            place["siret"][:9],
            place["finess"] if place["hospital"] else "",
            place["finess"] if place["hospital"] else "",
            f"R10100{place['siret'][:8]}",
            name,
            "",
            "",
            "",
            place["number"],
            "",
            street_code,
            street_type,
            street_name,
            "",
            f"{postal} {city}",
            postal,
            commune_code,
            city.title(),
            "99000",
            "France",
            place["phone"],
            "",
            "",
            "",
            dep,
            dep_label,
            "",
            "CNOM/CNOM/CNOM" if doctor else "ARS/ARS/ARS",
            "SA07" if not place["hospital"] else "SA01",
            "Cabinet individuel" if not place["hospital"] else "Établissement public de santé",
            "",
            "",
            "FON-01",
            "Titulaire de cabinet" if not place["hospital"] else "Praticien hospitalier",
            "GENR01",
            "Activité standard",
        ][:columns]
        act.write("|".join(fields) + "|\n")
        report.activity_lines += 1
        report.adeli_lines += 1 if adeli else 0
    if adeli:
        return
    place = person["places"][0]
    postal, _, city, dep, _ = place["place"]
    if person["per"]:
        local = f"{_ascii(first) or 'dr'}.{_ascii(last)}{index}"
        address = f"{local}@{'medecin' if doctor else 'pro'}.mssante.fr"
        if person["upper"]:
            address = address.upper()
        line = _mss_line("PER", address, rpps, first, last, code, label, city, postal, dep)
        mss.write(line + mss_end)
        report.mssante_lines += 1
        report.mailboxes["PER"] += 1
        if person["twice"]:
            mss.write(line + mss_end)
            report.mssante_lines += 1
            report.duplicated_addresses += 1
    if person["org"]:
        address = f"secretariat.{index}@ch-fictif-{dep}.mssante.fr"
        with_pp = index % 2 == 0
        line = _mss_line(
            "ORG",
            address,
            rpps if with_pp else "",
            first if with_pp else "",
            last if with_pp else "",
            code if with_pp else "",
            label if with_pp else "",
            city,
            postal,
            dep,
        )
        mss.write(line + mss_end)
        report.mssante_lines += 1
        report.mailboxes["ORG"] += 1


def _mss_line(
    kind: str,
    address: str,
    rpps: str,
    first: str,
    last: str,
    code: str,
    label: str,
    city: str,
    postal: str,
    dep: str,
) -> str:
    return "|".join(
        [
            kind,
            address,
            "8" if rpps else "",
            rpps,
            f"8{rpps}" if rpps else "",
            "1",
            f"1{dep}0000000",
            "",
            "DR" if code == "10" else "",
            last,
            first,
            "C" if rpps else "",
            "Civil" if rpps else "",
            code,
            label,
            "",
            "",
            "O",
            f"CENTRE HOSPITALIER FICTIF DE {city}" if kind == "ORG" else f"CABINET DU DR {last}",
            "",
            "",
            "",
            "1",
            "",
            "R",
            "DES EXEMPLES",
            "",
            f"{postal} {city}",
            postal,
            dep,
            "France",
        ]
    )
