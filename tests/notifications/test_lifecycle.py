"""The notice's lifecycle when the data change around it (SPEC §4): the status
organisers see stays true after a GP change or a postponed session, and the claim and
the send re-check what a scan saw (the session's date, the directory's addresses, the
session's start)."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import OperationalError

from concerto.directory.models import MSSanteAddress
from concerto.lib import clock
from concerto.notifications import queries, worker
from concerto.notifications.models import Notification
from concerto.patients import actions as patient_actions
from concerto.rcp import actions
from concerto.rcp.models import Registration
from concerto.rcp.stats import board_statistics
from tests.builders import World, at, gp, paris
from tests.notifications.conftest import BEFORE, SEND_TIME, SESSION_DAY, make_due

pytestmark = pytest.mark.django_db
S = Notification.Status


def deliver_at(instant: dt.datetime, rows: list[worker.Claimed]) -> worker.PassResult:
    """Send claimed rows as of ``instant``, without the pass's scan (what a worker does
    between its claim and its next scan)."""
    result, smtp = worker.PassResult(), worker.Connection()
    recorder = worker.Recorder(result)
    with clock.as_of(instant):
        try:
            worker.deliver(rows, result, lambda: False, smtp, recorder)
        finally:
            recorder.close()
            smtp.close()
    return result


# --- status after a GP change: the former GP's row is not the declared one's
def test_status_after_gp_change_is_the_new_gps_not_the_former_ones(mssante):
    mssante()
    with at(BEFORE):
        w = World()
        session = w.session(SESSION_DAY)  # Tue 13/09/2022 14:00, N = Fri 09/09
        old = gp(with_address=False)  # the first GP: no MSSanté address
        patient = w.patient(gp_rpps=old.rpps)
        registration = w.register(session, patient, complete=False)
    worker.scan(paris(2022, 9, 5, 9))  # two reasons -> a not_eligible row for the old GP
    new = gp()  # the new GP has an address
    with at(paris(2022, 9, 5, 10)):
        patient_actions.declare_gp(
            by=w.registrar, patient=patient, gp_name="Dr NOUVEAU", gp_rpps=new.rpps
        )
    worker.scan(paris(2022, 9, 5, 11))
    with at(paris(2022, 9, 5, 11)):
        status = queries.statuses_for([registration])[registration.pk]
    # Only the pre-fiche is missing, and it may still be completed until 09/09: pending.
    assert status.label == "En attente de la pré-fiche (à compléter au plus tard le 09/09/2022)", (
        status.label
    )


def test_status_after_gp_change_once_the_former_gp_was_notified(mssante):
    server = mssante()
    due = make_due()
    registration = due.registrations[0]
    worker.run_pass(now=SEND_TIME)  # sent to the first GP
    assert len(server.received) == 1
    # The session is postponed by a month, then the patient changes GP.
    with at(paris(2022, 9, 10, 10)):
        actions.move_session(
            by=due.world.secretary,
            session=due.session,
            date=dt.date(2022, 10, 18),
            time=dt.time(14),
        )
    new = gp()
    with at(paris(2022, 9, 10, 11)):
        patient_actions.declare_gp(
            by=due.world.registrar,
            patient=registration.patient,
            gp_name="Dr NOUVEAU",
            gp_rpps=new.rpps,
        )
    worker.run_pass(now=paris(2022, 9, 12, 9))  # passes go on: nothing changes the status
    with at(paris(2022, 9, 12, 9)):
        status = queries.statuses_for([registration])[registration.pk]
    # The declared GP (the new one) has not been notified; the one planned is for 14/10.
    assert status.code == "pending", status.label
    assert new.rpps not in status.label and "gp." not in status.label, status.label


# --- a "not eligible" verdict is the rule's at the last scan: applied again
def test_late_prefiche_row_is_reevaluated_after_the_session_is_postponed(mssante):
    server = mssante()
    due = make_due()
    with at(BEFORE):
        patient = due.world.patient(gp_rpps=gp().rpps)
        late = due.world.register(due.session, patient, complete=False)
    with at(paris(2022, 9, 12, 9)):  # after N (09/09)
        actions.complete_prefiche(by=due.world.registrar, registration=late)
    worker.run_pass(now=paris(2022, 9, 12, 10))
    assert Notification.objects.get(registration=late).reasons == ["prefiche_late"]
    # Postponed by five weeks: the pre-fiche is now complete well before the new N (14/10).
    with at(paris(2022, 9, 12, 11)):
        actions.move_session(
            by=due.world.secretary,
            session=due.session,
            date=dt.date(2022, 10, 18),
            time=dt.time(14),
        )
    worker.run_pass(now=paris(2022, 9, 12, 12))
    with at(paris(2022, 9, 12, 12)):
        status = queries.statuses_for([late])[late.pk]
    assert status.code == "pending", status.label  # it will be sent on 14/10 at 08:00
    worker.run_pass(now=paris(2022, 10, 14, 8))
    assert len(server.received) == 2  # (this part passes: the outcome is right)


def test_incomplete_prefiche_status_after_the_session_is_postponed(mssante):
    mssante()
    due = make_due()
    with at(BEFORE):
        patient = due.world.patient(gp_rpps=gp().rpps)
        registration = due.world.register(due.session, patient, complete=False)
    worker.run_pass(now=paris(2022, 9, 12, 10))  # N passed, pre-fiche still incomplete
    assert Notification.objects.get(registration=registration).status == S.NOT_ELIGIBLE
    with at(paris(2022, 9, 12, 11)):
        actions.move_session(
            by=due.world.secretary,
            session=due.session,
            date=dt.date(2022, 9, 27),
            time=dt.time(14),
        )
    worker.run_pass(now=paris(2022, 9, 12, 12))
    with at(paris(2022, 9, 12, 12)):
        status = queries.statuses_for([registration])[registration.pk]
    # Same as a registration the worker never saw: waiting for the pre-fiche until 23/09.
    assert status.label == "En attente de la pré-fiche (à compléter au plus tard le 23/09/2022)", (
        status.label
    )


# --- the claim re-checks the session's date and the directory's addresses
def test_session_moved_later_between_scan_and_claim_is_not_sent_early(mssante):
    mssante()
    due = make_due()
    worker.scan(SEND_TIME)  # pending, due 09/09 08:00
    with at(SEND_TIME + dt.timedelta(seconds=30)):
        actions.move_session(
            by=due.world.secretary,
            session=due.session,
            date=dt.date(2022, 9, 27),
            time=dt.time(14),
        )
    # New N is Fri 23/09: nothing may be sent on 09/09.
    assert worker.claim(SEND_TIME + dt.timedelta(minutes=1), limit=10, worker="w") == []


def test_session_moved_earlier_between_scan_and_claim_makes_the_prefiche_late(mssante):
    mssante()
    with at(BEFORE):
        w = World()
        session = w.session(SESSION_DAY)
        patient = w.patient(gp_rpps=gp().rpps)
        registration = w.register(session, patient, complete=False)
    with at(paris(2022, 9, 8, 12)):  # Thu 08/09: in time for N = Fri 09/09
        actions.complete_prefiche(by=w.registrar, registration=registration)
    worker.scan(SEND_TIME)
    assert Notification.objects.get(registration=registration).status == S.PENDING
    with at(SEND_TIME + dt.timedelta(seconds=30)):
        actions.move_session(
            by=w.secretary, session=session, date=dt.date(2022, 9, 12), time=dt.time(14)
        )
    # New N = Wed 07/09; the pre-fiche (08/09) is late: SPEC §4 condition 1, not notified.
    assert worker.claim(SEND_TIME + dt.timedelta(minutes=1), limit=10, worker="w") == []


def test_address_removed_from_directory_between_scan_and_claim(mssante):
    mssante()
    due = make_due()
    worker.scan(SEND_TIME)
    MSSanteAddress.objects.filter(rpps=due.registrations[0].patient.gp_rpps).delete()
    assert worker.claim(SEND_TIME + dt.timedelta(minutes=1), limit=10, worker="w") == []
    row = Notification.objects.get()
    assert (row.status, row.reasons, row.attempts) == (S.NOT_ELIGIBLE, ["no_mssante_address"], 0)


def test_personal_address_turned_organisational_between_scan_and_claim(mssante):
    mssante()
    due = make_due()
    worker.scan(SEND_TIME)
    MSSanteAddress.objects.filter(rpps=due.registrations[0].patient.gp_rpps).update(kind="ORG")
    assert worker.claim(SEND_TIME + dt.timedelta(minutes=1), limit=10, worker="w") == []
    row = Notification.objects.get()
    assert (row.status, row.reasons, row.addresses) == (
        S.NOT_ELIGIBLE,
        ["organisational_address_only"],
        [],
    )


def test_an_address_changed_between_scan_and_claim_is_the_one_written_to(mssante):
    server = mssante()
    due = make_due()
    worker.scan(SEND_TIME)
    rpps = due.registrations[0].patient.gp_rpps
    MSSanteAddress.objects.filter(rpps=rpps).update(address="nouvelle@medecin.mssante.fr")
    rows = worker.claim(SEND_TIME + dt.timedelta(minutes=1), limit=10, worker="w")
    assert [row.addresses for row in rows] == [["nouvelle@medecin.mssante.fr"]]
    deliver_at(SEND_TIME + dt.timedelta(minutes=1), rows)  # (no scan in between)
    assert [m.rcpt_tos for m in server.received] == [["nouvelle@medecin.mssante.fr"]]
    assert Notification.objects.get().addresses == ["nouvelle@medecin.mssante.fr"]


# --- nothing is sent once the session has started
def test_a_claimed_message_is_not_sent_after_the_session_started(mssante, settings):
    server = mssante()
    make_due()
    start = paris(2022, 9, 13, 14)
    worker.scan(start - dt.timedelta(seconds=5))
    rows = worker.claim(start - dt.timedelta(seconds=5), limit=10, worker="w")
    assert len(rows) == 1
    deliver_at(start + dt.timedelta(seconds=30), rows)  # a slow batch: past the start
    assert server.received == []  # SPEC §4: after the session starts, unsent -> expired
    assert Notification.objects.get().status == S.EXPIRED


# --- "sent" names the addresses the server took
def test_sent_status_names_only_the_addresses_that_accepted(mssante):
    server = mssante()
    due = make_due(addresses=2)
    worker.scan(SEND_TIME - dt.timedelta(hours=1))
    row = Notification.objects.get(registration=due.registrations[0])
    refused, accepted = row.addresses[0], row.addresses[1]
    server.rcpt_replies[refused] = "550 5.1.1 Unknown"
    worker.run_pass(now=SEND_TIME)
    status = queries.statuses_for(due.registrations)[due.registrations[0].pk]
    # Sent to the one that took it; the refused one is named as refused, not as sent to.
    assert status.label.endswith(f" à {accepted} (refusée par le serveur pour {refused})"), (
        status.label
    )


def test_a_database_error_while_readdressing_gives_the_claimed_rows_back(mssante, monkeypatch):
    server = mssante()
    make_due()
    worker.scan(SEND_TIME)
    real = worker.addresses_by_rpps

    def broken(numbers):  # type: ignore[no-untyped-def]
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(worker, "addresses_by_rpps", broken)
    with pytest.raises(OperationalError):
        worker.claim(SEND_TIME, limit=10, worker="w")
    # Given back at once (it stayed "sending" for the whole lease: 30 min, past the start).
    assert Notification.objects.get().status == S.PENDING
    monkeypatch.setattr(worker, "addresses_by_rpps", real)
    worker.run_pass(now=SEND_TIME + dt.timedelta(minutes=1))
    assert Notification.objects.get().status == S.SENT and len(server.received) == 1


def test_a_session_postponed_after_the_claim_is_not_expired_but_sent_for_its_new_date(mssante):
    server = mssante()
    due = make_due()
    start = paris(2022, 9, 13, 14)
    worker.scan(start - dt.timedelta(seconds=5))
    rows = worker.claim(start - dt.timedelta(seconds=5), limit=10, worker="w")
    with at(start - dt.timedelta(seconds=2)):
        actions.move_session(
            by=due.world.secretary, session=due.session, date=dt.date(2022, 9, 27), time=dt.time(14)
        )
    result = deliver_at(start + dt.timedelta(seconds=30), rows)
    assert (result.expired, result.released, server.received) == (0, 1, [])
    assert Notification.objects.get().status == S.PENDING
    worker.run_pass(now=paris(2022, 9, 23, 8, 5))  # the new notification day
    assert len(server.received) == 1
    assert "27/09/2022" in server.received[0].message.get_body(("plain",)).get_content()


# --- once the session has started, the status says what happened then
# (Session on Tue 13/09/2022 at 14:00; the worker still looks at it for seven days.)
AFTER = paris(2022, 9, 14, 10)  # the day after the session
NEXT_PASS = paris(2022, 9, 14, 11)


def status_at(instant: dt.datetime, registration: Registration) -> queries.NotificationStatus:
    with at(instant):
        return queries.statuses_for([registration])[registration.pk]


def needing_attention() -> list[Notification]:
    """What the back office's "à traiter" filter lists (any board)."""
    return list(Notification.objects.filter(status__in=Notification.NEEDS_ATTENTION))


def test_an_opt_in_switched_on_after_the_session_leaves_its_files_not_eligible(mssante):
    server = mssante()
    with at(BEFORE):
        w = World(opted_in=False)
        session = w.session(SESSION_DAY)
        registration = w.register(session, w.patient(gp_rpps=gp().rpps))
    worker.run_pass(now=SEND_TIME)  # a not_eligible row: the board has not opted in
    with at(AFTER):
        actions.mark_session_held(by=w.secretary, session=session)
        for member in [w.secretary] + [m for m, _ in w.participants]:
            actions.record_notification_consent(by=member, board=w.board, user=member, agreed=True)
        actions.enable_notifications(by=w.secretary, board=w.board)
    worker.run_pass(now=NEXT_PASS)
    status = status_at(NEXT_PASS, registration)
    assert status == queries.NotificationStatus(
        "not_eligible",
        "Non éligible : la RCP n'a pas activé la notification du médecin traitant",
        reasons=("la RCP n'a pas activé la notification du médecin traitant",),
    ), status
    assert needing_attention() == [] and server.received == []
    # The board's count says the same.
    with at(NEXT_PASS):
        counted = board_statistics(w.board, SESSION_DAY, SESSION_DAY).notification_codes
    assert dict(counted) == {"not_eligible": 1}


def test_an_opt_in_switched_on_long_after_a_session_the_worker_never_saw(mssante):
    mssante()
    with at(BEFORE):
        w = World(opted_in=False)
        session = w.session(SESSION_DAY)
        registration = w.register(session, w.patient(gp_rpps=gp().rpps))
    # No worker ran for it (a session held before notifications were set up): no row.
    later = paris(2022, 11, 3, 10)
    with at(later):
        for member in [w.secretary] + [m for m, _ in w.participants]:
            actions.record_notification_consent(by=member, board=w.board, user=member, agreed=True)
        actions.enable_notifications(by=w.secretary, board=w.board)
    status = status_at(later, registration)
    # The opt-in of the time (off until 03/11) is the one that counts, not today's.
    assert status.code == "not_eligible" and not status.needs_attention, status
    assert "la RCP n'a pas activé la notification du médecin traitant" in status.reasons


def _registered_with_a_gp_without_address():
    """A file at the session of SESSION_DAY whose GP has no MSSanté address (yet)."""
    with at(BEFORE):
        w = World()
        session = w.session(SESSION_DAY)
        doctor = gp(with_address=False)
        return w.register(session, w.patient(gp_rpps=doctor.rpps)), doctor


def _give_an_address(doctor) -> None:
    MSSanteAddress.objects.create(
        address=f"gp.{doctor.rpps}@medecin.mssante.fr", kind="PER", rpps=doctor.rpps
    )


def test_an_address_added_after_the_session_is_told_as_a_missed_notice(mssante):
    """The directory keeps no dates: an address found after the session cannot be told
    from one found before it while every worker was down. The file is then judged by
    the rule (due, not sent: expired, to be looked at), never left under a reason that
    may have been false at the start."""
    server = mssante()
    registration, doctor = _registered_with_a_gp_without_address()
    worker.run_pass(now=SEND_TIME)
    assert Notification.objects.get().reasons == ["no_mssante_address"]
    _give_an_address(doctor)
    worker.run_pass(now=NEXT_PASS)
    status = status_at(NEXT_PASS, registration)
    assert status.code == "expired" and status.needs_attention, status.label
    assert Notification.objects.get().status == S.EXPIRED
    assert [row.registration_id for row in needing_attention()] == [registration.pk]
    assert server.received == []
    out = StringIO()
    call_command("notify", "--dry-run", "--now", NEXT_PASS.isoformat(), stdout=out)
    assert f"inscription {registration.pk} — " in out.getvalue()


def test_a_reason_lifted_before_the_start_with_the_workers_down_is_a_missed_notice(mssante):
    """Not opted in when the scan looked (the notification day), opted in before the
    session while no worker ran, looked at again after the start: it was due and not
    sent; the stored "not opted in" is false for the start and no longer told."""
    server = mssante()
    with at(BEFORE):
        w = World(opted_in=False)
        session = w.session(SESSION_DAY)
        registration = w.register(session, w.patient(gp_rpps=gp().rpps))
    worker.run_pass(now=SEND_TIME)
    assert Notification.objects.get().reasons == ["board_not_opted_in"]
    with at(paris(2022, 9, 12, 10)):  # the day before the session; the workers are down
        for member in [w.secretary] + [m for m, _ in w.participants]:
            actions.record_notification_consent(by=member, board=w.board, user=member, agreed=True)
        actions.enable_notifications(by=w.secretary, board=w.board)
    status = status_at(AFTER, registration)
    assert status.code == "expired" and status.needs_attention, status.label
    worker.run_pass(now=NEXT_PASS)
    assert Notification.objects.get().status == S.EXPIRED
    assert [row.registration_id for row in needing_attention()] == [registration.pk]
    assert server.received == []


@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
def test_a_gp_change_after_the_session_keeps_the_notice_that_was_sent(mssante, client):
    server = mssante()
    due = make_due()
    registration = due.registrations[0]
    former = registration.patient.gp_rpps
    worker.run_pass(now=SEND_TIME)
    assert len(server.received) == 1
    new = gp()
    with at(AFTER):
        patient_actions.declare_gp(
            by=due.world.registrar,
            patient=registration.patient,
            gp_name="Dr NOUVEAU",
            gp_rpps=new.rpps,
        )
    worker.run_pass(now=NEXT_PASS)
    status = status_at(NEXT_PASS, registration)
    assert status == queries.NotificationStatus(
        "sent",
        f"Envoyée le 09/09/2022 à 08:00 à gp.{former}@medecin.mssante.fr"
        " (médecin traitant à l'époque)",
    ), status
    # Nothing is planned, expired or sent for the GP declared since.
    assert list(Notification.objects.values_list("gp_rpps", "status")) == [(former, S.SENT)]
    assert len(server.received) == 1
    client.force_login(due.world.secretary)
    page = client.get("/admin/notifications/notification/?a_traiter=oui")
    assert "0 notification" in page.content.decode()


def test_a_notice_due_and_never_sent_is_still_expired_whatever_changed_since(mssante):
    server = mssante()
    due = make_due()
    registration = due.registrations[0]
    worker.scan(SEND_TIME - dt.timedelta(hours=1))  # pending; then every worker stops
    # After the session, before the worker is back: the board switches the opt-in off and
    # the patient changes GP. What happened stays: due, never sent.
    with at(AFTER):
        actions.mark_session_held(by=due.world.secretary, session=due.session)
        actions.disable_notifications(by=due.world.secretary, board=due.world.board)
        patient_actions.declare_gp(
            by=due.world.registrar,
            patient=registration.patient,
            gp_name="Dr NOUVEAU",
            gp_rpps=gp().rpps,
        )
    worker.run_pass(now=NEXT_PASS)
    assert server.received == []
    status = status_at(NEXT_PASS, registration)
    assert status == queries.NotificationStatus(
        "expired",
        "Expirée : non envoyée avant le début de la séance (médecin traitant à l'époque)",
        needs_attention=True,
    ), status
    assert [row.registration_id for row in needing_attention()] == [registration.pk]


def test_a_notice_no_worker_planned_before_the_session_expires_after_it(mssante):
    server = mssante()
    due = make_due()
    registration = due.registrations[0]
    # No worker ran before the session: the first pass after it records what was lost.
    assert status_at(AFTER, registration).code == "expired"
    worker.run_pass(now=NEXT_PASS)
    assert server.received == []
    status = status_at(NEXT_PASS, registration)
    assert status == queries.NotificationStatus(
        "expired", "Expirée : non envoyée avant le début de la séance", needs_attention=True
    ), status
    assert [row.registration_id for row in needing_attention()] == [registration.pk]


def test_a_verdict_about_an_earlier_date_does_not_speak_for_the_postponed_session(mssante):
    server = mssante()
    due = make_due()
    with at(BEFORE):
        patient = due.world.patient(gp_rpps=gp().rpps)
        late = due.world.register(due.session, patient, complete=False)
    with at(paris(2022, 9, 12, 9)):  # after N (09/09): late for the 13/09 session
        actions.complete_prefiche(by=due.world.registrar, registration=late)
    worker.run_pass(now=paris(2022, 9, 12, 10))
    assert Notification.objects.get(registration=late).reasons == ["prefiche_late"]
    # Postponed to Tue 18/10 (N = Fri 14/10: the pre-fiche is in time), and no worker
    # runs again until the day after that session.
    with at(paris(2022, 9, 12, 11)):
        actions.move_session(
            by=due.world.secretary,
            session=due.session,
            date=dt.date(2022, 10, 18),
            time=dt.time(14),
        )
    after = paris(2022, 10, 19, 10)
    worker.run_pass(now=after)
    assert len(server.received) == 1  # (the first one, on 09/09)
    status = status_at(after, late)
    # Due for 18/10, never sent: expired (the verdict "late" was about 13/09).
    assert status.code == "expired" and status.needs_attention, status.label
    assert Notification.objects.get(registration=late).status == S.EXPIRED


def test_past_the_scans_window_the_status_is_what_the_rows_say(mssante):
    """Weeks after the session the scan no longer looks: an address found then does not
    turn the file into a missed notice on the page while the rows (and "à traiter") say
    otherwise; history stays as it was."""
    mssante()
    registration, doctor = _registered_with_a_gp_without_address()
    worker.run_pass(now=SEND_TIME)
    worker.run_pass(now=NEXT_PASS)
    weeks_later = paris(2022, 11, 14, 10)
    _give_an_address(doctor)
    worker.run_pass(now=weeks_later)
    status = status_at(weeks_later, registration)
    assert status.code == "not_eligible" and not status.needs_attention, status.label
    assert "aucune adresse MSSanté connue dans l'annuaire pour ce RPPS" in status.reasons
    assert Notification.objects.get().status == S.NOT_ELIGIBLE
    assert needing_attention() == []


@pytest.mark.parametrize("withdrawn", [False, True])
def test_a_notice_still_open_after_the_start_is_shown_as_the_next_pass_will_close_it(
    mssante, withdrawn
):
    """The workers are down from before the notification day: the row planned then is
    still pending after the start. The page does not say "En attente" until a worker
    comes back: it says what the pass will write (expired, to be looked at; a withdrawn
    file, not eligible), and the pass agrees."""
    mssante()
    due = make_due(1)
    registration = due.registrations[0]
    worker.scan(paris(2022, 9, 6, 10))
    assert Notification.objects.get().status == S.PENDING
    if withdrawn:
        with at(paris(2022, 9, 12, 10)):
            actions.withdraw_registration(by=due.world.secretary, registration=registration)
    shown = status_at(AFTER, registration)
    worker.run_pass(now=AFTER)
    stored = queries.status_of_row(Notification.objects.get())
    assert shown == stored, (shown, stored)
    assert shown.code == ("not_eligible" if withdrawn else "expired")
    assert shown.needs_attention is not withdrawn
