"""Hourly append-only log files, compatible with Manhattan 0.3's.

``TimeRotatingLog(path)`` appends to ``<path>.<start>``, where ``<start>`` is
the Unix time of the start of the current hour (wall clock at write time).
Each batch of records is one ``write()`` on a file opened with ``O_APPEND``,
so any number of processes can write at once without tearing lines; a
write cut short by a full disk is ended by the next one
(:func:`~manhattan.log.text.append_lines`), and readers skip it as malformed.

Late writes
-----------

A writer descheduled at 10:59:59.99, or whose clock steps back across the
hour, appends to an hour file after a reader has moved on to the next one.
A reader therefore keeps reading what is appended to a file it has passed
until :data:`LATE_WRITE_GRACE` seconds after that file's hour has ended (by
the reader's ``clock``). Such a record is read after the newer records
already read, so its order differs from a reading of the finished files.

Pointers
--------

A reader resumes from a pointer ``"<file name>:<offset>"``, the file it
reached last and the byte offset of the end of the record the pointer came
with, followed by ``";<hour>:<offset>"`` for each older hour it still
follows for late writes: the hours it moved past whose grace is not over,
with how far it read their file, and 0 for those that had no file yet (a
late writer may create it). 0.3's pointers, without that part, stay valid.

Resuming from a pointer yields exactly the rest. What a reader yields from
a file is always the bytes after the offset the pointer gives for it; every
hour it may still read from is named in the pointer; an older file not
named was read to its end and its grace is over (or it is before the
pointer, for 0.3's pointers), and is never read again. So a restart from
the pointer committed with the counts neither loses nor repeats a record,
late ones included. (A named hour whose grace ended meanwhile is read once
more, from its offset, then dropped.)
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from manhattan.log import Pointer, Record
from manhattan.log.text import (
    TORN_MARK,
    MalformedLineError,
    append_lines,
    decode_line,
    encode_records,
)

logger = logging.getLogger(__name__)

HOUR = 3600
READ_SIZE = 1 << 20

LATE_WRITE_GRACE = 300
"""Seconds after the end of a file's hour (by the reader's clock) during
which a reader that has moved past the file still reads what is appended to
it. Later appends are read only by a reader that reaches the file afresh
(``manhattan-server --once`` on a fresh database)."""

_POSITIONS = re.compile(r"(\d+):(\d+)((?:;\d+:\d+)*)", re.ASCII)

# (pointer text before a line's end offset, lines, pointer text after it)
_Block = tuple[str, list[tuple[Record | None, int]], str]


class TimeRotatingLog:
    """Hourly log files at ``<path>.<hour start>``, for writing and reading.

    ``clock`` gives the wall-clock time used to choose the hour file (tests
    pass their own); ``poll_interval`` is how often a ``stay_alive`` reader
    looks for more. ``malformed`` counts the lines a reader skipped.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 0.1,
    ) -> None:
        # Checked before abspath(), which would drop the trailing "/" of "dir/".
        if os.path.basename(os.fspath(path)) in ("", os.curdir, os.pardir):
            raise ValueError(f"log path must name a file, not a directory: {path!r}")
        self.path = os.path.abspath(os.fspath(path))
        self.directory, self.prefix = os.path.split(self.path)
        self.clock = clock
        self.poll_interval = poll_interval
        self.malformed = 0
        self._fd = -1
        self._fd_hour = -1
        self._end = -1  # where our last write ended (see append_lines)
        self._lock = threading.Lock()

    # Writing

    def write(self, records: Sequence[Sequence[str]], *, at: float | None = None) -> None:
        """Append ``records`` to the current hour's file in one write.

        ``at`` is the wall-clock time that chooses the hour file instead of
        ``clock()``: for a writer that names the file before it writes, as
        ``manhattan-log-server`` does in its intent.
        """
        data = encode_records(records)
        if not data:
            return
        hour = int(self.clock() if at is None else at) // HOUR * HOUR
        # Held across the write so another thread's rotation or close() cannot
        # close this descriptor (or let its number be reused) mid-write.
        with self._lock:
            if hour != self._fd_hour:
                self._open(hour)
            self._end = append_lines(self._fd, data, self._end)

    def _open(self, hour: int) -> None:
        """Make ``hour``'s file the one written to (with ``_lock`` held)."""
        os.makedirs(self.directory, exist_ok=True)
        fd = os.open(
            f"{self.path}.{hour}",
            # Readable: append_lines looks at the last byte for a torn line.
            os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
            0o644,
        )
        old, self._fd, self._fd_hour, self._end = self._fd, fd, hour, -1
        if old >= 0:
            os.close(old)

    def close(self) -> None:
        """Close the file being written (the next write opens it again)."""
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
            self._fd, self._fd_hour = -1, -1

    # Reading

    def files(self) -> list[tuple[int, str]]:
        """The log's files as ``(hour start, file name)``, oldest first."""
        start = len(self.prefix) + 1
        found = []
        try:
            entries = os.scandir(self.directory)
        except FileNotFoundError:
            return []
        with entries:
            for entry in entries:
                name = entry.name
                suffix = name[start:]
                if name.startswith(self.prefix + ".") and suffix.isascii() and suffix.isdigit():
                    found.append((int(suffix), name))
        found.sort()
        return found

    def parse_pointer(self, pointer: Pointer) -> tuple[int, int]:
        """``(hour start, byte offset)`` of the file a pointer reached last;
        ``ValueError`` if it is not ours."""
        hour, offset, _ = self._parse(pointer)
        return hour, offset

    def _parse(self, pointer: Pointer) -> tuple[int, int, dict[int, int]]:
        """A pointer's last file, its offset, and ``{hour: offset}`` of the
        older files it still follows for late writes."""
        name = os.path.basename(str(pointer))
        found = None
        if name.startswith(self.prefix + "."):
            found = _POSITIONS.fullmatch(name, len(self.prefix) + 1)
        if found is not None:
            hour = int(found[1])
            late = dict(_pair(part) for part in found[3].split(";")[1:])
            if all(older < hour for older in late):
                return hour, int(found[2]), late
        raise ValueError(
            f"log pointer {pointer!r} is not '<{self.prefix}.HOUR>:<byte offset>'"
            " (followed by ';HOUR:OFFSET' for each older hour still read)"
        )

    def remaining(self, pointer: Pointer | None = None) -> int:
        """Bytes of log after ``pointer`` (all of it for ``None``): how far behind a reader is."""
        hour, offset, late = (-1, 0, {}) if pointer is None else self._parse(pointer)
        late[hour] = offset
        total = 0
        for start, name in self.files():
            if start > hour or start in late:
                try:
                    size = os.stat(os.path.join(self.directory, name)).st_size
                except FileNotFoundError:
                    continue
                total += max(size - late.get(start, 0), 0)
        return total

    def process(
        self,
        process_from: Pointer | None = None,
        stay_alive: bool = False,
        killed_event: threading.Event | None = None,
    ) -> Iterator[tuple[Record, Pointer]]:
        """Yield ``(record, pointer)`` in order across the hour files.

        Starts after ``process_from`` (or at the oldest file). An unfinished
        last line is left for later. Malformed lines are skipped, counted in
        ``malformed`` and logged. With ``stay_alive`` it follows new data and
        new hours until ``killed_event`` is set.
        """
        killed = killed_event if killed_event is not None else threading.Event()
        for head, lines, tail in self._blocks(process_from, stay_alive, killed):
            for record, end in lines:
                if record is not None:
                    yield record, f"{head}{end}{tail}"
                if killed.is_set():
                    return

    def batches(
        self,
        process_from: Pointer | None = None,
        killed_event: threading.Event | None = None,
        size: Callable[[], int] | None = None,
    ) -> Iterator[tuple[list[Record], int, Pointer]]:
        """What :meth:`process` yields (without ``stay_alive``), a batch at a
        time: ``(records, malformed lines skipped among them, pointer after
        the batch)``. The same records with less per-record work, for readers
        that commit in batches. A batch is a block read, or at most
        ``size()`` lines when ``size`` is given (asked before each batch)."""
        killed = killed_event if killed_event is not None else threading.Event()
        for head, lines, tail in self._blocks(process_from, False, killed):
            start = 0
            while start < len(lines):
                end = len(lines) if size is None else start + max(1, size())
                piece = lines[start:end]
                start = end
                records = [record for record, _ in piece if record is not None]
                yield records, len(piece) - len(records), f"{head}{piece[-1][1]}{tail}"
                if killed.is_set():
                    return

    def _blocks(
        self, process_from: Pointer | None, stay_alive: bool, killed: threading.Event
    ) -> Iterator[_Block]:
        """A :data:`_Block` per block read: late writes to older files first,
        then the file reached last, and on to newer ones."""
        hour, offset, late = (-1, 0, {}) if process_from is None else self._parse(process_from)
        resume_exact = process_from is not None
        while not killed.is_set():
            for late_hour in sorted(late):
                yield from self._late_blocks(late_hour, f"{self.prefix}.{hour}:{offset}", late)
            current = self._next_file(hour, inclusive=resume_exact)
            if current is None:
                if not stay_alive:
                    return
                killed.wait(self.poll_interval)
                continue
            if current[0] != hour:
                self._follow(late, hour, offset, current[0])
                hour, offset = current[0], 0
            resume_exact = True
            name = current[1]
            # Look for a later file *before* reading this one to its end: a
            # writer may append here until just before it starts the next hour,
            # so only a file read to the end after that is finished.
            finished = self._next_file(hour, inclusive=False) is not None
            tail = _positions(late)
            # (The callers stop on killed_event after each block they take.)
            for lines in self._read_from(name, offset):
                if lines:
                    offset = lines[-1][1]
                yield f"{name}:", lines, tail
            if finished:
                resume_exact = False
                continue
            if not stay_alive:
                return
            killed.wait(self.poll_interval)

    def _late_blocks(self, hour: int, main: str, late: dict[int, int]) -> Iterator[_Block]:
        """What was appended to the passed file of ``hour`` since ``late[hour]``
        (updated as it is read; dropped once its grace is over). ``main`` is
        the pointer's part for the file reached last."""
        # Measured before reading: what was there when the grace ended is read.
        expired = not self._in_grace(hour)
        name = f"{self.prefix}.{hour}"
        try:
            grown = os.stat(os.path.join(self.directory, name)).st_size > late[hour]
        except FileNotFoundError:
            grown = False  # not written yet (or deleted)
        if grown:
            older = _positions({h: o for h, o in late.items() if h < hour})
            head = f"{main}{older};{hour}:"
            tail = _positions({h: o for h, o in late.items() if h > hour})
            for lines in self._read_from(name, late[hour]):
                if lines:
                    late[hour] = lines[-1][1]
                yield head, lines, tail
        if expired:
            del late[hour]

    def _follow(self, late: dict[int, int], passed: int, offset: int, reached: int) -> None:
        """Moving on from the file of hour ``passed`` (read up to ``offset``)
        to that of ``reached``: follow the hours between them that are still
        in their grace, ``passed`` from ``offset`` and those without a file
        from the start, for a writer that reaches them late may create it."""
        hour = reached - HOUR
        while hour >= passed and hour >= 0 and self._in_grace(hour):
            late[hour] = offset if hour == passed else 0
            hour -= HOUR

    def _in_grace(self, hour: int) -> bool:
        """Whether late writes to the file of ``hour`` are still read."""
        return self.clock() < hour + HOUR + LATE_WRITE_GRACE

    def _next_file(self, hour: int, inclusive: bool) -> tuple[int, str] | None:
        for start, name in self.files():
            if start > hour or (inclusive and start == hour):
                return start, name
        return None

    def _read_from(self, name: str, offset: int) -> Iterator[list[tuple[Record | None, int]]]:
        """Per block read: ``(record, end offset)`` of each complete line in it;
        ``None`` for a line skipped as malformed."""
        with open(os.path.join(self.directory, name), "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if offset > size:
                raise ValueError(
                    f"log pointer {name}:{offset} is past the end of the file ({size})"
                )
            stream.seek(offset)
            pending = b""
            while block := stream.read(READ_SIZE):
                lines = (pending + block).split(b"\n")
                # The last piece has no newline yet: keep it until it does.
                pending = lines.pop()
                decoded: list[tuple[Record | None, int]] = []
                for line in lines:
                    start = offset
                    offset += len(line) + 1
                    try:
                        decoded.append((decode_line(line), offset))
                    except MalformedLineError as exc:
                        if line == TORN_MARK:
                            continue  # a mark that ended no torn line: not a record, nor a loss
                        self.malformed += 1
                        logger.warning("skipped malformed log line at %s:%d: %s", name, start, exc)
                        decoded.append((None, offset))
                yield decoded


def _pair(part: str) -> tuple[int, int]:
    hour, offset = part.split(":")
    return int(hour), int(offset)


def _positions(late: dict[int, int]) -> str:
    """The pointer's part for older files: ``";HOUR:OFFSET"`` each, oldest first."""
    return "".join(f";{hour}:{offset}" for hour, offset in sorted(late.items()))
