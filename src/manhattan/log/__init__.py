"""Logs: where the frontend appends records and the backend reads them.

A log is any object with the methods of :class:`Log`; a readable log also
has those of :class:`LogReader`. Users bring their own by writing a class
with these methods; nothing needs to subclass ours.

Ours are importable from here: :class:`TimeRotatingLog` (hourly files),
:class:`MemoryLog`, :class:`RedisStreamLog` and :class:`RemoteLog` (which
need the ``redis`` extra); each loads on first use, so the file log's
users import no Redis client.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

if TYPE_CHECKING:
    from manhattan.log.memory import MemoryLog
    from manhattan.log.redisstream import RedisStreamLog
    from manhattan.log.remote import RemoteLog, RemoteLogError
    from manhattan.log.timerotating import TimeRotatingLog

Record: TypeAlias = list[str]
Pointer: TypeAlias = str


@runtime_checkable
class Log(Protocol):
    """Where a ``Visitor`` writes its records."""

    def write(self, records: Sequence[Sequence[str]]) -> None:
        """Append ``records`` in order, as one batch (all or, on error, none
        should be visible to readers as torn lines)."""


@runtime_checkable
class LogReader(Protocol):
    """A log the backend can tail."""

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


_CLASSES = {
    "MemoryLog": "manhattan.log.memory",
    "RedisStreamLog": "manhattan.log.redisstream",
    "RemoteLog": "manhattan.log.remote",
    "RemoteLogError": "manhattan.log.remote",
    "TimeRotatingLog": "manhattan.log.timerotating",
}


def __getattr__(name: str) -> object:
    module = _CLASSES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_CLASSES})


__all__ = [
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
