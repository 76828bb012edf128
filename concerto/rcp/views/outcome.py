"""What a page says back after an action: its refusal, or its success."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest

from concerto.lib.errors import ActionRefused


def refusal_text(exc: ActionRefused) -> str:
    return " ".join(exc.messages)


def act(request: HttpRequest, action: Callable[[], object], success: str) -> bool:
    """Run ``action``; flash its refusal or ``success``. True when it was done."""
    try:
        action()
    except ActionRefused as exc:
        messages.error(request, refusal_text(exc))
        return False
    messages.success(request, success)
    return True
