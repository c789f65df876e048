"""The periodic status line (``-v``) and the ``--once`` progress bar.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

from manhattan.log import Lagging
from manhattan.server.worker import Progress


class StatusLine:
    """Reports events/s from a worker's ``progress`` and how far behind the
    log's end it is (when ``reader`` is :class:`~manhattan.log.Lagging`).

    With ``bar`` it redraws a progress bar on one terminal line; otherwise
    it writes a line every ``every`` seconds.
    """

    def __init__(
        self,
        progress: Progress,
        reader: object,
        stream: TextIO,
        *,
        bar: bool = False,
        every: float = 10.0,
    ) -> None:
        self.progress = progress
        self.reader = reader
        self.stream = stream
        self.bar = bar
        self.every = 0.5 if bar else every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="manhattan-status", daemon=True)
        self._total: int | None = None
        self._last = (time.monotonic(), 0)

    def start(self) -> None:
        """Start reporting in a background thread."""
        self._total = self._behind()
        self._thread.start()

    def stop(self) -> None:
        """Stop reporting (and finish the bar's line)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.report()
        if self.bar:
            self.stream.write("\n")
            self.stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.report()

    def _behind(self) -> int | None:
        if not isinstance(self.reader, Lagging):
            return None
        try:
            return int(self.reader.remaining(self.progress.pointer))
        except (OSError, ValueError):
            return None

    def report(self) -> None:
        """Write one status line (or redraw the bar)."""
        now = time.monotonic()
        events = self.progress.events
        then, before = self._last
        rate = (events - before) / (now - then) if now > then else 0.0
        self._last = (now, events)
        behind = self._behind()
        if self.bar:
            total = self._total or 0
            done = 1.0 if not total or behind is None else max(0.0, 1 - behind / total)
            filled = int(done * 30)
            self.stream.write(
                f"\r[{'#' * filled}{' ' * (30 - filled)}] {done:6.1%} "
                f"{events:,} events {rate:,.0f}/s"
            )
        else:
            lag = "unknown" if behind is None else f"{behind:,} bytes"
            self.stream.write(
                f"manhattan-server: {events:,} events, {rate:,.0f}/s, behind by {lag}\n"
            )
        self.stream.flush()
