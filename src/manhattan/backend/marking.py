"""How an event's conversion is marked: which sites, which buckets, which counters.

The bookkeeping half of :class:`~manhattan.backend.aggregate.Aggregator`
(which inherits :class:`Marking`): a visitor's marks say in which buckets
each (goal, test, site) last counted them, so that each counts a visitor
once per bucket; the counters are the deltas the batch commits.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import functools

from manhattan.backend.model import ALL_SITES
from manhattan.backend.state import MULTIPLE_SITES, Buckets, VisitorState

Counts = dict[tuple[str, str, int, str, str, str], list[float]]
"""(rollup, bucket, site, goal, test, population) -> [visitors, value sum, sum of squares]."""

Fresh = dict[tuple[Buckets, tuple[int, ...], str, str, str], int]
"""First marks without a value: (buckets, sites, goal, test, population) -> visitors."""

SitePlan = tuple[tuple[int, tuple[int, ...]], ...]
"""(mark site, the sites whose counters it feeds) for each mark an event updates."""


# Cached so that the hot path builds no tuples; bounded because site ids are many.
@functools.lru_cache(maxsize=1024)
def _one_site(site: int) -> SitePlan:
    """The plan of a visitor seen on ``site`` only: the all-sites marks stand for both."""
    return ((ALL_SITES, (site, ALL_SITES)),)


@functools.lru_cache(maxsize=1024)
def _many_sites(site: int) -> SitePlan:
    """The plan of a visitor seen on several sites: separate marks."""
    return ((site, (site,)), (ALL_SITES, (ALL_SITES,)))


class Marking:
    """Marks and counters of an aggregator (the attributes below are its)."""

    names: list[str]
    _timed: list[int]
    _counts: Counts
    _fresh: Fresh

    def _sites(self, state: VisitorState, site: int) -> SitePlan:
        """Which marks an event updates, and which sites' counters each feeds.

        Most visitors only ever see one site: then their all-sites marks
        stand for that site's too (they always agree), which halves the
        work. A second site splits them for good.
        """
        first = state.site
        if first == site:
            return _one_site(site)
        if first is None:
            state.site = site
            return self._sites(state, site)
        if first != MULTIPLE_SITES:
            # Until now the all-sites marks stood for the first site's too.
            for (goal, test, _), buckets in list(state.marks.items()):
                state.marks[(goal, test, first)] = buckets
            for (goal, test, _), totals in list(state.totals.items()):
                state.totals[(goal, test, first)] = totals.copy()
            state.site = MULTIPLE_SITES
        return _many_sites(site)

    def _buckets(self, state: VisitorState, timestamp: float, timed: tuple[str, ...]) -> Buckets:
        """Every rollup's bucket for an event whose timed buckets are ``timed``."""
        memo = state.memo
        last = memo.last
        if timed is memo.timed and last is not None:
            return last  # nothing changed since this visitor's last event
        const = memo.const
        assert const is not None  # set from the plan before anything counts
        for i, bucket in zip(self._timed, timed, strict=True):
            const[i] = bucket
        buckets: Buckets = tuple(const)  # type: ignore[arg-type]
        memo.timed = timed
        if buckets == last:
            return last  # the same tuple object: marks share it
        memo.last = buckets
        return buckets

    def _mark(
        self,
        state: VisitorState,
        goal: str,
        test: str,
        population: str,
        mark_site: int,
        counter_sites: tuple[int, ...],
        buckets: Buckets,
        value: float | None,
    ) -> None:
        key = (goal, test, mark_site)
        last = state.marks.get(key)
        state.marks[key] = buckets
        totals = state.totals.get(key)
        if totals is None and value is not None:
            totals = state.totals[key] = [0.0] * len(buckets)
        counts = self._counts
        names = self.names
        if totals is None:
            # No value (the usual case): each fresh bucket adds a visitor, the
            # others nothing. Every rollup costs this loop a turn per mark...
            if last is None:
                # ...so a first mark, where every bucket is fresh, is one
                # update here, and its rollups' turns are taken once per
                # distinct buckets when the batch is drained.
                fresh_key = (buckets, counter_sites, goal, test, population)
                self._fresh[fresh_key] = self._fresh.get(fresh_key, 0) + 1
                return
            for i, bucket in enumerate(buckets):
                if last is not None and last[i] == bucket:
                    continue
                name = names[i]
                for site in counter_sites:
                    counter_key = (name, bucket, site, goal, test, population)
                    counter = counts.get(counter_key)
                    if counter is None:
                        counts[counter_key] = [1, 0.0, 0.0]
                    else:
                        counter[0] += 1
            return
        for i, bucket in enumerate(buckets):
            fresh = last is None or last[i] != bucket
            if fresh:
                totals[i] = 0.0  # a new bucket: the visitor's total in it starts afresh
            elif value is None:
                continue
            if value is not None:
                before = totals[i]
                totals[i] = before + value
                square = value * (2 * before + value)
            for site in counter_sites:
                counter_key = (names[i], bucket, site, goal, test, population)
                counter = counts.get(counter_key)
                if counter is None:
                    counter = counts[counter_key] = [0, 0.0, 0.0]
                if fresh:
                    counter[0] += 1
                if value is not None:
                    counter[1] += value
                    counter[2] += square

    def _spill_fresh(self) -> None:
        """Add the first marks' visitors to every rollup's counter (at drain)."""
        counts, names = self._counts, self.names
        for (buckets, sites, goal, test, population), visitors in self._fresh.items():
            for name, bucket in zip(names, buckets, strict=True):
                for site in sites:
                    counter = counts.get((name, bucket, site, goal, test, population))
                    if counter is None:
                        counts[(name, bucket, site, goal, test, population)] = [visitors, 0.0, 0.0]
                    else:
                        counter[0] += visitors
        self._fresh = {}
