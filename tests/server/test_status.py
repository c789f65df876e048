"""The status line (-v) and the --once progress bar, over a real log and store."""

from __future__ import annotations

import io
import os
import re
import threading
import time
from pathlib import Path

from manhattan.log.memory import MemoryLog
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.server.status import StatusLine
from manhattan.server.worker import Worker
from tests.server.test_worker import FIRST, WAIT, T, log_at, make_worker, open_store, write_each

LINE = re.compile(r"manhattan-server: ([\d,]+) events, ([\d,]+)/s, behind by (.+)\n")
BAR = re.compile(r"\[([# ]{30})\] ([ \d.]{4}\d)% ([\d,]+) events ([\d,]+)/s")


def lines(stream: io.StringIO) -> list[tuple[str, str, str]]:
    """(events, behind, rate) of each line written; every line must be a status line."""
    found = []
    for line in stream.getvalue().splitlines(keepends=True):
        match = LINE.fullmatch(line)
        assert match, f"not a status line: {line!r}"
        events, rate, behind = match.groups()
        found.append((events, behind, rate))
    return found


def draws(text: str) -> list[tuple[str, ...]]:
    """(bar, percent, events, rate) of each redraw: every one starts with a carriage return."""
    assert text.startswith("\r")
    found = []
    for draw in text[1:].split("\r"):
        match = BAR.fullmatch(draw)
        assert match, f"not a bar: {draw!r}"
        found.append(match.groups())
    return found


def counted_worker(tmp_path: Path) -> tuple[Worker, TimeRotatingLog, list[str]]:
    """A worker that has counted FIRST, and the pointers after each record."""
    log, _ = log_at(tmp_path)
    pointers = write_each(log, FIRST)
    store = open_store(tmp_path)
    worker = make_worker(log, store)
    worker.run(threading.Event(), once=True)
    store.close()
    return worker, log, pointers


def test_a_line_says_events_rate_and_bytes_behind(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    write_each(log, FIRST)
    size = os.path.getsize(f"{log.path}.{T}")
    assert size > 1000  # so the thousands separator shows
    with open_store(tmp_path) as store:
        worker = make_worker(log, store)
        stream = io.StringIO()
        status = StatusLine(worker.progress, log, stream)
        status.report()  # before the worker has read anything
        worker.run(threading.Event(), once=True)
        status.report()
    assert lines(stream) == [
        ("0", f"{size:,} bytes", "0"),
        (str(len(FIRST)), "0 bytes", lines(stream)[1][2]),
    ]


def test_behind_is_what_follows_the_workers_pointer(tmp_path: Path) -> None:
    worker, log, pointers = counted_worker(tmp_path)
    size = os.path.getsize(f"{log.path}.{T}")
    offset = int(pointers[9].rpartition(":")[2])
    worker.progress.pointer = pointers[9]
    stream = io.StringIO()
    StatusLine(worker.progress, log, stream).report()
    assert lines(stream)[0][1] == f"{size - offset:,} bytes"


def test_lines_repeat_every_few_seconds_until_stopped(tmp_path: Path) -> None:
    worker, log, _ = counted_worker(tmp_path)
    stream = io.StringIO()
    status = StatusLine(worker.progress, log, stream, every=0.001)
    status.start()
    deadline = time.monotonic() + WAIT
    while stream.getvalue().count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.001)
    status.stop()
    reported = lines(stream)
    assert len(reported) >= 4  # three or more from the thread, one from stop()
    assert {(events, behind) for events, behind, _ in reported} == {("14", "0 bytes")}
    # The thread has ended: nothing more is written.
    written = stream.getvalue()
    time.sleep(0.01)
    assert stream.getvalue() == written


def test_stop_without_start_writes_one_line(tmp_path: Path) -> None:
    worker, log, _ = counted_worker(tmp_path)
    stream = io.StringIO()
    StatusLine(worker.progress, log, stream).stop()
    assert [(events, behind) for events, behind, _ in lines(stream)] == [("14", "0 bytes")]


def test_a_reader_without_remaining_is_behind_by_unknown(tmp_path: Path) -> None:
    memory = MemoryLog()
    memory.write(FIRST)
    with open_store(tmp_path) as store:
        worker = make_worker(memory, store)
        worker.run(threading.Event(), once=True)
        assert store.load_pointer() == "13"
    stream = io.StringIO()
    StatusLine(worker.progress, memory, stream).report()
    assert [(events, behind) for events, behind, _ in lines(stream)] == [("14", "unknown")]


def test_remaining_failing_is_behind_by_unknown(tmp_path: Path) -> None:
    worker, _, _ = counted_worker(tmp_path)
    # The log's directory is a plain file: listing it fails with an OSError.
    (tmp_path / "not-a-directory").write_text("")
    broken = TimeRotatingLog(tmp_path / "not-a-directory" / "events")
    stream = io.StringIO()
    StatusLine(worker.progress, broken, stream).report()
    assert lines(stream)[0][1] == "unknown"


def test_a_pointer_of_another_log_is_behind_by_unknown(tmp_path: Path) -> None:
    worker, log, _ = counted_worker(tmp_path)
    worker.progress.pointer = "other-log.1764000000:10"
    stream = io.StringIO()
    StatusLine(worker.progress, log, stream).report()
    assert lines(stream)[0][1] == "unknown"


def test_the_bar_redraws_one_line_and_ends_it_on_stop(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    pointers = write_each(log, FIRST)
    total = os.path.getsize(f"{log.path}.{T}")
    with open_store(tmp_path) as store:
        worker = make_worker(log, store)
        stream = io.StringIO()
        status = StatusLine(worker.progress, log, stream, bar=True)
        assert status.every == 0.5
        status.start()  # the whole log is ahead: that is the bar's 100%
        # Half way: done is the share of the log's bytes behind the pointer.
        worker.progress.pointer = pointers[6]
        done = int(pointers[6].rpartition(":")[2]) / total
        before = len(stream.getvalue())
        status.report()
        half = stream.getvalue()[before:]
        worker.run(threading.Event(), once=True)
        status.stop()
    filled = int(done * 30)
    assert 0 < filled < 30
    assert draws(half) == [("#" * filled + " " * (30 - filled), f"{100 * done:5.1f}", "0", "0")]
    text = stream.getvalue()
    assert text.endswith("\n")
    assert text.count("\n") == 1
    last = draws(text[:-1])[-1]
    assert last[:3] == ("#" * 30, "100.0", "14")


def test_the_bar_of_an_empty_log_is_full(tmp_path: Path) -> None:
    log, _ = log_at(tmp_path)
    with open_store(tmp_path) as store:
        worker = make_worker(log, store)
        stream = io.StringIO()
        status = StatusLine(worker.progress, log, stream, bar=True)
        status.start()
        status.stop()
    assert stream.getvalue().endswith(f"\r[{'#' * 30}] 100.0% 0 events 0/s\n")
