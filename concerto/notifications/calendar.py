"""Jours ouvrés and the notification day (SPEC §4). Pure functions, no database.

A *jour ouvré* is Monday to Friday, except the territory's public holidays as given by
the maintained ``holidays`` package (never a hand-made list). The *notification day*
of a session on local date D is the second jour ouvré strictly before D.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import holidays

NOTIFICATION_LEAD_BUSINESS_DAYS = 2


class UnknownSubdivision(ValueError):
    """A territory's calendar code the installed ``holidays`` package does not know."""


def subdivision_choices() -> list[tuple[str, str]]:
    """The calendars a territory may use: metropolitan France, then the subdivisions of
    the installed ``holidays`` package, named by their longest alias there."""
    names: dict[str, str] = {}
    for alias, code in getattr(holidays.France, "subdivisions_aliases", {}).items():
        if len(alias) > len(names.get(code, "")):
            names[code] = alias
    return [("", "France métropolitaine")] + [
        (code, f"{names[code]} ({code})" if code in names else code)
        for code in holidays.France.subdivisions
    ]


@lru_cache(maxsize=64)
def _french_holidays(subdivision: str, year: int) -> dict[dt.date, str]:
    """The public holidays of that year, by date, named in French ("Noël")."""
    try:
        calendar = holidays.country_holidays(
            "FR", subdiv=subdivision or None, years=year, language="fr"
        )
    except NotImplementedError as exc:
        raise UnknownSubdivision(
            f"Calendrier des jours fériés inconnu : « {subdivision} »."
        ) from exc
    return dict(calendar.items())


def is_public_holiday(day: dt.date, subdivision: str = "") -> bool:
    return day in _french_holidays(subdivision, day.year)


_WEEKEND = {5: "un samedi", 6: "un dimanche"}


def day_off(day: dt.date, subdivision: str = "") -> str:
    """Why ``day`` is not a jour ouvré, in words ("un jour férié (Noël)", "un dimanche"),
    or "" for a jour ouvré."""
    name = _french_holidays(subdivision, day.year).get(day)
    if name:  # (two holidays on one day come as "A; B")
        return f"un jour férié ({name.replace('; ', ' et ')})"
    return _WEEKEND.get(day.weekday(), "")


def is_business_day(day: dt.date, subdivision: str = "") -> bool:
    """Jour ouvré: Monday–Friday and not a public holiday of the subdivision."""
    return day.weekday() < 5 and not is_public_holiday(day, subdivision)


def previous_business_day(day: dt.date, subdivision: str = "") -> dt.date:
    """The last jour ouvré strictly before ``day``."""
    candidate = day - dt.timedelta(days=1)
    while not is_business_day(candidate, subdivision):
        candidate -= dt.timedelta(days=1)
    return candidate


def notification_day(session_date: dt.date, subdivision: str = "") -> dt.date:
    """Second jour ouvré strictly before the session date.

    >>> notification_day(dt.date(2022, 9, 13))  # Tuesday → Friday
    datetime.date(2022, 9, 9)
    """
    day = session_date
    for _ in range(NOTIFICATION_LEAD_BUSINESS_DAYS):
        day = previous_business_day(day, subdivision)
    return day


def next_business_day_on_or_after(day: dt.date, subdivision: str = "") -> dt.date:
    while not is_business_day(day, subdivision):
        day += dt.timedelta(days=1)
    return day
