"""Jours ouvrés and the notification day: every French holiday kind next to a session.

Expected dates are worked out by hand from the calendar (not from the code under test).
"""

import datetime as dt
import subprocess
import sys

import pytest

from concerto.notifications.calendar import (
    UnknownSubdivision,
    is_business_day,
    notification_day,
    subdivision_choices,
)

D = dt.date.fromisoformat

CASES = [
    # (session date, subdivision, notification day, why)
    ("2022-09-13", "", "2022-09-09", "seed example: Tuesday → Friday"),
    ("2024-09-16", "", "2024-09-12", "session on a Monday: Friday, then Thursday"),
    ("2024-09-17", "", "2024-09-13", "Tuesday → Friday over the weekend"),
    ("2024-09-18", "", "2024-09-16", "Wednesday → Monday over the weekend"),
    ("2025-01-02", "", "2024-12-30", "New Year (Wed 1/1) and the year boundary"),
    ("2025-01-03", "", "2024-12-31", "New Year, year boundary"),
    ("2024-04-02", "", "2024-03-28", "Easter Monday; Good Friday is worked"),
    ("2024-05-02", "", "2024-04-29", "1 May"),
    ("2025-05-09", "", "2025-05-06", "8 May"),
    ("2025-05-30", "", "2025-05-27", "Ascension Thursday"),
    ("2024-05-10", "", "2024-05-06", "8 May and Ascension back to back"),
    ("2024-05-21", "", "2024-05-16", "Whit Monday"),
    ("2025-07-15", "", "2025-07-10", "14 July on a Monday"),
    ("2024-08-16", "", "2024-08-13", "15 August"),
    ("2024-11-04", "", "2024-10-30", "1 November on a Friday before a weekend"),
    ("2024-11-12", "", "2024-11-07", "11 November on a Monday"),
    ("2024-12-26", "", "2024-12-23", "Christmas"),
    ("2024-12-27", "", "2024-12-24", "26 December is worked outside Alsace-Moselle"),
    ("2024-04-02", "57", "2024-03-27", "Alsace-Moselle: Good Friday is a holiday"),
    ("2024-12-27", "57", "2024-12-23", "Alsace-Moselle: 26 December is a holiday"),
    ("2025-05-28", "", "2025-05-26", "metropolitan France"),
    ("2025-05-28", "971", "2025-05-23", "Guadeloupe: abolition of slavery, 27 May"),
]


@pytest.mark.parametrize(("session", "subdivision", "expected", "why"), CASES)
def test_notification_day(session, subdivision, expected, why):
    assert notification_day(D(session), subdivision) == D(expected), why


@pytest.mark.parametrize(
    ("day", "subdivision", "business"),
    [
        ("2024-12-25", "", False),
        ("2024-12-26", "", True),
        ("2024-12-26", "57", False),
        ("2024-03-29", "", True),
        ("2024-03-29", "57", False),
        ("2024-09-14", "", False),  # Saturday
        ("2024-09-15", "", False),  # Sunday
        ("2024-09-16", "", True),
    ],
)
def test_business_day(day, subdivision, business):
    assert is_business_day(D(day), subdivision) is business


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "concerto", "notification-day", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_prints_one_line():
    result = _cli("2022-09-13")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2022-09-09\n"


@pytest.mark.parametrize("bad", ["2022-13-13", "13/09/2022", "20220913", "demain"])
def test_cli_malformed_date_exits_2(bad):
    result = _cli(bad)
    assert result.returncode == 2
    assert "Date invalide" in result.stderr


@pytest.mark.django_db
def test_cli_territory(tmp_path):
    from io import StringIO

    from django.core.management import call_command

    from tests.builders import territory

    territory("alsace-test", "57")
    out = StringIO()
    call_command("notification-day", "2024-12-27", territory="alsace-test", stdout=out)
    assert out.getvalue() == "2024-12-23\n"
    with pytest.raises(SystemExit) as exc:
        call_command("notification-day", "2024-12-27", territory="nulle-part", stderr=StringIO())
    assert exc.value.code == 2


@pytest.mark.django_db
def test_a_territory_may_only_use_a_calendar_the_holidays_package_knows():
    from django.core.exceptions import ValidationError

    from concerto.rcp.models import Territory

    codes = [code for code, _ in subdivision_choices()]
    assert codes[0] == "" and {"57", "6AE", "971", "974"} <= set(codes)
    assert ("974", "La Réunion (974)") in subdivision_choices()
    Territory(slug="moselle", name="Moselle", holiday_subdivision="57").full_clean()
    with pytest.raises(ValidationError) as refused:
        Territory(slug="bas-rhin", name="Bas-Rhin", holiday_subdivision="67").full_clean()
    assert "holiday_subdivision" in refused.value.message_dict
    with pytest.raises(UnknownSubdivision, match="« 67 »"):
        notification_day(dt.date(2026, 12, 15), "67")
