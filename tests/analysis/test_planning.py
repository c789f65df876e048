"""The planned size against statsmodels' power functions, and progress."""

from __future__ import annotations

import math
import random

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from manhattan.analysis.planning import (
    comparison_alpha,
    days_remaining,
    effect_size,
    progress,
    required_visitors_per_population,
    visitors_for_power,
)
from tests.analysis.closeness import log_uniform


def cases() -> list[tuple[float, float, float, float, int]]:
    """(base rate, minimum effect, alpha, power, populations), typical and odd."""
    rng = random.Random(13)
    table = [(0.1, 0.05, 0.05, 0.8, 2), (0.02, 0.1, 0.05, 0.9, 3), (0.5, 0.5, 0.01, 0.5, 2)]
    for _ in range(60):
        base = log_uniform(rng, 1e-4, 0.9)
        effect = log_uniform(rng, 1e-3, min(2.0, 1 / base - 1))
        table.append(
            (base, effect, rng.uniform(0.001, 0.3), rng.uniform(0.3, 0.99), rng.randint(2, 6))
        )
    return table


CASES = cases()


@pytest.mark.parametrize(("base", "effect", "alpha", "power", "populations"), CASES)
def test_the_planned_size_has_the_declared_power(
    base: float, effect: float, alpha: float, power: float, populations: int
) -> None:
    n = visitors_for_power(base, effect, alpha, power, populations)
    h = float(proportion_effectsize(base * (1 + effect), base))
    assert effect_size(base, base * (1 + effect)) == pytest.approx(h, rel=1e-12)
    split = alpha / (populations - 1)  # Bonferroni over the comparisons with control
    achieved = float(NormalIndPower().power(h, nobs1=n, alpha=split, ratio=1.0))
    assert achieved == pytest.approx(power, abs=1e-12)
    solved = float(NormalIndPower().solve_power(effect_size=h, alpha=split, power=power))
    assert n == pytest.approx(solved, rel=1e-6)  # its root finder stops sooner
    required = required_visitors_per_population(base, effect, alpha, power, populations)
    assert required == math.ceil(n)


def test_a_typical_plan() -> None:
    # 10% converting, +5% relative (10% -> 10.5%): about 58 thousand each.
    assert required_visitors_per_population(0.1, 0.05) == 57_756
    # A third population halves each comparison's alpha.
    assert required_visitors_per_population(0.1, 0.05, populations=3) == math.ceil(
        visitors_for_power(0.1, 0.05, alpha=0.025)
    )


def test_a_power_below_alpha_needs_no_visitors() -> None:
    # With no visitors the test already rejects alpha' of the time.
    assert visitors_for_power(0.1, 0.05, alpha=0.2, power=0.05) == 0.0
    assert required_visitors_per_population(0.1, 0.05, alpha=0.2, power=0.05) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param((0.0, 0.05, 0.05, 0.8, 2), "base_rate must be between 0 and 1", id="rate-0"),
        pytest.param((1.0, 0.05, 0.05, 0.8, 2), "base_rate must be between 0 and 1", id="rate-1"),
        pytest.param((math.nan, 0.05, 0.05, 0.8, 2), "base_rate", id="rate-nan"),
        pytest.param((0.1, 0.0, 0.05, 0.8, 2), "minimum_effect must be above 0", id="effect-0"),
        pytest.param((0.1, math.inf, 0.05, 0.8, 2), "minimum_effect", id="effect-inf"),
        pytest.param((0.6, 1.0, 0.05, 0.8, 2), "above 100%", id="rate-above-1"),
        pytest.param((0.1, 0.05, 0.5, 0.8, 2), "alpha must be between 0 and 0.5", id="alpha"),
        pytest.param((0.1, 0.05, 0.05, 1.0, 2), "power must be between 0 and 1", id="power"),
        pytest.param((0.1, 0.05, 0.05, 0.8, 1), "populations must be an integer", id="one"),
        pytest.param((0.1, 0.05, 0.05, 0.8, 2.0), "populations must be an integer", id="float"),
        pytest.param((0.1, 0.05, 0.05, 0.8, True), "populations must be an integer", id="bool"),
    ],
)
def test_bad_arguments_are_named(args: tuple[float, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        required_visitors_per_population(*args)  # type: ignore[arg-type]


def test_the_rate_may_reach_100_percent() -> None:
    assert required_visitors_per_population(0.5, 1.0) >= 1
    assert comparison_alpha(0.05, 5) == 0.0125


@pytest.mark.parametrize(
    ("visitors", "required", "elapsed", "share", "days"),
    [
        pytest.param([500, 400], 1000, 4.0, 0.4, 6.0, id="smallest-governs"),
        pytest.param([1000, 1200], 1000, 10.0, 1.0, 0.0, id="reached"),
        pytest.param([2000, 1500], 1000, None, 1.5, 0.0, id="past-it-without-age"),
        pytest.param([500, 400], 1000, None, 0.4, None, id="no-age"),
        pytest.param([500, 400], 1000, 0.0, 0.4, None, id="age-zero"),
        pytest.param([500, 400], 1000, math.inf, 0.4, None, id="age-infinite"),
        pytest.param([500, 0], 1000, 3.0, 0.0, None, id="no-traffic"),
    ],
)
def test_progress_and_days_remaining(
    visitors: list[int], required: int, elapsed: float | None, share: float, days: float | None
) -> None:
    assert progress(visitors, required) == share
    assert days_remaining(visitors, required, elapsed) == days


def test_days_remaining_of_no_population_is_unknown() -> None:
    assert days_remaining([], 100, 3.0) is None


@pytest.mark.parametrize(
    ("visitors", "required", "message"),
    [
        pytest.param([1], 0, "required must be at least 1", id="required"),
        pytest.param([], 10, "at least one population", id="none"),
    ],
)
def test_bad_progress_arguments(visitors: list[int], required: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        progress(visitors, required)
