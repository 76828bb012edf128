"""A news line inserted while its patient's GP changes ends with the new GP (PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, connections, transaction

from concerto.lib import clock
from concerto.patients.models import Patient
from concerto.rcp.models import NewsItem
from tests import builders


def _waits_for_a_lock(pid: int) -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return bool(row and row[0] == "Lock")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_line_inserted_while_the_gp_changes_follows_the_new_gp() -> None:
    world = builders.World()
    former, new = builders.gp(), builders.gp()
    patient = world.patient(gp_rpps=former.rpps)
    inserted, started, done = threading.Event(), threading.Event(), threading.Event()
    backend: list[int] = []

    def change_gp() -> None:
        try:
            inserted.wait(10)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend.append(cursor.fetchone()[0])
            started.set()
            with transaction.atomic():
                Patient.objects.filter(pk=patient.pk).update(gp_rpps=new.rpps)
        finally:
            connection.close()
            done.set()

    thread = threading.Thread(target=change_gp)
    thread.start()
    with transaction.atomic():
        item = NewsItem.objects.create(
            patient=patient,
            kind="pps",
            date=dt.date(2026, 11, 27),
            text="Nouveau PPS",
            created_at=clock.now(),
        )
        inserted.set()
        assert started.wait(10)
        # The change either waits for this transaction (the fix) or goes through (the race).
        deadline = time.monotonic() + 10
        while not done.is_set() and not _waits_for_a_lock(backend[0]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    thread.join(10)
    assert done.is_set()
    item.refresh_from_db()
    patient.refresh_from_db()
    assert patient.gp_rpps == new.rpps
    assert item.gp_rpps == new.rpps
