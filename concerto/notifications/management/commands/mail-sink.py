"""``concerto mail-sink``: the demo's local MSSanté stand-in (loopback, STARTTLS)."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from concerto.notifications.sink import start_sink


class Command(BaseCommand):
    help = "Démarre la messagerie de démonstration (SMTP local avec STARTTLS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=settings.MSSANTE_SMTP_PORT)

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("La messagerie de démonstration est refusée en production.")
        # aiosmtpd warns that it requires client certificates: that is the point here.
        logging.getLogger("mail.log").setLevel(logging.ERROR)
        controller = start_sink(
            host="127.0.0.1",
            port=options["port"],
            tls_dir=settings.MAIL_SINK_TLS_DIR,
            mail_dir=settings.MAIL_SINK_DIR,
        )
        self.stdout.write(
            f"Messagerie de démonstration : 127.0.0.1:{controller.port} (STARTTLS,"
            f" certificat client exigé) ; messages dans {settings.MAIL_SINK_DIR}"
        )
        self.stdout.flush()
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        signal.signal(signal.SIGINT, lambda *_: done.set())
        done.wait()
        controller.stop()
