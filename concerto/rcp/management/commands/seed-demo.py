"""``concerto seed-demo``: create the fictional demo region (idempotent)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from concerto import demo


class Command(BaseCommand):
    help = "Crée la région de démonstration (données fictives). Sans effet si elle existe déjà."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed-demo est refusé en production (données fictives).")
        report = demo.seed_demo()
        if not report.created:
            self.stdout.write("Région de démonstration déjà présente : rien à faire.")
            return
        summary = ", ".join(f"{name} {count}" for name, count in sorted(report.counts.items()))
        self.stdout.write(self.style.SUCCESS(f"Région de démonstration créée : {summary}."))
