"""Numerical primitives of the analysis, each written once (internal).

The Stirling remainder, the binomial deviance, the normal density and
distribution function without argument checks, continued fractions by
the modified Lentz method, and the register of the analysis's caches.
:mod:`manhattan.analysis.special` builds the checked, public distribution
functions on them; :mod:`~manhattan.analysis.bayes` and
:mod:`~manhattan.analysis.fisher` use them directly.

Large arguments are where the textbook formulas fail: ``lgamma(1e8)`` is
about 1.7e9, so a difference of such log-gammas keeps only seven digits.
Density-like prefactors are therefore written the way Loader ("Fast and
accurate computation of binomial probabilities", 2000) writes the binomial
density: a Stirling remainder, which is small, plus a deviance term
:func:`bd0`, which is computed without cancellation.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Iterable
from typing import Any, TypeVar

T = TypeVar("T")

LN_SQRT_2PI = 0.91893853320467274178  # log(sqrt(2 pi))
SQRT_2PI = 2.50662827463100050242
SQRT1_2 = 0.70710678118654752440  # 1/sqrt(2)
TINY = sys.float_info.min  # smallest normal float
STIRLING_MIN = 15.0
"""From here on :func:`stirlerr` uses Stirling's series instead of ``lgamma``."""

# A continued fraction's terms reach 1 within a few ulps; asking for exactly 1
# could loop forever on rounding, asking for 1e-15 costs nothing in accuracy.
_CF_TOL = 1e-15
# Lentz's algorithm replaces a zero denominator by this.
_FPMIN = 1e-300


def stirlerr(z: float) -> float:
    """``lgamma(z) - ((z - 1/2) log z - z + log sqrt(2 pi))``, for z > 0.

    Small for large z, so adding and subtracting it loses nothing, unlike
    adding and subtracting ``lgamma`` of large arguments.
    """
    if z >= STIRLING_MIN:
        # Stirling's series; at z = 15 the next term is below 3e-16.
        zz = z * z
        return (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / (1188 * zz)) / zz) / zz) / zz) / z
    # All terms are below ~40 here, so the absolute error stays ~1e-14.
    return math.lgamma(z) - (z - 0.5) * math.log(z) + z - LN_SQRT_2PI


def bd0(x: float, m: float, diff: float) -> float:
    """The deviance ``x log(x / m) + m - x`` for x > 0, m > 0, without cancellation.

    ``diff`` is ``x - m``, which the caller often knows more precisely than
    the rounded ``m`` tells (when x and m are large and close).
    """
    if abs(diff) < 0.1 * (x + m):
        # Series in v = (x - m) / (x + m); it converges like v**2 < 0.01.
        v = diff / (x + m)
        s = diff * v
        ej = 2.0 * x * v
        v *= v
        j = 3
        while True:
            ej *= v
            s1 = s + ej / j
            if s1 == s:
                return s
            s = s1
            j += 2
    ratio = x / m
    if TINY < ratio < math.inf:
        return x * math.log(ratio) - diff
    # The ratio over- or underflows: far in a tail, where logs of the parts are
    # precise enough because the deviance is huge compared to their error.
    return x * (math.log(x) - math.log(m)) - diff


def normal_pdf(z: float) -> float:
    """The standard normal density at a float ``z`` (unchecked)."""
    return math.exp(-0.5 * z * z) / SQRT_2PI


def normal_cdf(z: float) -> float:
    """P(Z <= z) for a standard normal Z and a float ``z`` (unchecked); erfc
    keeps the lower tail's relative precision."""
    return 0.5 * math.erfc(-z * SQRT1_2)


def lentz(b0: float, terms: Iterable[tuple[float, float]]) -> float | None:
    """The continued fraction ``b0 + a1 / (b1 + a2 / (b2 + ...))`` by the
    modified Lentz method, ``terms`` giving ``(a_n, b_n)`` for n = 1, 2, ...

    ``b0`` must not be 0. ``None`` if the terms run out before the value
    settles: the caller bounds them and names the failure.
    """
    f = c = b0
    d = 0.0
    for an, bn in terms:
        d = bn + an * d
        d = 1.0 / (d if d != 0.0 else _FPMIN)
        c = bn + an / c
        c = c if c != 0.0 else _FPMIN
        delta = c * d
        f *= delta
        if abs(delta - 1.0) <= _CF_TOL:
            return f
    return None


_CACHES: list[functools._lru_cache_wrapper[Any]] = []


def remember(cache: functools._lru_cache_wrapper[T]) -> functools._lru_cache_wrapper[T]:
    """Register an ``lru_cache`` of the analysis for :func:`clear_caches`."""
    _CACHES.append(cache)
    return cache


def clear_caches() -> None:
    """Empty every registered cache: what fresh counts cost (benchmarks), or
    a check that the cached figures are the computed ones (tests)."""
    for cache in _CACHES:
        cache.cache_clear()
