"""The worker loop: tail a log, count, and commit to a store.

A thin shell around :class:`~manhattan.backend.aggregate.Aggregator`: it
reads records in chunks, prefetches the chunk's stored visitor states in one
query, counts, and commits counter deltas, visitor states and the log
pointer in one transaction every ``flush_every`` events or
``flush_seconds``. After a crash the store holds exactly the state as of
its last commit and the pointer to resume from, so nothing is lost or
counted twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from manhattan.backend.aggregate import Aggregator
from manhattan.backend.model import Batch, Store
from manhattan.log import LogReader, Pointer, Record

logger = logging.getLogger("manhattan.server")

MALFORMED_LINE = "malformed line"
CHUNK = 2000


@dataclass
class Progress:
    """What the worker has done so far (read by the status line)."""

    events: int = 0
    commits: int = 0
    pointer: Pointer | None = None
    started: float = field(default_factory=time.monotonic)

    def rate(self, now: float | None = None) -> float:
        """Events per second since the start."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        return self.events / elapsed if elapsed > 0 else 0.0


class Worker:
    """Counts ``reader``'s records into ``store`` through ``aggregator``.

    ``retry`` is how long to wait before trying a failed commit again (it
    doubles up to ``max_retry``): a database that is down delays counting,
    it does not lose anything.
    """

    def __init__(
        self,
        reader: LogReader,
        store: Store,
        aggregator: Aggregator,
        *,
        flush_every: int = 20_000,
        flush_seconds: float = 1.0,
        poll_seconds: float = 0.2,
        retry: float = 0.5,
        max_retry: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if flush_every < 1:
            raise ValueError(f"flush_every must be at least 1, not {flush_every}")
        if flush_seconds <= 0:
            raise ValueError(f"flush_seconds must be positive, not {flush_seconds}")
        self.reader = reader
        self.store = store
        self.aggregator = aggregator
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self.poll_seconds = poll_seconds
        self.retry = retry
        self.max_retry = max_retry
        self.clock = clock
        self.progress = Progress(started=clock())
        self._malformed_seen = 0
        self._pending = 0
        self._last_flush = clock()

    def run(self, stop: threading.Event, once: bool = False) -> None:
        """Count until ``stop`` is set (or, with ``once``, until the log's end)."""
        self.aggregator.loader = self.store.load_visitors
        self.progress.pointer = self.store.load_pointer()
        while not stop.is_set():
            for chunk in self._chunks(stop):
                self._count(chunk)
                if self._pending >= self.flush_every or self._due():
                    self.flush(stop)
            if self._pending or self._malformed():
                self.flush(stop)
            if once:
                break
            stop.wait(self.poll_seconds)
            if self._due():
                self.flush(stop)
        self.flush(stop)

    def _due(self) -> bool:
        return self.clock() - self._last_flush >= self.flush_seconds and bool(
            self._pending or self._malformed()
        )

    def _malformed(self) -> int:
        return int(getattr(self.reader, "malformed", 0)) - self._malformed_seen

    def _chunks(self, stop: threading.Event) -> Iterator[list[tuple[Record, Pointer]]]:
        chunk: list[tuple[Record, Pointer]] = []
        for item in self.reader.process(self.progress.pointer, False, stop):
            chunk.append(item)
            if len(chunk) >= CHUNK:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _count(self, chunk: list[tuple[Record, Pointer]]) -> None:
        aggregator = self.aggregator
        unknown = aggregator.unknown(record[3] for record, _ in chunk if len(record) > 3)
        if unknown:
            aggregator.adopt(self.store.load_visitors(unknown))
        add = aggregator.add
        for record, _ in chunk:
            add(record)
        self.progress.pointer = chunk[-1][1]
        self.progress.events += len(chunk)
        self._pending += len(chunk)

    def flush(self, stop: threading.Event | None = None) -> None:
        """Commit what was counted, with the pointer; retry while the store fails."""
        malformed = self._malformed()
        batch = self.aggregator.drain(self.progress.pointer)
        if malformed:
            batch.filtered[MALFORMED_LINE] = batch.filtered.get(MALFORMED_LINE, 0) + malformed
        if not batch.counts and not batch.visitors and not batch.filtered:
            self._last_flush = self.clock()
            return
        self._commit(batch, stop)
        self._malformed_seen += malformed
        self._pending = 0
        self._last_flush = self.clock()
        self.progress.commits += 1
        self.aggregator.evict()

    def _commit(self, batch: Batch, stop: threading.Event | None) -> None:
        wait = self.retry
        while True:
            try:
                self.store.commit(batch)
                return
            except Exception as exc:
                # Nothing is lost by giving up: the store still holds the last
                # commit and its pointer, and the log still holds the rest.
                if stop is not None and stop.is_set():
                    raise
                logger.error("commit failed (%s); trying again in %.1f s", exc, wait)
                if stop is not None:
                    stop.wait(wait)
                else:
                    time.sleep(wait)
                wait = min(wait * 2, self.max_retry)
