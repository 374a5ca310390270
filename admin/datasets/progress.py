"""A tiny progress bar on stderr for long dataset runs of the command line (no dependencies)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 30


class ProgressBar:
    """Callable as `progress(done_bytes, total_bytes)`.

    On a terminal it redraws one line; elsewhere (CI logs) it prints a line per 10 %.
    """

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._last_draw = 0.0
        self._last_tenth = -1
        self._drawn = False

    def __call__(self, done: int, total: int) -> None:
        fraction = min(1.0, done / total) if total else 1.0
        if self.tty:
            now = time.monotonic()
            if now - self._last_draw < 0.1 and fraction < 1.0:
                return
            self._last_draw = now
            filled = int(fraction * _WIDTH)
            bar = "#" * filled + "-" * (_WIDTH - filled)
            mb = f"{done / 1e6:,.1f}/{total / 1e6:,.1f} MB"
            self.stream.write(f"\r{self.label} [{bar}] {fraction:4.0%} {mb}")
        else:
            tenth = int(fraction * 10)
            if tenth == self._last_tenth:
                return
            self._last_tenth = tenth
            self.stream.write(f"{self.label}: {fraction:.0%}\n")
        self._drawn = True
        self.stream.flush()

    def close(self) -> None:
        if self._drawn and self.tty:
            self.stream.write("\n")
            self.stream.flush()
