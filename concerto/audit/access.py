"""The access trail: every read of patient data, and every refused attempt.

Views call :func:`record_access` (or :func:`record_accesses` for a list showing several
patients); it writes :class:`~concerto.audit.models.AuditEvent` rows (no foreign keys,
append-only) with who, role, patient, object, action, outcome, UTC time and IP.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models as dj_models
from django.http import HttpRequest

from concerto.audit import trail
from concerto.audit.models import AuditEvent
from concerto.lib import clock


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: behind the reverse proxy, configure it to set REMOTE_ADDR
    # (X-Forwarded-For is trivially forged by clients).
    return request.META.get("REMOTE_ADDR") or None


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
) -> list[AuditEvent]:
    """One event per patient shown (so a search by patient finds list views too),
    written in a single INSERT whatever the number of patients."""
    user = request.user if request.user.is_authenticated else None
    at = clock.now()
    base = {
        "at": at,
        "actor_id": getattr(user, "pk", None),
        "actor": trail.actor_label(user),
        "actor_role": role,
        "action": action,
        "outcome": outcome,
        "ip": client_ip(request),
        "details": _request_details(request, details),
    }
    ids = sorted({pid for pid in patient_ids if pid is not None}) or [None]
    return AuditEvent.objects.bulk_create([AuditEvent(patient_id=pid, **base) for pid in ids])
