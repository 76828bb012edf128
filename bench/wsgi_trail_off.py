"""Benchmark only: Concerto's WSGI app with the access trail turned into a no-op, to
measure what the trail costs. Never a deployment setting: there is no switch for it."""

from __future__ import annotations

from typing import Any

from concerto.wsgi import application  # sets Django up first

from concerto.audit import access  # noqa: E402,I001


def _no_trail(*args: Any, **kwargs: Any) -> None:
    return None


access.record_access = _no_trail  # type: ignore[assignment]
access.record_accesses = _no_trail  # type: ignore[assignment]

__all__ = ["application"]
