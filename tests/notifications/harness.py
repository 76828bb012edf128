"""Seed a dedicated database for the multi-process tests (crash, SIGTERM, concurrency).

Run as ``python -m tests.notifications.harness seed N`` with DATABASE_URL set: migrates,
then creates N registrations whose notifications are due *now* (real time): the
notification day is before today and the session is later than now.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def seed(count: int) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import itertools

    from concerto.notifications.calendar import is_business_day, notification_day
    from concerto.patients.models import Patient
    from tests import builders
    from tests.builders import World, at, gp

    # Numbers (user names, RPPS…) must not collide with an earlier seed of this database.
    builders._seq = itertools.count(2 * (Patient.objects.count() + 100))

    now = dt.datetime.now(PARIS)
    today = now.date()
    day = today + dt.timedelta(days=2)
    while not (is_business_day(day) and notification_day(day) < today):
        day += dt.timedelta(days=1)
    before = dt.datetime.combine(notification_day(day), dt.time(9), tzinfo=PARIS)
    with at(before - dt.timedelta(days=10)):
        world = World()
        session = world.session(day, dt.time(18, 0))
    doctors = [gp() for _ in range(20)]
    with at(before - dt.timedelta(days=5)):
        for index in range(count):
            patient = world.patient(gp_rpps=doctors[index % len(doctors)].rpps)
            world.register(session, patient)


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concerto.settings")
    import django

    django.setup()
    command, *args = sys.argv[1:]
    if command == "seed":
        seed(int(args[0]))
    else:
        raise SystemExit(f"unknown command {command}")


if __name__ == "__main__":
    main()
