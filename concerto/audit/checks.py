"""System checks of the audit trail's configuration."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from concerto.audit.retention import MIN_RETENTION_DAYS


@register()
def retention_check(app_configs: Any, **kwargs: Any) -> list[Error]:
    days = getattr(settings, "AUDIT_RETENTION_DAYS", 0)
    if int(days) < MIN_RETENTION_DAYS:
        return [
            Error(
                f"AUDIT_RETENTION_DAYS ({days}) est inférieur à {MIN_RETENTION_DAYS} jours.",
                hint="La traçabilité des accès se conserve au moins 6 mois (art. R6113-9-2 CSP).",
                id="concerto.audit.E001",
            )
        ]
    return []
