"""Bayesian chance to beat control and expected loss, without sampling.

Conversions: each arm is ``(conversions, visitors)`` with a uniform prior,
so its rate's posterior is Beta(1 + conversions, 1 + visitors - conversions).
Values: each arm is ``(mean, variance of that mean)``, read as a normal
posterior for the mean (see :func:`mean_and_variance`).

Every figure is deterministic (closed forms and series, never random draws),
so a page shows the same number on every load. Beta arms have two regimes,
chosen by the smallest of the four posterior shapes, M:

* M <= :data:`EXACT_LIMIT`: P(p_v > p_c) is a finite sum of M positive
  terms. It can be written from either arm, for the rates or for their
  complements; the form whose count of terms is M is used. Exact to
  rounding (~1e-13).
* M > :data:`EXACT_LIMIT`: write each rate as G_a / (G_a + G_b) with
  independent Gamma variates, so p_v > p_c exactly when
  S = ln G_av + ln G_bc - ln G_ac - ln G_bv > 0. The cumulants of ln G_a
  are polygamma values, so those of S are known in closed form, and an
  Edgeworth series to fifth order gives P(S > 0). Each standardized
  cumulant of S is at most that of a single ln G_M, so the worst case is
  one small shape and three huge ones, i.e. the Gamma(M) CDF; against it
  the series is off by at most 1.1e-9 at M = 200, 3.3e-10 at M = 300 and
  9e-12 at M = 1000 (falling like M^-3). Hence the limit of 300: errors
  stay below 1e-9, and the sum stays below 300 terms (~40 us).

The expected losses are one chance plus a closed-form term (see
:func:`_losses`), so they share the chance's regime and accuracy. Chances
are cached by posterior shapes, so asking for a pair's chance and then its
losses does the costly part once; losses are cached too, as the same counts
come back with every analysis until the next commit.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence
from typing import SupportsFloat, SupportsIndex

from manhattan.analysis._numeric import (
    LN_SQRT_2PI,
    STIRLING_MIN,
    normal_cdf,
    normal_pdf,
    remember,
    stirlerr,
)

EXACT_LIMIT = 300
"""The largest smallest Beta shape for which the exact sum is used."""

Arm = tuple[int, int]
"""``(conversions, visitors)``."""

NormalArm = tuple[float, float]
"""``(mean, variance of that mean)``."""

_RESCALE = 1e50  # terms grow by at most ~1e8 a step: far from overflow
_LOG_RESCALE = math.log(_RESCALE)

# Bernoulli numbers B2..B12, for the asymptotic series of digamma and
# polygamma: psi(x) - ln x = -1/(2x) - sum B2k / (2k x^2k), and
# psi_n(x) = (-1)^(n+1) x^-n ((n-1)! + n!/(2x) + sum B2k (2k+n-1)!/(2k)! x^-2k).
_BERNOULLI = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730)
_DIGAMMA = tuple(b / (2 * k) for k, b in enumerate(_BERNOULLI, start=1))
_POLYGAMMA = tuple(
    (
        math.factorial(n) / 2,
        (
            math.factorial(n - 1),
            *(
                b * math.factorial(2 * k + n - 1) / math.factorial(2 * k)
                for k, b in enumerate(_BERNOULLI, start=1)
            ),
        ),
        1.0 if n % 2 else -1.0,
    )
    for n in range(1, 7)
)


# --- validation ---------------------------------------------------------------


def _count(value: object, name: str) -> int:
    """A non-negative integer count, or ValueError naming ``name``."""
    # Checks against runtime protocols cost microseconds: plain ints skip them.
    if type(value) is not int and (
        isinstance(value, bool) or not isinstance(value, SupportsIndex)
    ):
        raise ValueError(f"{name}: counts must be integers, got {value!r}")
    number = operator.index(value)
    if number < 0:
        raise ValueError(f"{name}: counts must not be negative, got {number}")
    return number


def _pair(arm: object, name: str, what: str) -> tuple[object, object]:
    """The two items of ``arm``, or ValueError naming it."""
    if type(arm) is not tuple and (not isinstance(arm, Sequence) or isinstance(arm, str)):
        raise ValueError(f"{name} must be a {what} pair, got {arm!r}")
    if len(arm) != 2:
        raise ValueError(f"{name} must be a {what} pair, got {arm!r}")
    return arm[0], arm[1]


def _shapes(arm: object, name: str) -> tuple[int, int]:
    """The posterior Beta shapes of a ``(conversions, visitors)`` arm."""
    first, second = _pair(arm, name, "(conversions, visitors)")
    conversions, visitors = _count(first, name), _count(second, name)
    if conversions > visitors:
        raise ValueError(f"{name}: {conversions} conversions exceed {visitors} visitors")
    return 1 + conversions, 1 + visitors - conversions


def _number(value: object, name: str) -> float:
    """A real number as a float, or ValueError naming ``name``."""
    if type(value) is not float and (
        isinstance(value, bool) or not isinstance(value, SupportsFloat)
    ):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    return float(value)


def _normal_arm(arm: object, name: str) -> tuple[float, float]:
    """``(mean, variance)`` of a normal arm, or ValueError naming it."""
    first, second = _pair(arm, name, "(mean, variance)")
    mean, variance = _number(first, name), _number(second, name)
    if not math.isfinite(mean):
        raise ValueError(f"{name}: the mean must be finite, got {mean!r}")
    if not variance >= 0.0:  # written so that NaN fails too
        raise ValueError(f"{name}: the variance must be >= 0, got {variance!r}")
    return mean, variance


# --- special functions ----------------------------------------------------------


def _lbeta(a: float, b: float) -> float:
    """ln B(a, b) for a, b > 0, with an absolute error of a few ulps of
    min(a, b) ln(max(a, b)) however large the other shape is.

    lgamma(1e8) is ~1.7e9, so a difference of such values would lose ~1e-7;
    the Stirling forms below only take logs of ratios.
    """
    small, large = (a, b) if a <= b else (b, a)
    if large < STIRLING_MIN:
        return math.lgamma(small) + math.lgamma(large) - math.lgamma(small + large)
    total = small + large
    if small < STIRLING_MIN:
        # lgamma(total) - lgamma(large), both by Stirling, in log1p form.
        rising = (
            (large - 0.5) * math.log1p(small / large)
            + small * math.log(total)
            - small
            + stirlerr(total)
            - stirlerr(large)
        )
        return math.lgamma(small) - rising
    return (
        LN_SQRT_2PI
        - 0.5 * math.log(total)
        - (small - 0.5) * math.log1p(large / small)
        - (large - 0.5) * math.log1p(small / large)
        + stirlerr(small)
        + stirlerr(large)
        - stirlerr(total)
    )


def _digamma_minus_log(x: float) -> float:
    """digamma(x) - ln x by its asymptotic series (x > EXACT_LIMIT here)."""
    inverse = 1.0 / x
    square = inverse * inverse
    total = 0.0
    for coefficient in reversed(_DIGAMMA):
        total = total * square + coefficient
    return -0.5 * inverse - total * square


def _log_gamma_cumulants(x: float) -> list[float]:
    """Cumulants 2..7 of ln G for G ~ Gamma(x): polygamma(1..6, x).

    Asymptotic series; for x > EXACT_LIMIT the first omitted term is below
    1e-38 of the leading one.
    """
    inverse = 1.0 / x
    square = inverse * inverse
    cumulants = []
    lead = 1.0
    for half, coefficients, sign in _POLYGAMMA:
        lead *= inverse
        total = 0.0
        for coefficient in reversed(coefficients):
            total = total * square + coefficient
        cumulants.append(sign * lead * (total + half * inverse))
    return cumulants


def _hermite(n_max: int, z: float) -> list[float]:
    """Probabilists' Hermite polynomials He_0..He_n_max at z."""
    values = [1.0, z]
    for n in range(1, n_max):
        values.append(z * values[n] - n * values[n - 1])
    return values


# --- Beta arms --------------------------------------------------------------------


def _exact_greater(alpha_a: int, beta_a: int, alpha_b: int, beta_b: int) -> float:
    """P(X_b > X_a) for X ~ Beta(alpha, beta): a sum of alpha_b terms,

    sum over i < alpha_b of B(alpha_a + i, beta_a + beta_b) /
    ((beta_b + i) B(1 + i, beta_b) B(alpha_a, beta_a)).

    Each term is the last times a rational factor. The first,
    B(alpha_a, beta_a + beta_b) / B(alpha_a, beta_a), may underflow, so the
    terms are kept scaled by exp(scale).
    """
    if beta_b < alpha_a:
        # The same ratio as B(alpha_a + beta_a, beta_b) / B(beta_a, beta_b),
        # whose rounding error scales with beta_b rather than alpha_a.
        scale = _lbeta(alpha_a + beta_a, beta_b) - _lbeta(beta_a, beta_b)
    else:
        scale = _lbeta(alpha_a, beta_a + beta_b) - _lbeta(alpha_a, beta_a)
    term = 1.0
    total = 0.0
    up_a = float(alpha_a)  # floats throughout: mixed arithmetic is slower
    up_b = float(beta_b)
    down = float(alpha_a + beta_a + beta_b)
    count = 1.0
    for _ in range(alpha_b):
        total += term
        term *= up_a * up_b / (down * count)
        up_a += 1.0
        up_b += 1.0
        down += 1.0
        count += 1.0
        if term > _RESCALE:
            term /= _RESCALE
            total /= _RESCALE
            scale += _LOG_RESCALE
    return total * math.exp(scale)


def _exact_chance(control: tuple[int, int], variant: tuple[int, int]) -> float:
    """P(p_v > p_c) by whichever of the four forms of the sum is shortest."""
    a_c, b_c = control
    a_v, b_v = variant
    fewest = min(a_c, b_c, a_v, b_v)
    if fewest == a_v:
        return _exact_greater(a_c, b_c, a_v, b_v)
    if fewest == a_c:
        return 1.0 - _exact_greater(a_v, b_v, a_c, b_c)
    # Complements: p_v > p_c exactly when 1 - p_c > 1 - p_v.
    if fewest == b_c:
        return _exact_greater(b_v, a_v, b_c, a_c)
    return 1.0 - _exact_greater(b_c, a_c, b_v, a_v)


def _edgeworth_chance(control: tuple[int, int], variant: tuple[int, int]) -> float:
    """P(p_v > p_c) by the Edgeworth series of S (see the module docstring)."""
    a_c, b_c = control
    a_v, b_v = variant
    # The mean of S; the logs of ratios keep it accurate for huge shapes.
    mean = math.log((a_v / a_c) * (b_c / b_v)) + (
        _digamma_minus_log(a_v)
        + _digamma_minus_log(b_c)
        - _digamma_minus_log(a_c)
        - _digamma_minus_log(b_v)
    )
    # S subtracts ln G_ac and ln G_bv, which flips the sign of their odd cumulants.
    cumulants = [0.0, mean, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    for shape, sign in ((a_v, 1.0), (b_c, 1.0), (a_c, -1.0), (b_v, -1.0)):
        for order, value in enumerate(_log_gamma_cumulants(shape), start=2):
            cumulants[order] += value if order % 2 == 0 else sign * value
    sd = math.sqrt(cumulants[2])
    g3, g4, g5, g6, g7 = (cumulants[r] / sd**r for r in range(3, 8))
    z = -mean / sd  # P(S <= 0) is the standardized CDF at z
    he = _hermite(14, z)
    # CDF = Phi(z) - phi(z) * series: the density's terms He_k become
    # He_(k-1), grouped by order in M^-1/2 (from exp(sum g_r He_r / r!)).
    series = (
        g3 / 6 * he[2]
        + (g4 / 24 * he[3] + g3 * g3 / 72 * he[5])
        + (g5 / 120 * he[4] + g3 * g4 / 144 * he[6] + g3**3 / 1296 * he[8])
        + (
            g6 / 720 * he[5]
            + (g3 * g5 / 720 + g4 * g4 / 1152) * he[7]
            + g3 * g3 * g4 / 1728 * he[9]
            + g3**4 / 31104 * he[11]
        )
        + (
            g7 / 5040 * he[6]
            + (g3 * g6 / 4320 + g4 * g5 / 2880) * he[8]
            + (g3 * g3 * g5 / 8640 + g3 * g4 * g4 / 6912) * he[10]
            + g3**3 * g4 / 31104 * he[12]
            + g3**5 / 933120 * he[14]
        )
    )
    # 1 - CDF, written without the cancellation of 1 - Phi(z).
    return min(1.0, max(0.0, normal_cdf(-z) + normal_pdf(z) * series))


@remember
@functools.lru_cache(maxsize=1024)
def _ordered_chance(control: tuple[int, int], variant: tuple[int, int]) -> float:
    """P(p_v > p_c) for Beta shapes with control < variant.

    Cached: a report asks for the chance and then the losses of the same
    arms, and the exact sum is the costly part of both.
    """
    if min(*control, *variant) <= EXACT_LIMIT:
        return _exact_chance(control, variant)
    return _edgeworth_chance(control, variant)


def _chance(control: tuple[int, int], variant: tuple[int, int]) -> float:
    """P(p_v > p_c) for Beta shapes, computed in one canonical orientation
    so that swapping the arms gives the complement to within one rounding."""
    if control == variant:
        return 0.5
    if variant < control:
        return 1.0 - _ordered_chance(variant, control)
    return _ordered_chance(control, variant)


def _log_overlap(control: tuple[int, int], variant: tuple[int, int]) -> float:
    """ln K for K = B(a_c + a_v, b_c + b_v) / (B(a_c, b_c) B(a_v, b_v))
    = E[p_v^a_c (1 - p_v)^b_c] / B(a_c, b_c), from its nine lgamma terms.

    Each lgamma(x) is split into Stirling's (x - 1/2) ln x - x + ln(2 pi)/2
    and a small remainder. The x terms cancel, and the x ln x terms add up
    to minus the arms' Kullback-Leibler divergences from the pooled rate,
    which log1p of exact integer ratios gives without the cancellation of
    values near 1e9 that lgamma(1e8) would bring.
    """
    (a_c, b_c), (a_v, b_v) = control, variant
    n_c, n_v = a_c + b_c, a_v + b_v
    a, b, n = a_c + a_v, b_c + b_v, n_c + n_v
    d = a_c * n_v - a_v * n_c  # p_c - p_pooled = d / (n_c n), exactly
    divergence = (
        a_c * math.log1p(d / (n_c * a))
        + b_c * math.log1p(-d / (n_c * b))
        + a_v * math.log1p(-d / (n_v * a))
        + b_v * math.log1p(d / (n_v * b))
    )
    halves = math.log(a * b * n_c * n_v / (n * a_c * b_c * a_v * b_v))
    remainders = (
        stirlerr(a)
        + stirlerr(b)
        - stirlerr(n)
        - stirlerr(a_c)
        - stirlerr(b_c)
        + stirlerr(n_c)
        - stirlerr(a_v)
        - stirlerr(b_v)
        + stirlerr(n_v)
    )
    return -LN_SQRT_2PI - divergence - 0.5 * halves + remainders


@remember
@functools.lru_cache(maxsize=1024)
def _losses(control: tuple[int, int], variant: tuple[int, int]) -> tuple[float, float]:
    """(E[max(p_c - p_v, 0)], E[max(p_v - p_c, 0)]) for Beta shapes.

    Size-biasing gives E[p_c 1{p_c > p_v}] = E[p_c] P(p'_c > p_v) with
    p'_c ~ Beta(a_c + 1, b_c), and I_x(a + 1, b) = I_x(a, b) -
    x^a (1 - x)^b / (a B(a, b)) turns that into the chance itself plus
    K / a_c (K as in :func:`_log_overlap`); likewise for p_v. So
    E[max(p_c - p_v, 0)] = (m_c - m_v) P(p_c > p_v) + K (1/n_c + 1/n_v)
    with means m and n = a + b: one chance, whose error is multiplied by
    |m_c - m_v|, which is at most a few posterior deviations whenever the
    chance is not ~0 or ~1.
    """
    if variant < control:
        swapped = _losses(variant, control)
        return swapped[1], swapped[0]
    (a_c, b_c), (a_v, b_v) = control, variant
    n_c, n_v = a_c + b_c, a_v + b_v
    difference = (a_c * n_v - a_v * n_c) / (n_c * n_v)  # m_c - m_v
    overlap = math.exp(_log_overlap(control, variant)) * (1 / n_c + 1 / n_v)
    variant_wins = _chance(control, variant)
    choose_variant = difference * (1.0 - variant_wins) + overlap
    keep_control = overlap - difference * variant_wins
    # Either is tiny when one arm is far ahead; rounding must not make it negative.
    return max(0.0, choose_variant), max(0.0, keep_control)


def beta_chance_to_beat(control: Arm, variant: Arm) -> float:
    """P(p_variant > p_control), each arm ``(conversions, visitors)``.

    With a uniform prior each rate's posterior is Beta(1 + conversions,
    1 + visitors - conversions); an arm without visitors is uniform.
    Exact while the smallest posterior shape is at most
    :data:`EXACT_LIMIT`, else an Edgeworth series (error below 1e-9).
    Identical arms give exactly 0.5, and swapping the arms gives the
    complement (to within 1e-16).

    Raises ValueError naming the arm unless its counts are non-negative
    integers with conversions <= visitors.
    """
    return _chance(_shapes(control, "control"), _shapes(variant, "variant"))


def beta_expected_loss(control: Arm, variant: Arm) -> tuple[float, float]:
    """Expected losses in conversion rate, each arm ``(conversions, visitors)``.

    Returns ``(E[max(p_c - p_v, 0)], E[max(p_v - p_c, 0)])``: what choosing
    the variant costs on average (counting only the cases where it is
    worse), and what keeping the control costs. Same posteriors, regimes,
    errors and ValueErrors as :func:`beta_chance_to_beat`.
    """
    return _losses(_shapes(control, "control"), _shapes(variant, "variant"))


# --- normal arms ----------------------------------------------------------------


def normal_chance_to_beat(control: NormalArm, variant: NormalArm) -> float:
    """P(mu_variant > mu_control) with independent normal posteriors.

    Each arm is ``(mean, variance of that mean)``; the answer is
    Phi((m_v - m_c) / sqrt(v_c + v_v)). With both variances 0 it is 1.0,
    0.0 or 0.5 by the sign of m_v - m_c; an infinite variance (not enough
    data, see :func:`mean_and_variance`) gives 0.5. Raises ValueError
    naming the arm for a non-finite mean or a negative or NaN variance.
    """
    mean_c, var_c = _normal_arm(control, "control")
    mean_v, var_v = _normal_arm(variant, "variant")
    difference = mean_v - mean_c
    spread = var_c + var_v
    if spread == 0.0:
        return 1.0 if difference > 0 else 0.0 if difference < 0 else 0.5
    return normal_cdf(difference / math.sqrt(spread))


def _positive_part(mu: float, sd: float) -> float:
    """E[max(X, 0)] for X ~ N(mu, sd^2): mu Phi(mu/sd) + sd phi(mu/sd)."""
    if sd == 0.0:
        return max(mu, 0.0)
    if math.isinf(sd):
        return math.inf
    z = mu / sd
    # Far in the lower tail both terms are tiny and nearly cancel.
    return max(0.0, mu * normal_cdf(z) + sd * normal_pdf(z))


def normal_expected_loss(control: NormalArm, variant: NormalArm) -> tuple[float, float]:
    """Expected losses with normal posteriors, arms ``(mean, variance)``.

    Returns ``(E[max(mu_c - mu_v, 0)], E[max(mu_v - mu_c, 0)])`` in closed
    form: both infinite when either variance is. ValueErrors as
    :func:`normal_chance_to_beat`.
    """
    mean_c, var_c = _normal_arm(control, "control")
    mean_v, var_v = _normal_arm(variant, "variant")
    sd = math.sqrt(var_c + var_v)
    return _positive_part(mean_c - mean_v, sd), _positive_part(mean_v - mean_c, sd)


def mean_and_variance(visitors: int, total: float, sum_of_squares: float) -> NormalArm:
    """The mean value per visitor and the variance of that mean.

    ``total`` and ``sum_of_squares`` are the sum and the sum of squares of
    the per-visitor value totals, visitors without a value counting as 0.
    The variance of the mean is the sample variance (n - 1 denominator)
    divided by n. With fewer than two visitors it cannot be estimated and
    is ``inf``, so callers can tell "not enough data" with math.isinf (and
    the normal functions then give a chance of 0.5 and infinite losses);
    the mean is 0.0 without visitors.

    Raises ValueError naming the argument for a negative or non-integer
    ``visitors``, non-finite sums, or a ``sum_of_squares`` below
    total^2 / visitors beyond rounding (no values have such sums).
    """
    n = _count(visitors, "visitors")
    total = _number(total, "total")
    sum_of_squares = _number(sum_of_squares, "sum_of_squares")
    for name, value in (("total", total), ("sum_of_squares", sum_of_squares)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
    if n == 0:
        if total != 0.0 or sum_of_squares != 0.0:
            raise ValueError(
                f"total and sum_of_squares must be 0 without visitors, got {total!r}, "
                f"{sum_of_squares!r}"
            )
        return 0.0, math.inf
    mean = total / n
    squares = sum_of_squares - mean * total
    # Rounding may leave a zero spread slightly negative; more cannot happen.
    if squares < -1e-9 * abs(sum_of_squares) or sum_of_squares < 0.0:
        raise ValueError(
            f"sum_of_squares {sum_of_squares!r} is below total^2 / visitors {mean * total!r}"
        )
    if n == 1:
        return mean, math.inf
    return mean, max(squares, 0.0) / (n - 1) / n
