"""The notification worker: scan what is due, claim it, send it, record the outcome.

One pass (:func:`run_pass`):

1. **plan / scan** — every registration whose session is near (or whose notification is
   still open) is evaluated with the pure eligibility rule; the notification day and the
   send hour are recomputed from the session each time, so a moved session re-plans its
   pending notifications. Rows are created (``bulk_create``, unique per registration and
   GP) or moved by *conditional* UPDATEs; terminal rows are never touched.
2. **claim** — a batch of due ``pending`` rows becomes ``sending`` with a lease and a claim
   token, in one committed statement (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; the
   conditional ``UPDATE … WHERE status='pending'`` does the job on SQLite, whose writers
   are serialised anyway). On PostgreSQL the next batch is claimed while the current one
   is sent (:class:`Claimer`).
3. **deliver** — one SMTP connection for the whole pass; after each server reply the
   outcome is committed (``sent``/``failed``, or back to ``pending`` with a backoff).
   A ``sent`` commits on a second connection while the next message's envelope and
   content go out, and is awaited before that message's end-of-data mark
   (:class:`Recorder`).

A worker killed between a message's end-of-data mark and the commit of its ``sent``
leaves a ``sending`` row whose lease expires; the next scan puts it back to ``pending``
and it is sent again — the only duplicate SMTP allows (RFC 5321 §6.1), one message at
most. Every other crash point loses and duplicates nothing. See
docs/decisions/0001-notification-outbox.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    connections,
    transaction,
)
from django.db.models import F, Q, QuerySet

from concerto.audit import trail
from concerto.directory.models import MSSanteAddress
from concerto.lib import clock
from concerto.notifications import faults
from concerto.notifications.calendar import UnknownSubdivision, notification_day
from concerto.notifications.eligibility import Eligibility, Facts, Reason, evaluate
from concerto.notifications.message import Content, new_message_id, render
from concerto.notifications.models import Notification
from concerto.notifications.transport import Connection, Delivery, TransportError
from concerto.patients.models import IDENTITY_FIELDS, identity_label
from concerto.rcp.models import Registration, Session

PARIS = ZoneInfo("Europe/Paris")
log = logging.getLogger("concerto.notifications")

# The notification day is at most a couple of weeks before the session (two jours
# ouvrés, plus weekends and holiday stretches); sessions further away need no row yet.
SCAN_HORIZON_DAYS = 21
# Sessions started less than this ago are still looked at, so that a registration that
# was due while every worker was down is recorded as expired, never silently dropped.
EXPIRY_LOOKBACK_DAYS = 7
Status = Notification.Status
GP_CHANGED = Reason.GP_CHANGED.value
WITHDRAWN = Reason.REGISTRATION_WITHDRAWN.value


def send_hour() -> dt.time:
    hour, _, minute = settings.NOTIFY_SEND_HOUR.partition(":")
    return dt.time(int(hour), int(minute or 0))


def due_at_for(session_date: dt.date, subdivision: str) -> dt.datetime:
    """Sending starts on the notification day at the configured hour (Europe/Paris)."""
    day = notification_day(session_date, subdivision)
    return dt.datetime.combine(day, send_hour(), tzinfo=PARIS).astimezone(dt.UTC)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- 1. plan and scan -------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A near registration as the rule sees it: plain values read in one query (a pass
    scans every near registration; a model instance for it and for each of its four
    relations cost most of the scan's time)."""

    pk: int
    status: str
    prefiche_completed_at: dt.datetime | None
    gp_name: str
    gp_rpps: str | None
    session_date: dt.date
    session_starts_at: dt.datetime
    session_status: str
    board_title: str
    board_opted_in: bool
    board_opted_in_at: dt.datetime | None
    subdivision: str


# Where each of Candidate's values is read from, by attribute.
CANDIDATE_LOOKUPS = {
    "pk": "pk",
    "status": "status",
    "prefiche_completed_at": "prefiche_completed_at",
    "gp_name": "patient__gp_name",
    "gp_rpps": "patient__gp_rpps",
    "session_date": "session__date",
    "session_starts_at": "session__starts_at",
    "session_status": "session__status",
    "board_title": "session__board__title",
    "board_opted_in": "session__board__notifications_enabled",
    "board_opted_in_at": "session__board__notifications_enabled_at",
    "subdivision": "session__board__territory__holiday_subdivision",
}


@dataclass
class PlanItem:
    """What the scan decided for one registration (and its GP)."""

    candidate: Candidate
    gp_rpps: str
    eligibility: Eligibility
    status: str | None  # None: nothing to record yet (pre-fiche still expected)
    addresses: list[str]
    due_at: dt.datetime
    row: Notification | None
    # The session has started and ``row`` is its record (:func:`record_of`): nothing is
    # planned from today's data; an open row is closed (Plan.closing), ``status`` says how.
    kept: bool = False


@dataclass(frozen=True)
class Closing:
    """An open row closed unsent: ``not_eligible`` for a GP no longer declared (or a file
    withdrawn), ``expired`` when its session has started."""

    row: Notification
    status: str
    reasons: tuple[str, ...] = ()


@dataclass
class Plan:
    items: list[PlanItem] = field(default_factory=list)
    # Open rows closed unsent (a GP changed, a session started).
    closing: list[Closing] = field(default_factory=list)


def _candidates(now: dt.datetime) -> Q:
    today = now.astimezone(PARIS).date()
    near = Registration.objects.filter(
        session__starts_at__gt=now - dt.timedelta(days=EXPIRY_LOOKBACK_DAYS),
        session__date__lte=today + dt.timedelta(days=SCAN_HORIZON_DAYS),
    ).values("pk")
    still_open = Notification.objects.filter(status__in=[Status.PENDING, Status.SENDING]).values(
        "registration_id"
    )
    return Q(pk__in=near) | Q(pk__in=still_open)


class Mailboxes(list[str]):
    """A GP's personal (PER) MSSanté addresses, sorted: the only ones notified (as
    directory.lookup), the list stored with the row. ``organisational_only``: there is
    none, but the directory knows the RPPS with a structure's mailbox (ORG, CAB, APP),
    which is never used: the reason told is then not "no address known"."""

    organisational_only: bool = False


def addresses_by_rpps(numbers: Iterable[str]) -> dict[str, Mailboxes]:
    """The MSSanté addresses of many GPs in one query, by RPPS (an RPPS the directory
    does not know is absent)."""
    found: dict[str, Mailboxes] = {}
    wanted = sorted({n for n in numbers if n})
    if not wanted:
        return found
    rows = MSSanteAddress.objects.filter(rpps__in=wanted).values_list("rpps", "kind", "address")
    for number, kind, address in rows:
        mailboxes = found.setdefault(number, Mailboxes())
        if kind == MSSanteAddress.Kind.PERSONAL:
            mailboxes.append(address)
    for mailboxes in found.values():
        mailboxes.sort()
        mailboxes.organisational_only = not mailboxes
    return found


def candidates(registrations: QuerySet[Registration]) -> list[Candidate]:
    """The registrations as the rule sees them, in one query."""
    names = tuple(CANDIDATE_LOOKUPS)
    rows = registrations.values_list(*CANDIDATE_LOOKUPS.values())
    return [Candidate(**dict(zip(names, values, strict=True))) for values in rows]


def facts_for(
    candidate: Candidate, addresses: list[str], now: dt.datetime, *, already: bool = False
) -> tuple[Facts, dt.datetime]:
    facts = Facts(
        gp_name=candidate.gp_name,
        gp_rpps=candidate.gp_rpps,
        mssante_addresses=tuple(addresses),
        # (a plain list from a caller that only knows the personal addresses: False)
        organisational_addresses_only=(
            isinstance(addresses, Mailboxes) and addresses.organisational_only
        ),
        # As it was when the session started: switched on since, it was off then.
        board_opted_in=candidate.board_opted_in
        and candidate.board_opted_in_at is not None
        and candidate.board_opted_in_at < candidate.session_starts_at,
        prefiche_completed_at=candidate.prefiche_completed_at,
        notification_day=notification_day(candidate.session_date, candidate.subdivision),
        registration_withdrawn=candidate.status == Registration.Status.WITHDRAWN,
        session_cancelled=candidate.session_status == Session.Status.CANCELLED,
        session_starts_at=candidate.session_starts_at,
        now=now,
        already_notified=already,
    )
    return facts, due_at_for(candidate.session_date, candidate.subdivision)


ROW_FIELDS = (
    "registration_id",
    "gp_rpps",
    "status",
    "reasons",
    "addresses",
    "due_at",
    "session_starts_at",
    "attempts",
    "next_attempt_at",
    "lease_until",
    "claim_token",
    "claimed_by",
)


def is_open(row: Notification, now: dt.datetime) -> bool:
    """Pending, or claimed by a worker whose lease has run out."""
    return row.status == Status.PENDING or (
        row.status == Status.SENDING and (row.lease_until is None or row.lease_until <= now)
    )


def _gp_changed(row: Notification) -> bool:
    return row.status == Status.NOT_ELIGIBLE and GP_CHANGED in row.reasons


def record_of(
    candidate: Candidate,
    rows: list[Notification],
    now: dt.datetime,
    eligibility: Eligibility | None = None,
) -> Notification | None:
    """Once the session has started, the row that says what happened then (SPEC §4:
    sent, expired, failed, or not eligible and why), whatever changed since (an opt-in
    switched on, an address found, another GP declared). It is the row of the GP of the
    time: the declared GP's when the GP has not changed since; else the latest row (the
    scan writes none after the start once there is one), one closed by a GP change only
    when there is no other.

    None before the start or for a cancelled session; when there is no row (no worker
    looked before the start: the rule is applied to today's data); when the row is a
    "not eligible" verdict about an earlier date of a postponed session (the rule is
    applied again, as before the start); and when the declared GP's "not eligible"
    verdict no longer holds by ``eligibility`` (today's rule, the opt-in as it was at the
    start): lifted before the start with no worker passing by then (an outage), or after
    it; the directory keeps no dates to tell which, so the file is judged by the rule
    (due and not sent: expired, to be looked at) rather than left under a reason that
    may have been false at the start."""
    if candidate.session_starts_at > now or candidate.session_status == Session.Status.CANCELLED:
        return None
    gp_rpps = candidate.gp_rpps or ""
    record = next((r for r in rows if r.gp_rpps == gp_rpps and not _gp_changed(r)), None)
    if record is None:
        record = max(rows, key=lambda r: (not _gp_changed(r), r.pk), default=None)
    if record is None:
        return None
    if record.status == Status.NOT_ELIGIBLE and record.session_starts_at not in (
        None,
        candidate.session_starts_at,
    ):
        return None
    if (
        record.status == Status.NOT_ELIGIBLE
        and record.gp_rpps == gp_rpps
        and eligibility is not None
        and not set(eligibility.reasons) - {Reason.SESSION_STARTED}
        # (within the scan's window only: past it, the scan no longer looks, and the
        # organisers' status must say what the rows say; history stays as it was)
        and candidate.session_starts_at > now - dt.timedelta(days=EXPIRY_LOOKBACK_DAYS)
    ):
        return None
    return record


def closed_as(record: Notification, candidate: Candidate, now: dt.datetime) -> Closing | None:
    """How the scan closes ``record`` (:func:`record_of`'s) once the session has started:
    a row still open expires (was due, not sent), a withdrawn file's needs nobody to act.
    None for a row already closed. (What the organisers' status shows before the pass.)"""
    if not is_open(record, now):
        return None
    if candidate.status == Registration.Status.WITHDRAWN:
        return Closing(record, Status.NOT_ELIGIBLE, (WITHDRAWN,))
    return Closing(record, Status.EXPIRED)


def plan(now: dt.datetime) -> Plan:
    """Evaluate every candidate registration; writes nothing (``--dry-run`` prints it)."""
    condition = _candidates(now)
    registrations = candidates(
        Registration.objects.filter(condition).order_by("session__starts_at", "pk")
    )
    # Only the columns the scan reads (``test_scan_query_count_does_not_grow_with_size``
    # catches a deferred one read later).
    rows: dict[int, list[Notification]] = {}
    for existing_row in Notification.objects.filter(
        registration_id__in=Registration.objects.filter(condition).values("pk")
    ).only(*ROW_FIELDS):
        rows.setdefault(existing_row.registration_id, []).append(existing_row)
    addresses = addresses_by_rpps(r.gp_rpps or "" for r in registrations)
    result = Plan()
    for registration in registrations:
        gp_rpps = registration.gp_rpps or ""
        existing = rows.get(registration.pk, [])
        found = addresses.get(gp_rpps, Mailboxes())
        try:
            facts, due = facts_for(registration, found, now)
        except UnknownSubdivision as exc:
            # One territory's bad calendar code must not stop every board's notices:
            # its registrations are left as they are (no row planned, none closed).
            log.error("inscription %s non évaluée : %s", registration.pk, exc)
            continue
        eligibility = evaluate(facts)
        record = record_of(registration, existing, now, eligibility)
        if record is not None:
            # The session has started: the record, still open, was due and not sent by
            # then: it expires (a withdrawn file needs nobody to act); another open row
            # was not for the GP of the time. Nothing else changes, nothing is added.
            then = record.status
            for open_row in (r for r in existing if is_open(r, now)):
                if open_row is record:
                    closing = closed_as(record, registration, now)
                    assert closing is not None
                    then = closing.status
                elif registration.status == Registration.Status.WITHDRAWN:
                    closing = Closing(open_row, Status.NOT_ELIGIBLE, (WITHDRAWN,))
                else:
                    closing = Closing(open_row, Status.NOT_ELIGIBLE, (GP_CHANGED,))
                result.closing.append(closing)
            result.items.append(
                PlanItem(registration, gp_rpps, eligibility, then, found, due, record, kept=True)
            )
            continue
        row = next((r for r in existing if r.gp_rpps == gp_rpps), None)
        # Open rows for a GP who is no longer the patient's: closed, never sent (a row
        # still ``sending`` once its worker's lease has run out, too).
        result.closing += [
            Closing(r, Status.NOT_ELIGIBLE, (GP_CHANGED,))
            for r in existing
            if r.gp_rpps != gp_rpps and is_open(r, now)
        ]
        status: str | None
        if eligibility.eligible:
            status = Status.PENDING
        elif eligibility.reasons == (Reason.SESSION_STARTED,):
            # Would have been sent: nobody sent it in time. Shown as needing attention.
            status = Status.EXPIRED
        elif eligibility.provisional:
            status = None
        else:
            status = Status.NOT_ELIGIBLE
        result.items.append(PlanItem(registration, gp_rpps, eligibility, status, found, due, row))
    return result


@dataclass
class ScanResult:
    evaluated: int = 0
    created: int = 0
    updated: int = 0
    expired: int = 0
    reclaimed: int = 0


def _close(closing: Closing, now: dt.datetime) -> int:
    row = closing.row
    guard = Notification.objects.filter(pk=row.pk, status=row.status)
    if row.status == Status.SENDING:
        guard = guard.filter(claim_token=row.claim_token, lease_until__lte=now)
    changes: dict[str, object] = {}
    if closing.status == Status.EXPIRED:
        changes.update(closed_at=now, last_error="Séance commencée avant l'envoi.")
    else:
        changes["reasons"] = list(closing.reasons)
    return guard.update(
        status=closing.status,
        lease_until=None,
        claim_token="",
        claimed_by="",
        updated_at=now,
        **changes,
    )


def scan(now: dt.datetime) -> ScanResult:
    """Bring the outbox in line with the plan. Safe with several workers at once."""
    current = plan(now)
    result = ScanResult(evaluated=len(current.items))
    new_rows: list[Notification] = []
    for item in current.items:
        if item.kept:
            continue  # (its open rows, if any, are in current.closing)
        reasons = [reason.value for reason in item.eligibility.reasons]
        row = item.row
        if row is None:
            if item.status is None:
                continue
            new_rows.append(
                Notification(
                    registration_id=item.candidate.pk,
                    gp_rpps=item.gp_rpps,
                    status=item.status,
                    reasons=[] if item.status != Status.NOT_ELIGIBLE else reasons,
                    addresses=item.addresses,
                    message_id=new_message_id(),
                    due_at=item.due_at,
                    session_starts_at=item.candidate.session_starts_at,
                    next_attempt_at=item.due_at,
                    created_at=now,
                    updated_at=now,
                    closed_at=now if item.status == Status.EXPIRED else None,
                    last_error=(
                        "Séance commencée avant tout envoi."
                        if item.status == Status.EXPIRED
                        else ""
                    ),
                )
            )
            if item.status == Status.EXPIRED:
                result.expired += 1
            continue
        if row.status in Notification.TERMINAL:
            continue
        lease_expired = row.status == Status.SENDING and (
            row.lease_until is None or row.lease_until <= now
        )
        if row.status == Status.SENDING and not lease_expired:
            continue  # in flight in a live worker
        target = item.status or Status.NOT_ELIGIBLE
        if item.status is None and row.status == Status.NOT_ELIGIBLE:
            target = Status.NOT_ELIGIBLE
        changes: dict[str, object] = {}
        if target != row.status:
            changes["status"] = target
        if target == Status.NOT_ELIGIBLE and row.reasons != reasons:
            changes["reasons"] = reasons
        if target == Status.PENDING and row.reasons:
            changes["reasons"] = []
        if row.addresses != item.addresses and target != Status.EXPIRED:
            changes["addresses"] = item.addresses
        if row.due_at != item.due_at:
            changes["due_at"] = item.due_at
            if row.attempts == 0 or (row.next_attempt_at and row.next_attempt_at < item.due_at):
                changes["next_attempt_at"] = item.due_at
        starts_at = item.candidate.session_starts_at
        if row.session_starts_at != starts_at:
            changes["session_starts_at"] = starts_at
        if row.status == Status.SENDING:
            # The worker that claimed it died (or lost its lease): back in the queue.
            changes.update(lease_until=None, claim_token="", claimed_by="")
            if target == Status.PENDING:
                changes["next_attempt_at"] = now
                changes["last_error"] = (
                    f"Réservation expirée ({row.claimed_by}) : nouvelle tentative."
                )
                result.reclaimed += 1
        if target == Status.EXPIRED:
            changes.update(closed_at=now, last_error="Séance commencée avant l'envoi.")
            result.expired += 1
        if not changes:
            continue
        changes["updated_at"] = now
        guard = Notification.objects.filter(pk=row.pk, status=row.status)
        if row.status == Status.SENDING:
            guard = guard.filter(claim_token=row.claim_token, lease_until__lte=now)
        result.updated += guard.update(**changes)
    for closing in current.closing:
        closed = _close(closing, now)
        result.updated += closed
        if closing.status == Status.EXPIRED:
            result.expired += closed
    if new_rows:
        created = Notification.objects.bulk_create(new_rows, ignore_conflicts=True)
        result.created = len(created)
    return result


# --- 2. claim ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """A notification this worker holds under a lease: what sending it and recording its
    outcome need, read once at claim time (no model instance per row)."""

    pk: int
    claim_token: str
    lease_until: dt.datetime
    attempts: int
    patient_id: int
    content: Content

    @property
    def registration_id(self) -> int:
        return self.content.registration_id

    @property
    def addresses(self) -> list[str]:
        return list(self.content.recipients)


# Due rows become ``sending`` in one statement. Re-checked at claim time: what changed
# since the scan (withdrawal, cancellation, opt-out, a session started or moved — its
# notification day and the pre-fiche's deadline with it: the next scan re-plans it —,
# the patient's GP changed or removed: the notice is for the declared GP only) is not
# sent; the addresses are read again from the directory once claimed. On
# PostgreSQL the rows are locked and the ones another worker holds are skipped; SQLite
# serialises writers, and the ``status = 'pending'`` guard does the rest. The chosen ids
# are materialised first: as a plain ``IN (SELECT … LIMIT … FOR UPDATE SKIP LOCKED)``,
# PostgreSQL may run the sub-select again while updating and claim more than ``limit``.
_CLAIM = """
WITH due AS{materialized} (
    SELECT n.id
    FROM notifications_notification n
    JOIN rcp_registration r ON r.id = n.registration_id
    JOIN rcp_session s ON s.id = r.session_id
    JOIN rcp_board b ON b.id = s.board_id
    JOIN patients_patient p ON p.id = r.patient_id
    WHERE n.status = %s AND n.due_at <= %s AND n.next_attempt_at <= %s
      AND r.status = %s AND s.status = %s AND s.starts_at > %s AND b.notifications_enabled
      AND p.gp_rpps = n.gp_rpps AND n.session_starts_at = s.starts_at
    ORDER BY n.next_attempt_at, n.id
    LIMIT %s{lock}
)
UPDATE notifications_notification
SET status = %s, claim_token = %s, claimed_by = %s, lease_until = %s,
    attempts = attempts + 1, updated_at = %s
WHERE status = %s AND id IN (SELECT id FROM due)
"""
_CLAIMED_FIELDS = (
    "pk",
    "lease_until",
    "attempts",
    "message_id",
    "addresses",
    "registration_id",
    "gp_rpps",
    "registration__patient_id",
    *(f"registration__patient__{name}" for name in IDENTITY_FIELDS),
    "registration__session__starts_at",
    "registration__session__board__title",
    "registration__session__board__webconference_url",
    "registration__session__board__webconference_code",
)


def claim(now: dt.datetime, *, limit: int, worker: str) -> list[Claimed]:
    """Move up to ``limit`` due rows to ``sending`` under a lease; committed on return.

    In SQL (the same conditions as the ORM query they replaced): the worker waits for
    each claim between two batches, and building the ORM queries and a model instance
    per row and relation cost several times more than running them."""
    token = uuid.uuid4().hex
    postgresql = connection.vendor == "postgresql"
    sql = _CLAIM.format(
        materialized=" MATERIALIZED" if postgresql else "",  # (SQLite: a CTE used once)
        lock=" FOR UPDATE OF n SKIP LOCKED" if postgresql else "",
    )
    at = connection.ops.adapt_datetimefield_value(now)
    lease = connection.ops.adapt_datetimefield_value(
        now + dt.timedelta(seconds=settings.NOTIFY_LEASE_SECONDS)
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                Status.PENDING,
                at,
                at,
                Registration.Status.ACTIVE,
                Session.Status.PLANNED,
                at,
                limit,
                Status.SENDING,
                token,
                worker,
                lease,
                at,
                Status.PENDING,
            ],
        )
        if not cursor.rowcount:
            return []
    try:
        rows = list(
            Notification.objects.filter(claim_token=token, status=Status.SENDING)
            .order_by("pk")
            .values_list(*_CLAIMED_FIELDS)
        )
        gp_at = _CLAIMED_FIELDS.index("gp_rpps")
        return _with_current_addresses(
            _claimed(rows, token), {row[0]: row[gp_at] for row in rows}, now
        )
    except DatabaseError:
        # Claimed and committed, but not read (or not re-addressed): give them back at
        # once if the database lets us (else their lease will).
        with contextlib.suppress(DatabaseError):
            _give_back(Q(claim_token=token), now)
        raise


def _claimed(rows: list[tuple[Any, ...]], token: str) -> list[Claimed]:
    return [
        Claimed(
            pk=pk,
            claim_token=token,
            lease_until=lease_until,
            attempts=attempts,
            patient_id=patient_id,
            content=Content(
                notification_id=pk,
                message_id=message_id,
                recipients=tuple(addresses),
                patient_identity=identity_label(*identity),
                board_title=title,
                session_start=starts_at,
                registration_id=registration_id,
                webconference_url=url,
                webconference_code=code,
            ),
        )
        for (
            pk,
            lease_until,
            attempts,
            message_id,
            addresses,
            registration_id,
            _gp_rpps,
            patient_id,
            *identity,
            starts_at,
            title,
            url,
            code,
        ) in rows
    ]


def _with_current_addresses(
    claimed: list[Claimed], gp_of: dict[int, str], now: dt.datetime
) -> list[Claimed]:
    """The claimed rows, each addressed as the directory says now (an import may have
    run since the scan): changed addresses are written to the row; a GP left without
    any is not notified (the next scan looks again) and is dropped from the batch."""
    current = addresses_by_rpps(gp_of.values())
    kept = []
    for row in claimed:
        addresses = current.get(gp_of[row.pk], Mailboxes())
        if addresses == sorted(row.addresses):
            kept.append(row)
        elif addresses:
            Notification.objects.filter(_mine(row)).update(addresses=addresses, updated_at=now)
            content = replace(row.content, recipients=tuple(addresses))
            kept.append(replace(row, content=content))
        else:
            reason = (
                Reason.ORGANISATIONAL_ADDRESS_ONLY
                if addresses.organisational_only
                else Reason.NO_MSSANTE_ADDRESS
            )
            Notification.objects.filter(_mine(row)).update(
                status=Status.NOT_ELIGIBLE,
                reasons=[reason.value],
                addresses=[],
                lease_until=None,
                claim_token="",
                claimed_by="",
                attempts=F("attempts") - 1,
                updated_at=now,
            )
    return kept


# --- 3. deliver and record --------------------------------------------------------------


def _with_db_retry(action: Callable[[], int]) -> int:
    """Run a short write, retrying while the database is briefly unavailable.

    The message may already be with the server: giving up early would turn a database
    hiccup into a duplicate once the lease expires."""
    deadline = time.monotonic() + settings.NOTIFY_DB_RETRY_SECONDS
    pause = 0.2
    while True:
        try:
            return action()
        except (OperationalError, InterfaceError):
            if time.monotonic() >= deadline:
                raise
            log.warning("base de données indisponible : nouvel essai dans %.1f s", pause)
            if not connection.in_atomic_block:
                with contextlib.suppress(DatabaseError):
                    connection.close()
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def backoff(attempts: int) -> dt.timedelta:
    seconds = settings.NOTIFY_RETRY_BASE_SECONDS * (2 ** max(attempts - 1, 0))
    return dt.timedelta(seconds=min(seconds, settings.NOTIFY_RETRY_MAX_SECONDS))


def _mine(row: Claimed) -> Q:
    return Q(pk=row.pk, status=Status.SENDING, claim_token=row.claim_token)


_SENT_AND_TRACED = """
WITH sent AS (
    UPDATE notifications_notification
    SET status = %(sent)s, sent_at = %(now)s, closed_at = %(now)s,
        recipient_outcomes = %(outcomes)s::jsonb, lease_until = NULL, claim_token = '',
        last_error = '', updated_at = %(now)s
    WHERE id = %(id)s AND status = %(sending)s AND claim_token = %(token)s
    RETURNING id
), traced AS (
    INSERT INTO audit_auditevent (at, actor_id, actor, actor_role, action, object_type,
                                  object_id, patient_id, outcome, ip, details)
    SELECT %(now)s, NULL, %(actor)s, '', 'notification.sent', 'notification', id::text,
           %(patient)s, 'ok', NULL, %(details)s::jsonb
    FROM sent
)
SELECT count(*) FROM sent
"""
# Elsewhere (SQLite) the same two writes as two statements in one transaction.
_SENT = """
UPDATE notifications_notification
SET status = %s, sent_at = %s, closed_at = %s, recipient_outcomes = %s, lease_until = NULL,
    claim_token = '', last_error = '', updated_at = %s
WHERE id = %s AND status = %s AND claim_token = %s
"""
_TRACED = """
INSERT INTO audit_auditevent (at, actor_id, actor, actor_role, action, object_type, object_id,
                              patient_id, outcome, ip, details)
VALUES (%s, NULL, %s, '', 'notification.sent', 'notification', %s, %s, 'ok', NULL, %s)
"""


_threads = threading.local()


def _bound_cursor() -> Any:
    """A psycopg cursor that binds its parameters on the server, on this thread's
    connection: the statement's text goes as it is, its parameters apart. Django's cursor
    binds them in the client, building the statement's text in Python for every message,
    in the thread that shares the GIL with the sending loop."""
    connection.ensure_connection()
    raw = connection.connection
    cursor = getattr(_threads, "sent_cursor", None)
    if cursor is None or cursor.closed or cursor.connection is not raw:
        cursor = _threads.sent_cursor = psycopg.Cursor(raw)
    return cursor


def _execute_bound(sql: str, params: dict[str, Any]) -> Any:
    """Execute ``sql`` on :func:`_bound_cursor` and return its first row, through the
    connection's execute wrappers (``connection.execute_wrapper``: instrumentation, and
    the tests' fault injection) and Django's database exceptions, as a Django cursor
    would."""
    cursor = _bound_cursor()

    def execute(sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        with connection.wrap_database_errors:
            cursor.execute(sql, params)
            return cursor.fetchone()

    executor = execute
    for wrapper in reversed(connection.execute_wrappers):
        executor = functools.partial(wrapper, executor)
    return executor(sql, params, False, {"connection": connection, "cursor": cursor})


def record_sent(row: Claimed, delivery: Delivery, now: dt.datetime) -> int:
    """``sent`` (as of ``now``, when the server said 250) and its audit event, committed
    together before the next message's end-of-data mark leaves.

    Written in SQL rather than through the ORM (the same columns and values as
    ``Notification.objects.filter(...).update(...)`` and ``trail.record``): the worker
    waits for this between two messages, and building the two ORM queries cost more
    than running them. On PostgreSQL one statement does both (one round trip)."""
    outcomes = json.dumps(delivery.outcomes())
    details = json.dumps({"registration": row.registration_id, "to": delivery.accepted})
    actor = trail.actor_label(None)
    patient = row.patient_id

    def write() -> int:
        if connection.vendor == "postgresql":
            found = _execute_bound(
                _SENT_AND_TRACED,
                {
                    "sent": Status.SENT.value,
                    "sending": Status.SENDING.value,
                    "now": now,
                    "outcomes": outcomes,
                    "id": row.pk,
                    "token": row.claim_token,
                    "actor": actor,
                    "patient": patient,
                    "details": details,
                },
            )
            return int(found[0]) if found else 0
        at = connection.ops.adapt_datetimefield_value(now)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                _SENT, [Status.SENT, at, at, outcomes, at, row.pk, Status.SENDING, row.claim_token]
            )
            changed = cursor.rowcount
            if changed:
                cursor.execute(_TRACED, [at, actor, str(row.pk), patient, details])
        return changed

    changed = _with_db_retry(write)
    if not changed:
        log.error("notification %s envoyée mais réservation perdue (doublon possible)", row.pk)
    return changed


def record_failed(row: Claimed, error: TransportError) -> int:
    def write() -> int:
        now = clock.now()
        with transaction.atomic():
            changed = Notification.objects.filter(_mine(row)).update(
                status=Status.FAILED,
                closed_at=now,
                last_error=str(error),
                recipient_outcomes={
                    address: {"code": code, "reply": reply}
                    for address, (code, reply) in error.refused.items()
                },
                lease_until=None,
                claim_token="",
                updated_at=now,
            )
            if changed:
                trail.record(
                    by=None,
                    action="notification.failed",
                    obj=Notification(pk=row.pk),  # the trail names it; no row read
                    patient_id=row.patient_id,
                    outcome="error",
                    details={"registration": row.registration_id, "error": str(error)[:500]},
                )
        return changed

    return _with_db_retry(write)


def record_expired(row: Claimed) -> int:
    """``expired`` if the session, as it is now, has started; 0 otherwise (postponed
    since the claim: the caller gives the row back, the next scan re-plans it)."""

    def write() -> int:
        now = clock.now()
        return Notification.objects.filter(
            _mine(row), registration__session__starts_at__lte=now
        ).update(
            status=Status.EXPIRED,
            closed_at=now,
            last_error="Séance commencée avant l'envoi.",
            lease_until=None,
            claim_token="",
            claimed_by="",
            updated_at=now,
        )

    return _with_db_retry(write)


def record_retry(row: Claimed, error: Exception) -> int:
    def write() -> int:
        now = clock.now()
        return Notification.objects.filter(_mine(row)).update(
            status=Status.PENDING,
            next_attempt_at=now + backoff(row.attempts),
            last_error=str(error)[:2000],
            lease_until=None,
            claim_token="",
            updated_at=now,
        )

    return _with_db_retry(write)


def _give_back(rows: Q, now: dt.datetime) -> int:
    """Claimed rows back to ``pending``, unsent: lease cleared, the attempt not counted."""
    return Notification.objects.filter(rows, status=Status.SENDING).update(
        status=Status.PENDING,
        lease_until=None,
        claim_token="",
        claimed_by="",
        attempts=F("attempts") - 1,
        updated_at=now,
    )


def release(rows: Iterable[Claimed]) -> int:
    """Give back claimed rows that were not tried (graceful stop, lease running low): one
    statement per claim they came from."""
    by_claim: dict[str, list[int]] = {}
    for row in rows:
        by_claim.setdefault(row.claim_token, []).append(row.pk)
    return sum(
        _with_db_retry(functools.partial(_give_back, Q(claim_token=token, pk__in=ids), clock.now()))
        for token, ids in by_claim.items()
    )


@dataclass
class PassResult:
    scan: ScanResult = field(default_factory=ScanResult)
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    released: int = 0
    expired: int = 0  # claimed, but the session had started before their turn


def lease_needed(recipients: int = 1) -> float:
    """Seconds one message can take in the worst case: its SMTP steps (MAIL FROM, one
    RCPT TO per recipient, DATA), each up to the timeout, the reply to its content (up
    to MSSANTE_SMTP_DATA_TIMEOUT), the wait for the previous message's commit before its
    end-of-data mark and its own commit (each retried up to NOTIFY_DB_RETRY_SECONDS; see
    :class:`Recorder`)."""
    steps = 2 + max(recipients, 1)
    return (
        steps * settings.MSSANTE_SMTP_TIMEOUT
        + settings.MSSANTE_SMTP_DATA_TIMEOUT
        + 2 * settings.NOTIFY_DB_RETRY_SECONDS
    )


def lease_margin(recipients: int = 1) -> dt.timedelta:
    """The lease a message needs left before it is started (:func:`lease_needed`).
    Starting with less could let the lease expire before the commit, and another worker
    would send the message again. At most half the lease, so that a fresh claim always
    sends: ``concerto notify`` refuses (production) or warns about a lease shorter than
    twice what a message needs."""
    needed = lease_needed(recipients)
    return dt.timedelta(seconds=min(needed, settings.NOTIFY_LEASE_SECONDS / 2))


class _DatabaseThread:
    """One helper thread, started at first use, with its own database connection
    (Django's connections are per thread), closed with it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix=self._name)
        return self._pool.submit(function, *args)

    def close(self) -> None:
        if self._pool is None:
            return
        try:
            self._pool.submit(connections.close_all).result()  # the thread's own
        finally:
            self._pool.shutdown()
            self._pool = None


class Recorder:
    """Commits each message's ``sent`` while the next message's envelope is on the wire.

    The rule that bounds duplicates (docs/decisions/0001-notification-outbox.md): the
    ``sent`` of message *k* is durably committed before the end-of-data mark of message
    *k+1* is sent, so a crash leaves at most one message delivered and not recorded.
    Waiting for that commit right after message *k*'s 250 keeps the rule, and so does
    this: the commit starts on a second database connection (a helper thread; the
    database driver releases the GIL while it waits) and the main thread sends MAIL FROM,
    RCPT TO, DATA and the content of message *k+1* meanwhile. :meth:`wait` blocks until
    that commit is done and re-raises its error; it is called by the transport between
    the content and the end-of-data mark (``Connection.send(before_end_of_data=…)``,
    which drops the connection without the mark if it raises) and before any other
    database work of the main thread. At most one commit is ever in flight.

    Inside an atomic block (tests that run in a transaction) a second connection would
    not see the claimed rows: the commit then runs in place, right after the 250."""

    def __init__(self, result: PassResult) -> None:
        self.result = result
        self._inline = connection.in_atomic_block
        self._thread = _DatabaseThread("notify-commit")
        self._pending: Future[int] | None = None

    def sent(self, row: Claimed, delivery: Delivery) -> None:
        """Record ``row`` as sent; committed by the time :meth:`wait` returns."""
        self.wait()
        now = clock.now()  # the 250's time (the helper thread does not see clock.as_of)
        if self._inline:
            self.result.sent += _commit_sent(row, delivery, now)
            return
        self._pending = self._thread.submit(_commit_sent, row, delivery, now)

    def wait(self) -> None:
        """Return once the last ``sent`` is committed (or raise why it could not be)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            self.result.sent += pending.result()

    def close(self) -> None:
        """Wait for the last commit, then close the helper's connection and thread."""
        try:
            self.wait()
        finally:
            self._thread.close()


class Claimer:
    """Claims the next batch while the current one is being sent.

    Between two batches the worker would otherwise wait for a claim (a statement over
    every due row, then a read of the batch). On PostgreSQL the next claim runs on a third
    database connection, in a helper thread, while a full batch's last messages go out
    (:data:`AHEAD_AT`); the rows it takes are ``sending`` under their own lease from then
    on, like any claimed row, so nothing else sends them, and whatever is not sent (a
    stop, an error) is given back by :meth:`close`. A crash leaves them to the lease, as
    it does a batch in hand.
    On SQLite (one writer at a time) and inside an atomic block (tests that run in a
    transaction: another connection would not see the rows) the claim runs in place."""

    def __init__(self, worker: str) -> None:
        self.worker = worker
        self._ahead = connection.vendor == "postgresql" and not connection.in_atomic_block
        self._thread = _DatabaseThread("notify-claim")
        self._next: Future[list[Claimed]] | None = None

    def _claim(self, now: dt.datetime) -> list[Claimed]:
        return claim(now, limit=settings.NOTIFY_BATCH_SIZE, worker=self.worker)

    def ahead(self) -> None:
        """Start claiming the next batch (as of now: the helper thread does not see
        ``clock.as_of``)."""
        if not self._ahead or self._next is not None:
            return
        self._next = self._thread.submit(self._claim, clock.now())

    def next(self) -> list[Claimed]:
        """The next batch: the one claimed ahead, else one claimed now. Called once every
        outcome of the previous batch is committed (the crash test's ``after_claim``:
        rows claimed, none of them sent)."""
        pending, self._next = self._next, None
        rows = pending.result() if pending is not None else self._claim(clock.now())
        if rows:
            faults.hit("after_claim")
        return rows

    def close(self, result: PassResult) -> None:
        """Give back a batch claimed ahead and not sent; close the helper's connection."""
        try:
            pending, self._next = self._next, None
            if pending is not None:
                try:
                    unsent = pending.result()
                except DatabaseError:
                    unsent = []  # the claim failed: it gave its rows back (or their lease will)
                result.released += release(unsent)
        finally:
            self._thread.close()


def _commit_sent(row: Claimed, delivery: Delivery, now: dt.datetime) -> int:
    changed = record_sent(row, delivery, now)
    faults.hit("after_commit")
    return changed


# The next batch is claimed while the last AHEAD_AT messages of a batch go out: enough
# to hide a claim (a few milliseconds), and the rows claimed ahead wait for little of
# their lease (and, after a crash, a worker leaves little more than one batch behind).
AHEAD_AT = 10


def _no_action() -> None:
    return None


def deliver(
    rows: list[Claimed],
    result: PassResult,
    stop: Callable[[], bool],
    smtp: Connection,
    recorder: Recorder,
    near_end: Callable[[], None] = _no_action,
) -> None:
    """Send a claimed batch over ``smtp`` (opened here when needed, kept open for the
    next batch of the pass; the caller closes it). Rows whose lease is running out (a
    slow server) go back to the queue unsent; the next claim takes them with a new one.
    ``near_end`` runs once, :data:`AHEAD_AT` messages before the end (the next batch is
    claimed meanwhile). Returns once every outcome is committed."""
    ready: dict[int, bytes] = {}  # the next message, rendered while the server worked
    ahead_at = max(len(rows) - AHEAD_AT, 0)

    def render_next(index: int) -> None:
        # Runs between a message's end-of-data mark and the server's reply (the server
        # is busy writing the message away meanwhile). Any error is left for the normal
        # path to meet before that message's MAIL FROM, not here, in mid-reply.
        if index + 1 < len(rows):
            following = rows[index + 1]
            with contextlib.suppress(Exception):
                ready[following.pk] = render(following.content, now=clock.now())

    for index, row in enumerate(rows):
        if stop():
            recorder.wait()
            result.released += release(rows[index:])
            return
        if index == ahead_at:
            near_end()
        if smtp.smtp is None:
            try:
                smtp.open()
            except TransportError as exc:
                log.warning("connexion MSSanté impossible : %s", exc)
                recorder.wait()
                for rest in rows[index:]:
                    result.retried += record_retry(rest, exc)
                return
        # (Checked once the connection is open: opening it, after a drop mid-batch, may
        # itself take several SMTP time-outs.)
        margin = lease_margin(len(row.content.recipients))
        if row.lease_until is not None and clock.now() > row.lease_until - margin:
            unsent = rows[index:]
            log.warning("réservation bientôt expirée : %s notification(s) remises", len(unsent))
            recorder.wait()
            result.released += release(unsent)
            return
        if clock.now() >= row.content.session_start:
            # Claimed in time, reached too late (a long batch, a slow server): after
            # the session has started an unsent notice expires (SPEC §4).
            recorder.wait()
            expired = record_expired(row)
            result.expired += expired
            if not expired:  # postponed since the claim: not sent with the old date
                result.released += release([row])
            continue
        try:
            payload = ready.pop(row.pk, None) or render(row.content, now=clock.now())
        except Exception as exc:  # noqa: BLE001 — one message, not the worker
            # A message that cannot be built (unexpected data) waits to be retried,
            # logged; the rest of the batch goes on. (No patient data in the log.)
            log.error(
                "notification %s : message impossible à construire (%s)",
                row.pk,
                type(exc).__name__,
            )
            recorder.wait()
            result.retried += record_retry(row, exc)
            continue
        try:
            # The previous message's commit is awaited before this one's end-of-data
            # mark (see Recorder): never two messages delivered and not recorded.
            delivery = smtp.send(
                payload,
                list(row.addresses),
                before_end_of_data=recorder.wait,
                while_server_works=functools.partial(render_next, index),
            )
        except TransportError as exc:
            recorder.wait()
            if exc.sender:
                log.error("expéditeur MSSanté refusé, envoi suspendu pour ce lot : %s", exc)
                for rest in rows[index:]:
                    result.retried += record_retry(rest, exc)
                return
            if exc.permanent:
                result.failed += record_failed(row, exc)
            else:
                result.retried += record_retry(row, exc)
            continue
        faults.hit("after_250_before_commit")
        recorder.sent(row, delivery)
    recorder.wait()


def run_pass(
    *, now: dt.datetime | None = None, stop: Callable[[], bool] = lambda: False
) -> PassResult:
    """Scan, then claim and send batches until nothing is due (or ``stop()``)."""
    result = PassResult()
    instant = now or clock.now()
    with clock.as_of(instant) if now is not None else contextlib.nullcontext():
        result.scan = scan(clock.now())
        worker = worker_name()
        smtp = Connection()  # one connection for the pass's batches
        recorder = Recorder(result)
        claimer = Claimer(worker)
        try:
            rows = [] if stop() else claimer.next()
            while rows:
                result.claimed += len(rows)
                # (A short batch took every due row: none to claim ahead.)
                full = len(rows) == settings.NOTIFY_BATCH_SIZE
                deliver(rows, result, stop, smtp, recorder, claimer.ahead if full else _no_action)
                if stop():
                    break
                rows = claimer.next()
        finally:
            try:
                recorder.close()
            finally:
                try:
                    claimer.close(result)
                finally:
                    smtp.close()
    return result


def run_loop(*, stop: Callable[[], bool], interval: float) -> None:
    """``concerto notify --loop``: passes forever; a database outage only delays them."""
    while not stop():
        close_old_connections()
        try:
            result = run_pass(stop=stop)
            if result.claimed or result.scan.created or result.scan.expired or result.expired:
                log.info(
                    "passe : %s créées, %s envoyées, %s échecs, %s à réessayer, %s expirées",
                    result.scan.created,
                    result.sent,
                    result.failed,
                    result.retried,
                    result.scan.expired + result.expired,
                )
        except (OperationalError, InterfaceError) as exc:
            log.warning("base de données indisponible, passe reportée : %s", exc)
            with contextlib.suppress(DatabaseError):
                connection.close()
        deadline = time.monotonic() + interval
        while not stop() and time.monotonic() < deadline:
            time.sleep(min(0.1, interval))
