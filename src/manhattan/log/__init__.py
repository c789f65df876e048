"""Logs: where the frontend appends records and the backend reads them.

A log is any object with the methods of :class:`Log`; a readable log also
has those of :class:`LogReader` (or :class:`BatchReader`), and may tell
``manhattan-server`` how far behind it is (:class:`Lagging`) and how many
lines it skipped (:class:`CountsMalformed`). Users bring their own by
writing a class with these methods; nothing needs to subclass ours. The
records themselves are laid out as :mod:`manhattan.records.layout` declares.

Ours are importable from here: :class:`TimeRotatingLog` (hourly files),
:class:`MemoryLog`, :class:`RedisStreamLog` and :class:`RemoteLog` (which
need the ``redis`` extra); each loads on first use, so the file log's
users import no Redis client.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

from manhattan import _lazy
from manhattan.records.layout import Record

if TYPE_CHECKING:
    from manhattan.log.memory import MemoryLog
    from manhattan.log.redisstream import RedisStreamLog
    from manhattan.log.remote import RemoteLog, RemoteLogError
    from manhattan.log.timerotating import TimeRotatingLog

Pointer: TypeAlias = str
"""Where a reader is in a log, as text a store keeps; each log has its own form."""


@runtime_checkable
class Log(Protocol):
    """Where a ``Visitor`` writes its records.

    Implement :meth:`write` to send records elsewhere; the middlewares call
    it once per request (through ``Visitor.flush``), so it should not block
    for long.
    """

    def write(self, records: Sequence[Sequence[str]]) -> None:
        """Append ``records`` in order, as one batch (all or, on error, none
        should be visible to readers as torn lines)."""


@runtime_checkable
class LogReader(Protocol):
    """A log the backend can tail.

    Implement :meth:`process` to have ``manhattan-server``'s worker count
    a log of your own: it calls it from its last committed pointer and
    commits the pointers it yields with the counts.
    """

    def process(
        self,
        process_from: Pointer | None = None,
        stay_alive: bool = False,
        killed_event: threading.Event | None = None,
    ) -> Iterator[tuple[Record, Pointer]]:
        """Yield ``(record, pointer)`` in write order.

        Resuming with ``process_from=pointer`` yields what follows that
        record. With ``stay_alive`` the reader waits for more until
        ``killed_event`` is set.
        """


@runtime_checkable
class BatchReader(Protocol):
    """A log read a block at a time (a log on Redis streams has only this).

    Implement :meth:`batches` instead of (or beside)
    :meth:`LogReader.process` to save per-record work: the worker prefers
    it when a reader has both.
    """

    def batches(
        self,
        process_from: Pointer | None,
        killed_event: threading.Event | None,
        size: Callable[[], int] | None,
    ) -> Iterator[tuple[list[Record], int, Pointer]]:
        """``(records, entries skipped among them, pointer after them)`` from
        ``process_from`` to the log's current end, at most ``size()``
        entries each (asked before each batch), until drained or
        ``killed_event`` is set."""
        ...


@runtime_checkable
class CountsMalformed(Protocol):
    """A :class:`LogReader` that counts the lines it skipped as malformed.

    Implement it (an attribute or property) to have ``manhattan-server``
    commit those lines to the filtered table as ``"malformed line"``, each
    once: its worker reads the count before and after the records it is
    given, so the count must only grow while a reader is read.
    """

    @property
    def malformed(self) -> int:
        """Lines skipped as malformed so far."""
        ...


@runtime_checkable
class Lagging(Protocol):
    """A log that can tell how far a reader's pointer is behind its end.

    Implement :meth:`remaining` to have ``manhattan-server -v`` report the
    lag and ``--once`` draw a progress bar; its status line calls it
    every few seconds, from another thread than the worker's.
    """

    def remaining(self, pointer: Pointer | None = None) -> int:
        """How many bytes of the log lie after ``pointer`` (all of them for
        ``None``; the status line reports bytes); ``OSError`` or
        ``ValueError`` when it cannot tell."""
        ...


_CLASSES = {
    "MemoryLog": "manhattan.log.memory",
    "RedisStreamLog": "manhattan.log.redisstream",
    "RemoteLog": "manhattan.log.remote",
    "RemoteLogError": "manhattan.log.remote",
    "TimeRotatingLog": "manhattan.log.timerotating",
}


__getattr__, __dir__ = _lazy.exports(__name__, _CLASSES)


__all__ = [
    "BatchReader",
    "CountsMalformed",
    "Lagging",
    "Log",
    "LogReader",
    "MemoryLog",
    "Pointer",
    "Record",
    "RedisStreamLog",
    "RemoteLog",
    "RemoteLogError",
    "TimeRotatingLog",
]
