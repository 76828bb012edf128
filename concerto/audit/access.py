"""The access trail: every read of patient data, and every refused attempt.

Views call :func:`record_access` (or :func:`record_accesses` for a list showing several
patients); it writes :class:`~concerto.audit.models.AuditEvent` rows (no foreign keys,
append-only) with who, role, patient, object, action, outcome, UTC time and IP.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db import models as dj_models
from django.http import HttpRequest

from concerto.audit import trail
from concerto.audit.models import AuditEvent
from concerto.lib import clock


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: behind the reverse proxy, configure it to set REMOTE_ADDR
    # (X-Forwarded-For is trivially forged by clients).
    return request.META.get("REMOTE_ADDR") or None


@contextmanager
def _trail_write(outcome: str) -> Iterator[None]:
    """Write a read-access event without waiting for the WAL flush, when configured.

    A page view otherwise pays a disk flush (fsync) for its trace alone, which doubles the
    portal's latency. With ``AUDIT_ACCESS_ASYNC_COMMIT`` (PostgreSQL ``synchronous_commit =
    off`` for this one transaction), a crash of the *database server* may lose the last
    fraction of a second of read events (never corrupt them, never lose data changes: those
    are traced inside their action's transaction, synchronously). Refusals are always
    flushed. Inside an outer transaction nothing changes (its commit decides).
    """
    if (
        outcome == AuditEvent.Outcome.OK
        and getattr(settings, "AUDIT_ACCESS_ASYNC_COMMIT", False)
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    ):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            yield
    else:
        yield


def _request_details(request: HttpRequest, details: dict[str, Any] | None) -> dict[str, Any]:
    # The path carries opaque ids only (never patient data, see the portal's URLs).
    merged = {"method": request.method, "path": request.path}
    merged.update(details or {})
    return merged


def record_access(
    request: HttpRequest,
    *,
    action: str,
    patient_id: int | None,
    obj: dj_models.Model | None = None,
    role: str = "",
    outcome: str = AuditEvent.Outcome.OK,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    user = request.user if request.user.is_authenticated else None
    with _trail_write(outcome):
        return trail.record(
            by=user,
            action=action,
            obj=obj,
            patient_id=patient_id,
            outcome=outcome,
            role=role,
            ip=client_ip(request),
            details=_request_details(request, details),
        )


def record_accesses(
    request: HttpRequest,
    *,
    action: str,
    patient_ids: Iterable[int | None],
    role: str = "",
    outcome: str = AuditEvent.Outcome.OK,
    details: dict[str, Any] | None = None,
) -> None:
    """One event per patient shown (so a search by patient finds list views too),
    written in a single INSERT whatever the number of patients."""
    user = request.user if request.user.is_authenticated else None
    base = {
        "at": clock.now(),
        "actor_id": getattr(user, "pk", None),
        "actor": trail.actor_label(user),
        "actor_role": role,
        "action": action,
        "object_type": "",
        "object_id": "",
        "outcome": outcome,
        "ip": client_ip(request),
        "details": _request_details(request, details),
    }
    ids: list[int | None] = [*sorted({pid for pid in patient_ids if pid is not None})]
    if not ids:
        ids = [None]
    with _trail_write(outcome):
        if connection.vendor == "postgresql":
            _insert_per_patient(base, ids)
        else:
            AuditEvent.objects.bulk_create([AuditEvent(patient_id=pid, **base) for pid in ids])


def _insert_per_patient(base: dict[str, Any], patient_ids: list[int | None]) -> None:
    """PostgreSQL: the events as one statement, ``INSERT … SELECT … FROM unnest(ids)``.

    Outside a transaction this is one round trip that commits by itself (synchronously,
    like any other commit), where ``bulk_create`` costs BEGIN, an INSERT of one array per
    column, and COMMIT: measured 5-7x slower for the 20 events of a dashboard page.
    """
    sql, fields = _insert_statement(tuple(base))
    values = [f.get_db_prep_save(v, connection) for f, v in zip(fields, base.values(), strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, patient_ids])


@functools.cache
def _insert_statement(names: tuple[str, ...]) -> tuple[str, list[dj_models.Field]]:
    """The statement of :func:`_insert_per_patient` for these columns, built once."""
    meta = AuditEvent._meta
    fields = [meta.get_field(name) for name in names]
    concrete = [f for f in fields if isinstance(f, dj_models.Field)]
    if len(concrete) != len(fields):
        raise ValueError(f"not all columns of {meta.db_table}: {names}")
    columns = [f.column for f in concrete] + ["patient_id"]
    # Explicit casts: in INSERT … SELECT the parameters are not typed by their column.
    # Text stays text, so an over-long value fails as it would in a plain INSERT (a cast
    # to varchar(n) would silently truncate it).
    placeholders = [f"%s::{_cast_type(f)}" for f in concrete] + ["patient_id"]
    # Identifiers from the model's meta, quoted; every value is a parameter.
    quote = connection.ops.quote_name
    table, columns_sql = quote(str(meta.db_table)), ", ".join(quote(c) for c in columns)
    sql = (
        f"INSERT INTO {table} ({columns_sql}) SELECT {', '.join(placeholders)} "  # noqa: S608
        "FROM unnest(%s::bigint[]) AS patient_id"
    )
    return sql, concrete


def _cast_type(field: Any) -> str:
    return "text" if isinstance(field, dj_models.CharField) else str(field.db_type(connection))
