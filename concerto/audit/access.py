"""The access trail: every read of patient data, and every refused attempt.

Views call :func:`record_access`; it writes an :class:`~concerto.audit.models.AuditEvent`
(no foreign keys, append-only) with who, role, patient, object, action, outcome, time, IP.
"""

from __future__ import annotations

from typing import Any

from django.db import models as dj_models
from django.http import HttpRequest

from concerto.audit import trail
from concerto.audit.models import AuditEvent


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: behind the reverse proxy, configure it to set REMOTE_ADDR
    # (X-Forwarded-For is trivially forged by clients).
    return request.META.get("REMOTE_ADDR") or None


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
        details=details,
    )
