"""Progress of a long import: a bar with rows/s on a terminal, plain lines otherwise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def thousands(number: float) -> str:
    """French grouping with a narrow no-break space: 1 234 567."""
    return f"{int(number):,}".replace(",", "\u202f")


class Progress:
    def __init__(self, out: Any, *, tty: bool, every: float = 10.0) -> None:
        self.out = out
        self.tty = tty
        self.every = every if not tty else 0.2
        self.name = ""
        self.total = 1
        self.started = time.monotonic()
        self.last = 0.0
        self.run_started = time.monotonic()
        self._bar_shown = False
        # Another process reading part of the same file: (bytes, rows) it has done so far.
        self.helper: Callable[[], tuple[int, int]] | None = None

    def _write(self, text: str) -> None:
        if self.out is not None:
            self.out.write(text)
            self.out.flush()

    def phase(self, text: str) -> None:
        self._end_bar()
        self._write(f"[{time.monotonic() - self.run_started:6.1f} s] {text}\n")

    def start(self, name: str, total_bytes: int) -> None:
        self._end_bar()
        self.name = name
        self.total = max(total_bytes, 1)
        self.started = time.monotonic()
        self.last = self.started
        self._write(f"Lecture de {name}\n")

    def tick(self, done_bytes: int, rows: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        if self.helper is not None:
            more_bytes, more_rows = self.helper()
            done_bytes += more_bytes
            rows += more_rows
        elapsed = max(now - self.started, 1e-6)
        share = min(done_bytes / self.total, 1.0)
        rate = rows / elapsed
        if self.tty:
            width = 30
            filled = int(width * share)
            bar = "#" * filled + "-" * (width - filled)
            self._write(
                f"\r[{bar}] {share:4.0%}  {thousands(rows)} lignes  {thousands(rate)} lignes/s "
            )
            self._bar_shown = True
        else:
            self._write(
                f"{self.name} : {share:.0%} ({thousands(rows)} lignes, "
                f"{thousands(rate)} lignes/s)\n"
            )

    def _end_bar(self) -> None:
        if self._bar_shown:
            self._write("\n")
            self._bar_shown = False
