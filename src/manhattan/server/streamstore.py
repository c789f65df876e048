"""A store as a worker reading a Redis stream's partitions sees it.

The worker commits one pointer with its counts. A
:class:`~manhattan.log.streamreader.StreamReader`'s pointer names a
position in each owned partition; the store keeps one named pointer per
partition (``Batch.pointers``), so that workers sharing one database never
overwrite each other's positions. :class:`StreamStore` translates between
the two around the store, in the batch's own transaction, and then trims
the stream entries the commit made safe. It lives beside the worker, not
with the log: a log knows nothing of stores.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

import redis

from manhattan.backend.model import Batch, EndedReader, Store
from manhattan.log.redisstream import trim_partition
from manhattan.log.streamreader import StreamReader

logger = logging.getLogger(__name__)


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

    def load_ended(self) -> dict[str, float]:
        """When each ended test ended, if the store tells (else none)."""
        store: object = self.store
        return store.load_ended() if isinstance(store, EndedReader) else {}

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


__all__ = ["PointerStore", "StreamStore"]
