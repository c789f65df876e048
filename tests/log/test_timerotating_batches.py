"""TimeRotatingLog.batches(): the records of process(), a batch at a time."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from manhattan.log.timerotating import TimeRotatingLog

H1 = 1_400_000_400  # 388_889 * 3600: an hour start
H2 = H1 + 3600


def rec(name: str) -> list[str]:
    return ["1", "page", "1400000400.0000", name, "0"]


def make(tmp_path: Path) -> TimeRotatingLog:
    now = [H1 + 1.0]
    log = TimeRotatingLog(tmp_path / "events", clock=lambda: now[0])
    log.write([rec("a"), rec("bb")])
    with open(tmp_path / f"events.{H1}", "ab") as stream:
        stream.write(b"garbage\n")
    log.write([rec("ccc")])
    now[0] = H2 + 1.0
    log.write([rec("d"), rec("e")])
    log.close()
    return log


def line_length(name: str) -> int:
    return len("\t".join(rec(name))) + 1


def test_batches_hold_what_process_yields(tmp_path: Path) -> None:
    log = make(tmp_path)
    records = [record for record, _ in log.process()]
    batches = list(log.batches())
    assert [record for batch, _, _ in batches for record in batch] == records
    first = line_length("a") + line_length("bb") + len(b"garbage\n") + line_length("ccc")
    assert [(skipped, pointer) for _, skipped, pointer in batches] == [
        (1, f"events.{H1}:{first}"),
        # H1 is still followed for late writes: how far it was read is kept.
        (0, f"events.{H2}:{line_length('d') + line_length('e')};{H1}:{first}"),
    ]


@pytest.mark.parametrize(
    ("size", "count"), [pytest.param(1, 6, id="1"), pytest.param(2, 3, id="2")]
)
def test_batches_of_at_most_size_lines(tmp_path: Path, size: int, count: int) -> None:
    log = make(tmp_path)
    batches = list(log.batches(size=lambda: size))
    assert len(batches) == count  # the garbage line takes a place in a batch
    assert all(len(records) + skipped <= size for records, skipped, _ in batches)
    resumed = list(log.batches(batches[1][2]))  # from the second batch's pointer
    assert [r[3] for records, _, _ in resumed for r in records] == [
        r[3] for records, _, _ in batches[2:] for r in records
    ]


def test_batches_stop_when_killed(tmp_path: Path) -> None:
    log = make(tmp_path)
    killed = threading.Event()
    reader = log.batches(killed_event=killed, size=lambda: 1)
    first, _, pointer = next(reader)
    assert first == [rec("a")]
    killed.set()
    assert list(reader) == []
    assert pointer == f"events.{H1}:{line_length('a')}"


def test_process_stops_after_the_block_in_which_it_was_killed(tmp_path: Path) -> None:
    log = make(tmp_path)
    killed = threading.Event()
    seen = []
    for batch, _, _ in log.batches(killed_event=killed):
        seen.append(batch)
        killed.set()  # set while the first file's block is handed over
    assert seen == [[rec("a"), rec("bb"), rec("ccc")]]
