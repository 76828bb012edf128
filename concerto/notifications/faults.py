"""Named fault points in the delivery path, for the crash tests.

Inert unless the environment variable ``CONCERTO_NOTIFY_FAULT`` names one, as
``point@n``: the process kills itself with SIGKILL the n-th time it reaches that point
(a crash, not an exception: no ``finally``, no rollback handler runs). Refused in
production mode, so a stray variable can never kill a real worker.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

POINTS = (
    "after_claim",
    "after_mail_from",
    "after_data_sent",
    "after_250_before_commit",
    "after_commit",
)
ENV = "CONCERTO_NOTIFY_FAULT"
_hits: Counter[str] = Counter()


def _armed() -> tuple[str, int] | None:
    value = os.environ.get(ENV, "")
    if not value or os.environ.get("CONCERTO_MODE") == "production":
        return None
    point, _, nth = value.partition("@")
    if point not in POINTS:
        raise RuntimeError(f"{ENV}: point inconnu {point!r} ({', '.join(POINTS)})")
    return point, int(nth or "1")


def hit(point: str) -> None:
    """Reached ``point``: die here if a test armed it for this hit."""
    armed = _armed()
    if armed is None or armed[0] != point:
        return
    _hits[point] += 1
    if _hits[point] == armed[1]:
        os.kill(os.getpid(), signal.SIGKILL)
