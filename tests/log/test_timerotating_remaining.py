"""TimeRotatingLog.remaining(): how many bytes of log lie after a pointer."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from manhattan.log.timerotating import TimeRotatingLog

# Hour starts worked out by hand: 1_764_000_000 = 490_000 * 3600.
H1 = 1_764_000_000
H2 = H1 + 3600
H3 = H1 + 2 * 3600


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record(number: int, padding: str = "") -> list[str]:
    """A page record of plain ASCII fields (its line is them joined by tabs)."""
    stamp = f"{H1 + number}.0000"
    return ["1", "page", stamp, f"visitor{number}", "0", "1.2.3.4", "GET", "/" + padding, "", ""]


def line_bytes(fields: list[str]) -> int:
    return len("\t".join(fields)) + 1  # ASCII: a byte per character, and the newline


def three_hours(tmp_path: Path) -> tuple[TimeRotatingLog, list[list[list[str]]]]:
    """A log with two, three and one records in hours H1, H2 and H3."""
    clock = Clock(H1 + 5)
    log = TimeRotatingLog(tmp_path / "logs" / "events", clock=clock)
    hours = [
        [record(1), record(2, "x" * 10)],
        [record(3), record(4, "y" * 100), record(5)],
        [record(6, "z" * 1000)],
    ]
    for start, records in zip((H1, H2, H3), hours, strict=True):
        clock.now = start + 17
        log.write(records)
    log.close()
    return log, hours


def test_none_means_the_whole_log(tmp_path: Path) -> None:
    log, hours = three_hours(tmp_path)
    expected = sum(line_bytes(fields) for records in hours for fields in records)
    assert log.remaining() == expected
    assert log.remaining(None) == expected


def test_bytes_after_a_pointer_across_later_hour_files(tmp_path: Path) -> None:
    log, hours = three_hours(tmp_path)
    read = list(log.process())
    assert [fields for fields, _ in read] == [fields for records in hours for fields in records]
    # After the fourth record (the second of hour H2): the fifth, then hour H3.
    pointer = read[3][1]
    assert pointer == f"events.{H2}:{line_bytes(hours[1][0]) + line_bytes(hours[1][1])}"
    assert log.remaining(pointer) == line_bytes(hours[1][2]) + line_bytes(hours[2][0])
    # After the second record, the end of hour H1: all of H2 and H3 remain.
    later = sum(line_bytes(fields) for records in hours[1:] for fields in records)
    assert log.remaining(read[1][1]) == later
    # After the last record nothing remains.
    assert log.remaining(read[-1][1]) == 0


def test_a_pointer_at_the_start_of_a_file_counts_all_of_it(tmp_path: Path) -> None:
    log, hours = three_hours(tmp_path)
    assert log.remaining(f"events.{H3}:0") == line_bytes(hours[2][0])
    # A pointer may carry a directory part; only the file name matters.
    assert log.remaining(f"{tmp_path}/logs/events.{H3}:0") == line_bytes(hours[2][0])


def test_the_pointers_file_deleted_leaves_the_later_files(tmp_path: Path) -> None:
    log, hours = three_hours(tmp_path)
    os.remove(tmp_path / "logs" / f"events.{H2}")
    assert log.remaining(f"events.{H2}:5") == line_bytes(hours[2][0])
    # Files before the pointer's hour never count, whatever their size.
    assert log.remaining(f"events.{H3}:0") == line_bytes(hours[2][0])


def test_a_file_that_vanished_after_being_listed_is_skipped(tmp_path: Path) -> None:
    log, hours = three_hours(tmp_path)
    # A dangling link is listed like a log file but cannot be stat()ed: as a
    # file deleted between the listing and the stat.
    os.symlink(tmp_path / "nowhere", tmp_path / "logs" / f"events.{H3 + 3600}")
    assert [name for _, name in log.files()][-1] == f"events.{H3 + 3600}"
    total = sum(line_bytes(fields) for records in hours for fields in records)
    assert log.remaining() == total
    assert log.remaining(f"events.{H3}:0") == line_bytes(hours[2][0])


def test_a_pointer_past_the_end_of_a_shrunken_file_counts_none_of_it(tmp_path: Path) -> None:
    log, hours = three_hours(tmp_path)
    assert log.remaining(f"events.{H2}:99999") == line_bytes(hours[2][0])


def test_other_files_in_the_directory_do_not_count(tmp_path: Path) -> None:
    log, hours = three_hours(tmp_path)
    (tmp_path / "logs" / "events.old").write_bytes(b"x" * 50)
    (tmp_path / "logs" / "other.1764000000").write_bytes(b"x" * 50)
    (tmp_path / "logs" / "events").write_bytes(b"x" * 50)
    total = sum(line_bytes(fields) for records in hours for fields in records)
    assert log.remaining() == total


def test_no_log_directory_means_nothing_remains(tmp_path: Path) -> None:
    log = TimeRotatingLog(tmp_path / "missing" / "events")
    assert log.remaining() == 0
    assert log.remaining(f"events.{H1}:10") == 0


@pytest.mark.parametrize(
    "pointer",
    [
        pytest.param(f"other.{H1}:0", id="another-log"),
        pytest.param(f"events.{H1}", id="no-offset"),
        pytest.param(f"events.{H1}:-1", id="negative-offset"),
        pytest.param("events.latest:0", id="not-an-hour"),
    ],
)
def test_a_pointer_of_another_log_is_refused(tmp_path: Path, pointer: str) -> None:
    log, _ = three_hours(tmp_path)
    with pytest.raises(ValueError, match=re.escape("is not '<events.HOUR>:<byte offset>'")):
        log.remaining(pointer)
