"""Logs: where the frontend appends records and the backend reads them.

A log is any object with the methods of :class:`Log`; a readable log also
has those of :class:`LogReader`. Users bring their own by writing a class
with these methods; nothing needs to subclass ours.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol, TypeAlias, runtime_checkable

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


__all__ = ["Log", "LogReader", "Pointer", "Record"]
