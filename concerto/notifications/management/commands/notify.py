"""``concerto notify``: send the pre-RCP notifications that are due.

One pass and exit by default; ``--loop`` runs until SIGTERM/SIGINT (the message in
flight is finished, nothing more is claimed, claimed rows are given back).
"""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_datetime

from concerto.lib import clock
from concerto.notifications import worker
from concerto.notifications.transport import plain_address


class Command(BaseCommand):
    help = "Envoie les notifications MSSanté préalables aux RCP qui sont dues."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--loop", action="store_true", help="Tourne sans fin (SIGTERM : arrêt propre)."
        )
        parser.add_argument(
            "--now", help="Évalue à cet instant (ISO 8601 avec fuseau), pour rejouer ou tester."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Affiche ce qui serait envoyé, n'envoie rien."
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="Secondes entre deux passes avec --loop (défaut : NOTIFY_LOOP_INTERVAL_SECONDS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = None
        if options["now"]:
            now = parse_datetime(options["now"])
            if now is None or now.tzinfo is None:
                raise CommandError("--now : date-heure ISO 8601 avec fuseau attendue.")
            if options["loop"]:
                raise CommandError("--now ne s'utilise pas avec --loop.")
        if options["dry_run"]:
            self._dry_run(now or clock.now())
            return
        self._check_certificates()
        self._check_sending_settings()
        stopping = {"flag": False}

        def stop(signum: int, frame: object) -> None:
            stopping["flag"] = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        if options["loop"]:
            interval = options["interval"]
            if interval is None:
                interval = float(settings.NOTIFY_LOOP_INTERVAL_SECONDS)
            self.stdout.write(
                f"Notifications : boucle toutes les {interval:g} s (SIGTERM pour arrêter)."
            )
            self.stdout.flush()
            worker.run_loop(stop=lambda: stopping["flag"], interval=interval)
            self.stdout.write("Notifications : arrêt propre.")
            return
        result = worker.run_pass(now=now, stop=lambda: stopping["flag"])
        self.stdout.write(
            f"{result.scan.evaluated} inscriptions examinées, {result.scan.created} notifications"
            f" créées, {result.sent} envoyées, {result.failed} en échec,"
            f" {result.retried} à réessayer, {result.scan.expired + result.expired} expirées."
        )

    def _check_certificates(self) -> None:
        for name in ("MSSANTE_CLIENT_CERT", "MSSANTE_CLIENT_KEY", "MSSANTE_CA_BUNDLE"):
            value = getattr(settings, name)
            if not value:
                raise CommandError(f"{name} n'est pas configuré (certificat MSSanté).")
            if not Path(value).is_file():
                raise CommandError(f"{name} : fichier introuvable ({value}).")

    def _check_sending_settings(self) -> None:
        if not plain_address(settings.MSSANTE_FROM):
            raise CommandError(
                f"MSSANTE_FROM : adresse MSSanté invalide ({settings.MSSANTE_FROM!r})."
            )
        for name in ("MSSANTE_X_MSS_NIL", "MSSANTE_MESSAGE_ID_DOMAIN"):
            if not getattr(settings, name).strip():
                raise CommandError(f"{name} n'est pas configuré (identité de l'expéditeur).")
        needed, lease = worker.lease_needed(), settings.NOTIFY_LEASE_SECONDS
        if lease < 2 * needed:
            message = (
                f"NOTIFY_LEASE_SECONDS ({lease} s) est inférieur au double"
                f" de ce qu'un message peut prendre au pire ({needed:g} s : délais SMTP et"
                " base de données) : un message lent pourrait être envoyé deux fois."
            )
            if settings.PRODUCTION:
                raise CommandError(message)
            self.stderr.write(f"Attention : {message}")

    def _dry_run(self, now: dt.datetime) -> None:
        current = worker.plan(now)
        for item in current.items:
            registration = item.candidate
            head = (
                f"inscription {registration.pk} — {registration.board_title}"
                f" {registration.session_starts_at.astimezone(worker.PARIS):%d/%m/%Y %H:%M}"
            )
            row = item.row
            if row is not None and row.status in row.TERMINAL:
                line = f"déjà traitée ({row.get_status_display()})"
            elif item.kept and item.status == "expired":
                line = "expirée : séance commencée avant l'envoi"
            elif item.kept and row is not None:
                line = f"séance commencée : {row.Status(item.status or row.status).label}"
            elif item.eligibility.eligible:
                local_due = item.due_at.astimezone(worker.PARIS)
                if item.due_at <= now:
                    line = "enverrait à " + ", ".join(item.addresses)
                else:
                    line = f"enverra le {local_due:%d/%m/%Y à %H:%M} à " + ", ".join(item.addresses)
            elif item.status == "expired":
                line = "expirée : séance commencée avant l'envoi"
            else:
                prefix = "en attente" if item.eligibility.provisional else "non éligible"
                line = f"{prefix} : " + " ; ".join(item.eligibility.labels)
            self.stdout.write(f"{head} : {line}")
        self.stdout.write(
            f"(simulation : rien n'a été envoyé ni enregistré ; {len(current.items)} inscriptions)"
        )
