"""Helpers the benchmark scripts share (imported as ``common``: the scripts
run as ``python bench/<name>.py``, which puts this folder on the path)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping, Sequence

from manhattan.backend.model import Batch, CounterKey, GoalInfo, TestInfo
from manhattan.backend.persistence import SQLStore


def median_ms(call: Callable[[], object], calls: int) -> float:
    """The median of ``calls`` timings of ``call()``, in milliseconds."""
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return statistics.median(times) * 1e3


def commit_test(
    store: SQLStore,
    counts: dict[CounterKey, list[float]],
    goals: Sequence[str],
    populations: Sequence[str],
) -> None:
    """Commit ``counts`` of the test "Test" with equal weights; every other
    goal has a SUM value type, all are currency."""
    store.commit(
        Batch(
            counts=counts,
            goals={
                goal: GoalInfo("S" if i % 2 else "", "C", 1.0, 2.0) for i, goal in enumerate(goals)
            },
            tests={"Test": TestInfo(1.0, 2.0, weights=dict.fromkeys(populations, 1.0))},
        )
    )


def print_figures(title: str, figures: Mapping[str, float], width: int = 12) -> None:
    """``title``, then one aligned line per figure."""
    names = max(map(len, figures))
    print(title)
    for name, value in figures.items():
        print(f"  {name:<{names}}  {value:>{width},.2f}")
