from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def concerto(request: HttpRequest) -> dict[str, object]:
    return {"CONCERTO_DEMO": not settings.PRODUCTION, "DEMO_LOGIN": settings.DEMO_LOGIN}
