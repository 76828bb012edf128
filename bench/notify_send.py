"""Benchmark: messages per second of the worker to the local TLS sink, against a bare
``smtplib`` loop sending the same messages over the same kind of connection (STARTTLS,
client certificate, same CA), measured in the same run.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/concerto_notify \\
        .venv/bin/python bench/notify_send.py [N]

Without DATABASE_URL it uses a SQLite file. Prints both rates and their ratio (goal ≥ 0.8).
"""

from __future__ import annotations

import datetime as dt
import logging
import smtplib
import sys
import tempfile
import time
from pathlib import Path

from _setup import PARIS, Region, use_database

NOW = dt.datetime(2026, 3, 10, 10, 0, tzinfo=PARIS)


class Counting:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        self.count += 1
        return "250 OK"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    url = use_database("bench_send")
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    from django.conf import settings

    from concerto.notifications import worker
    from concerto.notifications.message import build
    from concerto.notifications.models import Notification
    from concerto.notifications.sink import start_sink
    from concerto.notifications.transport import tls_context

    tls_dir = Path(tempfile.mkdtemp(prefix="concerto-bench-tls-"))
    handler = Counting()
    controller = start_sink(
        host="127.0.0.1", port=0, tls_dir=tls_dir, mail_dir=tls_dir / "mail", handler=handler
    )
    settings.MSSANTE_SMTP_PORT = controller.port
    settings.MSSANTE_CA_BUNDLE = str(tls_dir / "ca.pem")
    settings.MSSANTE_CLIENT_CERT = str(tls_dir / "client.pem")
    settings.MSSANTE_CLIENT_KEY = str(tls_dir / "client-key.pem")

    from concerto.rcp.models import Board

    region = Region(boards=25)
    Board.objects.update(notifications_enabled=True, notifications_enabled_at=NOW)
    region.directory(count * 2)
    sessions = region.sessions([dt.date(2026, 3, 12)] * 25)
    region.registrations(sessions, count // 25, reachable_only=True)
    worker.scan(NOW)
    rows = list(
        Notification.objects.filter(status="pending").select_related(
            "registration__patient", "registration__session__board"
        )
    )
    messages = [(build(worker.content_for(row), now=NOW), list(row.addresses)) for row in rows]

    # Baseline: one bare smtplib connection, same TLS, same messages.
    started = time.perf_counter()
    smtp = smtplib.SMTP("127.0.0.1", controller.port, timeout=30)
    smtp.starttls(context=tls_context())
    smtp.ehlo()
    for message, recipients in messages:
        smtp.send_message(message, from_addr=settings.MSSANTE_FROM, to_addrs=recipients)
    smtp.quit()
    bare = len(messages) / (time.perf_counter() - started)
    assert handler.count == len(messages)

    handler.count = 0
    started = time.perf_counter()
    result = worker.run_pass(now=NOW)
    ours = result.sent / (time.perf_counter() - started)
    assert handler.count == result.sent == len(messages), (handler.count, result)
    controller.stop()
    batch = settings.NOTIFY_BATCH_SIZE
    print(f"database: {url.split('@')[-1]}; {len(messages)} messages, batch {batch}")
    print(f"bare smtplib loop : {bare:7.1f} messages/s")
    print(f"concerto notify   : {ours:7.1f} messages/s (claim, send, commit each, audit event)")
    print(f"ratio             : {ours / bare:.2f} (goal ≥ 0.8)")


if __name__ == "__main__":
    main()
