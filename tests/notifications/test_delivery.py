"""Delivery against a real SMTP server on loopback: STARTTLS, required client certificate."""

from __future__ import annotations

import datetime as dt
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
from django.urls import resolve

from concerto.notifications import transport, worker
from concerto.notifications.message import SUBJECT
from concerto.notifications.models import Notification
from tests.notifications import smtp
from tests.notifications.conftest import SEND_TIME, make_due

pytestmark = pytest.mark.django_db
S = Notification.Status


def _row(registration) -> Notification:  # type: ignore[no-untyped-def]
    return Notification.objects.get(registration=registration)


def test_message_arrives_with_subject_headers_parts_and_link(mssante):
    server = mssante()
    due = make_due()
    registration = due.registrations[0]
    result = worker.run_pass(now=SEND_TIME)
    assert result.sent == 1
    assert len(server.received) == 1
    received = server.received[0]
    row = _row(registration)
    assert row.status == S.SENT
    assert (
        received.rcpt_tos
        == row.addresses
        == [f"gp.{registration.patient.gp_rpps}@medecin.mssante.fr"]
    )
    message = received.message
    assert message["Subject"] == "Médecin – Notification préalable RCP"
    assert "\u2013" in message["Subject"] and message["Subject"] == SUBJECT
    assert message["X-MSS-NIL"] == "CONCERTO-TEST"
    assert message["Message-ID"] == row.message_id
    assert row.message_id.endswith("@concerto.test>")
    assert message["From"] == "rcp-test@concerto.test.mssante.fr"
    assert [part.get_content_type() for part in message.walk()] == [
        "multipart/alternative",
        "text/plain",
        "text/html",
    ]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    link = f"https://concerto.test/portail/inscription/{registration.pk}/"
    assert resolve(urlsplit(link).path).view_name == "portal:prefiche"  # lands on the pre-fiche
    for body in (text, html):
        assert registration.patient.identity_label in body
        assert due.world.board.title in body
        assert "13/09/2022" in body and "14 h 00" in body
        assert link in body
        assert "https://visio.exemple.test/rcp" in body
        assert "134679" in body
        # (the clause is about the patient, not the meeting, as it read before)
        assert "Un(e) patient(e) dont vous êtes le médecin traitant déclaré est inscrit(e)" in body
    assert 'lang="fr"' in html
    assert not any(part.get_filename() for part in message.walk())  # nothing attached
    assert row.sent_at == SEND_TIME
    assert row.recipient_outcomes[row.addresses[0]]["code"] == 250


def test_no_webconference_no_link(mssante):
    server = mssante()
    make_due(webconference=False)
    worker.run_pass(now=SEND_TIME)
    text = server.received[0].message.get_body(("plain",)).get_content()
    assert "webconférence" not in text.lower()


def test_one_connection_for_the_pass_and_each_once(mssante, settings):
    server = mssante()
    settings.NOTIFY_BATCH_SIZE = 2  # three batches, one TLS session
    due = make_due(5)
    result = worker.run_pass(now=SEND_TIME)
    assert result.sent == 5 and result.claimed == 5
    assert server.tls_sessions == 1
    assert sorted(r.message["Message-ID"] for r in server.received) == sorted(
        Notification.objects.values_list("message_id", flat=True)
    )
    # A second pass sends nothing more: sent is terminal.
    assert worker.run_pass(now=SEND_TIME + dt.timedelta(hours=1)).sent == 0
    assert len(server.received) == 5
    assert len(due.registrations) == 5


@pytest.mark.parametrize("reply", ["421 4.3.2 Service shutting down", "451 4.3.0 Try later"])
def test_temporary_reply_is_retried_then_succeeds(mssante, reply):
    server = mssante(smtp.Handler(data_replies=deque([reply])))
    due = make_due()
    first = worker.run_pass(now=SEND_TIME)
    row = _row(due.registrations[0])
    assert first.retried == 1 and row.status == S.PENDING
    assert row.last_error.startswith("Message refusé : " + reply[:3])
    assert row.next_attempt_at == SEND_TIME + dt.timedelta(seconds=60)
    # Not before the backoff…
    assert worker.run_pass(now=SEND_TIME + dt.timedelta(seconds=30)).claimed == 0
    # …then it goes.
    second = worker.run_pass(now=SEND_TIME + dt.timedelta(seconds=61))
    row.refresh_from_db()
    assert second.sent == 1 and row.status == S.SENT and row.attempts == 2
    assert len(server.received) == 1


def test_backoff_is_exponential_and_capped(settings):
    settings.NOTIFY_RETRY_BASE_SECONDS = 60
    settings.NOTIFY_RETRY_MAX_SECONDS = 600
    assert [worker.backoff(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [60, 120, 240, 480, 600]


def test_550_fails_permanently_with_the_reply(mssante):
    server = mssante()
    due = make_due()
    address = f"gp.{due.registrations[0].patient.gp_rpps}@medecin.mssante.fr"
    server.rcpt_replies[address] = "550 5.1.1 Mailbox unknown"
    worker.run_pass(now=SEND_TIME)
    row = _row(due.registrations[0])
    assert row.status == S.FAILED and row.needs_attention
    assert "550 5.1.1 Mailbox unknown" in row.last_error
    assert row.recipient_outcomes == {address: {"code": 550, "reply": "550 5.1.1 Mailbox unknown"}}
    # Never retried.
    worker.run_pass(now=SEND_TIME + dt.timedelta(days=1))
    row.refresh_from_db()
    assert row.status == S.FAILED and row.attempts == 1 and server.received == []


def test_a_late_reply_to_the_content_is_awaited_not_retried(mssante, settings):
    """The server may scan a message before its 250 (RFC 5321 §4.5.3.2.6: wait 10
    minutes). Taking that for a time-out would retry a delivered message: a duplicate."""
    server = mssante(smtp.Handler(delay=2.5))
    settings.MSSANTE_SMTP_TIMEOUT = 1
    settings.MSSANTE_SMTP_DATA_TIMEOUT = 10
    due = make_due()
    result = worker.run_pass(now=SEND_TIME)
    assert (result.sent, result.retried) == (1, 0)
    assert _row(due.registrations[0]).status == S.SENT
    worker.run_pass(now=SEND_TIME + dt.timedelta(hours=1))
    assert len(server.received) == 1


def test_a_refused_sender_fails_nothing_and_stops_the_batch(mssante):
    """A 5xx on MAIL FROM refuses our mailbox (not registered yet with the operator, say),
    not the GPs': the rows wait for the fix instead of all failing for good."""
    server = mssante(smtp.Handler(mail_reply="550 5.7.1 Sender not authorised"))
    due = make_due(3)
    result = worker.run_pass(now=SEND_TIME)
    assert (result.sent, result.failed, result.retried) == (0, 0, 3)
    assert server.mail_from_count == 1  # the batch stopped at the first refusal
    rows = [_row(r) for r in due.registrations]
    assert {r.status for r in rows} == {S.PENDING}
    assert all("550 5.7.1 Sender not authorised" in r.last_error for r in rows)
    server.mail_reply = ""  # the operator fixed it
    later = worker.run_pass(now=SEND_TIME + dt.timedelta(hours=1))
    assert later.sent == 3 and len(server.received) == 3


def test_550_on_the_message(mssante):
    mssante(smtp.Handler(data_replies=deque(["554 5.6.0 Message rejected"])))
    due = make_due()
    worker.run_pass(now=SEND_TIME)
    row = _row(due.registrations[0])
    assert row.status == S.FAILED and "554 5.6.0 Message rejected" in row.last_error


def test_per_recipient_outcome_with_several_addresses(mssante):
    server = mssante()
    due = make_due(addresses=2)
    row = _row_after_scan(due)
    refused, accepted = row.addresses[0], row.addresses[1]
    server.rcpt_replies[refused] = "550 5.1.1 Unknown"
    worker.run_pass(now=SEND_TIME)
    row.refresh_from_db()
    assert row.status == S.SENT
    assert row.recipient_outcomes[refused]["code"] == 550
    assert row.recipient_outcomes[accepted]["code"] == 250
    assert server.received[0].rcpt_tos == [accepted]


def _row_after_scan(due) -> Notification:  # type: ignore[no-untyped-def]
    worker.scan(SEND_TIME - dt.timedelta(hours=1))
    return _row(due.registrations[0])


def test_wrong_client_certificate_is_refused_and_reported(mssante, settings, other_tls):
    server = mssante()
    settings.MSSANTE_CLIENT_CERT = str(other_tls.client_cert)
    settings.MSSANTE_CLIENT_KEY = str(other_tls.client_key)
    due = make_due()
    result = worker.run_pass(now=SEND_TIME)
    row = _row(due.registrations[0])
    assert result.sent == 0 and result.retried == 1
    assert row.status == S.PENDING and row.attempts == 1
    assert "TLS" in row.last_error
    assert server.received == [] and server.mail_from_count == 0


def test_server_certificate_from_another_ca_gets_nothing(mssante, other_tls):
    server = mssante(server_tls=other_tls)
    due = make_due()
    worker.run_pass(now=SEND_TIME)
    row = _row(due.registrations[0])
    assert row.status == S.PENDING
    assert "Certificat du serveur non reconnu" in row.last_error
    assert server.received == [] and server.mail_from_count == 0


def test_server_without_starttls_gets_no_plaintext(mssante):
    server = mssante(starttls=False)
    due = make_due()
    worker.run_pass(now=SEND_TIME)
    row = _row(due.registrations[0])
    assert row.status == S.PENDING
    assert "STARTTLS" in row.last_error
    assert server.mail_from_count == 0 and server.received == []


def test_connection_refused_is_temporary(mssante, settings):
    mssante()
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        settings.MSSANTE_SMTP_PORT = probe.getsockname()[1]
    due = make_due()
    worker.run_pass(now=SEND_TIME)
    row = _row(due.registrations[0])
    assert row.status == S.PENDING and "Connexion au serveur SMTP impossible" in row.last_error


def test_retries_stop_at_the_session_start_and_it_expires(mssante):
    server = mssante(smtp.Handler(data_replies=deque(["451 4.3.0 later"] * 100)))
    due = make_due()
    worker.run_pass(now=SEND_TIME)
    starts = due.session.starts_at
    worker.run_pass(now=starts + dt.timedelta(minutes=1))
    row = _row(due.registrations[0])
    assert row.status == S.EXPIRED and row.needs_attention
    assert server.received == []


def test_sent_row_and_its_audit_event(mssante):
    # record_sent writes in SQL: the same columns and values as the ORM would.
    from concerto.audit.models import AuditEvent

    mssante()
    due = make_due()
    worker.run_pass(now=SEND_TIME)
    row = _row(due.registrations[0])
    assert row.status == S.SENT and row.sent_at == row.closed_at == row.updated_at == SEND_TIME
    assert row.lease_until is None and row.claim_token == "" and row.last_error == ""
    address = row.addresses[0]
    assert row.recipient_outcomes == {address: {"code": 250, "reply": "250 2.0.0 Ok: queued"}}
    event = AuditEvent.objects.get(action="notification.sent")
    assert (event.at, event.actor, event.actor_id, event.actor_role) == (
        SEND_TIME,
        "système",
        None,
        "",
    )
    assert (event.object_type, event.object_id, event.outcome, event.ip) == (
        "notification",
        str(row.pk),
        "ok",
        None,
    )
    assert event.patient_id == due.registrations[0].patient_id
    assert event.details == {"registration": due.registrations[0].pk, "to": [address]}


class CheckingHandler(smtp.Handler):
    """At each end-of-data mark, notes how many rows are committed as sent (read on
    another connection: only what is committed)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent_before: list[int] = []

    @staticmethod
    def committed() -> int:
        from django.db import connection

        try:
            return Notification.objects.filter(status=S.SENT).count()
        finally:
            connection.close()

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001
        # Django's ORM refuses the server's event loop: a thread of its own (blocking
        # the loop meanwhile, as the worker waits for this very reply).
        with ThreadPoolExecutor(1) as pool:
            self.sent_before.append(pool.submit(self.committed).result())
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.django_db(transaction=True)
def test_each_sent_is_committed_before_the_next_end_of_data_mark(mssante, settings):
    # The commit of message k runs while message k+1's envelope and content are sent
    # (worker.Recorder); it must be done before k+1's end-of-data mark.
    import time

    from django.db.backends.signals import connection_created

    server = mssante(CheckingHandler())
    settings.NOTIFY_BATCH_SIZE = 4
    make_due(9)

    def slow_commit(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if "sent_at" in sql and sql.lstrip().startswith(("UPDATE", "WITH")):
            time.sleep(0.05)  # longer than the next envelope: waiting for it must show
        return execute(sql, params, many, context)

    def wrap_new(sender, connection, **kwargs):  # type: ignore[no-untyped-def]
        connection.execute_wrappers.append(slow_commit)

    connection_created.connect(wrap_new)  # the commits' connection (worker.Recorder)
    try:
        result = worker.run_pass(now=SEND_TIME)
    finally:
        connection_created.disconnect(wrap_new)
    assert result.sent == 9 and len(server.received) == 9
    assert server.sent_before == list(range(9))
    assert set(Notification.objects.values_list("status", flat=True)) == {S.SENT}


@pytest.mark.django_db(transaction=True)
def test_a_commit_that_fails_stops_the_next_message_before_its_end_of_data_mark(mssante):
    from django.db import OperationalError
    from django.db.backends.signals import connection_created

    server = mssante()
    make_due(3)

    def database_gone(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if "sent_at" in sql and sql.lstrip().startswith(("UPDATE", "WITH")):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    def wrap_new(sender, connection, **kwargs):  # type: ignore[no-untyped-def]
        connection.execute_wrappers.append(database_gone)

    connection_created.connect(wrap_new)  # the commits' connection (worker.Recorder)
    try:
        with pytest.raises(OperationalError):
            worker.run_pass(now=SEND_TIME)
    finally:
        connection_created.disconnect(wrap_new)
    # The first message was delivered and could not be recorded (it will be sent again
    # once its lease expires: the one duplicate SMTP allows); the second one's content
    # had been sent, but not its end-of-data mark: the server has nothing of it.
    assert len(server.received) == 1 and server.mail_from_count == 2
    statuses = sorted(Notification.objects.values_list("status", flat=True))
    assert statuses == [S.SENDING] * 3


@pytest.mark.parametrize(
    ("address", "plain"),
    [
        ("gp.19999999998@medecin.mssante.fr", True),
        ("jean-marie.o'neil+rcp@ch-exemple.mssante.fr", True),
        ("rcp@concerto.test.mssante.fr", True),
        ("a\r\nRCPT TO:<intrus@exemple.fr>@x.fr", False),
        ("intrus@exemple.fr>\r\nDATA", False),
        ("jean marie@medecin.mssante.fr", False),
        ("Concerto <rcp@medecin.mssante.fr>", False),
        ("@relais:gp@medecin.mssante.fr", False),
        ("gp@localhost", False),
        ("gp..double@medecin.mssante.fr", False),
        ("médecin@medecin.mssante.fr", False),
    ],
)
def test_envelope_addresses_are_sent_only_when_plain(address, plain):
    assert transport.plain_address(address) is plain
