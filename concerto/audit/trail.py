"""Write to the audit trail. Call inside the action's transaction."""

from __future__ import annotations

from typing import Any

from django.db import models as dj_models

from concerto.audit.middleware import REQUEST_IP
from concerto.audit.models import AuditEvent
from concerto.lib import clock


def actor_label(user: Any) -> str:
    if user is None:
        return "système"
    label = getattr(user, "display_name", None) or getattr(user, "username", "")
    return str(label)


def record(
    *,
    by: Any,
    action: str,
    obj: dj_models.Model | None = None,
    patient_id: int | None = None,
    outcome: str = AuditEvent.Outcome.OK,
    role: str = "",
    ip: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event. ``by`` is the acting user (None for the system); ``ip``, when
    not given, is the address of the request being served, if any."""
    return AuditEvent.objects.create(
        at=clock.now(),
        actor_id=getattr(by, "pk", None),
        actor=actor_label(by),
        actor_role=role,
        action=action,
        object_type=str(obj._meta.model_name) if obj is not None else "",
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        patient_id=patient_id,
        outcome=outcome,
        ip=ip if ip is not None else REQUEST_IP.get(),
        details=details or {},
    )
