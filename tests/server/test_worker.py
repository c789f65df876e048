"""The worker: a real TimeRotatingLog, counted by the real Aggregator into a
real SQLStore on a SQLite file. Expected counts are worked out by hand from
the streams below."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from manhattan.backend.aggregate import Aggregator
from manhattan.backend.model import Batch, QueryError
from manhattan.backend.persistence import SQLStore, StoreError
from manhattan.backend.persistence.engine import CommitRefusedError, TransientStoreError
from manhattan.backend.rollups import build_rollups, is_crawler
from manhattan.log.memory import MemoryLog
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.server.worker import MALFORMED_LINE, Worker
from manhattan.visitor.records import goal_record, page_record, pixel_record, split_record

# 2025-11-24 16:00:00 UTC, the start of an hour (490_000 * 3600).
T = 1_764_000_000
HOUR = 3600
DAY = "2025-11-24"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
A, B, C, D, E = (letter * 40 for letter in "abcde")
WAIT = 10.0  # seconds a bounded poll may take; only ever reached by a failing test


def stamp(second: int) -> str:
    return f"{T + second:0.4f}"


def page(second: int, visitor: str, agent: str = FIREFOX) -> list[str]:
    return page_record(stamp(second), visitor, "1", "198.51.100.7", "GET", "/", agent, "")


# Visitors A and B load the pixel and are counted; C never does (yet): held
# back; D is Googlebot: a crawler even though it loads the pixel.
FIRST = [
    page(1, A),
    pixel_record(stamp(2), A, "1"),
    split_record(stamp(3), A, "1", "Button", "red"),
    goal_record(stamp(4), A, "1", "signup"),
    goal_record(stamp(5), A, "1", "purchase", "10", "S"),
    goal_record(stamp(6), A, "1", "purchase", "5", "S"),
    page(7, B),
    pixel_record(stamp(8), B, "1"),
    split_record(stamp(9), B, "1", "Button", "blue"),
    goal_record(stamp(10), B, "1", "purchase", "20", "S"),
    page(11, C),
    goal_record(stamp(12), C, "1", "signup"),
    page(13, D, GOOGLEBOT),
    pixel_record(stamp(14), D, "1"),
]
# By hand: pages A, B; signup A; purchase A (10 + 5), B (20); impressions
# red A, blue B; held: C's page and signup; crawler: D's page and pixel.
FIRST_COUNTS = {
    "viewed page": 2,
    "signup": 1,
    "purchase": 2,
    "red": 1,
    "blue": 1,
    "purchase red": 1,
    "signup blue": 0,
    "purchase value": 35.0,
    "purchase value red": 15.0,
    "viewed page day": 2,
}
FIRST_FILTERED = {"awaiting pixel": 2, "crawler": 2}

# C's pixel releases C's page and signup; B signs up (in blue); E is new.
SECOND = [
    pixel_record(stamp(HOUR + 1), C, "1"),
    goal_record(stamp(HOUR + 2), B, "1", "signup"),
    page(HOUR + 3, E),
    pixel_record(stamp(HOUR + 4), E, "1"),
]
BOTH_COUNTS = {
    "viewed page": 4,  # A, B, C, E
    "signup": 3,  # A, C, B
    "purchase": 2,
    "red": 1,
    "blue": 1,
    "purchase red": 1,
    "signup blue": 1,  # B
    "purchase value": 35.0,
    "purchase value red": 15.0,
    "viewed page day": 4,
}
BOTH_FILTERED = {"awaiting pixel": 0, "crawler": 2}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FlakyStore:
    """A real SQLStore whose first ``failures`` commits fail; counts commits.

    ``on_failure`` runs before each failure is raised."""

    def __init__(
        self,
        store: SQLStore,
        failures: float = 0,
        on_failure: Callable[[], None] | None = None,
        lookup_failures: int = 0,
    ) -> None:
        self.store = store
        self.failures = failures
        self.lookup_failures = lookup_failures
        self.on_failure = on_failure
        self.failed = 0
        self.pointers: list[str | None] = []

    def load_pointer(self) -> str | None:
        return self.store.load_pointer()

    def load_visitors(self, visitor_ids: Sequence[str]) -> dict[str, str]:
        if self.lookup_failures:
            self.lookup_failures -= 1
            raise StoreError("load failed on sqlite:///test.db: server closed the connection")
        return self.store.load_visitors(visitor_ids)

    def commit(self, batch: Batch) -> None:
        if self.failed < self.failures:
            self.failed += 1
            if self.on_failure is not None:
                self.on_failure()
            raise TransientStoreError("commit failed on sqlite:///test.db: database is locked")
        self.store.commit(batch)
        self.pointers.append(batch.pointer)


# Past the 300 s in which readers follow the hour before T for late writes,
# so their pointers name T's file alone.
def log_at(tmp_path: Path, now: float = T + 630) -> tuple[TimeRotatingLog, Clock]:
    clock = Clock(now)
    return TimeRotatingLog(tmp_path / "logs" / "events", clock=clock), clock


def write_each(log: TimeRotatingLog, records: list[list[str]]) -> list[str]:
    """Write the records one write each; the pointer after each, from the file size."""
    pointers = []
    for record in records:
        log.write([record])
        name = f"{os.path.basename(log.path)}.{log._fd_hour}"
        pointers.append(f"{name}:{os.path.getsize(os.path.join(log.directory, name))}")
    return pointers


def open_store(tmp_path: Path) -> SQLStore:
    return SQLStore(f"sqlite:///{tmp_path / 'manhattan.db'}")


def make_worker(reader: Any, store: Any, **kwargs: Any) -> Worker:
    aggregator = Aggregator(build_rollups(), is_crawler=is_crawler)
    return Worker(reader, store, aggregator, **kwargs)


def counts_of(store: SQLStore) -> dict[str, float]:
    """The figures FIRST_COUNTS and BOTH_COUNTS list, read through the store's queries."""
    return {
        "viewed page": store.count("viewed page"),
        "signup": store.count("signup"),
        "purchase": store.count("purchase"),
        "red": store.count(variant=("Button", "red")),
        "blue": store.count(variant=("Button", "blue")),
        "purchase red": store.count("purchase", ("Button", "red")),
        "signup blue": store.count("signup", ("Button", "blue")),
        "purchase value": store.goal_value("purchase"),
        "purchase value red": store.goal_value("purchase", ("Button", "red")),
        "viewed page day": store.count("viewed page", rollup_key="day", bucket_id=DAY),
    }


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.005)


def test_once_counts_a_hand_checked_stream(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    pointers = write_each(log, FIRST)
    with open_store(tmp_path) as store:
        worker = make_worker(log, store)
        worker.run(threading.Event(), once=True)
        assert counts_of(store) == FIRST_COUNTS
        assert store.count("viewed page", site_id=1) == 2
        # Site 2's visitor never loaded the pixel: site 2 was never counted.
        with pytest.raises(QueryError, match=r"no site 2 .* not loaded the tracking pixel"):
            store.count("viewed page", site_id=2)
        assert store.results("Button", ["purchase", "signup"]) == {
            "blue": [20.0, 0.0],
            "red": [15.0, 1.0],
        }
        assert store.filtered() == FIRST_FILTERED
        assert store.load_pointer() == pointers[-1]
        assert pointers[-1] == f"events.{T}:{os.path.getsize(f'{log.path}.{T}')}"
    assert worker.progress.events == len(FIRST)
    assert worker.progress.commits == 1
    assert worker.progress.pointer == pointers[-1]


def test_a_second_run_resumes_from_the_pointer(tmp_path: Path) -> None:
    log, clock = log_at(tmp_path)
    write_each(log, FIRST)
    with open_store(tmp_path) as store:
        make_worker(log, store).run(threading.Event(), once=True)
    # More records, in the next hour's file; then a restart: a new reader,
    # aggregator and store on the same files.
    clock.now = T + HOUR + 30
    pointers = write_each(log, SECOND)
    assert pointers[-1].startswith(f"events.{T + HOUR}:")
    with open_store(tmp_path) as store:
        worker = make_worker(TimeRotatingLog(log.path), store)
        worker.run(threading.Event(), once=True)
        assert worker.progress.events == len(SECOND)
        assert counts_of(store) == BOTH_COUNTS
        assert store.filtered() == BOTH_FILTERED
        assert store.load_pointer() == pointers[-1]
        # Nothing new: a third run counts nothing and commits nothing.
        again = make_worker(TimeRotatingLog(log.path), store)
        again.run(threading.Event(), once=True)
        assert (again.progress.events, again.progress.commits) == (0, 0)
        assert counts_of(store) == BOTH_COUNTS


def test_a_reader_with_only_process_is_counted_in_chunks(tmp_path: Path) -> None:
    # MemoryLog has the LogReader protocol only (process()); its pointers are
    # record indexes. 500 visitors, five records each: more than a chunk.
    memory = MemoryLog()
    for i in range(500):
        vid = f"{i:040x}"
        memory.write(
            [
                page(i, vid),
                pixel_record(stamp(i), vid, "1"),
                split_record(stamp(i), vid, "1", "Colour", "green" if i % 5 else "blue"),
                goal_record(stamp(i), vid, "1", "signup"),
                goal_record(stamp(i), vid, "1", "purchase", "2.5", "S"),
            ]
        )
    with open_store(tmp_path) as store:
        worker = make_worker(memory, store)
        worker.run(threading.Event(), once=True)
        assert worker.progress.events == 2500
        assert store.load_pointer() == "2499"
        assert store.count("viewed page", site_id=1) == 500
        assert store.count("signup") == 500
        assert store.goal_value("purchase") == 1250.0
        assert store.count(variant=("Colour", "blue")) == 100  # i = 0, 5, 10...
        assert store.count(variant=("Colour", "green")) == 400
        assert store.results("Colour", ["purchase"]) == {"blue": [250.0], "green": [1000.0]}
        # Nothing after the pointer: a restart reads and commits nothing.
        again = make_worker(memory, store)
        again.run(threading.Event(), once=True)
        assert (again.progress.events, again.progress.commits) == (0, 0)


def test_flush_every_commits_every_n_events(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    pointers = write_each(log, FIRST)
    store = FlakyStore(open_store(tmp_path))
    worker = make_worker(log, store, flush_every=3)
    worker.run(threading.Event(), once=True)
    # 14 events: commits after the 3rd, 6th, 9th and 12th, and the last two at the end.
    assert store.pointers == [pointers[2], pointers[5], pointers[8], pointers[11], pointers[13]]
    assert worker.progress.commits == 5
    assert counts_of(store.store) == FIRST_COUNTS
    store.store.close()


def test_flush_seconds_commit_during_a_long_backfill(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    events = 12_000  # about 1.9 MB: more than one read of the log, however it is cut
    # Every record the same length, so record k ends at byte k * length.
    log.write([page(i % 1000, f"{i % 100:040x}") for i in range(events)])
    size = os.path.getsize(f"{log.path}.{T}")
    assert size % events == 0
    length = size // events
    assert size > 1 << 20
    workers: list[Worker] = []

    def clock() -> float:
        # One second per event counted.
        return float(workers[0].progress.events) if workers else 0.0

    store = FlakyStore(open_store(tmp_path))
    worker = make_worker(log, store, flush_seconds=3000, clock=clock)
    workers.append(worker)
    worker.run(threading.Event(), once=True)
    # Commits along the way, each at least 3000 "seconds" (events) after the
    # one before, and the last at the end of the log.
    ends = [int(pointer.rpartition(":")[2]) // length for pointer in store.pointers]
    assert store.pointers == [f"events.{T}:{end * length}" for end in ends]
    assert len(ends) >= 2
    assert ends[-1] == events
    previous = [0, *ends[:-2]]
    assert all(later - earlier >= 3000 for earlier, later in zip(previous, ends[:-1], strict=True))
    # 100 visitors, none loaded the pixel: every event is held back.
    assert store.store.filtered() == {"awaiting pixel": events}
    store.store.close()


def test_malformed_lines_are_skipped_and_counted_once(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    write_each(log, FIRST[:7])
    hour_file = f"{log.path}.{T}"
    with open(hour_file, "ab") as raw:
        raw.write(b"\x00\xffgarbage\tnot a record\n")
        raw.write(b"1\tpage\tshort\n")
    pointers = write_each(log, FIRST[7:])
    with open_store(tmp_path) as store:
        make_worker(TimeRotatingLog(log.path), store).run(threading.Event(), once=True)
        assert counts_of(store) == FIRST_COUNTS
        assert store.filtered() == {**FIRST_FILTERED, MALFORMED_LINE: 2}
        assert store.load_pointer() == pointers[-1]
        # Restarts over the same log count nothing again.
        make_worker(TimeRotatingLog(log.path), store).run(threading.Event(), once=True)
        assert store.filtered() == {**FIRST_FILTERED, MALFORMED_LINE: 2}


def test_a_malformed_last_line_counts_once_across_restarts(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    write_each(log, FIRST)
    with open(f"{log.path}.{T}", "ab") as raw:
        raw.write(b"trailing garbage\n")
    with open_store(tmp_path) as store:
        for _ in range(3):
            make_worker(TimeRotatingLog(log.path), store).run(threading.Event(), once=True)
            # Counted at once if the reader can move the pointer past it,
            # else once a record follows it: never twice.
            assert store.filtered().get(MALFORMED_LINE, 0) in (0, 1)
        write_each(log, SECOND[:1])
        for _ in range(2):
            make_worker(TimeRotatingLog(log.path), store).run(threading.Event(), once=True)
            assert store.filtered()[MALFORMED_LINE] == 1
        assert store.count("viewed page") == 3  # C's pixel released C's page


class CountingEvent(threading.Event):
    """A stop event that counts the worker's polls (its waits)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait(self, timeout: float | None = None) -> bool:
        self.waits += 1
        return super().wait(timeout)


def test_a_malformed_last_line_counts_once_while_following_the_log(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    write_each(log, FIRST)
    with open(f"{log.path}.{T}", "ab") as raw:
        raw.write(b"trailing garbage\n")
    stop = CountingEvent()
    with open_store(tmp_path) as store:
        worker = make_worker(
            TimeRotatingLog(log.path), store, poll_seconds=0.001, flush_seconds=0.001
        )
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        try:
            wait_for(lambda: stop.waits >= 5, "five polls of the log")
            write_each(log, SECOND)
            wait_for(lambda: store.count("viewed page") == 4, "the second stream")
        finally:
            stop.set()
            thread.join(WAIT)
        assert not thread.is_alive()
        assert counts_of(store) == BOTH_COUNTS
        assert store.filtered() == {**BOTH_FILTERED, MALFORMED_LINE: 1}


def test_a_failed_commit_is_retried_and_nothing_is_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log, _ = log_at(tmp_path)
    pointers = write_each(log, FIRST)
    store = FlakyStore(open_store(tmp_path), failures=2)
    worker = make_worker(log, store, retry=0.01)
    with caplog.at_level(logging.ERROR, logger="manhattan.server"):
        worker.run(threading.Event(), once=True)
    assert store.failed == 2
    assert store.pointers == [pointers[-1]]
    assert counts_of(store.store) == FIRST_COUNTS
    assert store.store.filtered() == FIRST_FILTERED
    assert [record.getMessage() for record in caplog.records] == [
        "commit failed (commit failed on sqlite:///test.db: database is locked); "
        "trying again in 0.0 s",
    ] * 2
    store.store.close()


def test_retry_waits_double_up_to_max_retry(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    write_each(log, FIRST)
    waits: list[float] = []

    class Recorder(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return False

    store = FlakyStore(open_store(tmp_path), failures=4)
    worker = make_worker(log, store, retry=0.001, max_retry=0.003)
    worker.run(Recorder(), once=True)
    assert waits == [0.001, 0.002, 0.003, 0.003]
    assert counts_of(store.store) == FIRST_COUNTS
    store.store.close()


def test_flush_without_a_stop_event_retries_too(tmp_path: Path) -> None:
    store = FlakyStore(open_store(tmp_path), failures=1)
    worker = make_worker(TimeRotatingLog(tmp_path / "logs" / "events"), store, retry=0.001)
    worker.aggregator.add_all(FIRST[:2])  # A's page and pixel
    worker.flush()
    assert store.failed == 1
    assert store.store.count("viewed page") == 1
    assert store.pointers == [None]  # no record was read from the log
    assert store.store.load_pointer() is None
    assert worker.progress.commits == 1
    store.store.close()


@pytest.mark.parametrize(
    ("retry_on", "flush_every"),
    [
        pytest.param((), 20_000, id="at-the-end"),
        pytest.param((StoreError,), 20_000, id="at-the-end-retried-type"),
        # A commit mid-read fails while stopping: not retried as a read error.
        pytest.param((StoreError,), 2, id="mid-read-retried-type"),
    ],
)
def test_a_failing_commit_while_stopping_raises(
    tmp_path: Path, retry_on: tuple[type[Exception], ...], flush_every: int
) -> None:
    log, _ = log_at(tmp_path)
    write_each(log, FIRST)
    stop = threading.Event()
    store = FlakyStore(open_store(tmp_path), failures=1, on_failure=stop.set)
    worker = make_worker(log, store, retry=0.001, retry_on=retry_on, flush_every=flush_every)
    with pytest.raises(StoreError, match="database is locked"):
        worker.run(stop, once=True)
    assert worker.progress.commits == 0
    assert store.store.load_pointer() is None
    assert store.store.count("viewed page") == 0
    store.store.close()


class FlakyLog:
    """A real TimeRotatingLog whose reading fails when the ``fail_at``-th
    record (counted over every pass) is due: a reader losing its source."""

    def __init__(self, log: TimeRotatingLog, fail_at: set[int]) -> None:
        self.log = log
        self.fail_at = fail_at
        self.read = 0
        self.malformed = 0

    def process(self, process_from: Any, stay_alive: bool, killed_event: threading.Event) -> Any:
        for item in self.log.process(process_from, stay_alive, killed_event):
            self.read += 1
            if self.read in self.fail_at:
                raise ConnectionError("connection to the log reset")
            yield item


def test_lookups_and_reads_that_fail_are_retried_with_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log, _ = log_at(tmp_path)
    write_each(log, FIRST + SECOND)
    waits: list[float] = []

    class Recorder(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(timeout or 0.0)
            return False

    store = FlakyStore(open_store(tmp_path), lookup_failures=2)
    reader = FlakyLog(log, fail_at={len(FIRST) + 1, len(FIRST) + 4})
    # A chunk per few records, so a failure comes after commits and counts.
    worker = make_worker(
        reader,
        store,
        flush_every=3,
        retry=0.001,
        max_retry=0.004,
        retry_on=(StoreError, ConnectionError),
    )
    with caplog.at_level(logging.ERROR, logger="manhattan.server"):
        worker.run(Recorder(), once=True)
    assert waits == [0.001, 0.002, 0.004, 0.004]
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith("reading failed (load failed on sqlite:///test.db: ")
    assert messages[-1] == "reading failed (connection to the log reset); trying again in 0.0 s"
    assert counts_of(store.store) == BOTH_COUNTS
    assert store.store.filtered() == BOTH_FILTERED
    store.store.close()


def test_a_read_error_not_named_in_retry_on_ends_the_run(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    write_each(log, FIRST)
    store = open_store(tmp_path)
    worker = make_worker(FlakyLog(log, fail_at={2}), store, retry_on=(StoreError,))
    with pytest.raises(ConnectionError, match="connection to the log reset"):
        worker.run(threading.Event(), once=True)
    assert store.load_pointer() is None
    store.close()


def test_following_the_log_until_stopped(tmp_path: Path) -> None:
    log, clock = log_at(tmp_path)
    stop = threading.Event()
    with open_store(tmp_path) as store:
        worker = make_worker(
            TimeRotatingLog(log.path), store, poll_seconds=0.005, flush_seconds=0.01
        )
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        try:
            write_each(log, FIRST)
            wait_for(lambda: store.count("purchase") == 2, "the first stream")
            clock.now = T + HOUR + 30
            pointers = write_each(log, SECOND)
            wait_for(lambda: store.count("signup") == 3, "the second stream")
        finally:
            stop.set()
            thread.join(WAIT)
        assert not thread.is_alive()
        assert counts_of(store) == BOTH_COUNTS
        assert store.filtered() == BOTH_FILTERED
        assert store.load_pointer() == pointers[-1]
        assert worker.progress.events == len(FIRST) + len(SECOND)


def test_following_the_log_commits_when_flush_seconds_have_passed(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    clock = Clock(100.0)
    stop = threading.Event()
    with open_store(tmp_path) as store:
        worker = make_worker(
            TimeRotatingLog(log.path), store, poll_seconds=0.001, flush_seconds=10, clock=clock
        )
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        try:
            pointers = write_each(log, FIRST)
            wait_for(lambda: worker.progress.events == len(FIRST), "the records to be read")
            # Counted, but the clock has not moved: nothing is committed yet.
            assert worker.progress.commits == 0
            assert store.load_pointer() is None
            assert store.count("viewed page") == 0
            clock.now += 10
            wait_for(lambda: worker.progress.commits == 1, "a commit")
            assert store.load_pointer() == pointers[-1]
            assert counts_of(store) == FIRST_COUNTS
        finally:
            stop.set()
            thread.join(WAIT)
        assert not thread.is_alive()
        assert worker.progress.commits == 1  # nothing was left for a last commit


def test_stopping_commits_what_was_counted(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    stop = threading.Event()
    with open_store(tmp_path) as store:
        worker = make_worker(
            TimeRotatingLog(log.path), store, poll_seconds=0.001, flush_seconds=3600
        )
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        try:
            pointers = write_each(log, FIRST)
            wait_for(lambda: worker.progress.events == len(FIRST), "the records to be read")
            assert store.load_pointer() is None
        finally:
            stop.set()
            thread.join(WAIT)
        assert not thread.is_alive()
        assert worker.progress.commits == 1
        assert store.load_pointer() == pointers[-1]
        assert counts_of(store) == FIRST_COUNTS


def test_a_stop_before_the_start_reads_nothing(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    write_each(log, FIRST)
    stop = threading.Event()
    stop.set()
    with open_store(tmp_path) as store:
        worker = make_worker(log, store)
        worker.run(stop)
        assert (worker.progress.events, worker.progress.commits) == (0, 0)
        assert store.load_pointer() is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"flush_every": 0}, "flush_every must be at least 1, not 0", id="every-0"),
        pytest.param({"flush_every": -5}, "flush_every must be at least 1, not -5", id="every"),
        pytest.param({"flush_seconds": 0}, "flush_seconds must be positive, not 0", id="secs-0"),
        pytest.param(
            {"flush_seconds": -0.5}, "flush_seconds must be positive, not -0.5", id="seconds"
        ),
    ],
)
def test_bad_flush_settings_are_refused(
    tmp_path: Path, options: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_worker(TimeRotatingLog(tmp_path / "events"), None, **options)


class RefusingStore(FlakyStore):
    """A real SQLStore whose commits raise ``error`` (counting them)."""

    def __init__(self, store: SQLStore, error: Exception) -> None:
        super().__init__(store)
        self.error = error

    def commit(self, batch: Batch) -> None:
        self.failed += 1
        raise self.error


@pytest.mark.parametrize(
    ("error", "message"),
    [
        pytest.param(
            CommitRefusedError("commit failed on sqlite:///t.db: no such table: counts"),
            "commit failed on sqlite:///t.db: no such table: counts",
            id="refused",
        ),
        pytest.param(
            StoreError("commit failed on sqlite:///t.db: who knows"),
            "commit failed on sqlite:///t.db: who knows",
            id="unclassified-store-error",
        ),
    ],
)
def test_a_commit_the_database_refuses_is_not_retried(
    tmp_path: Path, error: Exception, message: str
) -> None:
    log, _ = log_at(tmp_path)
    write_each(log, FIRST)
    with open_store(tmp_path) as real:
        store = RefusingStore(real, error)
        # Even with store errors retried on the read path, a refusal ends the run.
        worker = make_worker(log, store, retry=0.0, retry_on=(StoreError,))
        with pytest.raises(CommitRefusedError) as raised:
            worker.run(threading.Event(), once=True)
    assert str(raised.value) == message
    assert store.failed == 1


def test_a_real_refusal_ends_the_run_at_once(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    write_each(log, FIRST)
    with open_store(tmp_path) as store:
        with store._engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE counts")
        worker = make_worker(log, store, retry=0.0, retry_on=(StoreError,), flush_every=3)
        with pytest.raises(CommitRefusedError, match="no such table: counts") as raised:
            worker.run(threading.Event())
    assert "trying again cannot help" in str(raised.value)
    assert worker.progress.commits == 0


class TouchyRollup:
    """A user rollup whose bucket no store can hold for one user agent,
    and that raises for another."""

    name = "touchy"
    per_visitor = True

    def bucket(self, timestamp: float, visit: Any) -> str:
        if visit.user_agent == "boom":
            raise ValueError("the rollup's own bug")
        return "nul\x00" if visit.user_agent == "nul" else "fine"


def test_skipped_records_are_logged_at_most_every_ten_seconds(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    memory = MemoryLog()
    clock = Clock(100.0)
    for i in range(4):
        vid = f"{i:040x}"
        memory.write([pixel_record(stamp(i), vid, "1")])
        memory.write([page(i, vid, "boom"), page(i, f"{i + 10:040x}")])
    with open_store(tmp_path) as store:
        aggregator = Aggregator([*build_rollups(), TouchyRollup()], is_crawler=is_crawler)
        worker = Worker(memory, store, aggregator, clock=clock, flush_every=3)
        stop = threading.Event()
        with caplog.at_level(logging.ERROR, logger="manhattan.server"):
            worker._chunks = (
                lambda stop: iter(  # type: ignore[method-assign]
                    [(memory.records[i : i + 3], 0, str(i + 3)) for i in range(0, 12, 3)]
                )
            )
            for number, chunk in enumerate(worker._chunks(stop)):
                clock.now = 100.0 + (11.0 if number == 3 else 0.0)
                worker._count(*chunk)
            worker.flush(stop)
        assert store.filtered()["uncountable record"] == 4
    messages = [record.getMessage() for record in caplog.records]
    assert messages == [
        "skipped uncountable record in the log between its start and 3: ValueError: the "
        "rollup's own bug (record 'page 1764000000.0000 " + "0" * 40 + "'); "
        "1 skipped in all since the last such message",
        "skipped uncountable record in the log between 9 and 12: ValueError: the "
        "rollup's own bug (record 'page 1764000003.0000 " + "0" * 39 + "3'); "
        "3 skipped in all since the last such message",
    ]


def test_an_entry_no_store_can_hold_is_dropped_and_the_rest_committed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    memory = MemoryLog()
    memory.write([page(1, A, "nul"), pixel_record(stamp(2), A, "1"), page(3, B)])
    memory.write([pixel_record(stamp(4), B, "1")])
    with open_store(tmp_path) as store:
        aggregator = Aggregator([*build_rollups(), TouchyRollup()], is_crawler=is_crawler)
        worker = Worker(memory, store, aggregator)
        with caplog.at_level(logging.ERROR, logger="manhattan.server"):
            worker.run(threading.Event(), once=True)
        assert store.count("viewed page", rollup_key="touchy", bucket_id="fine") == 1
        assert store.count("viewed page") == 2
        assert store.filtered()["unstorable entry"] == 2  # site 1 and all sites
    assert any(
        "unstorable entry before 3: counter ('touchy', 'nul\\x00'" in record.getMessage()
        for record in caplog.records
    )
