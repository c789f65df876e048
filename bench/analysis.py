"""Analysis benchmark: ``analyze`` round trip for 4 populations and 10 goals.

Run: ``make bench-analysis`` (or ``.venv/bin/python bench/analysis.py
[--calls N] [--runs N]``). A store (SQLite file) holds one test with four
populations and ten goals (five with values); a query service answers
``analyze`` over loopback, timed through ``manhattan.client.Client``, with
``count`` timed in the same runs as the baseline. Repeat queries on the same
counts hit the analysis's caches; the in-process figure with every cache
cleared before each call is what fresh counts cost.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from pathlib import Path

from common import commit_test, median_ms
from manhattan.analysis._numeric import clear_caches
from manhattan.analysis.report import analyze
from manhattan.backend.model import ALL_SITES, CounterKey
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client
from manhattan.server.service import QueryService

POPULATIONS = ["control", "blue", "green", "red"]
GOALS = [f"goal {i}" for i in range(10)]


def fill(store: SQLStore) -> None:
    rng = random.Random(1)
    counts: dict[CounterKey, list[float]] = {}
    for population in POPULATIONS:
        visitors = rng.randint(40_000, 42_000)
        counts[CounterKey("all", "0", ALL_SITES, "", "Test", population)] = [visitors, 0.0, 0.0]
        for i, goal in enumerate(GOALS):
            converted = int(visitors * rng.uniform(0.01, 0.3))
            total = converted * rng.uniform(5, 50) if i % 2 else 0.0
            squares = total * total / max(converted, 1) * 1.5
            counts[CounterKey("all", "0", ALL_SITES, goal, "Test", population)] = [
                converted, total, squares,
            ]  # fmt: skip
    commit_test(store, counts, GOALS, POPULATIONS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="round trips per run")
    parser.add_argument("--runs", type=int, default=5, help="runs (median of their medians)")
    args = parser.parse_args()
    counts, analyses, colds = [], [], []
    with (
        tempfile.TemporaryDirectory() as tmp,
        SQLStore(f"sqlite:///{Path(tmp) / 'a.db'}") as store,
    ):
        fill(store)
        stats = store.test_stats("Test")

        def cold() -> object:
            # Figures are cached by counts; fresh counts miss every cache.
            clear_caches()
            return analyze(stats, GOALS)

        with (
            QueryService(store, "tcp://127.0.0.1:0") as service,
            Client(service.address) as client,
        ):
            assert len(client.analyze("Test", GOALS)["goals"]) == len(GOALS)
            for _ in range(args.runs):
                counts.append(
                    median_ms(lambda: client.count("goal 1", ("Test", "blue")), args.calls)
                )
                analyses.append(median_ms(lambda: client.analyze("Test", GOALS), args.calls))
                colds.append(median_ms(cold, args.calls))
    count_ms, analyze_ms = statistics.median(counts), statistics.median(analyses)
    print(f"analysis benchmark: median of {args.runs} runs of {args.calls} round trips")
    print(f"  count round trip p50, ms                  {count_ms:8.3f}")
    print(f"  analyze (4 populations, 10 goals) p50, ms {analyze_ms:8.3f}")
    print(f"  analyze, x count                          {analyze_ms / count_ms:8.1f}")
    print(f"  in-process analysis, cache cold, ms       {statistics.median(colds):8.3f}")


if __name__ == "__main__":
    main()
