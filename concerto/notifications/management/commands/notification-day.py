"""``concerto notification-day YYYY-MM-DD [--territory SLUG]``: the notification day."""

from __future__ import annotations

import datetime as dt
import re
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from concerto.notifications.calendar import notification_day
from concerto.rcp.models import Territory


class Command(BaseCommand):
    help = "Affiche le jour de notification (2e jour ouvré avant la séance) au format AAAA-MM-JJ."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("session_date", help="date de la séance, AAAA-MM-JJ")
        parser.add_argument("--territory", help="identifiant (slug) du territoire")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", options["session_date"]):
                raise ValueError(options["session_date"])
            session_date = dt.date.fromisoformat(options["session_date"])
        except ValueError:
            self.stderr.write(
                f"Date invalide : {options['session_date']!r} (format attendu AAAA-MM-JJ)."
            )
            sys.exit(2)
        subdivision = ""
        if options["territory"]:
            territory = Territory.objects.filter(slug=options["territory"]).first()
            if territory is None:
                self.stderr.write(f"Territoire inconnu : {options['territory']!r}.")
                sys.exit(2)
            subdivision = territory.holiday_subdivision
        self.stdout.write(notification_day(session_date, subdivision).isoformat())
