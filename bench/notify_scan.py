"""Benchmark: one notification scan on a region-year of data, at two sizes.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/concerto_notify \\
        .venv/bin/python bench/notify_scan.py

Builds a dedicated database ``<name>_bench_scan``: 10,000 then 100,000 registrations over
a year (≥ 5,000 sessions and ≥ 100,000 directory entries at full size), with 500
registrations due at the instant of the scan plus the registrations of the sessions of the
following three weeks (planned, not yet due). Prints the time and the SQL query count of
one scan at each size: the count must not grow with the total.
"""

from __future__ import annotations

import datetime as dt
import time

from _setup import PARIS, Region, use_database

NOW = dt.datetime(2026, 3, 10, 10, 0, tzinfo=PARIS)  # a Tuesday
DUE = 500


def year_dates(count: int, skip: tuple[dt.date, dt.date]) -> list[dt.date]:
    """``count`` session dates on weekdays of 2026, outside the scan's window."""
    days = [
        dt.date(2026, 1, 1) + dt.timedelta(days=i)
        for i in range(365)
        if (dt.date(2026, 1, 1) + dt.timedelta(days=i)).weekday() < 5
    ]
    days = [d for d in days if not skip[0] <= d <= skip[1]]
    return [days[i % len(days)] for i in range(count)]


def build(region: Region, registrations: int, sessions: int, due: int) -> None:
    from concerto.notifications.worker import EXPIRY_LOOKBACK_DAYS, SCAN_HORIZON_DAYS

    today = NOW.date()
    window = (
        today - dt.timedelta(days=EXPIRY_LOOKBACK_DAYS),
        today + dt.timedelta(days=SCAN_HORIZON_DAYS),
    )
    per_day = registrations / 365
    # The window's own share of the year (planned sessions, not due yet)…
    in_window = int(per_day * (SCAN_HORIZON_DAYS - 7))
    later = region.sessions([today + dt.timedelta(days=8 + i % 10) for i in range(100)])
    region.registrations(later, max(in_window // 100, 1))
    # …the 500 due now: sessions on Thursday 12/03 (notification day Tue 10/03), of
    # opted-in boards, for GPs with an address…
    if due:
        due_sessions = region.sessions([dt.date(2026, 3, 12)] * 25)
        region.registrations(due_sessions, due // 25, reachable_only=True)
    # …and the rest of the year, outside the window.
    rest = registrations - in_window - due
    year = region.sessions(year_dates(sessions - 125, window))
    region.registrations(year, max(-(-rest // len(year)), 1))  # rounded up


def measure(label: str) -> tuple[int, float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from concerto.notifications import worker
    from concerto.notifications.models import Notification
    from concerto.rcp.models import Registration

    Notification.objects.all().delete()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        result = worker.scan(NOW)
        elapsed = time.perf_counter() - started
    due = Notification.objects.filter(status="pending", due_at__lte=NOW).count()
    print(
        f"{label}: {Registration.objects.count():>7} registrations,"
        f" {result.evaluated:>5} evaluated, {due} due → {len(queries)} queries,"
        f" {elapsed * 1000:.0f} ms"
    )
    return len(queries), elapsed, due


def main() -> None:
    url = use_database("bench_scan")
    print(f"database: {url.split('@')[-1]}")
    from concerto.directory.models import MSSanteAddress, Professional
    from concerto.rcp.models import Session

    region = Region()
    region.directory(10_000)
    build(region, 10_000, 600, DUE)
    small = measure("10k ")
    region.directory(90_000)
    build(region, 90_000, 4_500, 0)
    print(
        f"      {Session.objects.count()} sessions, {Professional.objects.count()} professionals,"
        f" {MSSanteAddress.objects.count()} MSSanté addresses"
    )
    large = measure("100k")
    print(f"query count 10k → 100k: {small[0]} → {large[0]} (time ratio {large[1] / small[1]:.1f})")


if __name__ == "__main__":
    main()
