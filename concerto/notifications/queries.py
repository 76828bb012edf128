"""What the rest of Concerto asks about GP notifications (the interface other apps use).

Answers come from the outbox (:mod:`concerto.notifications.models`); a registration the
worker has not looked at yet gets its status computed with the same pure eligibility
rule, so organisers always see why a GP will or will not be notified. Once the session
has started, the outbox says what happened then (``worker.record_of``), as the scan
and the back office's "à traiter" read it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q

from concerto.lib import clock
from concerto.notifications.calendar import UnknownSubdivision
from concerto.notifications.eligibility import reason_labels
from concerto.notifications.models import Notification
from concerto.rcp.models import Registration

PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class NotificationStatus:
    """What organisers see for one registration (SPEC §4, last paragraph)."""

    code: str  # "sent" | "pending" | "sending" | "expired" | "failed" | "not_eligible" | "unknown"
    label: str  # French, e.g. "Envoyée le 09/09/2022 à 08:00 à dr.x@medecin.mssante.fr"
    needs_attention: bool = False  # expired or failed: the secretary must act
    reasons: tuple[str, ...] = ()  # not eligible: each reason, in French


MOVES_FOLLOWED = 3  # (a file moved more often: the notices of its first registrations are
# not found, until the current registration's own notice is sent)


def notice_sent(registration: Registration, rpps: str) -> Notification | None:
    """The latest notice sent to the GP with this RPPS about this file: for this
    registration, or for one it was moved from (the file is the same, presented at
    another session; the notice then announced the earlier session). None if none.
    One query (the moves followed as joins)."""
    if not rpps:
        return None
    about_this_file = Q(registration_id=registration.pk)
    for moves in range(1, MOVES_FOLLOWED + 1):
        about_this_file |= Q(**{"registration" + "__moved_to" * moves + "_id": registration.pk})
    return (
        Notification.objects.filter(about_this_file, gp_rpps=rpps, status=Notification.Status.SENT)
        .order_by("-sent_at")
        .first()
    )


def _local(instant) -> str:  # type: ignore[no-untyped-def]
    return f"{instant.astimezone(PARIS):%d/%m/%Y à %H:%M}"


def status_of_row(row: Notification) -> NotificationStatus:
    S = Notification.Status
    if row.status == S.SENT:
        assert row.sent_at is not None
        # Sent to the addresses the server took (250); one it refused is named apart.
        codes = {
            address: str((row.recipient_outcomes or {}).get(address, {}).get("code", 250))
            for address in row.addresses
        }
        accepted = [address for address, code in codes.items() if code.startswith("2")]
        refused = [address for address, code in codes.items() if not code.startswith("2")]
        return NotificationStatus(
            "sent",
            f"Envoyée le {_local(row.sent_at)} à {', '.join(accepted or row.addresses)}"
            + (f" (refusée par le serveur pour {', '.join(refused)})" if refused else ""),
        )
    if row.status == S.PENDING:
        if row.attempts and row.last_error:
            return NotificationStatus(
                "pending",
                f"En attente : nouvelle tentative ({row.attempts} déjà) — {row.last_error}",
            )
        due = f" : envoi prévu le {_local(row.due_at)}" if row.due_at else ""
        return NotificationStatus("pending", f"En attente{due}")
    if row.status == S.SENDING:
        return NotificationStatus("sending", "Envoi en cours")
    if row.status == S.EXPIRED:
        return NotificationStatus(
            "expired",
            # (its last_error says the same, in other words: not repeated)
            "Expirée : non envoyée avant le début de la séance",
            needs_attention=True,
        )
    if row.status == S.FAILED:
        return NotificationStatus("failed", f"Échec : {row.last_error}", needs_attention=True)
    reasons = tuple(reason_labels(row.reasons))
    return NotificationStatus(
        "not_eligible", "Non éligible : " + " ; ".join(reasons), reasons=reasons
    )


def of_a_former_gp(status: NotificationStatus) -> NotificationStatus:
    """The status of a notice to the GP declared when the session took place, who no
    longer is (a "not eligible" verdict names its reasons, which say enough)."""
    if status.code == "not_eligible":
        return status
    return replace(status, label=f"{status.label} (médecin traitant à l'époque)")


def statuses_for(registrations: Iterable[Registration]) -> dict[int, NotificationStatus]:
    """Status of each registration's notification, keyed by registration id, in a
    constant number of queries (three at most)."""
    from concerto.notifications import worker  # the scan's own rule, without a cycle

    ids = [registration.pk for registration in registrations]
    if not ids:
        return {}
    fresh = {c.pk: c for c in worker.candidates(Registration.objects.filter(pk__in=ids))}
    existing: dict[int, list[Notification]] = {}
    for row in Notification.objects.filter(registration_id__in=ids):
        existing.setdefault(row.registration_id, []).append(row)
    now = clock.now()
    # Before the session, the row of the declared GP tells, unless it says "not
    # eligible": that verdict is the rule's at the last scan, which may be weeks old (a
    # session postponed beyond the scan's horizon): the rule is applied again, as for a
    # registration the worker has not seen. A former GP's row (the GP changed since)
    # never speaks for the declared one. Once the session has started, the row of the
    # time tells (worker.record_of), whatever changed since.
    addresses = worker.addresses_by_rpps(c.gp_rpps or "" for c in fresh.values())

    def verdict(candidate: Any) -> tuple[Any, Any, Any] | UnknownSubdivision:
        """(facts, due, eligibility) by today's rule."""
        try:
            facts, due = worker.facts_for(
                candidate, addresses.get(candidate.gp_rpps or "", worker.Mailboxes()), now
            )
        except UnknownSubdivision as exc:  # (the scan skips it too, logged)
            return exc
        return facts, due, worker.evaluate(facts)

    verdicts = {pk: verdict(candidate) for pk, candidate in fresh.items()}
    rows: dict[int, Notification] = {}
    records: dict[int, Notification] = {}  # (the rows of the time, after the start)
    for pk, candidate in fresh.items():
        own = existing.get(pk, [])
        judged = verdicts[pk]
        eligibility = judged[2] if isinstance(judged, tuple) else None
        record = worker.record_of(candidate, own, now, eligibility)
        if record is not None:
            records[pk] = record
        record = record or next(
            (
                r
                for r in own
                if r.gp_rpps == (candidate.gp_rpps or "")
                and r.status != Notification.Status.NOT_ELIGIBLE
            ),
            None,
        )
        if record is not None:
            rows[pk] = record
    result: dict[int, NotificationStatus] = {}
    for pk in ids:
        if pk in rows:
            row = rows[pk]
            # A row still open after the start: shown as the next pass will close it
            # (it is due and not sent: the alarm must not wait for a worker).
            closing = worker.closed_as(row, fresh[pk], now) if row is records.get(pk) else None
            if closing is not None:
                row = Notification(
                    status=closing.status, reasons=list(closing.reasons), gp_rpps=row.gp_rpps
                )
            result[pk] = status_of_row(row)
            if row.gp_rpps and row.gp_rpps != (fresh[pk].gp_rpps or ""):
                result[pk] = of_a_former_gp(result[pk])
            continue
        registration = fresh.get(pk)
        if registration is None:
            result[pk] = NotificationStatus("unknown", "Non disponible")
            continue
        judged = verdicts[pk]
        if isinstance(judged, UnknownSubdivision):
            result[pk] = NotificationStatus(
                "unknown", f"Non évaluée : {judged}", needs_attention=True
            )
            continue
        facts, due, eligibility = judged
        if eligibility.eligible:
            result[pk] = NotificationStatus("pending", f"En attente : envoi prévu le {_local(due)}")
        elif eligibility.reasons == (worker.Reason.SESSION_STARTED,):
            result[pk] = NotificationStatus(
                "expired",
                "Expirée : non envoyée avant le début de la séance",
                needs_attention=True,
            )
        elif eligibility.provisional:
            result[pk] = NotificationStatus(
                "pending",
                "En attente de la pré-fiche (à compléter au plus tard le"
                f" {facts.notification_day:%d/%m/%Y})",
            )
        else:
            reasons = tuple(eligibility.labels)
            result[pk] = NotificationStatus(
                "not_eligible", "Non éligible : " + " ; ".join(reasons), reasons=reasons
            )
    return result
