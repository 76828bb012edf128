"""Recurring sessions: the dates of "every Tuesday between two dates". Pure functions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from concerto.notifications.calendar import is_public_holiday


@dataclass(frozen=True)
class Recurrence:
    dates: tuple[dt.date, ...]
    skipped_holidays: tuple[dt.date, ...]
    # Public holidays among ``dates`` (planned on purpose, without ``skip_holidays``).
    kept_holidays: tuple[dt.date, ...] = ()


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
    left out (and listed, so the secretary sees what was skipped); without it they are
    planned, and listed too."""
    if end < start:
        raise ValueError("La date de fin précède la date de début.")
    if every_weeks < 1:
        raise ValueError("L'intervalle doit être d'au moins une semaine.")
    first = start + dt.timedelta(days=(weekday - start.weekday()) % 7)
    dates: list[dt.date] = []
    skipped: list[dt.date] = []
    kept: list[dt.date] = []
    day = first
    while day <= end:
        # (``weekday`` is Monday to Friday: a day off is a public holiday.)
        holiday = is_public_holiday(day, subdivision)
        if holiday and skip_holidays:
            skipped.append(day)
        else:
            dates.append(day)
            if holiday:
                kept.append(day)
        day += dt.timedelta(weeks=every_weeks)
    return Recurrence(tuple(dates), tuple(skipped), tuple(kept))
