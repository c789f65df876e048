"""Reading owned partitions of a Redis stream log, for a partitioned worker.

A worker owns whole partitions of the stream :class:`RedisStreamLog`
writes (``f"{stream}:{i}"``). :class:`StreamReader` reads them with the
worker's ``batches`` protocol: ``(records, skipped entries, pointer)``.

The pointer is one string naming the last entry id read in each owned
partition, ``"0=1700000000000-0;2=1700000000000-5"`` (partitions not read
yet are absent). The store keeps it as one row per partition,
``f"stream:{stream}:{i}"`` (:meth:`StreamReader.pointer_name`), so workers
sharing one database never overwrite each other's positions, and a
partition can later move to another worker with its position.
:class:`StreamStore` does that translation around a store, so the worker's
single pointer and its counts still commit in one transaction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

import redis

from manhattan.backend.model import Batch, Store
from manhattan.log import Record
from manhattan.log.redisstream import read_partition, trim_partition

logger = logging.getLogger(__name__)
START = "0-0"
"""The id before every entry: where an unread partition starts."""

DEFAULT_COUNT = 1000
"""Entries per read when the caller gives no ``size``."""


class StreamReader:
    """Reads partitions ``partitions`` of stream ``stream`` through ``client``.

    Each partition is read in entry order; partitions take turns, a read of
    up to ``size()`` entries each, until all are drained. A visitor's events
    are all in one partition, so this keeps each visitor's order.

    With ``trim`` (the default), :class:`StreamStore` deletes what a commit
    has made safe: the entries below each partition's committed position.
    That bounds the stream's memory when this worker is the partitions'
    only consumer; pass ``trim=False`` when other consumers read them too.
    """

    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        partitions: Iterable[int],
        *,
        trim: bool = True,
    ) -> None:
        owned = sorted(set(partitions))
        if not owned:
            raise ValueError("a stream reader needs at least one partition")
        if owned[0] < 0:
            raise ValueError(f"partitions are numbered from 0, not {owned[0]}")
        self.client = client
        self.stream = stream
        self.partitions = owned
        self.trim = trim

    def pointer_name(self, partition: int) -> str:
        """The name under which the store keeps ``partition``'s position."""
        return f"stream:{self.stream}:{partition}"

    def parse_pointer(self, pointer: str | None) -> dict[int, str]:
        """``{partition: last id read}`` of the owned partitions in ``pointer``
        (``ValueError`` if it is not a stream pointer)."""
        positions: dict[int, str] = {}
        for part in pointer.split(";") if pointer else ():
            partition, sep, entry_id = part.partition("=")
            if not sep or not partition.isdigit() or not entry_id:
                raise ValueError(f"not a stream pointer: {pointer!r}")
            if int(partition) in self.partitions:
                positions[int(partition)] = entry_id
        return positions

    @staticmethod
    def format_pointer(positions: dict[int, str]) -> str:
        """The pointer of ``{partition: last id read}``."""
        return ";".join(f"{p}={entry_id}" for p, entry_id in sorted(positions.items()))

    def batches(
        self,
        process_from: str | None = None,
        killed_event: threading.Event | None = None,
        size: Callable[[], int] | None = None,
    ) -> Iterator[tuple[list[Record], int, str]]:
        """``(records, malformed entries skipped among them, pointer after
        them)`` of what the owned partitions hold after ``process_from``,
        until they are drained (or ``killed_event`` is set)."""
        killed = killed_event if killed_event is not None else threading.Event()
        positions = self.parse_pointer(process_from)
        active = list(self.partitions)
        while active and not killed.is_set():
            for partition in list(active):
                count = DEFAULT_COUNT if size is None else max(1, size())
                entries = read_partition(
                    self.client, self.stream, partition, positions.get(partition, START), count
                )
                if len(entries) < count:
                    active.remove(partition)  # drained for now
                if not entries:
                    continue
                positions[partition] = entries[-1][0]
                lines = [record for _, records in entries for record in records]
                records = [record for record in lines if record is not None]
                yield records, len(lines) - len(records), self.format_pointer(positions)
                if killed.is_set():
                    return


class PointerStore(Store, Protocol):
    """A store that also keeps named pointers (``Batch.pointers``)."""

    def load_pointers(self, names: Sequence[str]) -> dict[str, str]:
        """The stored pointers among ``names``."""
        ...


class StreamStore:
    """``store`` as a worker reading ``reader`` sees it: the worker's
    pointer is committed as one named pointer per owned partition, in the
    batch's own transaction, and never as the file log's pointer."""

    def __init__(self, store: PointerStore, reader: StreamReader) -> None:
        self.store = store
        self.reader = reader

    def load_pointer(self) -> str | None:
        """The owned partitions' committed positions as one pointer (``None``: none yet)."""
        names = {self.reader.pointer_name(p): p for p in self.reader.partitions}
        stored = self.store.load_pointers(list(names))
        positions = {names[name]: entry_id for name, entry_id in stored.items()}
        return self.reader.format_pointer(positions) if positions else None

    def load_visitors(self, visitor_ids: Sequence[str]) -> dict[str, str]:
        """The stored states of those of ``visitor_ids`` the store has."""
        return self.store.load_visitors(visitor_ids)

    def commit(self, batch: Batch) -> None:
        """Commit ``batch`` with its pointer split into per-partition pointers,
        then (with the reader's ``trim``) trim what the commit made safe."""
        positions: dict[int, str] = {}
        if batch.pointer is not None:
            positions = self.reader.parse_pointer(batch.pointer)
            batch.pointers.update(
                {self.reader.pointer_name(p): entry_id for p, entry_id in positions.items()}
            )
            batch.pointer = None
        self.store.commit(batch)
        if self.reader.trim:
            self._trim(positions)

    def _trim(self, positions: dict[int, str]) -> None:
        reader = self.reader
        try:
            for partition, entry_id in positions.items():
                # The committed entry itself stays: XTRIM MINID keeps ids >= it.
                trim_partition(reader.client, reader.stream, partition, entry_id)
        except redis.RedisError as exc:
            # Only memory is at stake: the next commit trims again.
            logger.warning("could not trim stream %s (%s)", reader.stream, exc)


__all__ = ["PointerStore", "StreamReader", "StreamStore"]
