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
:class:`~manhattan.server.streamstore.StreamStore`, beside the worker, does
that translation around a store, so the worker's single pointer and its
counts still commit in one transaction (a log knows nothing of stores).

The owned partitions may change while the reader runs, between batches:
:meth:`StreamReader.take` adds a partition at its committed position, and
:meth:`StreamReader.revoke` makes the next batch boundary raise
:class:`PartitionsRevokedError`, for the worker to forget what it counted and
has not committed, :meth:`StreamReader.drop` them, and read on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

import redis

from manhattan.exceptions import PartitionsRevokedError as PartitionsRevokedError
from manhattan.log import Record
from manhattan.log.redisstream import read_partition

START = "0-0"
"""The id before every entry: where an unread partition starts."""

DEFAULT_COUNT = 1000
"""Entries per read when the caller gives no ``size``."""


class StreamReader:
    """Reads partitions ``partitions`` of stream ``stream`` through ``client``.

    Each partition is read in entry order; partitions take turns, a read of
    up to ``size()`` entries each, until all are drained. A visitor's events
    are all in one partition, so this keeps each visitor's order.

    With ``trim`` (the default), the worker's store
    (:class:`~manhattan.server.streamstore.StreamStore`) deletes what a
    commit has made safe: the entries below each partition's committed
    position. That bounds the stream's memory when this worker is the
    partitions' only consumer; pass ``trim=False`` when other consumers
    read them too.
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
        if owned and owned[0] < 0:
            raise ValueError(f"partitions are numbered from 0, not {owned[0]}")
        self.client = client
        self.stream = stream
        self.partitions = owned
        """The partitions owned (none: a stand-by reader, until :meth:`take`)."""
        self.trim = trim
        self._lock = threading.Lock()
        self._taken: dict[int, str | None] = {}
        self._revoked: set[int] = set()

    def take(self, partition: int, position: str | None) -> None:
        """Own ``partition`` from the next batch on, reading it after
        ``position`` (its committed position; ``None``: from the start);
        nothing changes if it is owned already. Safe to call from another
        thread."""
        if partition < 0:
            raise ValueError(f"partitions are numbered from 0, not {partition}")
        with self._lock:
            self._taken[partition] = position
            self._revoked.discard(partition)

    def revoke(self, partitions: Iterable[int]) -> None:
        """Make the next batch boundary raise :class:`PartitionsRevokedError` for
        those of ``partitions`` owned. Safe to call from another thread."""
        with self._lock:
            self._revoked.update(partitions)

    def drop(self, partitions: Iterable[int]) -> None:
        """Stop owning ``partitions`` at once (between passes of :meth:`batches`)."""
        gone = set(partitions)
        with self._lock:
            self._revoked -= gone
            for partition in gone:
                self._taken.pop(partition, None)
            self.partitions = [p for p in self.partitions if p not in gone]

    def _changes(self, positions: dict[int, str], active: list[int]) -> None:
        """Apply what :meth:`take` and :meth:`revoke` asked for since the last batch."""
        with self._lock:
            revoked = self._revoked & set(self.partitions)
            if revoked:
                raise PartitionsRevokedError(revoked)
            # One owned already keeps its place: it never moves back.
            taken = {p: at for p, at in self._taken.items() if p not in self.partitions}
            self._taken = {}
            if taken:
                self.partitions = sorted({*self.partitions, *taken})
        for partition, position in taken.items():
            if position is not None:
                positions[partition] = position
            active.append(partition)

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
        self._changes(positions, active)
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
                self._changes(positions, active)


__all__ = ["PartitionsRevokedError", "StreamReader"]
