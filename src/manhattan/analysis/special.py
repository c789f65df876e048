"""Special functions for the experiment statistics, in pure Python.

Normal, Student t and chi-square distribution functions and the regularized
incomplete beta function (Fisher's exact test is in
:mod:`manhattan.analysis.fisher`), each accurate to about
1e-12 relative (checked against SciPy to 1e-9), also far into the tails and
for counts around 10**8. Their density-like prefactors use the Stirling
remainder and deviance of :mod:`manhattan.analysis._numeric`, which keep
their digits where differences of log-gammas would not.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator

from manhattan.analysis._numeric import (
    LN_SQRT_2PI,
    SQRT1_2,
    SQRT_2PI,
    TINY,
    bd0,
    lentz,
    normal_cdf,
    normal_pdf,
    stirlerr,
)

__all__ = [
    "betainc",
    "chi2_sf",
    "norm_cdf",
    "norm_pdf",
    "norm_ppf",
    "norm_sf",
    "t_sf",
    "t_two_sided",
]

_EPS = sys.float_info.epsilon
# Series and fractions need at most a few thousand terms for parameters up
# to 1e8 (they grow like the square root of the parameters near the mean):
# a million means ~2 s and parameters near 1e16.
_MAX_TERMS = 1_000_000


def _no_convergence(name: str, *args: float) -> ArithmeticError:
    return ArithmeticError(f"{name}: no convergence in {_MAX_TERMS} terms for {args!r}")


def _real(name: str, value: float) -> float:
    """``value`` as a float; ValueError naming ``name`` if it is not a real number."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number, got {value!r}") from None
    if math.isnan(result):
        raise ValueError(f"{name} must be a real number, got nan")
    return result


def _positive(name: str, value: float) -> float:
    """``value`` as a finite float > 0, else ValueError naming ``name``."""
    result = _real(name, value)
    if not 0.0 < result < math.inf:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return result


# -- Normal distribution -----------------------------------------------------


def norm_pdf(x: float) -> float:
    """The standard normal density at ``x``."""
    return normal_pdf(_real("x", x))


def norm_cdf(x: float) -> float:
    """P(Z <= x) for a standard normal Z, accurate in relative terms in the lower tail."""
    return normal_cdf(_real("x", x))


def norm_sf(x: float) -> float:
    """P(Z > x) for a standard normal Z; uses erfc so that far upper tails keep their digits."""
    return normal_cdf(-_real("x", x))


# Acklam's rational approximations to the normal quantile (relative error
# below 1.2e-9), polished by one Halley step to full precision.
_A = (
    -3.969683028665376e01,
    2.209460984245205e02,
    -2.759285104469687e02,
    1.383577518672690e02,
    -3.066479806614716e01,
    2.506628277459239e00,
)
_B = (
    -5.447609879822406e01,
    1.615858368580409e02,
    -1.556989798598866e02,
    6.680131188771972e01,
    -1.328068155288572e01,
)
_C = (
    -7.784894002430293e-03,
    -3.223964580411365e-01,
    -2.400758277161838e00,
    -2.549732539343734e00,
    4.374664141464968e00,
    2.938163982698783e00,
)
_D = (
    7.784695709041462e-03,
    3.224671290700398e-01,
    2.445134137142996e00,
    3.754408661907416e00,
)
_P_LOW = 0.02425
# Below this the lower-tail probability is too close to the subnormal range
# (and exp(x**2 / 2) too close to overflow) for the Halley step; Newton's
# method on log(Phi) takes over there.
_P_LOG = 1e-300


def _log_norm_cdf_far(x: float) -> float:
    """log P(Z <= x) for x <= -30, from the asymptotic series of Mills' ratio."""
    inv = 1.0 / (x * x)
    # 1 - 1/x^2 + 3/x^4 - 15/x^6 ...; at |x| >= 30 eight terms leave < 1e-20.
    series = 1.0
    term = 1.0
    for k in range(1, 9):
        term *= -(2 * k - 1) * inv
        series += term
    return -0.5 * x * x - LN_SQRT_2PI - math.log(-x) + math.log(series)


def _norm_ppf_lower(p: float) -> float:
    """The normal quantile of 0 < p < 0.5 (a negative number)."""
    if p < _P_LOW:
        q = math.sqrt(-2.0 * math.log(p))
        c, d = _C, _D
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0
        )
    else:
        q = p - 0.5
        r = q * q
        a, b = _A, _B
        x = (
            (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5])
            * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
        )
    if p < _P_LOG:
        log_p = math.log(p)
        for _ in range(3):  # Newton converges quadratically from 1e-9
            log_cdf = _log_norm_cdf_far(x)
            # d/dx log Phi(x) = pdf / cdf
            slope = math.exp(-0.5 * x * x - LN_SQRT_2PI - log_cdf)
            x -= (log_cdf - log_p) / slope
        return x
    # Near the median, p - 0.5 is exact and erf keeps the relative precision
    # of a small x.
    err = 0.5 * math.erf(x * SQRT1_2) - (p - 0.5) if p >= 0.25 else normal_cdf(x) - p
    u = err * SQRT_2PI * math.exp(0.5 * x * x)
    return x - u / (1.0 + 0.5 * x * u)


def norm_ppf(p: float) -> float:
    """The standard normal quantile: the x with P(Z <= x) = p, for 0 < p < 1."""
    p = _real("p", p)
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p!r}")
    if p == 0.5:
        return 0.0
    if p > 0.5:
        return -_norm_ppf_lower(1.0 - p)  # 1 - p is exact for p > 0.5
    return _norm_ppf_lower(p)


# -- Incomplete beta and Student t --------------------------------------------


def _bd0_scaled(k: float, s: float, x: float, diff: float) -> float:
    """``bd0(k, s * x, diff)``, also when the product ``s * x`` underflows."""
    m = s * x
    if m < TINY:
        return k * (math.log(k) - math.log(s) - math.log(x)) - diff
    return bd0(k, m, diff)


def _beta_front(a: float, b: float, x: float, y: float, lam: float) -> float:
    """``x**a * y**b / B(a, b)`` for x + y = 1, both > 0, and lam = a - (a + b) x.

    Written with Stirling's formula as ``sqrt(a b / (2 pi (a + b)))
    exp(-bd0(a, (a + b) x) - bd0(b, (a + b) y) + stirlerr terms)``, which
    stays accurate for a and b of 1e8 and more.
    """
    s = a + b
    log_front = (
        stirlerr(s)
        - stirlerr(a)
        - stirlerr(b)
        - _bd0_scaled(a, s, x, lam)
        - _bd0_scaled(b, s, y, -lam)
    )
    return math.sqrt(a * (b / s) / (2.0 * math.pi)) * math.exp(log_front)


def _beta_fraction(a: float, b: float, x: float, y: float, lam: float) -> float:
    """The continued fraction ``b0 + a1 / (b1 + a2 / (b2 + ...))`` with I_x(a, b) = front / it.

    DiDonato and Morris's BFRAC (ACM TOMS 708), in the form Boost writes it,
    for lam = a - (a + b) x >= 0 (x at most the mean). Unlike the textbook
    fraction it has no term like ``1 - (a + b) x / (a + 1)`` that loses
    digits when a + b is large.
    """
    fraction = lentz(a * (lam + 1.0) / (a + 1.0), _beta_terms(a, b, x, y, lam))
    if fraction is None:
        raise _no_convergence("betainc", a, b, x)
    return fraction


def _beta_terms(
    a: float, b: float, x: float, y: float, lam: float
) -> Iterator[tuple[float, float]]:
    """The terms ``(a_m, b_m)`` of :func:`_beta_fraction`, at most ``_MAX_TERMS``."""
    for m in range(1, _MAX_TERMS):
        k = a + 2 * m - 1
        # Divided early so that parameters up to ~1e150 do not overflow.
        an = (a + m - 1) / k * ((a + b + m - 1) / k) * m * (b - m) * x * x
        bn = m + m * (b - m) * x / k + (a + m) / (k + 2) * (lam + 1.0 + m * (1.0 + y))
        yield an, bn


def _beta_series(a: float, b: float, x: float, y: float, lam: float) -> float:
    """I_x(a, b) by its power series, for x <= 1/2 and b x <= 0.7 (TOMS 708's BPSER).

    ``x**a / B(a, b) * sum((1 - b)_j / j! * x**j / (a + j))``: under those
    bounds the terms shrink from the first on, at least by 0.7 a step, and
    cancel little.
    """
    total = 1.0 / a
    term = 1.0
    j = 0
    while True:
        j += 1
        term *= (j - b) / j * x
        part = term / (a + j)
        total += part
        if abs(part) <= 1e-17 * abs(total):
            break
    # x**a / B(a, b) is the front x**a y**b / B(a, b) without y**b.
    return _beta_front(a, b, x, y, lam) * math.exp(-b * math.log1p(-x)) * total


def _mean_gap(a: float, b: float, x: float, y: float) -> float:
    """``a - (a + b) x``, the distance below the mean times a + b, correctly rounded.

    Near the mean it is a small difference of large numbers, so it is
    computed in integers (floats are binary fractions), from whichever of x
    and y = 1 - x is the more precise: the smaller.
    """
    an, ad = a.as_integer_ratio()
    bn, bd = b.as_integer_ratio()
    den = max(ad, bd)  # both are powers of two
    ia, ib = an * (den // ad), bn * (den // bd)
    if x <= y:
        un, ud = x.as_integer_ratio()
        return (ia * ud - (ia + ib) * un) / (den * ud)
    un, ud = y.as_integer_ratio()
    return ((ia + ib) * un - ib * ud) / (den * ud)


def _betainc(a: float, b: float, x: float, y: float) -> float:
    """I_x(a, b) given both x and y = 1 - x, each to full relative precision."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    lam = _mean_gap(a, b, x, y)
    # Near 0 or 1 a power series converges fast; the continued fraction can
    # need millions of terms there when a or b is tiny.
    if x <= 0.5 and b * x <= 0.7:
        return _beta_series(a, b, x, y, lam)
    if y <= 0.5 and a * y <= 0.7:
        return 1.0 - _beta_series(b, a, y, x, -lam)
    if lam >= 0.0:
        return _beta_front(a, b, x, y, lam) / _beta_fraction(a, b, x, y, lam)
    # Above the mean: I_x(a, b) = 1 - I_y(b, a), which is then not small.
    return 1.0 - _beta_front(b, a, y, x, -lam) / _beta_fraction(b, a, y, x, -lam)


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 <= x <= 1.

    Same as ``scipy.special.betainc(a, b, x)``. The cost grows like
    sqrt(min(a, b)) right at the mean (~3 ms for a = b = 1e8); beyond ~1e16
    it gives up with ArithmeticError. With a or b below ~1e-3 and a small
    result, the relative error grows like 1e-16 / result.
    """
    a = _positive("a", a)
    b = _positive("b", b)
    x = _real("x", x)
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be in [0, 1], got {x!r}")
    return _betainc(a, b, x, 1.0 - x)


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` > 0 degrees of freedom (real, may be huge).

    ``df`` may be fractional (Welch's test) or infinite (the normal distribution).
    """
    t = _real("t", t)
    df = _real("df", df)
    if not df > 0.0:
        raise ValueError(f"df must be > 0, got {df!r}")
    if df == math.inf:
        return norm_sf(t)
    if t == 0.0:
        return 0.5
    # P(|T| > |t|) = I_x(df/2, 1/2) with x = df / (df + t^2); x and 1 - x are
    # computed separately so that neither loses digits, and t^2 cannot overflow.
    a = 0.5 * df
    at = abs(t)
    root = math.sqrt(df)
    if at <= root:
        z = (at / root) ** 2  # t^2 / df <= 1
        tail = _betainc(a, 0.5, 1.0 / (1.0 + z), z / (1.0 + z))
    else:
        w = (root / at) ** 2  # df / t^2 < 1
        if w < 1e-30:
            # x = w / (1 + w) would underflow while x**a does not; here the
            # first term of the series, x**a / (a B(a, 1/2)), is exact to
            # 1e-30, and it underflows anyway unless a is small enough for
            # lgamma to be precise.
            log_x = 2.0 * (math.log(root) - math.log(at))
            tail = math.exp(
                a * log_x - math.log(a) - math.lgamma(a) - math.lgamma(0.5) + math.lgamma(a + 0.5)
            )
        else:
            tail = _betainc(a, 0.5, w / (1.0 + w), 1.0 / (1.0 + w))
    return 0.5 * tail if t > 0.0 else 1.0 - 0.5 * tail


def t_two_sided(t: float, df: float) -> float:
    """The two-sided p-value ``P(|T| >= |t|)`` for Student's t with ``df`` degrees of freedom."""
    t = _real("t", t)
    return min(1.0, 2.0 * t_sf(abs(t), df))


# -- Chi-square ----------------------------------------------------------------


def _gammaincc(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x), a > 0, x >= 0."""
    if x == 0.0:
        return 1.0
    if x == math.inf:
        return 0.0
    # x**a e**-x / Gamma(a), in Loader's form so large a and x keep their digits.
    front = math.sqrt(a / (2.0 * math.pi)) * math.exp(-bd0(a, x, a - x) - stirlerr(a))
    if x < a + 1.0:
        # P(a, x) by its series; then Q = 1 - P is not small (Q > 0.08).
        term = 1.0 / a
        total = term
        for n in range(1, _MAX_TERMS):
            term *= x / (a + n)
            total += term
            if term <= total * _EPS:
                return 1.0 - front * total
        raise _no_convergence("chi2_sf", a, x)
    # Q(a, x) = front / (b0 - 1 (1 - a) / (b0 + 2 - 2 (2 - a) / (b0 + 4 - ...)))
    # with b0 = x + 1 - a, which converges fast for x >= a + 1.
    b0 = x + 1.0 - a
    terms = ((-i * (i - a), b0 + 2.0 * i) for i in range(1, _MAX_TERMS))
    fraction = lentz(b0, terms)
    if fraction is None:
        raise _no_convergence("chi2_sf", a, x)
    return front / fraction


def chi2_sf(x: float, k: float) -> float:
    """P(X > x) for a chi-square X with ``k`` > 0 degrees of freedom; x >= 0.

    Accurate in relative terms far into the upper tail (down to ~1e-300).
    """
    x = _real("x", x)
    k = _positive("k", k)
    if x < 0.0:
        raise ValueError(f"x must be >= 0, got {x!r}")
    return _gammaincc(0.5 * k, 0.5 * x)
