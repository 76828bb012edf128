"""Retention of the audit trail: kept at least 6 months (CSP art. R6113-9-2), then purged.

The purge deletes only events older than the configured retention and nothing else. On
PostgreSQL the append-only trigger (migration 0002) lets a DELETE through only inside a
transaction that set ``concerto.audit_purge``; this module is the one place that does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from concerto.audit import trail
from concerto.audit.models import AuditEvent
from concerto.lib import clock

MIN_RETENTION_DAYS = 184  # six calendar months at their longest (July to December)


class RetentionTooShort(ValueError):
    pass


@dataclass(frozen=True)
class PurgeResult:
    cutoff: dt.datetime
    deleted: int
    dry_run: bool


def retention_days() -> int:
    days = int(settings.AUDIT_RETENTION_DAYS)
    if days < MIN_RETENTION_DAYS:
        raise RetentionTooShort(
            f"AUDIT_RETENTION_DAYS vaut {days} : la traçabilité doit être conservée au moins "
            f"{MIN_RETENTION_DAYS} jours (6 mois, art. R6113-9-2 du code de la santé publique)."
        )
    return days


def cutoff(now: dt.datetime, days: int) -> dt.datetime:
    """Events strictly older than this instant are past the retention."""
    return now - dt.timedelta(days=days)


def purge(*, dry_run: bool = False) -> PurgeResult:
    days = retention_days()
    limit = cutoff(clock.now(), days)
    expired = AuditEvent.objects.filter(at__lt=limit)
    if dry_run:
        return PurgeResult(cutoff=limit, deleted=expired.count(), dry_run=True)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL concerto.audit_purge = 'on'")
        deleted, _ = expired.delete()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL concerto.audit_purge = 'off'")
        # The purge itself is traced (and, dated now, survives it).
        trail.record(
            by=None,
            action="audit.purge",
            details={"cutoff": limit.isoformat(), "deleted": deleted, "retention_days": days},
        )
    return PurgeResult(cutoff=limit, deleted=deleted, dry_run=False)
