"""Fisher's exact test against SciPy and exact rational sums."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from manhattan.analysis.fisher import fisher_exact
from tests.analysis.closeness import assert_all_close, log_uniform

# -- Fisher's exact test ----------------------------------------------------------


def exact_fisher(a: int, b: int, c: int, d: int) -> float:
    """The definition in exact rationals: P of the tables no more probable than this one."""
    row1, row2, col1 = a + b, c + d, a + c
    total = math.comb(row1 + row2, col1)
    probability = {
        x: Fraction(math.comb(row1, x) * math.comb(row2, col1 - x), total)
        for x in range(max(0, col1 - row2), min(col1, row1) + 1)
    }
    observed = probability[a]
    return float(sum(p for p in probability.values() if p <= observed))


def arms(rng: random.Random, n1: int, n2: int, rate: float, spread: float) -> list[int]:
    """A table [[conversions, failures], ...] of two arms around a common rate."""

    def converted(n: int) -> int:
        sd = math.sqrt(n * rate * (1 - rate) + 1) * spread
        return min(n, max(0, round(rng.gauss(n * rate, sd))))

    a, c = converted(n1), converted(n2)
    return [a, n1 - a, c, n2 - c]


def fisher_tables(regime: str) -> list[list[int]]:
    rng = random.Random(f"fisher-{regime}")
    if regime == "small":
        return [[rng.randint(0, 30) for _ in range(4)] for _ in range(200)]
    if regime == "balanced":
        return [
            arms(rng, n, n, rng.random(), rng.choice([0.5, 2.0]))
            for n in (rng.randint(1, 500) for _ in range(100))
        ]
    if regime == "large":
        return [
            arms(rng, rng.randint(0, 10**5), rng.randint(0, 10**5), log_uniform(rng, 1e-4, 0.9), s)
            for s in (rng.choice([0.5, 2.0, 5.0]) for _ in range(100))
        ]
    if regime == "margin-50000":
        return [arms(rng, 50_000, 50_000, 0.5, rng.choice([0.5, 3.0])) for _ in range(10)] + [
            arms(rng, 100_000, 100_000, 0.25, 2.0) for _ in range(5)
        ]
    return [
        [0, 0, 0, 0],
        [0, 100, 0, 120],  # zero conversions
        [100, 0, 120, 0],  # all converted
        [0, 0, 3, 7],  # one arm empty
        [3, 7, 0, 0],
        [5, 0, 0, 5],
        [0, 5, 5, 0],
        [10, 130, 134, 6],  # both tails tie exactly
        [25, 25, 25, 25],
        [26, 24, 24, 26],
        [1, 1, 1, 1],
        [8, 2, 1, 5],
        [6, 2, 1, 4],
        [1000, 0, 0, 1000],
    ]


@pytest.mark.parametrize(
    "regime",
    [
        pytest.param("small", id="small"),
        pytest.param("balanced", id="balanced"),
        pytest.param("large", id="large"),
        pytest.param("margin-50000", id="margin-50000"),
        pytest.param("edges", id="edges"),
    ],
)
def test_fisher_matches_scipy(regime: str) -> None:
    assert_all_close(
        (table, fisher_exact(*table), float(stats.fisher_exact([table[:2], table[2:]]).pvalue))
        for table in fisher_tables(regime)
    )


def test_fisher_matches_exact_rationals_on_small_tables() -> None:
    rng = random.Random("fisher-exact-small")
    tables = [[rng.randint(0, 40) for _ in range(4)] for _ in range(100)]
    tables = [t for t in tables if t[0] + t[1] and t[2] + t[3] and t[0] + t[2] and t[1] + t[3]]
    assert_all_close((t, fisher_exact(*t), exact_fisher(*t)) for t in tables)


def huge_tables() -> list[list[int]]:
    rng = random.Random("fisher-huge")
    tables = []
    for _ in range(40):
        n1, n2 = rng.randint(10**7, 10**8), rng.randint(10**7, 10**8)
        tables.append(arms(rng, n1, n2, log_uniform(rng, 1e-8, 3e-7), rng.choice([1.0, 4.0])))
    return [
        *tables,
        [0, 10**8, 2, 10**8],
        [3, 10**8, 0, 10**8 - 7],
        [2, 10**8, 2, 10**8],  # rows tie exactly
        [1, 10**8, 0, 1],  # one tiny arm
    ]


def test_fisher_huge_counts_match_exact_rationals() -> None:
    # SciPy's hypergeometric loses digits above ~1e5 (relative 3e-8 here),
    # so exact arithmetic is the reference; columns stay small enough for it.
    assert_all_close(((t, fisher_exact(*t), exact_fisher(*t)) for t in huge_tables()), rel=1e-12)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        # By hand: the tables no more probable than the observed one.
        pytest.param([8, 2, 1, 5], (120 + 270 + 10) / 11440, id="scipy-example-1"),
        pytest.param([6, 2, 1, 4], (28 + 140 + 8) / 1716, id="scipy-example-2"),
        pytest.param([3, 3, 3, 3], 1.0, id="observed-is-mode"),
        pytest.param([0, 0, 5, 5], 1.0, id="empty-row"),
        pytest.param([5, 0, 5, 0], 1.0, id="empty-column"),
        pytest.param([1, 0, 0, 1], 1.0, id="tiny-tie"),  # both tables have P = 1/2
        pytest.param([2, 0, 0, 2], 2 / 6, id="both-tails"),
    ],
)
def test_fisher_hand_computed(table: list[int], expected: float) -> None:
    assert fisher_exact(*table) == pytest.approx(expected, rel=1e-14)


def test_fisher_is_symmetric_under_swaps() -> None:
    rng = random.Random("fisher-swaps")
    for _ in range(50):
        a, b, c, d = (rng.randint(0, 60) for _ in range(4))
        p = fisher_exact(a, b, c, d)
        assert fisher_exact(c, d, a, b) == pytest.approx(p, rel=1e-12)  # rows
        assert fisher_exact(b, a, d, c) == pytest.approx(p, rel=1e-12)  # columns
        assert fisher_exact(a, c, b, d) == pytest.approx(p, rel=1e-12)  # transpose


@pytest.mark.parametrize(
    ("call", "name"),
    [
        pytest.param(lambda: fisher_exact(-1, 2, 3, 4), "a", id="fisher-negative"),
        pytest.param(lambda: fisher_exact(1, 2.5, 3, 4), "b", id="fisher-float"),  # type: ignore[arg-type]
        pytest.param(lambda: fisher_exact(1, 2, "3", 4), "c", id="fisher-text"),  # type: ignore[arg-type]
        pytest.param(lambda: fisher_exact(1, 2, 3, None), "d", id="fisher-none"),  # type: ignore[arg-type]
    ],
)
def test_bad_counts_name_the_argument(call: Callable[[], float], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()


def test_numpy_integers_are_counts() -> None:
    assert fisher_exact(np.int64(8), np.int64(2), np.int64(1), np.int64(5)) == pytest.approx(
        400 / 11440, rel=1e-14
    )
