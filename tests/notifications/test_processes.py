"""The worker as a separate process: SIGKILL crash test, graceful SIGTERM, concurrent
workers. Each test migrates and seeds its own database (a file for SQLite, a dedicated
PostgreSQL database when DATABASE_URL names one) and runs a real STARTTLS server with a
required client certificate in this process."""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from concerto.notifications.faults import POINTS
from tests.notifications import smtp

ROOT = Path(__file__).resolve().parents[2]
MESSAGE_ID = re.compile(rb"^Message-ID:\s+(<[^>]+>)", re.MULTILINE | re.IGNORECASE)


@dataclass
class Database:
    url: str

    def rows(self, sql: str) -> list[tuple]:
        if self.url.startswith("sqlite"):
            with sqlite3.connect(urlsplit(self.url).path[1:], timeout=30) as conn:
                return conn.execute(sql).fetchall()
        import psycopg

        with psycopg.connect(self.url) as conn:
            return conn.execute(sql).fetchall()  # type: ignore[arg-type]

    def statuses(self) -> Counter[str]:
        return Counter(
            dict(
                self.rows("SELECT status, COUNT(*) FROM notifications_notification GROUP BY status")
            )
        )

    def sent_ids(self) -> set[str]:
        return {
            row[0]
            for row in self.rows(
                "SELECT message_id FROM notifications_notification WHERE status = 'sent'"
            )
        }


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Database]:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        yield Database(f"sqlite:///{tmp_path / 'worker.sqlite3'}")
        return
    import psycopg

    parts = urlsplit(base)
    name = f"{parts.path.lstrip('/')}_procs"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]
        conn.execute(f'CREATE DATABASE "{name}"')  # type: ignore[arg-type]
    yield Database(urlunsplit(parts._replace(path=f"/{name}")))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[arg-type]


class Workers:
    def __init__(self, database: Database, tls: smtp.TLSFiles, port: int, tmp_path: Path):
        self.env = {
            key: value
            for key, value in os.environ.items()
            if key not in {"CONCERTO_NOTIFY_FAULT", "TEST_DATABASE_NAME"}
        }
        self.env.update(
            DATABASE_URL=database.url,
            CONCERTO_MODE="demo",
            CONCERTO_DATA_DIR=str(tmp_path / "var"),
            MSSANTE_SMTP_HOST="127.0.0.1",
            MSSANTE_SMTP_PORT=str(port),
            MSSANTE_CA_BUNDLE=str(tls.ca_file),
            MSSANTE_CLIENT_CERT=str(tls.client_cert),
            MSSANTE_CLIENT_KEY=str(tls.client_key),
            NOTIFY_LEASE_SECONDS="2",
            NOTIFY_BATCH_SIZE="10",
            NOTIFY_RETRY_BASE_SECONDS="1",
            NOTIFY_RETRY_MAX_SECONDS="2",
            LOG_LEVEL="ERROR",
        )
        self.log = (tmp_path / "workers.log").open("ab")
        self.started: list[subprocess.Popen[bytes]] = []
        self.outputs: dict[int, Path] = {}
        self.folder = tmp_path

    def close(self) -> None:
        """Kill whatever a failed test left running, then close the log."""
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()
        self.log.close()

    def seed(self, count: int) -> None:
        subprocess.run(
            [sys.executable, "-m", "tests.notifications.harness", "seed", str(count)],
            cwd=ROOT,
            env=self.env,
            check=True,
        )

    def start(self, fault: str | None = None, **extra: str) -> subprocess.Popen[bytes]:
        env = dict(self.env, **extra)
        if fault:
            env["CONCERTO_NOTIFY_FAULT"] = fault
        output = self.folder / f"worker-{len(self.started)}.log"
        with output.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "concerto", "notify", "--loop", "--interval", "0.2"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=self.log,
            )
        self.started.append(process)
        self.outputs[process.pid] = output
        return process

    def ready(self, process: subprocess.Popen[bytes]) -> bool:
        """The worker has installed its SIGTERM handler and started looping."""
        return b"Notifications : boucle" in self.outputs[process.pid].read_bytes()

    def one_pass(self) -> int:
        return subprocess.run(
            [sys.executable, "-m", "concerto", "notify"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=self.log,
            check=False,
        ).returncode


@pytest.fixture
def make_workers() -> Iterator:
    made: list[Workers] = []

    def make(*args) -> Workers:  # type: ignore[no-untyped-def]
        made.append(Workers(*args))
        return made[-1]

    yield make
    for workers in made:
        workers.close()


def wait_for(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def received_ids(handler: smtp.Handler) -> list[str]:
    with handler.lock:
        contents = [r.content for r in handler.received]
    ids = []
    for content in contents:
        match = MESSAGE_ID.search(content)
        assert match, "message without Message-ID"
        ids.append(match.group(1).decode())
    return ids


def settle(handler: smtp.Handler) -> None:
    """Wait until the server has received everything already on the wire."""
    count = -1
    while count != len(handler.received):
        count = len(handler.received)
        time.sleep(0.3)


@pytest.fixture
def server(tls) -> Iterator[tuple[smtp.Handler, int]]:  # type: ignore[no-untyped-def]
    import logging

    logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    handler = smtp.Handler()
    controller = smtp.start(handler, smtp.server_context(tls))
    yield handler, controller.port
    controller.stop()


CRASH_NOTIFICATIONS = 500
KILLS_PER_POINT = 12
RANDOM_KILLS = 45


@pytest.mark.slow
@pytest.mark.timeout(1200)  # ~2.5 min alone (SQLite), ~3.5 min (PostgreSQL); more on a busy box
def test_sigkill_crash_loses_nothing_and_duplicates_only_after_250(
    database, server, tls, tmp_path, make_workers
):
    handler, port = server
    workers = make_workers(database, tls, port, tmp_path)
    workers.env["NOTIFY_BATCH_SIZE"] = "5"
    workers.seed(CRASH_NOTIFICATIONS)
    rng = random.Random(20220913)
    plan = [point for point in POINTS for _ in range(KILLS_PER_POINT)] + ["random"] * RANDOM_KILLS
    rng.shuffle(plan)
    kills: Counter[str] = Counter()
    in_flight: dict[str, set[str]] = defaultdict(set)  # last message received before a kill
    # A message is sent again only when the crash fell between its end-of-data mark and
    # the commit of its "sent": at after_250_before_commit; or, since that commit runs
    # while the next message's envelope and content are sent (worker.Recorder), at the
    # next message's after_mail_from or after_data_sent; or at a random point. In each
    # case it is the last message the server received before the kill (the next one's
    # end-of-data mark waits for the commit), so at most one per kill.
    window = ("after_250_before_commit", "after_mail_from", "after_data_sent", "random")
    # How many of those kills each message was the last one received before (one message
    # can be: resent after a first kill, it can be the last one of a second).
    kills_after: Counter[str] = Counter()
    started = time.monotonic()
    total = CRASH_NOTIFICATIONS
    for point in plan:
        statuses = database.statuses()
        if statuses["pending"] + statuses["sending"] < 40:
            # A busy machine lets runs send more before their kill: keep work to kill in.
            workers.seed(200)
            total += 200
        before = len(received_ids(handler))
        if point == "random":
            process = workers.start()
            time.sleep(rng.uniform(0.3, 0.9))
            killed = process.poll() is None
            if killed:
                process.send_signal(signal.SIGKILL)
            process.wait()
        else:
            process = workers.start(fault=f"{point}@{rng.randint(1, 2)}")
            try:
                killed = process.wait(timeout=10) == -signal.SIGKILL
            except subprocess.TimeoutExpired:  # nothing left to reach the point with
                process.kill()
                process.wait()
                killed = False
        settle(handler)  # the server may still be reading what the dead worker sent
        if killed:
            kills[point] += 1
            run = received_ids(handler)[before:]
            if run:
                in_flight[point].add(run[-1])
                if point in window:
                    kills_after[run[-1]] += 1

    # Clean passes finish the rest, including rows whose killed worker's lease expired.
    def finish() -> bool:
        assert workers.one_pass() == 0
        return set(database.statuses()) <= {"sent", "failed"}

    finished = wait_for(finish, timeout=180)
    elapsed = time.monotonic() - started

    statuses = database.statuses()
    ids = received_ids(handler)
    counts = Counter(ids)
    sent = database.sent_ids()
    lost = total - len(sent & set(counts))
    duplicated = {mid: n - 1 for mid, n in counts.items() if n > 1}
    # For the summary, each message's copies go to the first of its kill points.
    duplicates: Counter[str] = Counter()
    for mid, n in duplicated.items():
        duplicates[next((p for p in window if mid in in_flight[p]), "elsewhere")] += n
    print(
        f"\nCRASH TEST ({database.url.split(':')[0]}): {total} notifications,"
        f" {sum(kills.values())} SIGKILLs in {elapsed:.0f}s — per point: {dict(kills)};"
        f" statuses {dict(statuses)}; received {len(ids)} messages;"
        f" lost {lost}; duplicates per kill point: {dict(duplicates)}"
    )
    assert finished, f"not finished: {statuses}"
    assert sum(kills.values()) >= 100
    assert all(kills[point] >= 10 for point in POINTS), kills
    assert statuses == Counter({"sent": total})
    assert lost == 0
    assert set(counts) == sent  # nothing received that the outbox does not know
    assert duplicates["elsewhere"] == 0  # none after a claim, none after a commit
    # At most one per kill: a message received n extra times was the last one received
    # before at least n kills in the window.
    beyond = {mid: (n, kills_after[mid]) for mid, n in duplicated.items() if n > kills_after[mid]}
    assert not beyond, beyond
    assert sum(duplicated.values()) <= sum(kills[point] for point in window)


def test_sigterm_finishes_the_message_in_flight_and_leaves_no_lease(
    database, server, tls, tmp_path, make_workers
):
    handler, port = server
    handler.delay = 0.3  # a slow server: SIGTERM lands while a message is in flight
    workers = make_workers(database, tls, port, tmp_path)
    workers.seed(30)
    process = workers.start(NOTIFY_LEASE_SECONDS="300")
    assert wait_for(lambda: workers.ready(process), timeout=60)
    assert wait_for(lambda: len(received_ids(handler)) >= 3, timeout=60)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    ids = received_ids(handler)
    statuses = database.statuses()
    assert "sending" not in statuses
    assert database.rows(
        "SELECT COUNT(*) FROM notifications_notification WHERE lease_until IS NOT NULL"
        " OR claim_token <> ''"
    ) == [(0,)]
    assert statuses["sent"] == len(ids) == len(set(ids)) < 30  # stopped early, nothing half-done
    assert statuses["pending"] == 30 - len(ids)
    assert set(ids) == database.sent_ids()
    # The rows given back were not counted as attempts.
    assert database.rows(
        "SELECT COUNT(*) FROM notifications_notification WHERE status = 'pending' AND attempts > 0"
    ) == [(0,)]


@pytest.mark.postgres
def test_four_workers_on_postgresql_send_each_notification_exactly_once(
    database, server, tls, tmp_path, make_workers
):
    handler, port = server
    workers = make_workers(database, tls, port, tmp_path)
    count = 400
    workers.seed(count)
    processes = [workers.start(NOTIFY_LEASE_SECONDS="300") for _ in range(4)]
    assert wait_for(lambda: all(workers.ready(p) for p in processes), timeout=60)
    done = wait_for(lambda: database.statuses().get("sent", 0) == count, timeout=180)
    for process in processes:
        process.send_signal(signal.SIGTERM)
    assert all(process.wait(timeout=30) == 0 for process in processes)
    ids = received_ids(handler)
    claimed_by = database.rows("SELECT COUNT(DISTINCT claimed_by) FROM notifications_notification")[
        0
    ][0]
    print(
        f"\nCONCURRENCY: 4 workers, {count} notifications, {len(ids)} received,"
        f" {claimed_by} workers claimed"
    )
    assert done, database.statuses()
    assert len(ids) == count and Counter(ids).most_common(1)[0][1] == 1
    assert set(ids) == database.sent_ids()
    assert claimed_by >= 2  # they really shared the work
