"""Benchmark: messages per second of the worker to the local TLS sink, against a bare
``smtplib`` loop sending the same messages over the same kind of connection (STARTTLS,
client certificate, same CA), measured in the same run.

The sink is the demo's local TLS sink (``concerto mail-sink``: STARTTLS, client
certificate required, each message saved as an .eml file), in its own process as a real
MSSanté server would be: in the benchmark's process its thread would compete for the GIL
with whichever sender is measured.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/concerto_notify \\
        .venv/bin/python bench/notify_send.py [N [ROUNDS]]

Without DATABASE_URL it uses a SQLite file. Prints both rates and their ratio (goal ≥ 0.8):
the median of ROUNDS interleaved rounds.
"""

from __future__ import annotations

import datetime as dt
import gc
import logging
import multiprocessing
import smtplib
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _setup import PARIS, Region, use_database

NOW = dt.datetime(2026, 3, 10, 10, 0, tzinfo=PARIS)


def counting_sink(directory: Path, count):  # noqa: ANN001, ANN201
    """The demo's sink as ``scripts/demo`` runs it (each message saved as an .eml file),
    counting what it accepts."""
    from concerto.notifications.sink import SaveToFolder

    class CountingSink(SaveToFolder):
        async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
            reply = await super().handle_DATA(server, session, envelope)
            with count.get_lock():
                count.value += 1
            return reply

    return CountingSink(directory)


def serve(tls_dir: Path, count, port, stop) -> None:  # noqa: ANN001
    """The sink's process: start, publish the port, wait for ``stop``."""
    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    from concerto.notifications.sink import start_sink

    controller = start_sink(
        host="127.0.0.1",
        port=0,
        tls_dir=tls_dir,
        mail_dir=tls_dir / "mail",
        handler=counting_sink(tls_dir / "mail", count),
    )
    port.value = controller.port
    stop.wait()
    controller.stop()


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tls_dir = Path(tempfile.mkdtemp(prefix="concerto-bench-tls-"))
    spawn = multiprocessing.get_context("spawn")
    received, port, stop = spawn.Value("i", 0), spawn.Value("i", 0), spawn.Event()
    sink = spawn.Process(target=serve, args=(tls_dir, received, port, stop))
    sink.start()
    url = use_database("bench_send")
    from django.conf import settings

    from concerto.notifications import worker
    from concerto.notifications.message import build
    from concerto.notifications.models import Notification
    from concerto.notifications.transport import tls_context

    while not port.value:
        time.sleep(0.05)
    settings.MSSANTE_SMTP_PORT = port.value
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
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would have, on a live database
    pending = {
        "status": Notification.Status.PENDING,
        "sent_at": None,
        "closed_at": None,
        "recipient_outcomes": {},
        "attempts": 0,
        "claim_token": "",
        "claimed_by": "",
        "lease_until": None,
    }
    rows = worker.claim(NOW, limit=count, worker="bench")  # what the worker will send
    messages = [(build(row.content, now=NOW), row.addresses) for row in rows]
    Notification.objects.update(**pending)
    # The baseline's prebuilt messages are a large heap of small objects that a real
    # worker does not have: left to the collector, every one of the worker's garbage
    # collections would walk them (tens of milliseconds each, at random points of the
    # pass). Set aside, as a long-running process's start-up objects would be.
    gc.freeze()

    # The pass starts with its scan (planning every near registration); timed apart too,
    # so that the sending itself (claim, send, commit) can be compared on its own.
    scans: list[float] = []
    plain_scan = worker.scan

    def timed_scan(now):  # noqa: ANN001, ANN202
        started = time.perf_counter()
        try:
            return plain_scan(now)
        finally:
            scans.append(time.perf_counter() - started)

    worker.scan = timed_scan
    bare_rates, our_rates, sending_rates = [], [], []
    for _ in range(rounds):
        # Baseline: one bare smtplib connection, same TLS, same messages.
        received.value = 0
        started = time.perf_counter()
        smtp = smtplib.SMTP("127.0.0.1", port.value, timeout=30)
        smtp.starttls(context=tls_context())
        smtp.ehlo()
        for message, recipients in messages:
            smtp.send_message(message, from_addr=settings.MSSANTE_FROM, to_addrs=recipients)
        smtp.quit()
        bare_rates.append(len(messages) / (time.perf_counter() - started))
        assert received.value == len(messages)

        received.value = 0
        started = time.perf_counter()
        result = worker.run_pass(now=NOW)
        elapsed = time.perf_counter() - started
        our_rates.append(result.sent / elapsed)
        sending_rates.append(result.sent / (elapsed - scans[-1]))
        assert received.value == result.sent == len(messages), (received.value, result)
        Notification.objects.update(**pending)  # the same batch again for the next round
    stop.set()
    sink.join()
    ratios = sorted(ours / bare for bare, ours in zip(bare_rates, our_rates, strict=True))
    sending = sorted(ours / bare for bare, ours in zip(bare_rates, sending_rates, strict=True))
    batch = settings.NOTIFY_BATCH_SIZE
    print(f"database: {url.split('@')[-1]}; {len(messages)} messages, batch {batch}")
    print(f"{rounds} rounds of: the bare loop, then the worker (interleaved: noisy machines)")
    print(f"bare smtplib loop : {statistics.median(bare_rates):7.1f} messages/s (median)")
    print(
        f"concerto notify   : {statistics.median(our_rates):7.1f} messages/s (median; claim,"
        " send, commit each with its audit event)"
    )
    print(f"ratio per round   : {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"ratio (median)    : {statistics.median(ratios):.2f} (goal ≥ 0.8)")
    print(
        f"sending alone     : {statistics.median(sending):.2f} (median ratio of the pass minus"
        f" its scan, {statistics.median(scans) * 1000:.0f} ms for {len(messages)} registrations)"
    )


if __name__ == "__main__":
    main()
