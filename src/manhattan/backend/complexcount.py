"""Counting complex goals: one visitor's progress on one complex goal, and
the counter changes it makes. Pure functions over the aggregator's plain
values (see :mod:`manhattan.backend.complexgoals` for the rules).

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from collections.abc import Sequence

from manhattan.backend.complexgoals import ComplexGoal
from manhattan.backend.model import ALL_SITES, NO_TEST
from manhattan.backend.state import Buckets, ComplexMark, Stage, VisitorState

Counts = dict[tuple[str, str, int, str, str, str], list[float]]
"""The aggregator's counter deltas by (rollup, bucket, site, goal, test, population)."""


def step(
    state: VisitorState,
    complex_goal: ComplexGoal,
    goal: str,
    site: int,
    buckets: Buckets,
    counts: Counts,
    rollups: Sequence[str],
) -> bool:
    """Move the visitor's mark on ``complex_goal`` for reaching ``goal`` at
    ``site`` in ``buckets``, changing ``counts`` (keyed by the ``rollups``'
    names); whether the complex goal was reached just now."""
    mark = state.complex.get(complex_goal.name)
    if mark is None:
        mark = state.complex[complex_goal.name] = ComplexMark()
    if mark.flag is Stage.EXCLUDED:
        return False
    if goal in complex_goal.exclude:
        if mark.flag is Stage.COUNTED:
            _count(complex_goal.name, mark, -1, counts, rollups)
        mark.flag, mark.reached = Stage.EXCLUDED, []
        mark.buckets, mark.sites, mark.variants = [], [], []
        return False
    if mark.flag is Stage.PENDING and goal not in mark.reached:
        mark.reached.append(goal)
        if len(mark.reached) == len(complex_goal.include):
            mark.flag, mark.reached = Stage.COUNTED, []
            mark.buckets = list(buckets)
            mark.sites = [site, ALL_SITES]
            mark.variants = [[NO_TEST, NO_TEST], *map(list, state.tests.items())]
            _count(complex_goal.name, mark, 1, counts, rollups)
            return True
    return False


def _count(
    name: str, mark: ComplexMark, change: int, counts: Counts, rollups: Sequence[str]
) -> None:
    for site in mark.sites:
        for test, population in mark.variants:
            for rollup, bucket in zip(rollups, mark.buckets, strict=True):
                key = (rollup, bucket, site, name, test, population)
                counter = counts.get(key)
                if counter is None:
                    counter = counts[key] = [0, 0.0, 0.0]
                counter[0] += change
