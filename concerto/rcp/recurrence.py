"""Recurring sessions: the dates of "every Tuesday between two dates". Pure functions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from concerto.notifications.calendar import is_business_day


@dataclass(frozen=True)
class Recurrence:
    dates: tuple[dt.date, ...]
    skipped_holidays: tuple[dt.date, ...]


def weekly_dates(
    *,
    start: dt.date,
    end: dt.date,
    weekday: int,
    every_weeks: int = 1,
    skip_holidays: bool = False,
    subdivision: str = "",
) -> Recurrence:
    """Every ``weekday`` (0 = Monday) from ``start`` to ``end`` inclusive, every
    ``every_weeks`` weeks; with ``skip_holidays`` the territory's public holidays are
    left out (and listed, so the secretary sees what was skipped)."""
    if end < start:
        raise ValueError("La date de fin précède la date de début.")
    if every_weeks < 1:
        raise ValueError("L'intervalle doit être d'au moins une semaine.")
    first = start + dt.timedelta(days=(weekday - start.weekday()) % 7)
    dates: list[dt.date] = []
    skipped: list[dt.date] = []
    day = first
    while day <= end:
        if skip_holidays and not is_business_day(day, subdivision):
            skipped.append(day)
        else:
            dates.append(day)
        day += dt.timedelta(weeks=every_weeks)
    return Recurrence(tuple(dates), tuple(skipped))
