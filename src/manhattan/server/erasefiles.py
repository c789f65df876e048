"""``manhattan-erase``'s work on the log files: find a visitor's lines,
tell which of them the database has counted, write each file again
without them, and move the log pointer to the same logical place.

A line is the visitor's when it decodes to a record whose visitor id
field is one of the ids erased. A line that does not decode (malformed,
torn) is left as it is: the server skipped it as malformed, and counted it
so. A split record that ends a test (its plan names a winner) is about the
test, not the visitor: it stays, with its visitor id replaced by
:data:`ERASED_ID`, so that the test still ends there.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

from manhattan.backend.fields import check_record
from manhattan.backend.plans import plan_of
from manhattan.log import Pointer
from manhattan.log.text import MalformedLineError, decode_line, encode_record
from manhattan.log.timerotating import HOUR, LATE_WRITE_GRACE, TimeRotatingLog
from manhattan.records.layout import (
    COMMON_FIELDS,
    KIND_FIELD,
    SPLIT,
    SPLIT_PLAN,
    SPLIT_TEST,
    TIMESTAMP_FIELD,
    VERSION,
    VERSION_FIELD,
    VISITOR_FIELD,
    Record,
)

ERASED_ID = "erased"
"""The visitor id an erased visitor's test end markers keep."""

TEMP_SUFFIX = ".erase-tmp"
"""A file being written again is ``.<name>`` + this, in the log's directory,
until it replaces ``<name>``."""


def is_end_marker(record: Record) -> bool:
    """Whether the aggregator takes ``record`` for a test's end marker
    (a countable split whose plan names a winner)."""
    if (
        len(record) <= SPLIT_PLAN
        or record[VERSION_FIELD] != VERSION
        or record[KIND_FIELD] != SPLIT
        or not record[SPLIT_PLAN]
    ):
        return False
    plan = plan_of(record[SPLIT_PLAN])
    return (
        plan is not None
        and plan.winner is not None
        and not isinstance(check_record(record, {}), str)
    )


@dataclass(frozen=True)
class Position:
    """Where the committed pointer says counting stands: the hour of the
    file it reached, its offset there, and the older hours it still follows
    with their offsets. ``None`` hour: nothing counted."""

    hour: int | None = None
    offset: int = 0
    late: dict[int, int] = field(default_factory=dict)
    head: str = ""  # the pointer's text before its offset ("events.H:")

    def counted(self, hour: int, end: int) -> bool:
        """Whether the line of file ``hour`` that ends at ``end`` is counted."""
        if self.hour is None or hour > self.hour:
            return False
        if hour == self.hour:
            return end <= self.offset
        if hour in self.late:
            return end <= self.late[hour]
        return True

    def moved(self, shifts: dict[int, list[tuple[int, int]]]) -> Pointer | None:
        """The pointer at the same logical place once each file ``hour`` of
        ``shifts`` lost ``removed`` bytes in lines ending at ``end``
        (``[(end, removed), ...]``)."""
        if self.hour is None:
            return None

        def new(hour: int, offset: int) -> int:
            return offset - sum(cut for end, cut in shifts.get(hour, ()) if end <= offset)

        late = "".join(
            f";{hour}:{new(hour, offset)}" for hour, offset in sorted(self.late.items())
        )
        return f"{self.head}{new(self.hour, self.offset)}{late}"


def position(log: TimeRotatingLog, pointer: Pointer | None) -> Position:
    """The :class:`Position` of ``pointer`` in ``log``; ``ValueError`` if it
    is not one of its pointers."""
    if pointer is None:
        return Position()
    hour, offset = log.parse_pointer(pointer)
    main, *older = str(pointer).split(";")
    late = {int(h): int(o) for h, o in (part.split(":") for part in older)}
    return Position(hour, offset, late, main[: main.rindex(":") + 1])


@dataclass
class FileEdit:
    """What erasing does to one log file: ``(start, end, new bytes)`` of each
    line it changes (the new bytes empty for a line removed)."""

    hour: int
    name: str
    changes: list[tuple[int, int, bytes]] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)  # whose lines they are

    def shifts(self) -> list[tuple[int, int]]:
        """``(end, bytes removed)`` of each line changed."""
        return [(end, end - start - len(new)) for start, end, new in self.changes]


@dataclass
class Found:
    """What the kept log files hold of the visitors erased.

    ``replay``: the counted records to count again, in log order: the
    visitors' own, and every counted end marker (whoever's), as the server
    met them. ``marker_times``: per test, the earliest time of its counted
    end markers found. ``edits``: per file with lines to change.
    ``lines``: per visitor id, how many of their lines go (or lose their id),
    and ``counted``: how many of those the database has counted.
    """

    replay: list[Record] = field(default_factory=list)
    marker_times: dict[str, float] = field(default_factory=dict)
    edits: list[FileEdit] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)
    counted: dict[str, int] = field(default_factory=dict)


def _lines(path: str) -> Iterator[tuple[int, int, bytes]]:
    """``(start, end, line)`` of each complete line of the file at ``path``."""
    offset = 0
    with open(path, "rb") as stream:
        for line in stream:
            if not line.endswith(b"\n"):
                return  # an unfinished last line: no reader took it yet
            yield offset, offset + len(line), line
            offset += len(line)


def scan(log: TimeRotatingLog, where: Position, ids: Collection[str]) -> Found:
    """Find the lines of the visitors ``ids`` in every file of ``log``, and
    the counted end markers (the counted part is what ``where`` says)."""
    found = Found()
    needles = [vid.encode("unicode_escape") for vid in ids]
    for hour, name in log.files():
        edit = FileEdit(hour, name)
        for start, end, line in _lines(os.path.join(log.directory, name)):
            mine = any(needle in line for needle in needles)
            if not mine and b"winner" not in line:
                continue  # the usual line: neither decoded nor looked at again
            try:
                record = decode_line(line)
            except MalformedLineError:
                continue
            marker = is_end_marker(record)
            counted = where.counted(hour, end)
            vid = record[VISITOR_FIELD] if len(record) >= COMMON_FIELDS else ""
            if counted and marker:
                found.replay.append(record)
                test = record[SPLIT_TEST]
                stamp = float(record[TIMESTAMP_FIELD])
                found.marker_times[test] = min(found.marker_times.get(test, stamp), stamp)
            if vid not in ids:
                continue
            found.lines[vid] = found.lines.get(vid, 0) + 1
            if counted:
                found.counted[vid] = found.counted.get(vid, 0) + 1
                if not marker:
                    found.replay.append(record)
            new = b""
            if marker:
                record[VISITOR_FIELD] = ERASED_ID
                new = encode_record(record)
            edit.changes.append((start, end, new))
            edit.ids.add(vid)
        if edit.changes:
            found.edits.append(edit)
    return found


def open_to_writers(edits: list[FileEdit], now: float) -> list[FileEdit]:
    """Those of ``edits`` whose files writers may still append to at ``now``
    (their hour, and the late-write grace after it, are not over): writing
    such a file again would lose what a writer appends to the old one."""
    return [edit for edit in edits if now < edit.hour + HOUR + LATE_WRITE_GRACE]


def temp_name(name: str) -> str:
    """The name of ``name``'s new content while it is written."""
    return f".{name}{TEMP_SUFFIX}"


def write_again(directory: str, edit: FileEdit) -> str:
    """Write ``edit``'s file again with its changes to a temporary file in
    ``directory``, synced to disk; the temporary file's name."""
    source = os.path.join(directory, edit.name)
    temp = temp_name(edit.name)
    changes = {start: (end, new) for start, end, new in edit.changes}
    with open(source, "rb") as stream, open(os.path.join(directory, temp), "wb") as out:
        # The same permissions as the file it replaces.
        os.fchmod(out.fileno(), os.fstat(stream.fileno()).st_mode & 0o7777)
        offset = 0
        for line in stream:
            change = changes.get(offset)
            out.write(line if change is None else change[1])
            offset += len(line)
        out.flush()
        os.fsync(out.fileno())
    return temp


def replace(directory: str, renames: list[tuple[str, str]]) -> None:
    """Rename each temporary file over its target, then sync the directory;
    a temporary file gone already was renamed by an earlier run."""
    for temp, target in renames:
        try:
            os.replace(os.path.join(directory, temp), os.path.join(directory, target))
        except FileNotFoundError:
            continue
    sync_directory(directory)


def sync_directory(directory: str) -> None:
    """Make the directory's renames and removals durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def stray_temps(log: TimeRotatingLog) -> list[str]:
    """The temporary files of ``log``'s erasures in its directory."""
    return sorted(
        name
        for name in os.listdir(log.directory)
        if name.startswith(f".{log.prefix}.") and name.endswith(TEMP_SUFFIX)
    )
