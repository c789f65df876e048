"""The buckets of the rollups that depend on time, reused while they hold.

Consecutive events mostly fall in the same day, week and month. When every
timed rollup can say the period its bucket holds for (each is a
:class:`~manhattan.backend.model.PeriodicRollup`, as the built-in ones
are), the buckets are handed out as one tuple for every time in all of
those periods: the aggregator compares tuples by identity to skip work.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from manhattan.backend.model import PeriodicRollup, Rollup, Visit


class TimedBuckets:
    """:meth:`buckets` of those of ``rollups`` that are not ``per_visitor``,
    in their order (:attr:`indexes` says where they are among ``rollups``)."""

    def __init__(self, rollups: Sequence[Rollup]) -> None:
        self.rollups = list(rollups)
        self.indexes = [i for i, rollup in enumerate(self.rollups) if not rollup.per_visitor]
        timed = [self.rollups[i] for i in self.indexes]
        # callable(): a user's rollup may hold some other "period" attribute.
        periodic = [
            rollup
            for rollup in timed
            if isinstance(rollup, PeriodicRollup) and callable(rollup.period)
        ]
        # All or nothing: one rollup without periods leaves nothing to reuse.
        self._periodic = periodic if len(periodic) == len(timed) else None
        # (start, end, buckets): the buckets hold for every time in [start, end).
        self._held: tuple[float, float, tuple[str, ...]] = (0.0, 0.0, ())

    def buckets(self, timestamp: float, visit: Visit) -> tuple[str, ...]:
        """The timed buckets of an event at ``timestamp`` by a visitor whose
        first page was ``visit``; whatever a rollup raises reaches the caller
        and changes nothing."""
        start, end, cached = self._held
        if start <= timestamp < end:
            return cached
        periodic = self._periodic
        if periodic is None:
            rollups = self.rollups
            return tuple(rollups[i].bucket(timestamp, visit) for i in self.indexes)
        start, end = -math.inf, math.inf
        buckets = []
        for rollup in periodic:
            low, high, bucket = rollup.period(timestamp)
            start, end = max(start, low), min(end, high)
            buckets.append(bucket)
        found = tuple(buckets)
        self._held = (start, end, cached if found == cached else found)
        return self._held[2]
