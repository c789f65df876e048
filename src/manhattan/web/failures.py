"""A failing log never fails a request, and never floods the error log.

Every adapter hands its visitors a :class:`GuardedLog`: whether records are
buffered until the end of the request or written as the app makes them, a
write that raises is counted as lost records and reported by the one
:class:`FailureReporter` of the middleware: the first failure at once (with
its traceback), then at most one line per ``interval`` with the number of
records lost since the last line, and one line when writes work again.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from manhattan.log import Log

REPORT_INTERVAL = 60.0
"""Seconds between two reports of a log that keeps failing."""


class FailureReporter:
    """Counts the records a failing log lost, and logs about it at most once
    per ``interval`` seconds (by ``clock``) to ``logger``."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = REPORT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.interval = interval
        self.clock = clock
        self.failing = False
        self.lost = 0  # records lost since the last report
        self.last_error = ""
        self._reported_at = 0.0
        self._lock = threading.Lock()

    def failed(self, count: int, error: BaseException) -> None:
        """``count`` records were lost to ``error``."""
        with self._lock:
            self.lost += count
            self.last_error = f"{type(error).__name__}: {error}"
            now = self.clock()
            if not self.failing:
                self.failing = True
                self._reported_at = now
                lost, self.lost = self.lost, 0
                self.logger.error(
                    "manhattan: could not write %d records to the log (%s); while it keeps "
                    "failing, the records lost are reported once every %g s",
                    lost,
                    self.last_error,
                    self.interval,
                    exc_info=error,
                )
            elif now - self._reported_at >= self.interval:
                elapsed, self._reported_at = now - self._reported_at, now
                lost, self.lost = self.lost, 0
                self.logger.error(
                    "manhattan: the log is still failing: %d records lost in the last %.0f s (%s)",
                    lost,
                    elapsed,
                    self.last_error,
                )

    def recovered(self) -> None:
        """A write worked: end the failure, reporting the records not reported yet."""
        with self._lock:
            if not self.failing:
                return
            self.failing = False
            lost, self.lost = self.lost, 0
            self.logger.warning(
                "manhattan: the log takes records again; %d more records were lost "
                "since the last report",
                lost,
            )


class GuardedLog:
    """A log whose ``write`` never raises: failures go to ``reporter``."""

    __slots__ = ("log", "reporter")

    def __init__(self, log: Log, reporter: FailureReporter) -> None:
        self.log = log
        self.reporter = reporter

    def write(self, records: Sequence[Sequence[str]]) -> None:
        """Write ``records`` to the log; a failure is reported, not raised."""
        try:
            self.log.write(records)
        except Exception as exc:
            self.reporter.failed(len(records), exc)
        else:
            if self.reporter.failing:
                self.reporter.recovered()
