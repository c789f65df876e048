"""The worker loop: tail a log, count, and commit to a store.

A thin shell around :class:`~manhattan.backend.aggregate.Aggregator`: it
reads records in chunks, prefetches the chunk's stored visitor states in one
query, counts, and commits counter deltas, visitor states and the log
pointer in one transaction every ``flush_every`` events or
``flush_seconds``. After a crash the store holds exactly the state as of
its last commit and the pointer to resume from, so nothing is lost or
counted twice.

Lines the reader skips (its :class:`~manhattan.log.CountsMalformed` count,
or a :class:`~manhattan.log.BatchReader`'s skipped entries) are committed under
:data:`MALFORMED_LINE` with the pointer of the first record after them, so
they too count once across restarts; skipped lines at the very end of the
log count when a record follows them.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from manhattan.backend.aggregate import Aggregator
from manhattan.backend.guard import guard
from manhattan.backend.model import Batch, EndedReader, Store
from manhattan.backend.persistence.engine import (
    CommitRefusedError,
    StoreError,
    TransientStoreError,
)
from manhattan.backend.persistence.lease import LeaseLostError
from manhattan.log import BatchReader, CountsMalformed, LogReader, Pointer
from manhattan.records.layout import VISITOR_FIELD, Record
from manhattan.records.vocabulary import MALFORMED_LINE as MALFORMED_LINE

logger = logging.getLogger("manhattan.server")

CHUNK = 2000
REPORT_SECONDS = 10.0
"""Seconds between log lines about skipped records (the rest are counted)."""


@dataclass
class Progress:
    """What the worker has done so far (read by the status line)."""

    events: int = 0
    commits: int = 0
    pointer: Pointer | None = None


class Worker:
    """Counts ``reader``'s records into ``store`` through ``aggregator``.

    ``retry`` is how long to wait before trying a failed commit again (it
    doubles up to ``max_retry``): a database that is down delays counting,
    it does not lose anything. Only a :class:`TransientStoreError` is tried
    again; any other :class:`StoreError` of a commit ends :meth:`run` with a
    :class:`CommitRefusedError` (the same batch would fail forever).
    Records the aggregator cannot count and entries no store can hold
    (see :func:`~manhattan.backend.guard.guard`) are skipped and counted
    in the filtered table, and logged at most every :data:`REPORT_SECONDS`.
    Errors of the types in ``retry_on`` while reading the log or looking up
    visitors are retried the same way, reading again from the last chunk
    counted; any other error ends :meth:`run`. ``progress`` is where it
    keeps count (pass an earlier worker's to carry on from it).
    """

    def __init__(
        self,
        reader: LogReader | BatchReader,
        store: Store,
        aggregator: Aggregator,
        *,
        flush_every: int = 20_000,
        flush_seconds: float = 1.0,
        poll_seconds: float = 0.2,
        retry: float = 0.5,
        max_retry: float = 30.0,
        retry_on: tuple[type[Exception], ...] = (),
        clock: Callable[[], float] = time.monotonic,
        progress: Progress | None = None,
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
        self.retry_on = retry_on
        self.clock = clock
        self.progress = Progress() if progress is None else progress
        self._pending = 0  # events counted since the last commit
        self._malformed = 0  # skipped lines behind the pointer, not committed yet
        self._last_flush = clock()
        self._unreported = 0  # records skipped since the last line logged about them
        self._next_report = -math.inf
        self._ended_adopted = False  # the store's ended tests told the aggregator

    def run(self, stop: threading.Event, once: bool = False) -> None:
        """Count until ``stop`` is set (or, with ``once``, until the log's end)."""
        # No loader for the aggregator: _count adopts the stored state of
        # every visitor of a chunk before counting it.
        self.progress.pointer = self.store.load_pointer()
        wait = self.retry
        while not stop.is_set():
            try:
                if not self._ended_adopted:
                    # Retried like the reads below: the tests that have
                    # ended must be known before anything is counted.
                    self._adopt_ended()
                for records, skipped, pointer in self._chunks(stop):
                    self._count(records, skipped, pointer)
                    if self._pending >= self.flush_every or self._due():
                        self.flush(stop)
            except CommitRefusedError:
                raise  # the database refuses the batch: reading again cannot help
            except self.retry_on as exc:
                if stop.is_set():
                    # Maybe a commit given up on while stopping: its batch is
                    # drained, so nothing may be committed after it.
                    raise
                # Every chunk up to progress.pointer is counted and none
                # after it: reading again from there loses and repeats nothing.
                logger.error("reading failed (%s); trying again in %.1f s", exc, wait)
                stop.wait(wait)
                wait = min(wait * 2, self.max_retry)
                continue
            wait = self.retry
            if once:
                break
            # Following the log, commit when flush_seconds have passed, not
            # after every poll that found a few more events.
            stop.wait(self.poll_seconds)
            if self._due():
                self.flush(stop)
        self.flush(stop)

    def _due(self) -> bool:
        return bool(self._pending) and self.clock() - self._last_flush >= self.flush_seconds

    def _chunks(self, stop: threading.Event) -> Iterator[tuple[list[Record], int, Pointer]]:
        """``(records, lines skipped among them, pointer after them)``, from
        where the last chunk ended, in chunks that end where ``flush_every``
        is reached. Skipped lines are counted with a pointer past them, so
        each is committed once however often the log is read."""
        if isinstance(self.reader, BatchReader):
            # A reader that hands over whole blocks saves per-record work.
            yield from self.reader.batches(self.progress.pointer, stop, self._room)
            return
        reader = self.reader
        # Lines skipped after the last record of a pass stay ahead of the
        # pointer: the next pass reads them again, so each pass starts afresh.
        counts = reader if isinstance(reader, CountsMalformed) else None
        base = seen = counts.malformed if counts is not None else 0
        chunk: list[Record] = []
        pointer = None
        for record, pointer in reader.process(self.progress.pointer, False, stop):
            chunk.append(record)
            if counts is not None:
                seen = counts.malformed
            if len(chunk) >= self._room():
                yield chunk, seen - base, pointer
                chunk, base = [], seen
        if pointer is not None and chunk:
            yield chunk, seen - base, pointer

    def _room(self) -> int:
        """How many more lines to read before a commit is due."""
        return max(1, min(CHUNK, self.flush_every - self._pending))

    def _count(self, records: list[Record], skipped: int, pointer: Pointer) -> None:
        aggregator = self.aggregator
        unknown = aggregator.unknown(
            record[VISITOR_FIELD] for record in records if len(record) > VISITOR_FIELD
        )
        if unknown:
            aggregator.adopt(self.store.load_visitors(unknown), unknown)
        add = aggregator.add
        for record in records:
            add(record)
        uncountable, problem = aggregator.take_problems()
        if uncountable:
            start = self.progress.pointer or "its start"
            where = f"in the log between {start} and {pointer}"
            self._report(uncountable, f"uncountable record {where}: {problem}")
        self.progress.pointer = pointer
        self.progress.events += len(records)
        self._pending += len(records) + skipped
        self._malformed += skipped

    def flush(self, stop: threading.Event | None = None) -> None:
        """Commit what was counted, with the pointer; retry while the store fails."""
        malformed = self._malformed
        batch = self.aggregator.drain(self.progress.pointer)
        if malformed:
            batch.filtered[MALFORMED_LINE] = batch.filtered.get(MALFORMED_LINE, 0) + malformed
        # An end marker changes no visitor: its batch may hold only plans.
        if not batch.counts and not batch.visitors and not batch.filtered and not batch.plans:
            self._last_flush = self.clock()
            return
        batch, dropped, problem = guard(batch)
        if dropped:
            self._report(dropped, f"unstorable entry before {batch.pointer}: {problem}")
        self._commit(batch, stop)
        self._malformed = 0
        self._pending = 0
        self._last_flush = self.clock()
        self.progress.commits += 1
        self.aggregator.evict()
        self._adopt_ended(after_commit=True)

    def _adopt_ended(self, after_commit: bool = False) -> None:
        """Tell the aggregator which tests have ended as the store has it,
        with the end markers other workers counted into the same database
        (and the page paths it holds: ``Aggregator.refresh_pages``).
        After a commit a failed read only waits for the next commit: this
        worker knows the ends it counted itself."""
        store = self.store
        try:
            # The paths of the cap of pages per site per day, likewise.
            self.aggregator.refresh_pages()
            if not isinstance(store, EndedReader):
                self._ended_adopted = True
                return
            ended = store.load_ended()
        except StoreError as exc:
            if not after_commit:
                raise
            logger.error(
                "reading which tests have ended failed (%s); again after the next commit", exc
            )
            return
        self.aggregator.adopt_ended(ended)
        self._ended_adopted = True

    def _report(self, number: int, problem: str) -> None:
        """Log ``problem`` (``number`` records or entries skipped), at most
        once every :data:`REPORT_SECONDS`; the next line tells how many
        were skipped without a line of their own."""
        self._unreported += number
        now = self.clock()
        if now < self._next_report:
            return
        logger.error(
            "skipped %s; %d skipped in all since the last such message",
            problem,
            self._unreported,
        )
        self._unreported = 0
        self._next_report = now + REPORT_SECONDS

    def _commit(self, batch: Batch, stop: threading.Event | None) -> None:
        wait = self.retry
        while True:
            try:
                self.store.commit(batch)
                return
            except LeaseLostError:
                raise  # another server counts this now: trying again cannot help
            except CommitRefusedError:
                raise
            except TransientStoreError as exc:
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
            except StoreError as exc:
                # A store that does not tell transient failures apart: the
                # same batch would fail the same way forever.
                raise CommitRefusedError(str(exc)) from exc
