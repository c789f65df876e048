"""The buckets of the rollups that depend on time, reused while they hold.

Consecutive events mostly fall in the same day, week and month. When every
timed rollup can say the period its bucket holds for (a
``period(timestamp) -> (start, end, bucket)`` method, as the built-in ones
have), the buckets are handed out as one tuple for every time in all of
those periods: the aggregator compares tuples by identity to skip work.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from manhattan.backend.model import Rollup, Visit


class TimedBuckets:
    """:meth:`buckets` of those of ``rollups`` that are not ``per_visitor``,
    in their order (:attr:`indexes` says where they are among ``rollups``)."""

    def __init__(self, rollups: Sequence[Rollup]) -> None:
        self.rollups = list(rollups)
        self.indexes = [i for i, rollup in enumerate(self.rollups) if not rollup.per_visitor]
        self._periodic = all(
            callable(getattr(self.rollups[i], "period", None)) for i in self.indexes
        )
        # (start, end, buckets): the buckets hold for every time in [start, end).
        self._held: tuple[float, float, tuple[str, ...]] = (0.0, 0.0, ())

    def buckets(self, timestamp: float, visit: Visit) -> tuple[str, ...]:
        """The timed buckets of an event at ``timestamp`` by a visitor whose
        first page was ``visit``; whatever a rollup raises reaches the caller
        and changes nothing."""
        start, end, cached = self._held
        if start <= timestamp < end:
            return cached
        rollups = self.rollups
        if not self._periodic:
            return tuple(rollups[i].bucket(timestamp, visit) for i in self.indexes)
        start, end = -math.inf, math.inf
        buckets = []
        for i in self.indexes:
            low, high, bucket = rollups[i].period(timestamp)  # type: ignore[attr-defined]
            start, end = max(start, low), min(end, high)
            buckets.append(bucket)
        found = tuple(buckets)
        self._held = (start, end, cached if found == cached else found)
        return self._held[2]
