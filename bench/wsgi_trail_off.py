"""Benchmark only: Concerto's WSGI app with the access trail turned into a no-op, to
measure what the trail costs. Never a deployment setting: there is no switch for it."""

from __future__ import annotations

import importlib
from typing import Any

# Set Django up first (the audit module imports models).
application = importlib.import_module("concerto.wsgi").application
access = importlib.import_module("concerto.audit.access")


def _no_trail(*args: Any, **kwargs: Any) -> None:
    return None


access.record_access = _no_trail
access.record_accesses = _no_trail

__all__ = ["application"]
