"""French health identifiers: RPPS, matricule INS, CIM-10 codes.

Pure functions; the Django validators in :mod:`concerto.lib.validators` wrap them.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

from stdnum import luhn

RPPS_RE = re.compile(r"^\d{11}$")
# CIM-10 (ICD-10, French edition): letter, two digits, optional "." and 1–2 characters
# (the French extensions add a second sub-character, e.g. C50.9 or K74.6+0 written K74.60).
CIM10_RE = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?$")
CIM10_SQL_RE = r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?$"
INS_RE = re.compile(r"^[12][0-9]{4}(?:[0-9]{2}|2A|2B)[0-9]{6}[0-9]{2}$")

# An e-mail address usable as it is, in the SMTP envelope and in a header (RFC 5321
# §4.1.2): a dot-atom local part and a domain of ASCII letters, digits and hyphens
# (MSSanté addresses are). No space, CR, LF, angle bracket nor non-ASCII letter.
PLAIN_ADDRESS_PATTERN = (
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)

INS_OID_NIR = "1.2.250.1.213.1.4.8"
INS_OID_NIA = "1.2.250.1.213.1.4.9"
INS_OID_NIR_TEST = "1.2.250.1.213.1.4.10"
INS_OID_NIR_DEMO = "1.2.250.1.213.1.4.11"
INS_OIDS = {
    INS_OID_NIR: "INS-NIR",
    INS_OID_NIA: "INS-NIA",
    INS_OID_NIR_TEST: "INS-NIR-TEST",
    INS_OID_NIR_DEMO: "INS-NIR-DEMO",
}


# Letters that do not decompose into a base letter and a mark.
# Letters that Unicode does not decompose into a base letter and an accent: spelt out,
# as the INS traits are written (capitals A-Z): "Østergaard" → "OSTERGAARD".
_LIGATURES = str.maketrans(
    {
        "Œ": "OE",
        "œ": "OE",
        "Æ": "AE",
        "æ": "AE",
        "ß": "SS",
        "Ø": "O",
        "ø": "O",
        "Ł": "L",
        "ł": "L",
        "Đ": "D",
        "đ": "D",
        "Ð": "D",
        "ð": "D",
        "Þ": "TH",
        "þ": "TH",
        "ı": "I",
    }
)


def identity_trait(text: str) -> str:
    """A name or first names as identity traits are recorded (as the INS téléservice
    returns them): capitals without diacritics, single spaces ("Lefèvre  Zoé" →
    "LEFEVRE ZOE"), so a search finds the patient however the accents were typed."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LIGATURES))
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.split()).upper()


def is_valid_rpps(value: str) -> bool:
    """11 digits passing a Luhn check.

    ⚠ The Luhn check is empirical (every real RPPS seen passes it; no official text
    says so). Keep it in one place so it can be relaxed if a real number fails it.
    """
    return bool(RPPS_RE.match(value)) and luhn.is_valid(value)


def rpps_from_national_id(national_id: str) -> str | None:
    """ "8" + RPPS (12 characters) → RPPS; anything else (ADELI "0…") → None."""
    if len(national_id) == 12 and national_id.startswith("8") and national_id[1:].isdigit():
        return national_id[1:]
    return None


def ins_key(nir13: str) -> int:
    """Control key of a 13-character NIR/NIA: 97 − (N mod 97), Corsica 2A→19, 2B→18."""
    digits = nir13.upper().replace("2A", "19").replace("2B", "18")
    if len(nir13) != 13 or not digits.isdigit():
        raise ValueError("Un matricule INS compte 13 caractères avant la clé.")
    return 97 - (int(digits) % 97)


def is_valid_ins(value: str) -> bool:
    """15 characters: 13 (NIR or NIA) + a 2-digit key that matches."""
    value = value.upper()
    if not INS_RE.match(value):
        return False
    return ins_key(value[:13]) == int(value[13:])


def ins_trait_mismatches(ins: str, *, sex: str, birth_date: dt.date | None) -> list[str]:
    """What in a NIR/NIA contradicts the patient's traits (another person's INS pasted,
    the classic identity error): its first digit is the sex (1 man, 2 woman), the next
    two the year of birth, the next two the month (01–12; 20, 30–42 and 50–99 when the
    month is unknown or the number is a special one, then not compared)."""
    found: list[str] = []
    ins = ins.upper()
    if not INS_RE.match(ins):
        return found
    expected_sex = {"1": "M", "2": "F"}[ins[0]]
    if sex in ("M", "F") and sex != expected_sex:
        found.append(
            f"ce matricule est celui d'{'un homme' if expected_sex == 'M' else 'une femme'}"
        )
    if birth_date is not None:
        if int(ins[1:3]) != birth_date.year % 100:
            found.append(f"il indique une naissance en {ins[1:3]}, pas en {birth_date:%y}")
        month = int(ins[3:5])
        if 1 <= month <= 12 and month != birth_date.month:
            found.append(f"il indique le mois {ins[3:5]}, pas {birth_date:%m}")
    return found


def is_valid_cim10(code: str) -> bool:
    return bool(CIM10_RE.match(code))
