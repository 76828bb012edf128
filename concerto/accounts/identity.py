"""Who is logging in: the national id PSC asserts, read tolerantly from its claims.

PSC's ``sub`` is opaque and is never taken as the RPPS. The national id ("8" + RPPS,
or "0" + ADELI) comes from ``SubjectNameID`` / ``preferred_username`` and the
``otherIds`` list (entries with ``origine`` RPPS or ADELI). Pure functions of the
claims: no database here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from concerto.lib.identifiers import is_valid_rpps, rpps_from_national_id


@dataclass(frozen=True)
class NationalIds:
    rpps: frozenset[str]
    adeli: frozenset[str]


def _classify(value: Any, rpps: set[str], adeli: set[str]) -> None:
    if not isinstance(value, str):
        return
    value = value.strip()
    number = rpps_from_national_id(value)
    if number is not None:
        rpps.add(number)
    elif len(value) == 10 and value.startswith("0") and value[1:].isdigit():
        adeli.add(value[1:])


def national_ids(claims: dict[str, Any]) -> NationalIds:
    rpps: set[str] = set()
    adeli: set[str] = set()
    for key in ("SubjectNameID", "preferred_username"):
        _classify(claims.get(key), rpps, adeli)
    other_ids = claims.get("otherIds")
    if isinstance(other_ids, list):
        for entry in other_ids:
            if not isinstance(entry, dict):
                continue
            origin = str(entry.get("origine", "")).upper()
            value = str(entry.get("identifiant", "")).strip()
            # ⚠ Whether "identifiant" holds the bare number or the national form is not
            # confirmed from an official text: accept both.
            if origin == "RPPS":
                if len(value) == 11 and value.isdigit():
                    rpps.add(value)
                else:
                    _classify(value, rpps, adeli)
            elif origin == "ADELI":
                if len(value) == 9 and value.isdigit():
                    adeli.add(value)
                else:
                    _classify(value, rpps, adeli)
    return NationalIds(rpps=frozenset(rpps), adeli=frozenset(adeli))


class IdentityRefused(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def rpps_of(claims: dict[str, Any]) -> str:
    """The one RPPS the claims assert, or :class:`IdentityRefused` saying why not."""
    ids = national_ids(claims)
    if not ids.rpps:
        if ids.adeli:
            raise IdentityRefused("adeli_only")
        raise IdentityRefused("no_identifier")
    if len(ids.rpps) > 1:
        raise IdentityRefused("identity_inconsistent", "several_rpps")
    (number,) = ids.rpps
    if not is_valid_rpps(number):
        raise IdentityRefused("no_identifier", "rpps_checksum")
    return number
