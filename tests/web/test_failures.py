"""A failing log is counted and reported at most once a minute, never raised."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest

from manhattan.log.memory import MemoryLog
from manhattan.web.failures import REPORT_INTERVAL, FailureReporter, GuardedLog

LOGGER = "manhattan.test.failures"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FlakyLog:
    """A log that fails while ``broken`` is set, and keeps what it took."""

    def __init__(self) -> None:
        self.broken = True
        self.taken = MemoryLog()

    def write(self, records: Sequence[Sequence[str]]) -> None:
        if self.broken:
            raise OSError("disk full")
        self.taken.write(records)


def make() -> tuple[GuardedLog, FlakyLog, Clock]:
    clock = Clock()
    reporter = FailureReporter(logging.getLogger(LOGGER), clock=clock)
    log = FlakyLog()
    return GuardedLog(log, reporter), log, clock


def records(n: int) -> list[list[str]]:
    return [["1", "pixel", "0.0000", "v", "0"]] * n


def test_first_failure_is_reported_at_once_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guarded, _, _ = make()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        guarded.write(records(3))
    [entry] = caplog.records
    assert entry.levelno == logging.ERROR
    message = entry.getMessage()
    assert "could not write 3 records to the log (OSError: disk full)" in message
    assert "once every 60 s" in message
    assert entry.exc_info is not None
    assert isinstance(entry.exc_info[1], OSError)


def test_a_log_that_keeps_failing_is_reported_once_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guarded, _, clock = make()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        guarded.write(records(1))
        for _ in range(1000):  # a busy minute: one line for all of it
            clock.now += (REPORT_INTERVAL - 1) / 1000
            guarded.write(records(2))
        assert len(caplog.records) == 1
        clock.now += 2
        guarded.write(records(5))
    _, second = caplog.records
    assert second.levelno == logging.ERROR
    assert second.exc_info is None
    assert second.getMessage() == (
        "manhattan: the log is still failing: 2005 records lost in the last 61 s "
        "(OSError: disk full)"
    )


def test_recovery_is_reported_with_the_records_not_reported_yet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guarded, log, _ = make()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        guarded.write(records(1))
        guarded.write(records(4))
        log.broken = False
        guarded.write(records(2))
        guarded.write(records(1))  # no more lines while it works
    assert len(log.taken.records) == 3
    _, recovered = caplog.records
    assert recovered.levelno == logging.WARNING
    assert recovered.getMessage() == (
        "manhattan: the log takes records again; 4 more records were lost since the last report"
    )
    # A new failure is a new outage: reported at once, with its traceback.
    log.broken = True
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=LOGGER):
        guarded.write(records(1))
    [entry] = caplog.records
    assert entry.exc_info is not None


def test_a_working_log_reports_nothing(caplog: pytest.LogCaptureFixture) -> None:
    guarded, log, _ = make()
    log.broken = False
    with caplog.at_level(logging.INFO, logger=LOGGER):
        guarded.write(records(2))
        guarded.reporter.recovered()
    assert caplog.records == []
    assert len(log.taken.records) == 2
