"""The GPs' news lines stay true when their patient's GP changes, their session moves or
their board is renamed, at the same time (PostgreSQL) or one after the other."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse

from concerto.audit import trail
from concerto.lib import clock
from concerto.patients import actions as patient_actions
from concerto.patients.models import Patient
from concerto.rcp import actions
from concerto.rcp.models import Board, NewsItem, Session
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


def _rename(board: Board, title: str) -> None:
    """What BoardAdmin does (its change view is atomic): save, then rewrite the lines."""
    with transaction.atomic():
        board = Board.objects.get(pk=board.pk)
        board.title = title
        board.save()
        actions.refresh_upcoming_news(board)


@pytest.mark.django_db
def test_renaming_a_board_keeps_a_held_sessions_line_a_past_presentation() -> None:
    with builders.at(builders.paris(2026, 3, 2, 9)):
        world = builders.World(title="RCP Digestif")
        session = world.session(dt.date(2026, 3, 17))
        registration = world.register(session, world.patient(gp_rpps=builders.gp().rpps))
    with builders.at(builders.paris(2026, 3, 17, 16)):
        actions.mark_session_held(by=world.secretary, session=session)
    with builders.at(builders.paris(2026, 4, 1, 9)):
        _rename(world.board, "RCP Digestif Poitiers")
    line = NewsItem.objects.get(registration=registration, kind="upcoming")
    assert line.text == "Présenté en RCP Digestif Poitiers le 17/03/2026"  # was "A venir : …"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_board_renamed_while_its_session_moves_keeps_the_new_date(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with builders.at(builders.paris(2026, 3, 2, 9)):
        world = builders.World(title="RCP Digestif")
        session = world.session(dt.date(2026, 3, 17))
        registration = world.register(session, world.patient(gp_rpps=builders.gp().rpps))
    moved_lines, release = threading.Event(), threading.Event()
    backend: list[int] = []
    errors: list[BaseException] = []
    real_record = trail.record

    def record(**event: object) -> object:
        if event.get("action") == "session.move":  # lines rewritten, not yet committed
            moved_lines.set()
            release.wait(10)
        return real_record(**event)  # type: ignore[arg-type]

    monkeypatch.setattr(trail, "record", record)

    def move() -> None:
        try:
            with builders.at(builders.paris(2026, 3, 2, 9)):
                actions.move_session(
                    by=world.secretary, session=session, date=dt.date(2026, 3, 31), time=dt.time(14)
                )
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            connection.close()

    def rename() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                backend.append(cursor.fetchone()[0])
            _rename(world.board, "RCP Digestif Poitiers")
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        finally:
            connection.close()

    mover = threading.Thread(target=move)
    mover.start()
    assert moved_lines.wait(10)
    renamer = threading.Thread(target=rename)
    renamer.start()
    deadline = time.monotonic() + 10
    while not (backend and _waits_for_a_lock(backend[0])):  # the rename waits for the move
        assert time.monotonic() < deadline, "the rename did not wait for the move"
        time.sleep(0.05)
    release.set()
    mover.join(10)
    renamer.join(10)
    assert errors == []
    line = NewsItem.objects.get(registration=registration, kind="upcoming")
    assert line.date == dt.date(2026, 3, 31)
    assert line.text == "A venir : présentation en RCP Digestif Poitiers le 31/03/2026"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_double_click_on_create_session_makes_one_session_and_no_error(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    world = builders.World()
    day = clock.now().date() + dt.timedelta(days=30)
    checked, release = threading.Event(), threading.Event()
    real_full_clean = Session.full_clean

    def full_clean_then_wait(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        real_full_clean(self, *args, **kwargs)
        if not checked.is_set():  # the first click: the slot found free, not yet saved
            checked.set()
            release.wait(10)

    monkeypatch.setattr(Session, "full_clean", full_clean_then_wait)
    pages: list[str] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            client = Client()
            client.force_login(world.secretary)
            response = client.post(
                reverse("rcp:board-sessions", args=[world.board.pk]),
                {"kind": "single", "single-date": day.isoformat(), "single-time": "14:00"},
                follow=True,
            )
            pages.append(response.content.decode())
        except BaseException as exc:  # noqa: BLE001 — the test client re-raises a 500
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=post)
    first.start()
    assert checked.wait(10)
    second = threading.Thread(target=post)
    second.start()
    time.sleep(1)  # the second click reaches its check while the first is unsaved
    release.set()
    first.join(30)
    second.join(30)
    assert errors == []  # was: IntegrityError "session_unique", a 500 for the second click
    assert Session.objects.filter(board=world.board, date=day).count() == 1
    assert any("déjà prévue" in page for page in pages)


def _blocked_or_done(pid: int, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 10
    while thread.is_alive() and not _waits_for_a_lock(pid):
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_gp_change_and_a_session_marked_held_at_once_do_not_deadlock(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    former, new = builders.gp(), builders.gp()
    with builders.at(builders.paris(2026, 3, 2, 9)):
        world = builders.World()
        patient = world.patient(gp_rpps=former.rpps)
        later = world.session(dt.date(2026, 3, 31))
        first = world.register(later, patient)  # (its news line is stored first)
        session = world.session(dt.date(2026, 3, 17))
        world.register(session, patient)
    paused, release = threading.Event(), threading.Event()
    real_record = trail.record

    def record(**event: object) -> object:
        if event.get("action") == "registration.withdraw":
            paused.set()
            release.wait(10)
        return real_record(**event)  # type: ignore[arg-type]

    monkeypatch.setattr(trail, "record", record)
    errors: dict[str, BaseException] = {}
    pids: dict[str, int] = {}

    def run(name: str, act) -> None:  # type: ignore[no-untyped-def]
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids[name] = cursor.fetchone()[0]
            with builders.at(builders.paris(2026, 3, 17, 16)):
                act()
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors[name] = exc
        finally:
            connection.close()

    # 1. The patient is withdrawn from the later session (its line deleted, uncommitted).
    withdraw = threading.Thread(
        target=run,
        args=(
            "withdraw",
            lambda: actions.withdraw_registration(by=world.registrar, registration=first),
        ),
    )
    withdraw.start()
    assert paused.wait(10)
    # 2. The patient's GP changes: the patient's row locked, its trigger waits for the line.
    change = threading.Thread(
        target=run,
        args=(
            "gp",
            lambda: patient_actions.declare_gp(
                by=world.secretary, patient=patient, gp_name="Dr NEW", gp_rpps=new.rpps
            ),
        ),
    )
    change.start()
    while "gp" not in pids:
        time.sleep(0.01)
    _blocked_or_done(pids["gp"], change)
    # 3. The session is marked held: its line updated (it used to wait for the patient's
    # row then, while the GP change waited for that line: a deadlock, a 500 for one).
    held = threading.Thread(
        target=run,
        args=("held", lambda: actions.mark_session_held(by=world.secretary, session=session)),
    )
    held.start()
    while "held" not in pids:
        time.sleep(0.01)
    _blocked_or_done(pids["held"], held)
    release.set()
    for thread in (withdraw, change, held):
        thread.join(20)
    assert errors == {}, errors
    # Every line of the patient ends with the new GP.
    assert set(NewsItem.objects.filter(patient=patient).values_list("gp_rpps", flat=True)) == {
        new.rpps
    }
