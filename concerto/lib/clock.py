"""The application's clock.

Actions read the time through :func:`now` so that a caller can act "as of" another
instant: the demo seeding writes history through the real actions, and the notify
worker's ``--now`` evaluates as of a given instant. Tests may also freeze the real clock
(time-machine); :func:`now` follows it when no override is set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.utils import timezone

_override: ContextVar[dt.datetime | None] = ContextVar("concerto_clock", default=None)


def now() -> dt.datetime:
    instant = _override.get()
    return instant if instant is not None else timezone.now()


@contextmanager
def as_of(instant: dt.datetime) -> Iterator[dt.datetime]:
    """Within the block, :func:`now` returns ``instant`` (must be aware)."""
    if timezone.is_naive(instant):
        raise ValueError("as_of() needs an aware datetime")
    token = _override.set(instant)
    try:
        yield instant
    finally:
        _override.reset(token)
