"""Hourly append-only log files, compatible with Manhattan 0.3's.

``TimeRotatingLog(path)`` appends to ``<path>.<start>``, where ``<start>`` is
the Unix time of the start of the current hour (wall clock at write time).
Each batch of records is one ``write()`` on a file opened with ``O_APPEND``,
so any number of processes can write at once without tearing lines.

Readers resume from a pointer ``"<file name>:<byte offset>"``; the offset
is that of the end of the record the pointer came with.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from manhattan.log import Pointer, Record
from manhattan.log.text import MalformedLineError, decode_line, encode_records

logger = logging.getLogger(__name__)

HOUR = 3600
READ_SIZE = 1 << 20


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
        self._lock = threading.Lock()

    # Writing

    def write(self, records: Sequence[Sequence[str]]) -> None:
        """Append ``records`` to the current hour's file in one write."""
        data = encode_records(records)
        if not data:
            return
        hour = int(self.clock()) // HOUR * HOUR
        # Held across the write so another thread's rotation or close() cannot
        # close this descriptor (or let its number be reused) mid-write.
        with self._lock:
            if hour != self._fd_hour:
                self._open(hour)
            fd = self._fd
            written = os.write(fd, data)
            while written < len(data):  # only on a full disk or a signal; keep the rest whole
                written += os.write(fd, data[written:])

    def _open(self, hour: int) -> None:
        """Make ``hour``'s file the one written to (with ``_lock`` held)."""
        os.makedirs(self.directory, exist_ok=True)
        fd = os.open(
            f"{self.path}.{hour}",
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC,
            0o644,
        )
        old, self._fd, self._fd_hour = self._fd, fd, hour
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
        """``(hour start, byte offset)`` of a pointer; ``ValueError`` if it is not ours."""
        name, sep, offset = str(pointer).rpartition(":")
        name = os.path.basename(name)
        suffix = name[len(self.prefix) + 1 :]
        if not (
            sep
            and name.startswith(self.prefix + ".")
            and suffix.isascii()
            and suffix.isdigit()
            and offset.isascii()
            and offset.isdigit()
        ):
            raise ValueError(
                f"log pointer {pointer!r} is not '<{self.prefix}.HOUR>:<byte offset>'"
            )
        return int(suffix), int(offset)

    def remaining(self, pointer: Pointer | None = None) -> int:
        """Bytes of log after ``pointer`` (all of it for ``None``): how far behind a reader is."""
        hour, offset = (-1, 0) if pointer is None else self.parse_pointer(pointer)
        total = 0
        for start, name in self.files():
            if start >= hour:
                try:
                    size = os.stat(os.path.join(self.directory, name)).st_size
                except FileNotFoundError:
                    continue
                total += max(size - offset, 0) if start == hour else size
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
        for name, lines in self._blocks(process_from, stay_alive, killed):
            for record, end in lines:
                if record is not None:
                    yield record, f"{name}:{end}"
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
        for name, lines in self._blocks(process_from, False, killed):
            start = 0
            while start < len(lines):
                end = len(lines) if size is None else start + max(1, size())
                piece = lines[start:end]
                start = end
                records = [record for record, _ in piece if record is not None]
                yield records, len(piece) - len(records), f"{name}:{piece[-1][1]}"
                if killed.is_set():
                    return

    def _blocks(
        self, process_from: Pointer | None, stay_alive: bool, killed: threading.Event
    ) -> Iterator[tuple[str, list[tuple[Record | None, int]]]]:
        """``(file name, [(record or None if malformed, end offset), ...])`` per block read."""
        hour, offset = (-1, 0) if process_from is None else self.parse_pointer(process_from)
        resume_exact = process_from is not None
        while not killed.is_set():
            current = self._next_file(hour, inclusive=resume_exact)
            if current is None:
                if not stay_alive:
                    return
                killed.wait(self.poll_interval)
                continue
            if current[0] != hour:
                hour, offset = current[0], 0
            resume_exact = True
            name = current[1]
            # Look for a later file *before* reading this one to its end: a
            # writer may append here until just before it starts the next hour,
            # so only a file read to the end after that is finished.
            finished = self._next_file(hour, inclusive=False) is not None
            # (The callers stop on killed_event after each block they take.)
            for lines in self._read_from(name, offset):
                if lines:
                    offset = lines[-1][1]
                yield name, lines
            if finished:
                resume_exact = False
                continue
            if not stay_alive:
                return
            killed.wait(self.poll_interval)

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
                        self.malformed += 1
                        logger.warning("skipped malformed log line at %s:%d: %s", name, start, exc)
                        decoded.append((None, offset))
                yield decoded
