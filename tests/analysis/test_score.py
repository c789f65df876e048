"""Score and log-ratio intervals against SciPy and statsmodels.

statsmodels' score interval for a difference (0.14-0.15) solves a cubic with
control's conversions where Miettinen and Nurminen have its visitors
(``tmp1``), so away from a difference of 0 its restricted estimate is not
the maximum; the reference here maximises the restricted likelihood with
SciPy instead, and statsmodels checks the statistic at 0 (the pooled z).
"""

from __future__ import annotations

import math
import random
from decimal import Decimal, localcontext

import pytest
from scipy import optimize
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from manhattan.analysis.frequentist import Z95, conversion_p_value, two_proportion_z_test
from manhattan.analysis.score import (
    log_ratio_interval,
    matched_z,
    score_difference_interval,
    score_statistic,
)
from tests.analysis.closeness import log_uniform


def reference_statistic(conv_c: int, n_c: int, conv_v: int, n_v: int, delta: float) -> float:
    """The score statistic with the restricted maximum found numerically."""
    observed = conv_v / n_v - conv_c / n_c - delta
    if observed == 0:
        return 0.0
    low, high = max(0.0, -delta), min(1.0, 1.0 - delta)

    def minus_log_likelihood(rate: float) -> float:
        total = 0.0
        for count, size, chance in ((conv_c, n_c, rate), (conv_v, n_v, rate + delta)):
            chance = min(1.0, max(0.0, chance))
            for k, q in ((count, chance), (size - count, 1 - chance)):
                if k:
                    total -= k * math.log(q) if q > 0 else -math.inf
        return total

    found = optimize.minimize_scalar(
        minus_log_likelihood, bounds=(low, high), method="bounded", options={"xatol": 1e-14}
    )
    rate_c = min([low, high, float(found.x)], key=minus_log_likelihood)
    rate_v = min(1.0, max(0.0, rate_c + delta))
    variance = rate_c * (1 - rate_c) / n_c + rate_v * (1 - rate_v) / n_v
    return observed / math.sqrt(variance) if variance > 0 else math.copysign(math.inf, observed)


def reference_interval(conv_c: int, n_c: int, conv_v: int, n_v: int) -> tuple[float, float]:
    estimate = conv_v / n_v - conv_c / n_c

    def excess(delta: float) -> float:
        return abs(reference_statistic(conv_c, n_c, conv_v, n_v, delta)) - Z95

    ends = []
    for end in (-1 + 1e-12, 1 - 1e-12):
        if excess(end) <= 0 or estimate == round(end):
            ends.append(round(end))
        else:
            ends.append(optimize.brentq(excess, estimate, end, xtol=1e-15))
    return ends[0], ends[1]


def precise_end(conv_c: int, n_c: int, conv_v: int, n_v: int, z: float, side: int) -> float:
    """An end of the score interval (some visitors converted and some not in
    each arm) in 60-digit decimals: bisection on whether the statistic is
    beyond ``z``, each restricted rate by Newton's method kept in a bracket."""
    with localcontext() as context:
        context.prec = 60
        settled = Decimal(10) ** -25  # far below a double's rounding, far above the noise
        x_c, f_c, x_v, f_v = (Decimal(k) for k in (conv_c, n_c - conv_c, conv_v, n_v - conv_v))
        estimate = x_v / n_v - x_c / n_c
        bound = Decimal(z) ** 2

        def beyond(delta: Decimal) -> bool:
            low, high = max(Decimal(0), -delta), min(Decimal(1), 1 - delta)
            rate = (low + high) / 2
            for _ in range(500):
                varied = rate + delta
                score = x_c / rate - f_c / (1 - rate) + x_v / varied - f_v / (1 - varied)
                curve = x_c / rate**2 + f_c / (1 - rate) ** 2
                step = score / (curve + x_v / varied**2 + f_v / (1 - varied) ** 2)
                if abs(step) < settled * rate:
                    break
                if score > 0:
                    low = rate
                else:
                    high = rate
                rate = rate + step if low < rate + step < high else (low + high) / 2
            else:
                raise AssertionError(f"no restricted rate at {delta}")
            varied = rate + delta
            variance = rate * (1 - rate) / n_c + varied * (1 - varied) / n_v
            return (estimate - delta) ** 2 > bound * variance

        inside, outside = estimate, Decimal(side)
        while abs(outside - inside) > Decimal(10) ** -30:
            middle = (inside + outside) / 2
            if beyond(middle):
                outside = middle
            else:
                inside = middle
        return float(inside)


def tables(seed: int, count: int) -> list[tuple[int, int, int, int]]:
    rng = random.Random(seed)
    found = []
    for _ in range(count):
        n_c, n_v = int(log_uniform(rng, 1, 1e6)), int(log_uniform(rng, 1, 1e6))
        rate = rng.choice([0.0, 1.0, log_uniform(rng, 1e-4, 1), rng.uniform(0, 1)])
        conv_c = min(n_c, round(n_c * rate))
        conv_v = min(n_v, round(n_v * min(1.0, rate * rng.uniform(0.7, 1.4))))
        found.append((conv_c, n_c, conv_v, n_v))
    return found


TABLES = [
    *tables(5, 120),
    (0, 100, 0, 100),
    (100, 100, 100, 100),
    (0, 1, 1, 1),
    (3, 3, 0, 10),
    (95, 100, 100, 100),
]


@pytest.mark.parametrize("table", TABLES)
def test_the_score_interval_matches_scipy(table: tuple[int, int, int, int]) -> None:
    low, high = score_difference_interval(*table)
    ref_low, ref_high = reference_interval(*table)
    assert low == pytest.approx(ref_low, abs=1e-8)
    assert high == pytest.approx(ref_high, abs=1e-8)
    conv_c, n_c, conv_v, n_v = table
    assert low <= conv_v / n_v - conv_c / n_c <= high
    # Swapping the arms mirrors the interval.
    mirrored = score_difference_interval(conv_v, n_v, conv_c, n_c)
    assert mirrored == pytest.approx((-high, -low), abs=1e-12)


@pytest.mark.parametrize(
    ("table", "z"),
    [
        pytest.param((4000, 41000, 4400, 40500), Z95, id="large-arms"),
        pytest.param((12000, 41000, 12100, 40500), Z95, id="large-arms-end-near-0"),
        pytest.param((500_000, 1_000_000, 501_000, 1_000_000), Z95, id="a-million"),
        pytest.param((30, 1000, 45, 1000), Z95, id="thousand"),
        pytest.param((7, 100_000, 19, 100_000), Z95, id="rare-conversions"),
        pytest.param((1, 128, 2, 103), Z95, id="one-and-two-conversions"),
        pytest.param((2, 473, 7, 495), Z95, id="two-and-seven-conversions"),
        pytest.param((995, 1000, 990, 1000), Z95, id="rates-near-1"),
        pytest.param((49990, 50000, 49970, 50000), Z95, id="rates-nearer-1"),
        pytest.param((16840, 16841, 6501325, 6539756), Z95, id="one-failure-in-control"),
        pytest.param((6983, 30211, 8556, 36007), Z95, id="an-end-a-hair-from-0"),
        pytest.param((1, 2, 1, 2), Z95, id="two-visitors"),
        pytest.param((54, 60, 27, 36), Z95, id="small-arms"),
        pytest.param((1, 5, 4, 5), 0.5, id="narrow"),
        pytest.param((1, 3, 1, 2), 5.0, id="wide-bracketed"),
        pytest.param((28, 109, 3, 11), 20.0, id="very-wide-bracketed"),
    ],
)
def test_the_score_interval_is_right_to_the_last_digits(
    table: tuple[int, int, int, int], z: float
) -> None:
    # Newton's method in the rate and the difference together settles each
    # end to a few roundings (bracketing, where it fails, to 1e-12). An end
    # near 0 is a small difference of the estimate and z standard errors:
    # its error is a rounding of those, so it is measured against the width.
    low, high = score_difference_interval(*table, z)
    want_low, want_high = precise_end(*table, z, -1), precise_end(*table, z, 1)
    width = want_high - want_low
    assert low == pytest.approx(want_low, rel=1e-12, abs=1e-14 * width)
    assert high == pytest.approx(want_high, rel=1e-12, abs=1e-14 * width)


@pytest.mark.parametrize("table", [(1, 2, 1, 2), (3, 10, 5, 7), (1, 100, 99, 100)])
@pytest.mark.parametrize("delta", [1 - 2**-53, -(1 - 2**-53)], ids=["below-1", "above--1"])
def test_within_a_float_of_the_ends_the_statistic_is_huge(
    table: tuple[int, int, int, int], delta: float
) -> None:
    # There a restricted rate rounds onto 0 or 1, where the score is
    # infinite: the search bisects past it instead of dividing by zero.
    conv_c, n_c, conv_v, n_v = table
    statistic = score_statistic(*table, delta)
    assert math.isfinite(statistic)
    assert math.copysign(1.0, statistic) == math.copysign(1.0, conv_v / n_v - conv_c / n_c - delta)
    assert abs(statistic) > 1e6


def test_it_agrees_with_statsmodels_where_the_cubics_agree() -> None:
    # With every rate well inside (0, 1) and large arms the two cubics' roots
    # differ by little: statsmodels' own interval is close.
    low, high = score_difference_interval(1000, 10_000, 1100, 10_000)
    ref = confint_proportions_2indep(1100, 10_000, 1000, 10_000, method="score", correction=False)
    assert (low, high) == pytest.approx((float(ref[0]), float(ref[1])), rel=1e-3)


@pytest.mark.parametrize("table", [t for t in TABLES if 0 < t[0] + t[2] < t[1] + t[3]])
def test_at_0_the_statistic_is_the_pooled_z(table: tuple[int, int, int, int]) -> None:
    conv_c, n_c, conv_v, n_v = table
    z, _ = proportions_ztest([conv_v, conv_c], [n_v, n_c])
    assert score_statistic(*table, 0.0) == pytest.approx(float(z), rel=1e-9, abs=1e-12)
    # ... so the interval leaves out 0 exactly when the z-test's p is below 5%.
    low, high = score_difference_interval(*table)
    p = two_proportion_z_test(*table)
    if abs(p - 0.05) > 1e-9:
        assert (low > 0 or high < 0) == (p < 0.05)


def test_beside_fishers_test_the_interval_agrees_with_it() -> None:
    # Issue 13: 100/100 against 95/100, Fisher p = 0.059, had an interval
    # excluding 0. The z-test's would (p = 0.024), Fisher's must not.
    p, test = conversion_p_value(100, 100, 95, 100)
    assert test == "fisher"
    assert p == pytest.approx(scipy_stats.fisher_exact([[95, 5], [100, 0]]).pvalue, rel=1e-9)
    plain = score_difference_interval(100, 100, 95, 100)
    assert plain[1] < 0
    low, high = score_difference_interval(
        100, 100, 95, 100, matched_z(score_statistic(100, 100, 95, 100, 0.0), p)
    )
    assert low < 0 < high
    rng = random.Random(11)
    checked = 0
    for _ in range(400):
        n_c, n_v = rng.randint(20, 400), rng.randint(20, 400)
        conv_c, conv_v = rng.randint(0, 6), rng.randint(0, 12)
        p, test = conversion_p_value(conv_c, n_c, conv_v, n_v)
        statistic = score_statistic(conv_c, n_c, conv_v, n_v, 0.0)
        if test != "fisher" or abs(p - 0.05) < 1e-6 or statistic == 0:
            continue
        low, high = score_difference_interval(conv_c, n_c, conv_v, n_v, matched_z(statistic, p))
        assert (low > 0 or high < 0) == (p < 0.05), (conv_c, n_c, conv_v, n_v, p)
        checked += 1
    assert checked > 200


@pytest.mark.parametrize(
    ("statistic", "p_value"),
    [(0.0, 0.5), (2.0, 0.0), (2.0, 1.0), (math.inf, 0.01), (-math.inf, 0.01)],
)
def test_matched_z_without_information_is_z(statistic: float, p_value: float) -> None:
    assert matched_z(statistic, p_value) == Z95


@pytest.mark.parametrize("table", [t for t in TABLES if t[0] > 0 and t[2] > 0])
def test_the_relative_interval_is_katzs(table: tuple[int, int, int, int]) -> None:
    conv_c, n_c, conv_v, n_v = table
    both_full = conv_c == n_c and conv_v == n_v
    method = "log-adjusted" if both_full else "log"
    ref_low, ref_high = confint_proportions_2indep(
        conv_v, n_v, conv_c, n_c, method=method, compare="ratio"
    )
    found = log_ratio_interval(*table)
    assert found is not None
    assert found == pytest.approx((float(ref_low), float(ref_high)), rel=1e-12)


def test_the_relative_interval_never_goes_below_minus_100_percent() -> None:
    # The delta method on the ratio gave [-112.8%, +79.5%] for 6/100 against 5/100.
    low, high = log_ratio_interval(5, 100, 6, 100) or (math.nan, math.nan)
    assert low > 0  # a ratio: the relative lift low - 1 is above -1
    assert low - 1 > -1 < high - 1
    adjusted = log_ratio_interval(20, 500, 0, 500)
    reference = confint_proportions_2indep(0, 500, 20, 500, method="log-adjusted", compare="ratio")
    assert adjusted == pytest.approx((float(reference[0]), float(reference[1])), rel=1e-12)
    assert log_ratio_interval(0, 500, 20, 500) is None  # no control rate to be relative to


def test_empty_arms_are_refused() -> None:
    with pytest.raises(ValueError, match="visitors in both arms"):
        score_difference_interval(0, 0, 1, 10)
    assert log_ratio_interval(1, 10, 0, 0) is None
