from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from concerto.accounts.middleware import seconds_left


def concerto(request: HttpRequest) -> dict[str, object]:
    return {
        "CONCERTO_DEMO": not settings.PRODUCTION,
        "DEMO_LOGIN": settings.DEMO_LOGIN,
        # (Lazily: computed only by the pages that show the session's warning.)
        "session_left": lambda: seconds_left(request),
        "SESSION_WARNING_LEAD": settings.SESSION_WARNING_LEAD,
    }
