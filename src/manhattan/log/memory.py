"""A log kept in a list: for tests and for replaying records in-process."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from manhattan.log import Pointer, Record


class MemoryLog:
    """Records in a list; pointers are the index of the record as a string."""

    def __init__(self) -> None:
        self.records: list[Record] = []
        self._appended = threading.Condition()

    def write(self, records: Sequence[Sequence[str]]) -> None:
        """Append copies of ``records``."""
        with self._appended:
            self.records.extend([list(record) for record in records])
            self._appended.notify_all()

    def process(
        self,
        process_from: Pointer | None = None,
        stay_alive: bool = False,
        killed_event: threading.Event | None = None,
    ) -> Iterator[tuple[Record, Pointer]]:
        """Yield ``(record, pointer)`` from after ``process_from`` on."""
        index = 0 if process_from is None else _parse_pointer(process_from) + 1
        killed = killed_event if killed_event is not None else threading.Event()
        while True:
            while index < len(self.records) and not killed.is_set():
                yield self.records[index], str(index)
                index += 1
            if not stay_alive or killed.is_set():
                return
            with self._appended:
                if index >= len(self.records):
                    self._appended.wait(0.05)

    def __len__(self) -> int:
        return len(self.records)


def _parse_pointer(pointer: Pointer) -> int:
    if not (isinstance(pointer, str) and pointer.isascii() and pointer.isdigit()):
        raise ValueError(f"MemoryLog pointer must be a record index, not {pointer!r}")
    return int(pointer)
