"""Intervals and tests for one population against control, from counts.

Each function matches the textbook definition its docstring names (and
the reference implementation the tests compare it with). Rates are
``conversions / visitors``; values are per-visitor value totals summarised
as (visitors, total, sum of squares).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

from manhattan.analysis._numeric import remember, stirlerr
from manhattan.analysis.fisher import fisher_exact
from manhattan.analysis.special import chi2_sf, norm_ppf, norm_sf, t_two_sided

Z95 = 1.959963984540054
"""The two-sided 95% quantile of the standard normal."""

SRM_ALPHA = 0.001
"""Sample ratio mismatch is flagged below this p-value."""


def wilson(conversions: int, visitors: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``conversions / visitors`` ((0, 1) for no visitors)."""
    if visitors == 0:
        return 0.0, 1.0
    p = conversions / visitors
    zz = z * z
    denominator = 1 + zz / visitors
    center = (p + zz / (2 * visitors)) / denominator
    half = z * math.sqrt(p * (1 - p) / visitors + zz / (4 * visitors * visitors)) / denominator
    return max(0.0, center - half), min(1.0, center + half)


def difference_interval(
    control: float,
    control_variance: float,
    variant: float,
    variant_variance: float,
    z: float = Z95,
) -> tuple[float, float, float, float | None, float | None, float | None]:
    """Absolute and relative difference of two estimates, with normal intervals.

    Returns ``(absolute, low, high, relative, low, high)``; the relative
    lift ``variant / control - 1`` and its delta-method interval are
    ``None`` when control is 0.
    """
    absolute = variant - control
    spread = z * math.sqrt(control_variance + variant_variance)
    if control == 0:
        return absolute, absolute - spread, absolute + spread, None, None, None
    ratio = variant / control
    # Delta method: Var(v / c) ~ (v / c)^2 (Var v / v^2 + Var c / c^2).
    relative_variance = variant_variance / control**2 + ratio**2 * control_variance / control**2
    relative_spread = z * math.sqrt(relative_variance)
    relative = ratio - 1
    return (
        absolute,
        absolute - spread,
        absolute + spread,
        relative,
        relative - relative_spread,
        relative + relative_spread,
    )


def two_proportion_z_test(
    control_conversions: int, control_visitors: int, conversions: int, visitors: int
) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (1.0 when it is undefined)."""
    if not control_visitors or not visitors:
        return 1.0
    pooled = (control_conversions + conversions) / (control_visitors + visitors)
    variance = pooled * (1 - pooled) * (1 / control_visitors + 1 / visitors)
    if variance <= 0:
        return 1.0
    z = (conversions / visitors - control_conversions / control_visitors) / math.sqrt(variance)
    return min(1.0, 2 * norm_sf(abs(z)))


def expects_few(
    control_conversions: int, control_visitors: int, conversions: int, visitors: int
) -> bool:
    """Whether any cell of the 2x2 table expects fewer than 5 (then use Fisher)."""
    total = control_visitors + visitors
    converted = control_conversions + conversions
    for row in (control_visitors, visitors):
        for column in (converted, total - converted):
            if row * column < 5 * total:
                return True
    return False


def conversion_p_value(
    control_conversions: int, control_visitors: int, conversions: int, visitors: int
) -> tuple[float, str]:
    """``(p-value, test name)``: Fisher's exact test when a cell expects fewer
    than 5, the two-proportion z-test otherwise."""
    if expects_few(control_conversions, control_visitors, conversions, visitors):
        table = (conversions, visitors - conversions, control_conversions,
                 control_visitors - control_conversions)  # fmt: skip
        return fisher_exact(*table), "fisher"
    return (
        two_proportion_z_test(control_conversions, control_visitors, conversions, visitors),
        "z-test",
    )


def sample_variance(visitors: int, total: float, sum_of_squares: float) -> float:
    """The sample variance (n - 1) of per-visitor values from their sums (nan below 2)."""
    if visitors < 2:
        return math.nan
    return max(0.0, (sum_of_squares - total * total / visitors) / (visitors - 1))


def welch_t_test(
    control: tuple[int, float, float], variant: tuple[int, float, float]
) -> tuple[float, float, float]:
    """Welch's t-test of two means from (visitors, total, sum of squares).

    Returns ``(t, degrees of freedom, two-sided p-value)``; with no spread
    at all the p-value is 1.0 for equal means and 0.0 otherwise.
    ``ValueError`` with fewer than 2 visitors in an arm.
    """
    (n_c, total_c, squares_c), (n_v, total_v, squares_v) = control, variant
    if min(n_c, n_v) < 2:
        # One visitor has no sample variance: there is no t statistic.
        raise ValueError(f"welch_t_test needs 2 visitors or more in each arm, not {n_c}, {n_v}")
    a = sample_variance(n_c, total_c, squares_c) / n_c
    b = sample_variance(n_v, total_v, squares_v) / n_v
    difference = total_v / n_v - total_c / n_c
    if a + b == 0:
        if difference == 0:
            return 0.0, math.nan, 1.0
        return math.copysign(math.inf, difference), math.nan, 0.0
    t = difference / math.sqrt(a + b)
    # Welch-Satterthwaite, (a + b)^2 / (a^2 / (n_c - 1) + b^2 / (n_v - 1)),
    # with a and b as shares of a + b: their squares cannot underflow to 0.
    share_a, share_b = a / (a + b), b / (a + b)
    df = 1 / (share_a * share_a / (n_c - 1) + share_b * share_b / (n_v - 1))
    return t, df, _t_p_value(t, df)


@remember
@functools.lru_cache(maxsize=1024)
def _t_p_value(t: float, df: float) -> float:
    """:func:`~manhattan.analysis.special.t_two_sided`, cached: the same
    value totals come back with every analysis until the next commit."""
    return t_two_sided(t, df)


@remember
@functools.lru_cache(maxsize=1024)
def t_quantile(df: float, p_value: float = 0.05) -> float:
    """The ``t`` whose two-sided p-value with ``df`` degrees of freedom is
    ``p_value`` (1.96 at 5% for large ``df``).

    Newton's method from the Cornish-Fisher expansion (its first term below
    df = 10, where the series diverges). The p-value falls and is convex in
    ``t``, so from below the root every step stays below it; a start above
    it steps back (never below half the current point). Where the series'
    next term is below a rounding (df above about 2,000 at 5%, and infinite
    df) the series is the quantile, without a step; repeated ``df`` (the
    same counts analysed again) come from a cache.
    """
    if not df > 0:
        raise ValueError(f"df must be positive, not {df!r}")
    if not 0 < p_value < 1:
        raise ValueError(f"p_value must be between 0 and 1, not {p_value!r}")
    z = -norm_ppf(p_value / 2)
    # Fisher and Cornish's expansion in 1 / df (Abramowitz and Stegun
    # 26.7.5): at large df already the quantile.
    zz = z * z
    first = z * (zz + 1) / 4
    if df < 10:
        x = z + first / df
    else:
        terms = (
            first,
            z * ((5 * zz + 16) * zz + 3) / 96,
            z * (((3 * zz + 19) * zz + 17) * zz - 15) / 384,
            z * ((((79 * zz + 776) * zz + 1482) * zz - 1920) * zz - 945) / 92160,
        )
        x = z + sum(term / df ** (k + 1) for k, term in enumerate(terms))
        # The next term (g5) is the series' error to within 10% from df =
        # 20 on; bounded here with every coefficient positive, in case it
        # nears 0. Below a rounding, Newton's step would change nothing.
        bound = z * (((((27 * zz + 339) * zz + 930) * zz + 1782) * zz + 765) * zz + 17955)
        if bound / 368640 / df**5 <= 1e-17 * x:
            return x
    # log(Gamma((df + 1) / 2) / Gamma(df / 2) / sqrt(df pi)), through
    # Stirling's remainders: lgamma's difference would lose digits at large df.
    half = df / 2
    log_front = (
        half * math.log1p(1 / df)
        + 0.5 * math.log(half)
        - 0.5
        + stirlerr(half + 0.5)
        - stirlerr(half)
        - 0.5 * math.log(df * math.pi)
    )
    # Newton's steps shrink quadratically once near the root, so the
    # tolerance below is always reached.
    while True:
        density = math.exp(log_front - (half + 0.5) * math.log1p(x * x / df))
        step = (t_two_sided(x, df) - p_value) / (2 * density)
        x = max(0.5 * x, x + step)
        if abs(step) <= 1e-14 * x:
            return x


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (``None`` stays out)."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


def sample_ratio_mismatch(
    observed: Sequence[int], weights: Sequence[float]
) -> tuple[float, float, bool]:
    """Chi-square goodness of fit of impressions to the split's weights.

    Returns ``(chi-square, p-value, mismatch)``; mismatch is ``p < 0.001``.
    """
    total = sum(observed)
    weight = sum(weights)
    if total == 0 or len(observed) < 2:
        return 0.0, 1.0, False
    chi2 = 0.0
    for count, share in zip(observed, weights, strict=True):
        expected = total * share / weight
        if expected > 0:
            chi2 += (count - expected) ** 2 / expected
        elif count > 0:
            return math.inf, 0.0, True  # visitors where the split sends none
    p = chi2_sf(chi2, len(observed) - 1)
    return chi2, p, p < SRM_ALPHA
