"""Intervals and tests against SciPy and statsmodels (test-only references)."""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from manhattan.analysis.frequentist import (
    SRM_ALPHA,
    conversion_p_value,
    difference_interval,
    expects_few,
    holm,
    sample_ratio_mismatch,
    sample_variance,
    t_quantile,
    two_proportion_z_test,
    welch_t_test,
    wilson,
)

REL = 1e-9


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-300)


def random_tables(seed: int, count: int) -> list[tuple[int, int, int, int]]:
    """(control conversions, control visitors, conversions, visitors), all sizes."""
    rng = random.Random(seed)
    tables = []
    for _ in range(count):
        scale = 10 ** rng.uniform(1, 8)
        n_c, n_v = (
            max(1, int(scale * rng.uniform(0.5, 1.5))),
            max(1, int(scale * rng.uniform(0.5, 1.5))),
        )
        rate = rng.choice([0.0, 1.0, rng.uniform(0, 0.05), rng.uniform(0, 1)])
        c_c = min(n_c, int(n_c * rate))
        c_v = min(n_v, int(n_v * min(1.0, rate * rng.uniform(0.8, 1.25))))
        tables.append((c_c, n_c, c_v, n_v))
    return tables


TABLES = [*random_tables(1, 300), (0, 100, 0, 100), (100, 100, 100, 100), (0, 10**8, 3, 10**8)]


@pytest.mark.parametrize(("conversions", "visitors"), [(t[0], t[1]) for t in TABLES[:150]])
def test_wilson_matches_statsmodels(conversions: int, visitors: int) -> None:
    low, high = wilson(conversions, visitors)
    ref_low, ref_high = proportion_confint(conversions, visitors, alpha=0.05, method="wilson")
    assert close(low, float(ref_low)) or abs(low - float(ref_low)) < 1e-15
    assert close(high, float(ref_high)) or abs(high - float(ref_high)) < 1e-15


def test_wilson_with_no_visitors_is_uninformative() -> None:
    assert wilson(0, 0) == (0.0, 1.0)


def test_z_test_matches_statsmodels_on_random_tables() -> None:
    checked = 0
    for c_c, n_c, c_v, n_v in TABLES:
        pooled = (c_c + c_v) / (n_c + n_v)
        if pooled in (0.0, 1.0):
            assert two_proportion_z_test(c_c, n_c, c_v, n_v) == 1.0  # undefined: no evidence
            continue
        _, reference = proportions_ztest([c_v, c_c], [n_v, n_c])
        assert close(two_proportion_z_test(c_c, n_c, c_v, n_v), min(1.0, float(reference)))
        checked += 1
    assert checked > 150


def test_z_test_with_an_empty_arm_finds_nothing() -> None:
    assert two_proportion_z_test(0, 0, 5, 100) == 1.0
    assert two_proportion_z_test(5, 100, 0, 0) == 1.0


def test_conversion_p_value_uses_fisher_when_a_cell_expects_few() -> None:
    for c_c, n_c, c_v, n_v in TABLES:
        p, used = conversion_p_value(c_c, n_c, c_v, n_v)
        table = [[c_v, n_v - c_v], [c_c, n_c - c_c]]
        expected_cells = (
            scipy_stats.contingency.expected_freq(table)
            if c_c + c_v and (c_c + c_v < n_c + n_v)
            else None
        )
        if expected_cells is not None and (expected_cells < 5).any():
            assert used == "fisher"
            assert close(p, float(scipy_stats.fisher_exact(table).pvalue))
        elif expected_cells is not None:
            assert used == "z-test"


@pytest.mark.parametrize(
    ("table", "few"),
    [
        pytest.param((1, 100, 2, 100), True, id="few-conversions"),
        pytest.param((50, 100, 60, 100), False, id="plenty"),
        pytest.param((0, 4, 0, 1000), True, id="tiny-arm"),
        pytest.param((0, 1000, 0, 1000), True, id="nobody-converted"),
    ],
)
def test_expects_few(table: tuple[int, int, int, int], few: bool) -> None:
    assert expects_few(*table) is few


def test_welch_matches_scipy() -> None:
    rng = random.Random(3)
    for _ in range(300):
        arms = []
        for _ in range(2):
            n = rng.randint(2, 10**6)
            values = [rng.expovariate(1 / rng.uniform(1, 100)) for _ in range(min(n, 50))]
            mean = sum(values) / len(values)
            var = sum((v - mean) ** 2 for v in values) / (len(values) - 1) * rng.uniform(0.5, 2)
            total = mean * n
            squares = var * (n - 1) + total * total / n
            arms.append((n, total, squares, mean, var))
        (n_c, t_c, s_c, m_c, _), (n_v, t_v, s_v, m_v, _) = arms
        t, df, p = welch_t_test((n_c, t_c, s_c), (n_v, t_v, s_v))
        reference = scipy_stats.ttest_ind_from_stats(
            m_v, math.sqrt(sample_variance(n_v, t_v, s_v)), n_v,
            m_c, math.sqrt(sample_variance(n_c, t_c, s_c)), n_c, equal_var=False,
        )  # fmt: skip
        assert close(t, float(reference.statistic))
        assert close(p, float(reference.pvalue))
        assert df > 0


@pytest.mark.parametrize(
    ("control", "variant", "expected"),
    [
        pytest.param((10, 50.0, 250.0), (10, 50.0, 250.0), (0.0, 1.0), id="identical-no-spread"),
        pytest.param((10, 50.0, 250.0), (10, 60.0, 360.0), (math.inf, 0.0), id="differ-no-spread"),
    ],
)
def test_welch_without_spread(
    control: tuple[int, float, float],
    variant: tuple[int, float, float],
    expected: tuple[float, float],
) -> None:
    t, df, p = welch_t_test(control, variant)
    assert (t, p) == expected
    assert math.isnan(df)


def test_welch_where_a_variance_squared_underflows() -> None:
    # Control without spread, the variant's variance of the mean about
    # 7e-217: its square underflowed to 0 and df divided by zero (found by
    # Hypothesis). With one arm's variance 0, df is the other's n - 1.
    t, df, p = welch_t_test((2, 0.0, 0.0), (2, 5.188597233623687e-108, 2.6921541252767384e-215))
    assert (t, df) == pytest.approx((1.0, 1.0), rel=1e-12)
    assert p == pytest.approx(2 * float(scipy_stats.t.sf(t, df)), rel=1e-12)


@pytest.mark.parametrize(
    ("control", "variant"),
    [
        pytest.param((1, 5.0, 25.0), (10, 50.0, 300.0), id="one-in-control"),
        pytest.param((10, 50.0, 300.0), (0, 0.0, 0.0), id="none-in-variant"),
    ],
)
def test_welch_needs_two_visitors_in_each_arm(
    control: tuple[int, float, float], variant: tuple[int, float, float]
) -> None:
    with pytest.raises(ValueError, match="2 visitors or more in each arm"):
        welch_t_test(control, variant)


@pytest.mark.parametrize(
    "df", [0.3, 1.0, 1.5, 2.0, 7.3, 30.0, 1e3, 2.2e3, 3e3, 1e6, 1e12, math.inf]
)
@pytest.mark.parametrize("p_value", [1e-10, 0.001, 0.05, 0.5, 0.999])
def test_t_quantile_matches_scipy(df: float, p_value: float) -> None:
    # From about df = 2,000 (at 5%) on, the Cornish-Fisher series is the
    # quantile without Newton's step; infinite df is the normal's.
    reference = float(scipy_stats.t.isf(p_value / 2, df))
    assert t_quantile(df, p_value) == pytest.approx(reference, rel=1e-12)


@pytest.mark.parametrize(
    ("df", "p_value", "message"),
    [
        pytest.param(0.0, 0.05, "df must be positive", id="df-0"),
        pytest.param(math.nan, 0.05, "df must be positive", id="df-nan"),
        pytest.param(5.0, 0.0, "p_value must be between", id="p-0"),
        pytest.param(5.0, 1.0, "p_value must be between", id="p-1"),
    ],
)
def test_t_quantile_refuses_bad_arguments(df: float, p_value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        t_quantile(df, p_value)


def test_sample_variance_needs_two_visitors() -> None:
    assert math.isnan(sample_variance(1, 5.0, 25.0))
    assert sample_variance(3, 6.0, 14.0) == 1.0  # values 1, 2, 3


def test_holm_matches_statsmodels() -> None:
    rng = random.Random(4)
    for size in range(1, 40):
        p_values = [rng.random() ** 3 for _ in range(size)]
        reference = multipletests(p_values, method="holm")[1]
        assert all(close(a, float(b)) for a, b in zip(holm(p_values), reference, strict=True))


def test_holm_leaves_missing_p_values_out() -> None:
    assert holm([0.01, None, 0.04]) == [0.02, None, 0.04]


def test_difference_interval_by_hand() -> None:
    # c = 0.1, v = 0.12, both variances 1e-4: relative lift 0.2, delta-method
    # variance 1e-4/0.01 + 1.44 * 1e-4/0.01 = 0.0244.
    absolute, low, high, relative, rel_low, rel_high = difference_interval(0.1, 1e-4, 0.12, 1e-4)
    spread = 1.959963984540054 * math.sqrt(2e-4)
    assert math.isclose(absolute, 0.02)
    assert math.isclose(low, 0.02 - spread)
    assert math.isclose(high, 0.02 + spread)
    assert relative is not None
    assert math.isclose(relative, 0.2)
    rel_spread = 1.959963984540054 * math.sqrt(0.0244)
    assert rel_low is not None
    assert rel_high is not None
    assert math.isclose(rel_low, 0.2 - rel_spread)
    assert math.isclose(rel_high, 0.2 + rel_spread)


def test_relative_lift_over_nothing_is_undefined() -> None:
    assert difference_interval(0.0, 0.0, 0.1, 1e-4)[3:] == (None, None, None)


def test_srm_matches_scipy_chisquare() -> None:
    rng = random.Random(5)
    for _ in range(200):
        k = rng.randint(2, 5)
        weights = [rng.choice([1.0, 2.0, 3.0, 0.5]) for _ in range(k)]
        observed = [rng.randint(50, 10**6) for _ in range(k)]
        chi2, p, _ = sample_ratio_mismatch(observed, weights)
        total, weight = sum(observed), sum(weights)
        reference = scipy_stats.chisquare(observed, [total * w / weight for w in weights])
        assert close(chi2, float(reference.statistic))
        assert close(p, float(reference.pvalue))


def test_srm_flags_a_505_to_495_split_of_a_million() -> None:
    assert sample_ratio_mismatch([505_000, 495_000], [1, 1])[2] is True
    _, p, mismatch = sample_ratio_mismatch([500_300, 499_700], [1, 1])
    assert (mismatch, p > SRM_ALPHA) == (False, True)
    assert sample_ratio_mismatch([250_400, 749_600], [1, 3])[2] is False  # fair for 1:3


@pytest.mark.parametrize(
    ("observed", "weights", "expected"),
    [
        pytest.param([0, 0], [1, 1], (0.0, 1.0, False), id="nobody"),
        pytest.param([10], [1], (0.0, 1.0, False), id="one-population"),
        pytest.param([10, 3], [1, 0], (math.inf, 0.0, True), id="visitors-where-none-sent"),
        pytest.param([10, 0], [1, 0], (0.0, 1.0, False), id="none-where-none-sent"),
    ],
)
def test_srm_edge_cases(
    observed: list[int], weights: list[float], expected: tuple[float, float, bool]
) -> None:
    assert sample_ratio_mismatch(observed, weights) == expected
