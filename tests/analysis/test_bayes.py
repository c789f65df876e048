"""Chance to beat control and expected loss, against independent references.

References: SciPy quadrature of the defining integrals, seeded NumPy Monte
Carlo, and formulas worked out by hand for the cases that have them.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import integrate, stats

from manhattan.analysis.bayes import (
    EXACT_LIMIT,
    beta_chance_to_beat,
    beta_expected_loss,
    mean_and_variance,
    normal_chance_to_beat,
    normal_expected_loss,
)

Arm = tuple[int, int]
HUGE = 10**8


# --- references -------------------------------------------------------------------


def posterior(arm: Arm) -> tuple[int, int]:
    """Beta(1 + conversions, 1 + failures): the uniform prior's posterior."""
    conversions, visitors = arm
    return 1 + conversions, 1 + visitors - conversions


def support(*dists: stats.rv_continuous) -> tuple[float, float]:
    """An interval holding all but ~1e-15 of each distribution's mass."""
    low = max(0.0, min(float(d.ppf(1e-15)) for d in dists))
    high = min(1.0, max(float(d.isf(1e-15)) for d in dists))
    return low, high


def quad(function: object, low: float, high: float, points: list[float]) -> float:
    """scipy.integrate.quad, tight tolerances, breakpoints at the modes."""
    inside = sorted({p for p in points if low < p < high})
    value, _error = integrate.quad(
        function, low, high, points=inside or None, epsabs=1e-14, epsrel=1e-13, limit=500
    )
    return float(value)


def quad_chance(control: Arm, variant: Arm) -> float:
    """P(p_v > p_c) as the defining integral of f_v(x) F_c(x) dx."""
    dist_c, dist_v = stats.beta(*posterior(control)), stats.beta(*posterior(variant))
    low, high = support(dist_c, dist_v)
    return quad(lambda x: dist_v.pdf(x) * dist_c.cdf(x), low, high, [dist_c.mean(), dist_v.mean()])


def quad_loss(first: Arm, second: Arm) -> float:
    """E[max(p_first - p_second, 0)] as the integral of
    P(p_second < t < p_first) dt (max(x - y, 0) is the length of (y, x))."""
    dist_f, dist_s = stats.beta(*posterior(first)), stats.beta(*posterior(second))
    low, high = support(dist_f, dist_s)
    return quad(lambda t: dist_s.cdf(t) * dist_f.sf(t), low, high, [dist_f.mean(), dist_s.mean()])


def loss_scale(control: Arm, variant: Arm) -> float:
    """The posterior standard deviation of p_v - p_c: the scale of a loss.

    (By hand: SciPy's Beta variance goes wrong for shapes around 1e8.)
    """
    variance = 0.0
    for arm in (control, variant):
        a, b = posterior(arm)
        variance += a * b / ((a + b) ** 2 * (a + b + 1))
    return math.sqrt(variance)


def arm_near(rng: random.Random, visitors: int, rate: float) -> Arm:
    """An arm whose rate is ``rate`` give or take two binomial deviations."""
    spread = math.sqrt(visitors * rate * (1 - rate))
    conversions = round(visitors * rate + rng.uniform(-2, 2) * spread)
    return min(visitors, max(0, conversions)), visitors


def random_pairs(
    seed: int, count: int, visitors: tuple[int, int], rates: tuple[float, float]
) -> list[tuple[Arm, Arm]]:
    """``count`` seeded (control, variant) pairs with close rates."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        rate = math.exp(rng.uniform(math.log(rates[0]), math.log(rates[1])))
        control = arm_near(rng, rng.randint(*visitors), rate)
        pairs.append((control, arm_near(rng, rng.randint(*visitors), rate)))
    return pairs


SMALL = random_pairs(1, 12, (0, 60), (0.02, 0.9))
MEDIUM = random_pairs(2, 12, (100, 20_000), (0.005, 0.6))
LARGE = random_pairs(3, 8, (100_000, 10_000_000), (0.001, 0.5))
HUGE_RARE = random_pairs(4, 6, (HUGE // 2, HUGE), (2e-7, 1e-5))
HUGE_COMMON = random_pairs(5, 6, (HUGE // 2, HUGE), (0.001, 0.5))


def ids(pairs: list[tuple[Arm, Arm]]) -> list[str]:
    return [f"{c[0]}of{c[1]}-vs-{v[0]}of{v[1]}" for c, v in pairs]


def params(*groups: list[tuple[Arm, Arm]]) -> list[object]:
    return [
        pytest.param(c, v, id=label)
        for group in groups
        for (c, v), label in zip(group, ids(group), strict=True)
    ]


# Each form of the exact sum (the fewest terms in a_v, a_c, b_c or b_v, in
# either orientation) and both sides of the regime switch.
SHAPED = [
    ((2, 10), (2, 20)),
    ((1, 10), (5, 10)),
    ((9, 10), (19, 20)),
    ((5, 10), (10, 10)),
    ((7, 30), (2, 30)),
    # Smallest shape EXACT_LIMIT (exact sum) and EXACT_LIMIT + 1 (series).
    ((EXACT_LIMIT - 1, 2 * EXACT_LIMIT - 2), (EXACT_LIMIT + 9, 2 * EXACT_LIMIT + 20)),
    ((EXACT_LIMIT, 2 * EXACT_LIMIT), (EXACT_LIMIT + 10, 2 * EXACT_LIMIT + 20)),
    ((EXACT_LIMIT - 1, HUGE), (EXACT_LIMIT + 30, HUGE)),
    ((EXACT_LIMIT, HUGE), (EXACT_LIMIT + 30, HUGE)),
    ((HUGE // 2, HUGE), (EXACT_LIMIT - 1, 2 * EXACT_LIMIT - 2)),
    ((5_000, 3 * HUGE), (5, 3 * 10**5)),
]
# Random tables for the quadrature: a few hundred would take too long with
# SciPy's Beta CDF, so a couple of dozen per size.
QUAD = params(
    SHAPED,
    random_pairs(11, 24, (0, 300), (0.01, 0.95)),
    random_pairs(12, 24, (300, 50_000), (0.001, 0.7)),
    random_pairs(13, 12, (10**5, HUGE), (1e-6, 0.5)),
)
MONTE_CARLO = params(SMALL, MEDIUM, LARGE, HUGE_RARE, HUGE_COMMON)


# --- Beta arms: against references -------------------------------------------------


@pytest.mark.parametrize(("control", "variant"), QUAD)
def test_chance_to_beat_matches_the_defining_integral(control: Arm, variant: Arm) -> None:
    assert beta_chance_to_beat(control, variant) == pytest.approx(
        quad_chance(control, variant), rel=0, abs=1e-9
    )


@pytest.mark.parametrize(("control", "variant"), QUAD)
def test_expected_losses_match_the_defining_integrals(control: Arm, variant: Arm) -> None:
    choose_variant, keep_control = beta_expected_loss(control, variant)
    tolerance = 1e-9 * loss_scale(control, variant)
    assert choose_variant == pytest.approx(quad_loss(control, variant), rel=0, abs=tolerance)
    assert keep_control == pytest.approx(quad_loss(variant, control), rel=0, abs=tolerance)


@pytest.mark.parametrize(("control", "variant"), MONTE_CARLO)
def test_agrees_with_monte_carlo(control: Arm, variant: Arm) -> None:
    rng = np.random.default_rng([*control, *variant])
    draws = 400_000
    p_c = rng.beta(*posterior(control), size=draws)
    p_v = rng.beta(*posterior(variant), size=draws)
    assert beta_chance_to_beat(control, variant) == pytest.approx(
        float(np.mean(p_v > p_c)), rel=0, abs=0.005
    )
    # A loss's Monte Carlo standard error is at most its scale / sqrt(draws).
    tolerance = 0.01 * loss_scale(control, variant)
    choose_variant, keep_control = beta_expected_loss(control, variant)
    assert choose_variant == pytest.approx(
        float(np.mean(np.maximum(p_c - p_v, 0))), rel=0, abs=tolerance
    )
    assert keep_control == pytest.approx(
        float(np.mean(np.maximum(p_v - p_c, 0))), rel=0, abs=tolerance
    )


# --- Beta arms: properties ----------------------------------------------------------


@pytest.mark.parametrize(("control", "variant"), MONTE_CARLO)
def test_swapping_the_arms_gives_the_complement(control: Arm, variant: Arm) -> None:
    forward = beta_chance_to_beat(control, variant)
    backward = beta_chance_to_beat(variant, control)
    assert 0.0 <= forward <= 1.0
    assert forward + backward == pytest.approx(1.0, rel=0, abs=1e-12)
    choose_variant, keep_control = beta_expected_loss(control, variant)
    assert beta_expected_loss(variant, control) == pytest.approx(
        (keep_control, choose_variant), rel=0, abs=1e-15
    )


@pytest.mark.parametrize(("control", "variant"), MONTE_CARLO)
def test_losses_differ_by_the_difference_of_posterior_means(control: Arm, variant: Arm) -> None:
    # E[max(d, 0)] - E[max(-d, 0)] = E[d] for d = p_v - p_c.
    (a_c, b_c), (a_v, b_v) = posterior(control), posterior(variant)
    choose_variant, keep_control = beta_expected_loss(control, variant)
    assert choose_variant >= 0.0
    assert keep_control >= 0.0
    assert keep_control - choose_variant == pytest.approx(
        a_v / (a_v + b_v) - a_c / (a_c + b_c), rel=0, abs=1e-15
    )


@pytest.mark.parametrize(
    ("control", "variant"),
    [
        pytest.param((3, 40), (7, 45), id="small"),
        pytest.param((EXACT_LIMIT + 5, 9_000), (EXACT_LIMIT + 60, 9_100), id="asymptotic"),
        pytest.param((31_000_000, HUGE), (31_002_000, HUGE), id="huge"),
    ],
)
def test_the_same_inputs_give_the_same_numbers(control: Arm, variant: Arm) -> None:
    first = (beta_chance_to_beat(control, variant), beta_expected_loss(control, variant))
    second = (beta_chance_to_beat(control, variant), beta_expected_loss(control, variant))
    assert first == second


# --- Beta arms: edge cases, by hand ------------------------------------------------


@pytest.mark.parametrize(
    "arm",
    [
        pytest.param((0, 0), id="no-visitors"),
        pytest.param((0, 25), id="no-conversions"),
        pytest.param((25, 25), id="all-converted"),
        pytest.param((40, 400), id="small"),
        pytest.param((50_000, 100_000), id="asymptotic"),
        pytest.param((3, HUGE), id="huge-rare"),
        pytest.param((HUGE // 3, HUGE), id="huge"),
    ],
)
def test_identical_arms_are_even(arm: Arm) -> None:
    assert beta_chance_to_beat(arm, arm) == 0.5
    choose_variant, keep_control = beta_expected_loss(arm, arm)
    assert choose_variant == keep_control
    assert choose_variant > 0.0


def test_two_empty_arms_are_two_uniforms() -> None:
    # E[max(U1 - U2, 0)] = E|U1 - U2| / 2 = 1/6.
    assert beta_chance_to_beat((0, 0), (0, 0)) == 0.5
    assert beta_expected_loss((0, 0), (0, 0)) == pytest.approx((1 / 6, 1 / 6), rel=1e-14)


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param((3, 10), id="small"),
        pytest.param((0, 1), id="one-visitor"),
        pytest.param((0, HUGE), id="huge-no-conversions"),
        pytest.param((HUGE, HUGE), id="huge-all-converted"),
        pytest.param((HUGE // 2, HUGE), id="huge-half"),
    ],
)
def test_an_empty_control_is_uniform(variant: Arm) -> None:
    # With U uniform: P(p > U) = E[p]; E[max(U - p, 0)] = E[(1 - p)^2] / 2;
    # E[max(p - U, 0)] = E[p^2] / 2; and Beta(a, b) has E[p^2] =
    # a (a + 1) / ((a + b)(a + b + 1)).
    a, b = posterior(variant)
    both = (a + b) * (a + b + 1)
    assert beta_chance_to_beat((0, 0), variant) == pytest.approx(a / (a + b), rel=1e-12)
    assert beta_chance_to_beat(variant, (0, 0)) == pytest.approx(b / (a + b), rel=1e-12)
    assert beta_expected_loss((0, 0), variant) == pytest.approx(
        (b * (b + 1) / both / 2, a * (a + 1) / both / 2), rel=1e-9, abs=1e-15
    )


@pytest.mark.parametrize(
    ("control", "variant"),
    [
        pytest.param(5, 9, id="small"),
        pytest.param(0, 1, id="one-visitor"),
        pytest.param(2_000, 2_000, id="equal"),
        pytest.param(10**6, 2 * 10**6, id="large"),
        pytest.param(HUGE - 1, HUGE, id="huge"),
    ],
)
def test_no_conversions_and_all_converted(control: int, variant: int) -> None:
    # All converted, p ~ Beta(k, 1) with k = n + 1 has CDF t^k. For X, Y
    # with CDFs t^j, t^k: P(X > Y) = j / (j + k), and E[max(X - Y, 0)] =
    # integral of F_Y (1 - F_X) = 1/(k + 1) - 1/(j + k + 1). No conversions
    # is the mirror image: 1 - p has CDF t^k.
    k_c, k_v = control + 1, variant + 1
    c_above_v = 1 / (k_v + 1) - 1 / (k_c + k_v + 1)  # E[max(X_c - X_v, 0)]
    v_above_c = 1 / (k_c + 1) - 1 / (k_c + k_v + 1)
    all_c, all_v = (control, control), (variant, variant)
    assert beta_chance_to_beat(all_c, all_v) == pytest.approx(k_v / (k_c + k_v), rel=1e-12)
    assert beta_expected_loss(all_c, all_v) == pytest.approx((c_above_v, v_above_c), rel=1e-7)
    none_c, none_v = (0, control), (0, variant)
    assert beta_chance_to_beat(none_c, none_v) == pytest.approx(k_c / (k_c + k_v), rel=1e-12)
    assert beta_expected_loss(none_c, none_v) == pytest.approx((v_above_c, c_above_v), rel=1e-7)


def test_a_sure_winner_wins_surely() -> None:
    assert beta_chance_to_beat((0, HUGE), (HUGE, HUGE)) == 1.0
    assert beta_chance_to_beat((HUGE, HUGE), (0, HUGE)) == 0.0
    choose_variant, keep_control = beta_expected_loss((0, HUGE), (HUGE, HUGE))
    assert choose_variant == 0.0
    assert keep_control == pytest.approx(1.0, abs=1e-7)


def test_counts_may_be_any_integers_in_any_pair() -> None:
    expected = beta_chance_to_beat((3, 10), (5, 12))
    assert beta_chance_to_beat([np.int64(3), 10], (5, np.int32(12))) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("control", "variant", "name", "message"),
    [
        pytest.param((-1, 10), (1, 10), "control", "negative", id="negative-conversions"),
        pytest.param((1, 10), (1, -10), "variant", "negative", id="negative-visitors"),
        pytest.param((11, 10), (1, 10), "control", "exceed", id="too-many-conversions"),
        pytest.param((1, 10), (1.0, 10), "variant", "integers", id="float"),
        pytest.param((True, 10), (1, 10), "control", "integers", id="bool"),
        pytest.param((1, 10), ("1", 10), "variant", "integers", id="text-count"),
        pytest.param((1, 10, 3), (1, 10), "control", "pair", id="triple"),
        pytest.param((1, 10), "ab", "variant", "pair", id="text"),
        pytest.param(10, (1, 10), "control", "pair", id="number"),
    ],
)
def test_bad_arms_are_named(control: object, variant: object, name: str, message: str) -> None:
    for function in (beta_chance_to_beat, beta_expected_loss):
        with pytest.raises(ValueError, match=f"^{name}.*{message}"):
            function(control, variant)  # type: ignore[arg-type]


# --- normal arms -------------------------------------------------------------------


def random_normal_arms() -> list[object]:
    rng = random.Random(21)
    cases = []
    for index in range(30):
        scale = 10 ** rng.uniform(-3, 3)
        control = (rng.gauss(50, 5) * scale, (rng.uniform(0.1, 5) * scale) ** 2)
        variant = (control[0] + rng.gauss(0, 3) * scale, (rng.uniform(0.1, 5) * scale) ** 2)
        cases.append(pytest.param(control, variant, id=f"random-{index}"))
    return cases


@pytest.mark.parametrize(("control", "variant"), random_normal_arms())
def test_normal_chance_to_beat_matches_scipy(
    control: tuple[float, float], variant: tuple[float, float]
) -> None:
    difference = stats.norm(variant[0] - control[0], math.sqrt(control[1] + variant[1]))
    assert normal_chance_to_beat(control, variant) == pytest.approx(
        float(difference.sf(0)), rel=1e-12, abs=1e-300
    )
    assert normal_chance_to_beat(control, variant) + normal_chance_to_beat(
        variant, control
    ) == pytest.approx(1.0, rel=0, abs=1e-12)


@pytest.mark.parametrize(("control", "variant"), random_normal_arms())
def test_normal_expected_loss_matches_the_integral(
    control: tuple[float, float], variant: tuple[float, float]
) -> None:
    # E[max(X, 0)] = integral over t > 0 of P(X > t).
    sd = math.sqrt(control[1] + variant[1])
    expected = []
    for mu in (control[0] - variant[0], variant[0] - control[0]):
        high = max(mu, 0.0) + 40 * sd
        value, _error = integrate.quad(
            lambda t, mu=mu: stats.norm.sf(t, mu, sd), 0, high, epsabs=1e-13 * sd, limit=200
        )
        expected.append(value)
    assert normal_expected_loss(control, variant) == pytest.approx(
        tuple(expected), rel=0, abs=1e-9 * sd
    )


@pytest.mark.parametrize(
    ("control", "variant", "chance", "losses"),
    [
        pytest.param((1.0, 0.0), (2.0, 0.0), 1.0, (0.0, 1.0), id="sure-better"),
        pytest.param((2.0, 0.0), (1.5, 0.0), 0.0, (0.5, 0.0), id="sure-worse"),
        pytest.param((3, 0), (3, 0), 0.5, (0.0, 0.0), id="sure-equal"),
        pytest.param((1.0, math.inf), (2.0, 0.1), 0.5, (math.inf, math.inf), id="unknown"),
        pytest.param((1.0, 0.5), (1.0, 0.5), 0.5, (1 / math.sqrt(2 * math.pi),) * 2, id="even"),
    ],
)
def test_normal_edge_cases(
    control: tuple[float, float],
    variant: tuple[float, float],
    chance: float,
    losses: tuple[float, float],
) -> None:
    # "even": X ~ N(0, 1) has E[max(X, 0)] = phi(0) = 1 / sqrt(2 pi).
    assert normal_chance_to_beat(control, variant) == chance
    assert normal_expected_loss(control, variant) == pytest.approx(losses, rel=1e-15)


def test_a_far_tail_loss_is_tiny_not_negative() -> None:
    choose_variant, keep_control = normal_expected_loss((0.0, 1.0), (100.0, 1.0))
    assert choose_variant == pytest.approx(0.0, abs=1e-300)
    assert choose_variant >= 0.0
    assert keep_control == pytest.approx(100.0, rel=1e-15)


@pytest.mark.parametrize(
    ("control", "variant", "name", "message"),
    [
        pytest.param((math.nan, 1.0), (0.0, 1.0), "control", "finite", id="nan-mean"),
        pytest.param((0.0, 1.0), (math.inf, 1.0), "variant", "finite", id="inf-mean"),
        pytest.param((0.0, -1.0), (0.0, 1.0), "control", ">= 0", id="negative-variance"),
        pytest.param((0.0, 1.0), (0.0, math.nan), "variant", ">= 0", id="nan-variance"),
        pytest.param((0.0, "1"), (0.0, 1.0), "control", "number", id="text"),
        pytest.param((0.0, 1.0), (False, 1.0), "variant", "number", id="bool"),
        pytest.param((0.0,), (0.0, 1.0), "control", "pair", id="single"),
    ],
)
def test_bad_normal_arms_are_named(
    control: object, variant: object, name: str, message: str
) -> None:
    for function in (normal_chance_to_beat, normal_expected_loss):
        with pytest.raises(ValueError, match=f"^{name}.*{message}"):
            function(control, variant)  # type: ignore[arg-type]


# --- mean and variance --------------------------------------------------------------


@pytest.mark.parametrize(
    ("visitors", "payers", "seed"),
    [
        pytest.param(2, 2, 31, id="two"),
        pytest.param(100, 7, 32, id="few-payers"),
        pytest.param(5_000, 5_000, 33, id="everyone-pays"),
        pytest.param(100_000, 900, 34, id="many"),
    ],
)
def test_mean_and_variance_match_numpy(visitors: int, payers: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = np.zeros(visitors)
    values[:payers] = rng.lognormal(3, 1, size=payers)
    mean, variance = mean_and_variance(
        visitors, float(values.sum()), float((values * values).sum())
    )
    assert mean == pytest.approx(float(np.mean(values)), rel=1e-12)
    assert variance == pytest.approx(float(np.var(values, ddof=1)) / visitors, rel=1e-9)


def test_no_visitors_or_one_means_unknown_variance() -> None:
    assert mean_and_variance(0, 0.0, 0.0) == (0.0, math.inf)
    assert mean_and_variance(1, 12.5, 156.25) == (12.5, math.inf)


def test_equal_values_have_no_variance() -> None:
    # 0.1 is inexact in binary: the spread may round to a hair below 0.
    mean, variance = mean_and_variance(10, 0.1 * 10, 0.01 * 10)
    assert mean == pytest.approx(0.1, rel=1e-15)
    assert variance == pytest.approx(0.0, abs=1e-18)
    assert variance >= 0.0
    assert mean_and_variance(3, 0.0, 0.0) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("visitors", "total", "sum_of_squares", "name"),
    [
        pytest.param(-1, 0.0, 0.0, "visitors", id="negative-visitors"),
        pytest.param(2.0, 0.0, 0.0, "visitors", id="float-visitors"),
        pytest.param(True, 0.0, 0.0, "visitors", id="bool-visitors"),
        pytest.param(2, math.nan, 0.0, "total", id="nan-total"),
        pytest.param(2, "3", 0.0, "total", id="text-total"),
        pytest.param(2, 1.0, math.inf, "sum_of_squares", id="inf-squares"),
        pytest.param(2, 0.0, -1.0, "sum_of_squares", id="negative-squares"),
        pytest.param(2, 2.0, 1.0, "sum_of_squares", id="squares-too-small"),
        pytest.param(0, 1.0, 1.0, "total", id="values-without-visitors"),
    ],
)
def test_impossible_sums_are_named(
    visitors: object, total: object, sum_of_squares: object, name: str
) -> None:
    with pytest.raises(ValueError, match=f"^{name}"):
        mean_and_variance(visitors, total, sum_of_squares)  # type: ignore[arg-type]
