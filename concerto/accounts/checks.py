"""System checks: the demo login can never run in production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register("security")
def demo_login_refused_in_production(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    if settings.PRODUCTION and settings.DEMO_LOGIN:
        return [
            Error(
                "La connexion de démonstration est activée (CONCERTO_DEMO_LOGIN) en production.",
                hint="Retirez CONCERTO_DEMO_LOGIN : la connexion passe par Pro Santé Connect.",
                id="concerto.E001",
            )
        ]
    return []
