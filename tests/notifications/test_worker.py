"""The outbox and the worker's pass: planning, claiming, expiry, moves, statuses."""

from __future__ import annotations

import datetime as dt
import threading
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import OperationalError, connection
from django.db.backends.signals import connection_created
from django.test.utils import CaptureQueriesContext

from concerto.directory.models import MSSanteAddress
from concerto.notifications import queries, worker
from concerto.notifications.eligibility import Reason
from concerto.notifications.models import Notification
from concerto.patients import actions as patient_actions
from concerto.rcp import actions
from concerto.rcp.models import Territory
from tests.builders import at, gp, paris
from tests.notifications.conftest import BEFORE, SEND_TIME, SESSION_DAY, make_due

pytestmark = pytest.mark.django_db
S = Notification.Status


def row_of(registration) -> Notification:  # type: ignore[no-untyped-def]
    return Notification.objects.get(registration=registration)


def test_row_is_planned_before_and_sent_from_0800_on_day_n(mssante):
    server = mssante()
    due = make_due()
    early = worker.run_pass(now=paris(2022, 9, 9, 7, 59))
    row = row_of(due.registrations[0])
    assert early.scan.created == 1 and early.sent == 0
    assert row.status == S.PENDING and row.due_at == SEND_TIME
    assert worker.run_pass(now=SEND_TIME).sent == 1
    assert len(server.received) == 1


def test_late_prefiche_is_never_notified(mssante):
    server = mssante()
    due = make_due()
    with at(BEFORE - dt.timedelta(days=1)):
        session = due.session
        patient = due.world.patient(gp_rpps=gp().rpps)
        late = due.world.register(session, patient, complete=False)
    with at(paris(2022, 9, 12, 9)):  # Monday, after the notification day
        actions.complete_prefiche(by=due.world.registrar, registration=late)
    worker.run_pass(now=paris(2022, 9, 12, 10))
    row = row_of(late)
    assert row.status == S.NOT_ELIGIBLE and row.reasons == [Reason.PREFICHE_LATE.value]
    assert len(server.received) == 1  # only the one in time
    status = queries.statuses_for([late])[late.pk]
    assert status.code == "not_eligible"
    assert "pré-fiche complétée après le jour de notification" in status.label


def test_prefiche_completed_during_day_n_is_sent(mssante):
    server = mssante()
    due = make_due()
    with at(BEFORE):
        patient = due.world.patient(gp_rpps=gp().rpps)
        registration = due.world.register(due.session, patient, complete=False)
    worker.run_pass(now=SEND_TIME)
    assert not Notification.objects.filter(registration=registration).exists()  # still possible
    with at(paris(2022, 9, 9, 9)):
        status = queries.statuses_for([registration])[registration.pk]
    assert status.label == "En attente de la pré-fiche (à compléter au plus tard le 09/09/2022)"
    with at(paris(2022, 9, 9, 15)):
        actions.complete_prefiche(by=due.world.registrar, registration=registration)
    worker.run_pass(now=paris(2022, 9, 9, 15, 1))
    assert row_of(registration).status == S.SENT
    assert len(server.received) == 2


def test_withdrawn_or_cancelled_before_sending_is_not_notified(mssante):
    server = mssante()
    due = make_due(2)
    worker.scan(paris(2022, 9, 8, 12))
    with at(paris(2022, 9, 8, 13)):
        actions.withdraw_registration(by=due.world.registrar, registration=due.registrations[0])
    worker.run_pass(now=SEND_TIME)
    assert row_of(due.registrations[0]).status == S.NOT_ELIGIBLE
    assert row_of(due.registrations[0]).reasons == [Reason.REGISTRATION_WITHDRAWN.value]
    assert len(server.received) == 1
    other = make_due()
    with at(paris(2022, 9, 9, 7)):
        actions.cancel_session(by=other.world.secretary, session=other.session)
    worker.run_pass(now=SEND_TIME)
    assert row_of(other.registrations[0]).reasons == [Reason.SESSION_CANCELLED.value]
    assert len(server.received) == 1


def test_withdrawal_between_scan_and_claim_is_caught_by_the_claim(mssante):
    server = mssante()
    due = make_due()
    worker.scan(SEND_TIME)
    with at(SEND_TIME):
        actions.withdraw_registration(by=due.world.registrar, registration=due.registrations[0])
    assert worker.claim(SEND_TIME, limit=10, worker="test") == []
    assert server.received == []


def test_board_opt_in_is_required(mssante):
    server = mssante()
    due = make_due(opted_in=False)
    worker.run_pass(now=SEND_TIME)
    row = row_of(due.registrations[0])
    assert row.status == S.NOT_ELIGIBLE and row.reasons == [Reason.BOARD_NOT_OPTED_IN.value]
    assert server.received == []


def test_a_gp_with_only_an_organisational_address_is_told_apart(mssante):
    """Only personal (PER) mailboxes are notified (the notice names a patient): a GP whose
    RPPS the directory knows with a practice's or an establishment's mailbox only is not
    notified, and is not said to have no address known."""
    server = mssante()
    due = make_due()
    registration = due.registrations[0]
    rpps = registration.patient.gp_rpps
    MSSanteAddress.objects.filter(rpps=rpps).update(kind=MSSanteAddress.Kind.ORGANISATIONAL)
    MSSanteAddress.objects.create(
        address=f"cabinet.{rpps}@cabinet.mssante.fr", kind=MSSanteAddress.Kind.CABINET, rpps=rpps
    )
    label = (
        "Non éligible : seule une adresse MSSanté organisationnelle (cabinet, établissement)"
        " est connue dans l'annuaire pour ce RPPS : la notification ne part que vers une"
        " adresse personnelle"
    )
    with at(paris(2022, 9, 5, 9)):  # before any scan: the rule applied by the page
        assert queries.statuses_for([registration])[registration.pk].label == label
    worker.run_pass(now=SEND_TIME)
    row = row_of(registration)
    assert (row.status, row.reasons, row.addresses) == (
        S.NOT_ELIGIBLE,
        [Reason.ORGANISATIONAL_ADDRESS_ONLY.value],
        [],
    )
    assert server.received == []
    with at(SEND_TIME):
        assert queries.statuses_for([registration])[registration.pk].label == label
    # No address at all: said as before.
    MSSanteAddress.objects.filter(rpps=rpps).delete()
    worker.run_pass(now=SEND_TIME + dt.timedelta(minutes=1))
    assert row_of(registration).reasons == [Reason.NO_MSSANTE_ADDRESS.value]


def test_moving_the_session_replans_the_pending_notification(mssante):
    server = mssante()
    due = make_due()
    worker.scan(paris(2022, 9, 5, 9))
    with at(paris(2022, 9, 5, 10)):
        actions.move_session(
            by=due.world.secretary, session=due.session, date=dt.date(2022, 9, 20), time=dt.time(9)
        )
    worker.run_pass(now=SEND_TIME)  # the old notification day: nothing
    row = row_of(due.registrations[0])
    assert server.received == [] and row.status == S.PENDING
    assert row.due_at == paris(2022, 9, 16, 8)
    worker.run_pass(now=paris(2022, 9, 16, 8))
    assert len(server.received) == 1
    assert "20/09/2022" in server.received[0].message.get_body(("plain",)).get_content()


def test_a_sent_notification_is_never_resent_after_a_move(mssante):
    server = mssante()
    due = make_due()
    worker.run_pass(now=SEND_TIME)
    with at(paris(2022, 9, 10, 10)):
        actions.move_session(
            by=due.world.secretary, session=due.session, date=dt.date(2022, 9, 27), time=dt.time(9)
        )
    worker.run_pass(now=paris(2022, 9, 23, 8))
    assert len(server.received) == 1
    assert Notification.objects.count() == 1 and row_of(due.registrations[0]).status == S.SENT


def test_worker_down_catches_up_before_the_session(mssante):
    server = mssante()
    make_due()
    result = worker.run_pass(now=paris(2022, 9, 13, 13, 59))  # one minute before
    assert result.scan.created == 1 and result.sent == 1 and len(server.received) == 1


def test_worker_down_until_after_the_session_records_expired(mssante):
    server = mssante()
    due = make_due()
    worker.run_pass(now=paris(2022, 9, 13, 14, 0))
    row = row_of(due.registrations[0])
    assert row.status == S.EXPIRED and row.needs_attention and server.received == []
    status = queries.statuses_for(due.registrations)[due.registrations[0].pk]
    assert status.code == "expired" and status.needs_attention


def test_gp_changed_after_planning(mssante):
    server = mssante()
    due = make_due()
    worker.scan(paris(2022, 9, 8, 9))
    new_gp = gp()
    patient = due.registrations[0].patient
    old_rpps = patient.gp_rpps
    with at(paris(2022, 9, 8, 10)):
        patient_actions.declare_gp(
            by=due.world.registrar, patient=patient, gp_name="Dr NOUVEAU", gp_rpps=new_gp.rpps
        )
    worker.run_pass(now=SEND_TIME)
    rows = {r.gp_rpps: r for r in Notification.objects.filter(registration=due.registrations[0])}
    assert rows[new_gp.rpps].status == S.SENT
    assert [r.status for k, r in rows.items() if k != new_gp.rpps] == [S.NOT_ELIGIBLE]
    assert server.received[0].rcpt_tos == [f"gp.{new_gp.rpps}@medecin.mssante.fr"]
    assert queries.notice_sent(due.registrations[0], new_gp.rpps) is not None
    assert queries.notice_sent(due.registrations[0], old_rpps or "") is None
    assert rows[old_rpps].reasons == ["gp_changed"]


def test_gp_changed_between_the_scan_and_the_claim_is_not_sent_to_the_former_gp(mssante):
    """A pass scans once, then claims batch after batch: a GP changed in between must
    not get the notice (it names the patient) through a row planned for them."""
    mssante()
    due = make_due()
    worker.scan(SEND_TIME)  # the row for the GP of then, pending and due
    patient = due.registrations[0].patient
    new_gp = gp()
    with at(SEND_TIME):
        patient_actions.declare_gp(
            by=due.world.registrar, patient=patient, gp_name="Dr NOUVEAU", gp_rpps=new_gp.rpps
        )
    assert worker.claim(SEND_TIME, limit=10, worker="w") == []
    # The next scan closes the former GP's row and plans the new GP's, which is claimed.
    worker.scan(SEND_TIME)
    [claimed] = worker.claim(SEND_TIME, limit=10, worker="w")
    assert claimed.addresses == [f"gp.{new_gp.rpps}@medecin.mssante.fr"]


def test_a_territory_with_an_unknown_calendar_does_not_stop_the_other_boards(mssante, caplog):
    server = mssante()
    good = make_due()
    bad = make_due()
    # (a code the form refuses, say from an edit in the database or a library upgrade)
    Territory.objects.filter(pk=bad.world.territory.pk).update(holiday_subdivision="67")
    result = worker.run_pass(now=SEND_TIME)
    assert result.sent == 1
    assert [m.rcpt_tos for m in server.received] == [
        [f"gp.{good.registrations[0].patient.gp_rpps}@medecin.mssante.fr"]
    ]
    assert not Notification.objects.filter(registration=bad.registrations[0]).exists()
    assert f"inscription {bad.registrations[0].pk} non évaluée" in caplog.text
    assert "« 67 »" in caplog.text
    # The session page's statuses say so too, instead of failing.
    status = queries.statuses_for(bad.registrations)[bad.registrations[0].pk]
    assert status.code == "unknown" and status.needs_attention
    assert "Calendrier des jours fériés inconnu : « 67 »" in status.label


def test_claims_are_disjoint(mssante):
    mssante()
    make_due(6)
    worker.scan(SEND_TIME)
    first = worker.claim(SEND_TIME, limit=4, worker="a")
    second = worker.claim(SEND_TIME, limit=4, worker="b")
    assert len(first) == 4 and len(second) == 2
    assert not {r.pk for r in first} & {r.pk for r in second}
    assert worker.claim(SEND_TIME, limit=4, worker="c") == []


def test_a_dead_workers_claim_is_taken_again_after_the_lease(mssante, settings):
    server = mssante()
    settings.NOTIFY_LEASE_SECONDS = 300
    due = make_due()
    worker.scan(SEND_TIME)
    [claimed] = worker.claim(SEND_TIME, limit=5, worker="dead")  # …and the worker dies
    assert worker.run_pass(now=SEND_TIME + dt.timedelta(seconds=299)).sent == 0
    result = worker.run_pass(now=SEND_TIME + dt.timedelta(seconds=301))
    assert result.scan.reclaimed == 1 and result.sent == 1
    row = row_of(due.registrations[0])
    assert row.status == S.SENT and row.attempts == 2 and row.lease_until is None
    assert len(server.received) == 1 and claimed.pk == row.pk


def test_a_batch_whose_lease_runs_low_gives_the_rest_back_unsent(mssante, settings, monkeypatch):
    # A server so slow that the claim's lease would expire mid-batch: another worker
    # could then send the same messages. The worker gives the rest back in time and
    # claims it again with a fresh lease.
    server = mssante()
    settings.NOTIFY_LEASE_SECONDS = 300
    settings.NOTIFY_BATCH_SIZE = 3
    margin = worker.lease_margin()
    # Three SMTP steps, the reply to the content, the previous message's commit and its
    # own: the fixture's timeouts.
    assert margin == dt.timedelta(seconds=3 * 5 + 5 + 2 * 2)
    due = make_due(3)
    real_render = worker.render
    leases = {}  # the lease each message was last rendered (and so sent) under
    slow = dt.timedelta(seconds=301) - margin  # less than the margin left after it

    def slow_first(content, *, now):  # type: ignore[no-untyped-def]
        row = Notification.objects.get(pk=content.notification_id)
        first = not leases
        leases[row.pk] = (row.lease_until, row.attempts)
        if first:
            traveller.shift(slow)  # the first message took that long
        return real_render(content, now=now)

    monkeypatch.setattr(worker, "render", slow_first)
    with time_machine.travel(SEND_TIME, tick=False) as traveller:
        result = worker.run_pass()
    assert result.sent == 3 and result.released == 2 and result.claimed == 5
    assert len(server.received) == 3  # each once
    later = SEND_TIME + slow
    lease = dt.timedelta(seconds=300)
    # The two given back were sent under a second claim, with its fresh lease, and the
    # give-back did not count as an attempt.
    assert [leases[pk] for pk in sorted(leases)] == [
        (SEND_TIME + lease, 1),
        (later + lease, 1),
        (later + lease, 1),
    ]
    rows = Notification.objects.filter(registration__in=due.registrations)
    assert all(r.status == S.SENT and r.lease_until is None for r in rows)


def test_the_lease_left_is_checked_once_the_connection_is_open(mssante, settings, monkeypatch):
    """Opening the connection (again, after a drop mid-batch) may take several SMTP
    time-outs: a message must not start on the lease left before that."""
    server = mssante()
    settings.NOTIFY_LEASE_SECONDS = 300
    due = make_due(2)
    real_open = worker.Connection.open
    opened = []

    def slow_open(self):  # type: ignore[no-untyped-def]
        real_open(self)
        if not opened:
            traveller.shift(dt.timedelta(seconds=301) - worker.lease_margin())
        opened.append(True)

    monkeypatch.setattr(worker.Connection, "open", slow_open)
    with time_machine.travel(SEND_TIME, tick=False) as traveller:
        result = worker.run_pass()
    # Both given back unsent after the slow opening, then sent under a fresh claim.
    assert result.released == 2 and result.sent == 2 and len(server.received) == 2
    rows = Notification.objects.filter(registration__in=due.registrations)
    assert all(r.status == S.SENT and r.attempts == 1 for r in rows)


def test_a_message_that_cannot_be_built_waits_and_the_batch_goes_on(mssante, monkeypatch, caplog):
    server = mssante()
    due = make_due(3)
    real_render = worker.render
    broken = due.registrations[0].pk

    def render(content, *, now):  # type: ignore[no-untyped-def]
        if content.registration_id == broken:
            raise ValueError("données inattendues")
        return real_render(content, now=now)

    monkeypatch.setattr(worker, "render", render)
    result = worker.run_pass(now=SEND_TIME)
    assert (result.sent, result.retried, result.failed) == (2, 1, 0)
    assert len(server.received) == 2
    row = row_of(due.registrations[0])
    assert row.status == S.PENDING and "données inattendues" in row.last_error
    assert "message impossible à construire (ValueError)" in caplog.text


def test_statuses_for_in_constant_queries(mssante):
    mssante()
    small = make_due(2)
    big = make_due(12)
    worker.run_pass(now=SEND_TIME)
    with CaptureQueriesContext(connection) as few:
        small_result = queries.statuses_for(small.registrations)
    with CaptureQueriesContext(connection) as many:
        big_result = queries.statuses_for(big.registrations)
    assert len(few) == len(many) <= 3
    assert {s.code for s in big_result.values()} == {"sent"}
    assert all(
        s.label.startswith("Envoyée le 09/09/2022 à 08:00 à gp.") for s in small_result.values()
    )


def test_statuses_for_registrations_the_worker_has_not_seen(mssante):
    mssante()
    with at(BEFORE):
        due = make_due()
        no_gp = due.world.patient()
        registration = due.world.register(due.session, no_gp)
    with at(paris(2022, 9, 5, 9)):
        status = queries.statuses_for([registration, due.registrations[0]])
    assert status[registration.pk].code == "not_eligible"
    assert status[registration.pk].label == "Non éligible : pas de médecin traitant déclaré"
    assert status[due.registrations[0].pk] == queries.NotificationStatus(
        "pending", "En attente : envoi prévu le 09/09/2022 à 08:00"
    )


def test_scan_query_count_does_not_grow_with_size(mssante):
    mssante()
    make_due(3)
    with CaptureQueriesContext(connection) as small:
        worker.scan(SEND_TIME)
    Notification.objects.all().delete()
    make_due(30)
    with CaptureQueriesContext(connection) as large:
        worker.scan(SEND_TIME)
    assert Notification.objects.count() == 33
    assert len(small) == len(large)


def test_dry_run_prints_and_changes_nothing(mssante):
    server = mssante()
    due = make_due()
    with at(BEFORE):
        orphan = due.world.patient()
        due.world.register(due.session, orphan)
    out = StringIO()
    call_command("notify", "--dry-run", "--now", SEND_TIME.isoformat(), stdout=out)
    lines = out.getvalue().splitlines()
    assert f"inscription {due.registrations[0].pk} — " in lines[0] or any(
        f"inscription {due.registrations[0].pk} — " in line for line in lines
    )
    assert any("enverrait à gp." in line for line in lines)
    assert any("non éligible : pas de médecin traitant déclaré" in line for line in lines)
    assert Notification.objects.count() == 0 and server.received == []


def test_command_refuses_missing_certificates(settings):
    from django.core.management.base import CommandError

    settings.MSSANTE_CLIENT_CERT = ""
    with pytest.raises(CommandError, match="MSSANTE_CLIENT_CERT"):
        call_command("notify", "--now", SEND_TIME.isoformat())


def test_status_machine_is_forward_only(mssante):
    server = mssante()
    due = make_due()
    worker.run_pass(now=SEND_TIME)
    row = row_of(due.registrations[0])
    # Whatever changes afterwards, a terminal row stays as it is.
    with at(paris(2022, 9, 12, 9)):
        actions.withdraw_registration(by=due.world.registrar, registration=due.registrations[0])
    worker.run_pass(now=paris(2022, 9, 12, 10))
    row.refresh_from_db()
    assert row.status == S.SENT and len(server.received) == 1


@pytest.mark.django_db(transaction=True)
def test_database_unavailable_at_claim_sends_nothing_then_recovers(mssante):
    server = mssante()
    make_due(2)
    worker.scan(SEND_TIME)

    def refuse_claims(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if sql.lstrip().startswith("WITH due AS") and "claim_token" in sql:  # the claim
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse_claims), pytest.raises(OperationalError):
        worker.run_pass(now=SEND_TIME)
    assert server.received == [] and server.mail_from_count == 0
    assert set(Notification.objects.values_list("status", flat=True)) == {S.PENDING}
    assert worker.run_pass(now=SEND_TIME).sent == 2
    assert len(server.received) == 2


@pytest.mark.django_db(transaction=True)
def test_database_unavailable_after_the_250_loses_and_duplicates_nothing(mssante):
    server = mssante()
    due = make_due()
    failures = {"left": 2}

    def flaky_commit(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        # The "sent" commit: an UPDATE, or on PostgreSQL one WITH … UPDATE … INSERT.
        if sql.lstrip().startswith(("UPDATE", "WITH")) and "sent_at" in sql and failures["left"]:
            failures["left"] -= 1
            raise OperationalError("the database system is starting up")
        return execute(sql, params, many, context)

    def wrap_new(sender, connection, **kwargs):  # type: ignore[no-untyped-def]
        connection.execute_wrappers.append(flaky_commit)

    # The commit runs on the worker's second connection (worker.Recorder), made later.
    connection_created.connect(wrap_new)
    try:
        with connection.execute_wrapper(flaky_commit):
            result = worker.run_pass(now=SEND_TIME)
    finally:
        connection_created.disconnect(wrap_new)
    assert failures["left"] == 0
    assert result.sent == 1 and row_of(due.registrations[0]).status == S.SENT
    assert len(server.received) == 1


def test_session_day_constant():
    assert SESSION_DAY.weekday() == 1  # Tuesday, as in the seed


def test_notify_command_one_pass_as_of_now(mssante):
    server = mssante()
    make_due(2)
    out = StringIO()
    call_command("notify", "--now", SEND_TIME.isoformat(), stdout=out)
    assert "2 envoyées" in out.getvalue()
    assert len(server.received) == 2


def test_notify_command_rejects_naive_or_looping_now(mssante):
    from django.core.management.base import CommandError

    mssante()
    with pytest.raises(CommandError, match="fuseau"):
        call_command("notify", "--now", "2022-09-09T08:00")
    with pytest.raises(CommandError, match="--loop"):
        call_command("notify", "--loop", "--now", SEND_TIME.isoformat())


@pytest.mark.django_db(transaction=True)
def test_batches_claimed_ahead_are_each_sent_once(mssante, settings, monkeypatch):
    # On PostgreSQL the next batch is claimed on another connection while one is sent
    # (worker.Claimer); on SQLite in place. Either way: every row once, in order.
    server = mssante()
    settings.NOTIFY_BATCH_SIZE = 2
    due = make_due(5)
    claims_by_thread: list[str] = []
    plain_claim = worker.claim

    def claim(*args, **kwargs):  # type: ignore[no-untyped-def]
        claims_by_thread.append(threading.current_thread().name)
        return plain_claim(*args, **kwargs)

    monkeypatch.setattr(worker, "claim", claim)
    result = worker.run_pass(now=SEND_TIME)
    assert result.claimed == result.sent == 5 and result.released == 0
    # Batches of 2, 2 and 1, then an empty claim ends the pass. On PostgreSQL the second
    # and third were claimed ahead, in the helper thread (none after the short one).
    ahead = [name for name in claims_by_thread if name.startswith("notify-claim")]
    assert len(claims_by_thread) == 4
    assert len(ahead) == (2 if connection.vendor == "postgresql" else 0)
    message_ids = [r.message["Message-ID"] for r in server.received]
    assert len(message_ids) == len(set(message_ids)) == 5
    rows = Notification.objects.filter(registration__in=due.registrations)
    assert {r.status for r in rows} == {S.SENT} and {r.attempts for r in rows} == {1}
    assert worker.run_pass(now=SEND_TIME).claimed == 0


@pytest.mark.django_db(transaction=True)
def test_a_stop_gives_back_the_batch_claimed_ahead(mssante, settings):
    server = mssante()
    settings.NOTIFY_BATCH_SIZE = 2
    due = make_due(5)
    result = worker.run_pass(now=SEND_TIME, stop=lambda: len(server.received) >= 2)
    assert result.sent == 2 and len(server.received) == 2
    # The second batch was claimed while the first went out (PostgreSQL): back, unsent.
    ahead = 2 if connection.vendor == "postgresql" else 0
    assert result.released == ahead
    rows = Notification.objects.filter(registration__in=due.registrations)
    assert sorted(r.status for r in rows) == sorted([S.SENT] * 2 + [S.PENDING] * 3)
    assert all(r.claim_token == "" and r.lease_until is None for r in rows)
    assert {r.attempts for r in rows if r.status == S.PENDING} == {0}
    assert worker.run_pass(now=SEND_TIME).sent == 3
    assert len({r.message["Message-ID"] for r in server.received}) == 5


def test_a_claimed_batch_that_cannot_be_read_is_given_back(mssante):
    mssante()
    make_due(3)
    worker.scan(SEND_TIME)

    def refuse_the_read(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if sql.startswith("SELECT") and "claim_token" in sql:
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse_the_read), pytest.raises(OperationalError):
        worker.claim(SEND_TIME, limit=10, worker="a")
    rows = list(Notification.objects.all())
    assert [r.status for r in rows] == [S.PENDING] * 3
    assert all(r.attempts == 0 and r.claim_token == "" and r.lease_until is None for r in rows)
    assert len(worker.claim(SEND_TIME, limit=10, worker="b")) == 3


def test_a_dead_workers_row_for_a_former_gp_is_closed_after_its_lease(mssante, settings):
    mssante()
    settings.NOTIFY_LEASE_SECONDS = 300
    due = make_due()
    worker.scan(SEND_TIME)
    [claimed] = worker.claim(SEND_TIME, limit=5, worker="dead")  # …and the worker dies
    patient = due.registrations[0].patient
    with at(SEND_TIME + dt.timedelta(seconds=10)):
        patient_actions.declare_gp(
            by=due.world.registrar, patient=patient, gp_name="Dr NOUVEAU", gp_rpps=gp().rpps
        )
    worker.scan(SEND_TIME + dt.timedelta(seconds=299))  # still its worker's
    assert Notification.objects.get(pk=claimed.pk).status == S.SENDING
    worker.scan(SEND_TIME + dt.timedelta(seconds=301))
    row = Notification.objects.get(pk=claimed.pk)
    assert row.status == S.NOT_ELIGIBLE and row.reasons == ["gp_changed"]
    assert row.claim_token == "" and row.lease_until is None


@pytest.mark.parametrize("name", ["MSSANTE_X_MSS_NIL", "MSSANTE_MESSAGE_ID_DOMAIN"])
def test_the_worker_refuses_to_start_without_the_senders_identity(mssante, settings, name):
    """(Production has no default for them: a demo value must not reach real GPs.)"""
    from django.core.management.base import CommandError

    server = mssante()
    make_due()
    setattr(settings, name, "")
    with pytest.raises(CommandError, match=name):
        call_command("notify", "--now", SEND_TIME.isoformat())
    assert server.received == []


def test_an_invalid_sender_address_is_refused_and_fails_nothing(mssante, settings):
    from django.core.management.base import CommandError

    server = mssante()
    due = make_due()
    settings.MSSANTE_FROM = "Concerto <rcp@concerto.test.mssante.fr>"
    with pytest.raises(CommandError, match="MSSANTE_FROM"):
        call_command("notify", "--now", SEND_TIME.isoformat())
    result = worker.run_pass(now=SEND_TIME)  # had it started anyway: nothing lost
    row = row_of(due.registrations[0])
    assert result.retried == 1 and row.status == S.PENDING and "MSSANTE_FROM" in row.last_error
    assert server.mail_from_count == 0


def test_a_lease_too_short_for_a_slow_message_is_refused_in_production(mssante, settings):
    from django.core.management.base import CommandError

    mssante()
    settings.NOTIFY_LEASE_SECONDS = 2 * worker.lease_needed() - 1
    err = StringIO()
    call_command("notify", "--now", SEND_TIME.isoformat(), stdout=StringIO(), stderr=err)
    assert "NOTIFY_LEASE_SECONDS" in err.getvalue()  # demo: a warning
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="NOTIFY_LEASE_SECONDS"):
        call_command("notify", "--now", SEND_TIME.isoformat())


@pytest.mark.django_db(transaction=True)
def test_rows_claimed_ahead_whose_lease_ran_low_go_back_and_are_sent_once(
    mssante, settings, monkeypatch
):
    # As above, with a second batch claimed ahead (PostgreSQL) under the first batch's
    # lease: it has run as low by the time its turn comes, so it goes back unsent too.
    server = mssante()
    settings.NOTIFY_LEASE_SECONDS = 300
    settings.NOTIFY_BATCH_SIZE = 3
    due = make_due(6)
    slow = dt.timedelta(seconds=301) - worker.lease_margin()
    real_render = worker.render
    first = {"render": True}

    def slow_first(content, *, now):  # type: ignore[no-untyped-def]
        if first["render"]:
            first["render"] = False
            traveller.shift(slow)  # the first message took that long
        return real_render(content, now=now)

    monkeypatch.setattr(worker, "render", slow_first)
    with time_machine.travel(SEND_TIME, tick=False) as traveller:
        result = worker.run_pass()
    assert result.sent == 6 and len(server.received) == 6
    assert len({r.message["Message-ID"] for r in server.received}) == 6
    # Two of the first batch; on PostgreSQL the three claimed ahead as well.
    assert result.released == (5 if connection.vendor == "postgresql" else 2)
    rows = Notification.objects.filter(registration__in=due.registrations)
    assert all(r.status == S.SENT and r.lease_until is None and r.attempts == 1 for r in rows)
