"""``concerto purge-audit``: delete the access/audit events past AUDIT_RETENTION_DAYS."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from concerto.audit import retention


class Command(BaseCommand):
    help = (
        "Supprime du journal d'audit les événements plus anciens que AUDIT_RETENTION_DAYS "
        f"(au moins {retention.MIN_RETENTION_DAYS} jours), et rien d'autre."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Compter sans rien supprimer.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = retention.purge(dry_run=options["dry_run"])
        except retention.RetentionTooShort as exc:
            raise CommandError(str(exc)) from exc
        when = timezone.localtime(result.cutoff).strftime("%d/%m/%Y %H:%M")
        verb = "à supprimer" if result.dry_run else "supprimé(s)"
        self.stdout.write(f"{result.deleted} événement(s) antérieur(s) au {when} {verb}.")
