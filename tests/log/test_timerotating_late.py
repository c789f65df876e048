"""TimeRotatingLog's edge cases: late writes to an hour file a reader has
passed (a descheduled writer, a clock stepped back), pointers that resume
exactly after them, and writes cut short by a full disk."""

from __future__ import annotations

import errno
import os
import random
from pathlib import Path

import pytest

from manhattan.log import text
from manhattan.log.timerotating import HOUR, LATE_WRITE_GRACE, TimeRotatingLog

H1 = 1_400_000_400  # 388_889 * 3600: an hour start
H2 = H1 + HOUR
H3 = H2 + HOUR


def rec(name: str, *extra: str) -> list[str]:
    return ["1", "page", f"{H1}.0000", name, "0", *extra]


def size(name: str) -> int:
    return len("\t".join(rec(name))) + 1


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def logs(
    tmp_path: Path, writer_now: float, reader_now: float
) -> tuple[TimeRotatingLog, TimeRotatingLog, Clock, Clock]:
    """A writer and a reader of one log, each with a clock of its own (set
    the clocks to move them)."""
    writer_clock, reader_clock = Clock(writer_now), Clock(reader_now)
    writer = TimeRotatingLog(tmp_path / "events", clock=writer_clock)
    reader = TimeRotatingLog(tmp_path / "events", clock=reader_clock)
    return writer, reader, writer_clock, reader_clock


def read(reader: TimeRotatingLog, pointer: str | None) -> list[tuple[list[str], str]]:
    return list(reader.process(pointer))


def test_a_descheduled_writers_record_is_read_after_the_next_hour(tmp_path: Path) -> None:
    writer, reader, writer_clock, _ = logs(tmp_path, H1 + 3599.99, H2 + 5)
    writer.write([rec("a")])
    writer_clock.now = H2 + 1
    writer.write([rec("b")])
    first = read(reader, None)
    assert [r for r, _ in first] == [rec("a"), rec("b")]
    # A writer that chose H1's file at 59:59.99 and was descheduled appends now.
    writer_clock.now = H1 + 3599.99
    writer.write([rec("late")])
    pointer = first[-1][1]
    late = read(reader, pointer)
    assert late == [(rec("late"), f"events.{H2}:{size('b')};{H1}:{size('a') + size('late')}")]
    # Resumed (say after a crash) from the pointer committed with it: nothing again.
    assert read(reader, late[0][1]) == []
    assert reader.remaining(late[0][1]) == 0
    assert reader.remaining(pointer) == size("late")


def test_a_writer_whose_clock_steps_back_into_an_hour_without_a_file_is_read(
    tmp_path: Path,
) -> None:
    writer, reader, writer_clock, _ = logs(tmp_path, H2 + 2, H2 + 60)
    writer.write([rec("b")])
    (_, pointer), *_ = read(reader, None)
    writer_clock.now = H1 + 3500  # NTP stepped the clock back across the hour
    writer.write([rec("c")])
    writer_clock.now = H2 + 70
    writer.write([rec("d")])
    got = read(reader, pointer)
    assert [r for r, _ in got] == [rec("c"), rec("d")]
    assert got[-1][1] == f"events.{H2}:{size('b') + size('d')};{H1}:{size('c')}"


def test_resuming_at_every_pointer_yields_exactly_the_rest(tmp_path: Path) -> None:
    # Writers in three hours at random, late ones included; a reader that
    # passes over the log again and again from where it stopped, as the
    # server does between commits, reads each record once.
    chooser = random.Random(7)
    writer, reader, writer_clock, reader_clock = logs(tmp_path, H1, H1)
    written: list[list[str]] = []
    pointer = None
    got: list[list[str]] = []
    for step in range(300):
        now = H1 + step * 30  # 2.5 hours in all
        reader_clock.now = now + 1
        for _ in range(chooser.randrange(3)):
            # Mostly now, sometimes a little late (a stepped-back clock).
            writer_clock.now = now - chooser.choice([0, 0, 0, 40, 200])
            record = rec(f"r{len(written)}")
            writer.write([record])
            written.append(record)
        passed = read(reader, pointer)
        got += [record for record, _ in passed]
        pointer = passed[-1][1] if passed else pointer
    assert sorted(got) == sorted(written)
    assert got != written  # some were late, and read after newer ones
    # A crash after any record: resuming from its pointer yields the rest.
    everything = read(reader, None)
    for index in range(0, len(everything), 37):
        assert read(reader, everything[index][1]) == everything[index + 1 :]


def test_late_writes_after_the_grace_are_left(tmp_path: Path) -> None:
    writer, reader, writer_clock, reader_clock = logs(tmp_path, H1 + 10, H2 + 10)
    writer.write([rec("a")])
    writer_clock.now = H2 + 10
    writer.write([rec("b")])
    *_, (_, pointer) = read(reader, None)
    assert pointer.endswith(f";{H1}:{size('a')}")
    writer_clock.now = H1 + 3599
    writer.write([rec("in time")])  # before the grace ended; the reader looks only now
    writer_clock.now = H2 + 20
    writer.write([rec("c")])
    reader_clock.now = H2 + LATE_WRITE_GRACE + 1
    got = read(reader, pointer)
    # What H1 held is read, then H1 is left: the pointer no longer names it.
    assert [r for r, _ in got] == [rec("in time"), rec("c")]
    assert got[-1][1] == f"events.{H2}:{size('b') + size('c')}"
    writer_clock.now = H1 + 3599
    writer.write([rec("too late")])
    assert read(reader, got[-1][1]) == []


def test_a_followed_file_that_is_deleted_is_left_when_its_grace_ends(tmp_path: Path) -> None:
    writer, reader, writer_clock, reader_clock = logs(tmp_path, H1 + 10, H2 + 10)
    writer.write([rec("a")])
    writer_clock.now = H2 + 10
    writer.write([rec("b")])
    *_, (_, pointer) = read(reader, None)
    os.unlink(tmp_path / f"events.{H1}")
    writer.write([rec("c")])
    got = read(reader, pointer)
    assert got == [(rec("c"), f"events.{H2}:{size('b') + size('c')};{H1}:{size('a')}")]
    reader_clock.now = H2 + LATE_WRITE_GRACE + 1
    writer.write([rec("d")])
    end = size("b") + size("c") + size("d")
    assert read(reader, got[-1][1]) == [(rec("d"), f"events.{H2}:{end}")]


def test_an_unfinished_late_line_waits_for_its_newline(tmp_path: Path) -> None:
    writer, reader, writer_clock, _ = logs(tmp_path, H1 + 10, H2 + 10)
    writer.write([rec("a")])
    writer_clock.now = H2 + 10
    writer.write([rec("b")])
    *_, (_, pointer) = read(reader, None)
    late = "\t".join(rec("late")).encode() + b"\n"
    with open(tmp_path / f"events.{H1}", "ab") as stream:
        stream.write(late[:10])
        stream.flush()
        assert read(reader, pointer) == []
        stream.write(late[10:])
    assert [r for r, _ in read(reader, pointer)] == [rec("late")]


def test_passed_files_out_of_their_grace_are_not_followed(tmp_path: Path) -> None:
    writer, reader, writer_clock, _ = logs(tmp_path, H1 + 10, H3 + 10)
    writer.write([rec("a")])
    writer_clock.now = H2 + 10
    writer.write([rec("b")])
    writer_clock.now = H3 + 10
    writer.write([rec("c")])
    # H2 ended 10 s ago, H1 an hour before: only H2 is still followed.
    assert read(reader, None)[-1][1] == f"events.{H3}:{size('c')};{H2}:{size('b')}"


def test_a_stay_alive_reader_reads_late_writes(tmp_path: Path) -> None:
    writer, reader, writer_clock, _ = logs(tmp_path, H1 + 10, H2 + 10)
    writer.write([rec("a")])
    writer_clock.now = H2 + 10
    writer.write([rec("b")])
    reader.poll_interval = 0.001
    follower = reader.process(stay_alive=True)
    assert [next(follower)[0], next(follower)[0]] == [rec("a"), rec("b")]
    writer_clock.now = H1 + 20
    writer.write([rec("late")])
    assert next(follower)[0] == rec("late")
    follower.close()


@pytest.mark.parametrize(
    ("pointer", "hour", "offset"),
    [
        pytest.param("events.7200:5", 7200, 5, id="0.3-pointer"),
        pytest.param("/x/events.7200:5;3600:1", 7200, 5, id="with-a-late-file"),
        pytest.param("events.7200:5;0:3;3600:1", 7200, 5, id="two-late-files"),
    ],
)
def test_parse_pointer_gives_the_file_reached_last(
    tmp_path: Path, pointer: str, hour: int, offset: int
) -> None:
    assert TimeRotatingLog(tmp_path / "events").parse_pointer(pointer) == (hour, offset)


@pytest.mark.parametrize(
    "pointer",
    [
        pytest.param("events.7200:5;7200:1", id="late-file-not-older"),
        pytest.param("events.7200:5;3600", id="late-file-without-offset"),
        pytest.param("events.7200:5;", id="empty-late-part"),
        pytest.param("events.7200:5;3600:x", id="late-offset-not-a-number"),
    ],
)
def test_a_bad_late_part_is_a_value_error(tmp_path: Path, pointer: str) -> None:
    with pytest.raises(ValueError, match="';HOUR:OFFSET' for each older hour"):
        TimeRotatingLog(tmp_path / "events").parse_pointer(pointer)


# Writes cut short by a full disk


def full_disk_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next os.write writes half of its data, then the disk is full."""
    real_write = os.write

    def write(fd: int, data: bytes) -> int:
        monkeypatch.setattr(os, "write", real_write)
        real_write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("next_writer", ["same", "another"])
def test_a_torn_write_is_never_glued_to_the_next_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, next_writer: str
) -> None:
    writer, reader, _, _ = logs(tmp_path, H1 + 10, H1 + 10)
    writer.write([rec("a")])
    full_disk_once(monkeypatch)
    with pytest.raises(OSError, match="No space left"):
        # Cut after its fifth field: without the mark it would pass for a record.
        writer.write([rec("torn", "/a-long-url-" * 4)])
    other = writer if next_writer == "same" else logs(tmp_path, H1 + 10, H1 + 10)[0]
    other.write([rec("b")])
    assert [r for r, _ in read(reader, None)] == [rec("a"), rec("b")]
    assert reader.malformed == 1


def test_a_mark_that_ended_no_torn_line_is_skipped_silently(tmp_path: Path) -> None:
    # A writer saw the end of another's write in progress and added a mark.
    path = tmp_path / f"events.{H1}"
    line = "\t".join(rec("a")).encode() + b"\n"
    path.write_bytes(line + text.TORN_MARK + b"\n" + line)
    reader = TimeRotatingLog(tmp_path / "events")
    assert [r for r, _ in read(reader, None)] == [rec("a"), rec("a")]
    assert reader.malformed == 0
