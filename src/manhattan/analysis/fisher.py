"""Fisher's exact test of a 2x2 table, two-sided, as SciPy defines it.

Probabilities of tables with the observed margins follow the
hypergeometric law; they are computed in log space with Loader's binomial
terms (see :mod:`manhattan.analysis._numeric`), so tables with counts around
10**8 keep their digits.
"""

from __future__ import annotations

import math
import operator

from manhattan.analysis._numeric import LN_SQRT_2PI, bd0, stirlerr

__all__ = ["fisher_exact"]


class _Hypergeom:
    """The hypergeometric law of the top-left cell of a 2x2 table with fixed margins."""

    def __init__(self, row1: int, row2: int, col1: int) -> None:
        self.row1 = row1
        self.row2 = row2
        self.col1 = col1
        self.total = total = row1 + row2
        self.lo = max(0, col1 - row2)
        self.hi = min(col1, row1)
        # Loader's decomposition: three binomial densities at p = col1 / total.
        p = col1 / total
        q = (total - col1) / total
        # log1p keeps the digits of a log near 0 (p or q close to 1).
        self.log_p = math.log(p) if p <= 0.5 else math.log1p(-q)
        self.log_q = math.log(q) if q <= 0.5 else math.log1p(-p)
        # With p = q = 1/2, C(n, k) p**k q**(n - k) is symmetric in k and n - k;
        # computing it one way only keeps tables tied by that symmetry exactly
        # tied (SciPy treats ties within a relative 1e-14 as ties).
        self.half = 2 * col1 == total
        self.log_norm = self._log_binom(col1, total)

    def _log_binom(self, k: int, n: int) -> float:
        """log C(n, k) p**k q**(n - k) for 0 <= k <= n, n > 0."""
        if self.half and 2 * k > n:
            k = n - k
        if k == 0:
            return n * self.log_q
        if k == n:
            return n * self.log_p
        total, col1 = self.total, self.col1
        # The means n p and n q and the deviation k - n p, each rounded once
        # from exact integers (Python's int / int is correctly rounded).
        mean_p = n * col1 / total
        mean_q = n * (total - col1) / total
        diff = (k * total - n * col1) / total
        lc = (
            stirlerr(n)
            - stirlerr(k)
            - stirlerr(n - k)
            - bd0(k, mean_p, diff)
            - bd0(n - k, mean_q, -diff)
        )
        return lc - 0.5 * (2.0 * LN_SQRT_2PI + math.log(k) + math.log1p(-k / n))

    def logpmf(self, x: int) -> float:
        """log P(X = x), for lo <= x <= hi."""
        return (
            self._log_binom(x, self.row1)
            + self._log_binom(self.col1 - x, self.row2)
            - self.log_norm
        )

    def tail(self, start: int, step: int) -> float:
        """The sum of P(X = x) from ``start`` outwards (step +1 or -1) to the end of the support.

        ``start`` lies on the far side of the mode, so terms shrink outwards
        (ever faster: the law is log-concave) and the sum stops when what is
        left is below 1e-17 of it.
        """
        stop = self.hi if step > 0 else self.lo
        r1, r2, c1 = self.row1, self.row2, self.col1
        x = start
        term = 1.0
        total = 1.0
        while x != stop:
            if step > 0:
                ratio = (r1 - x) * (c1 - x) / ((x + 1) * (r2 - c1 + x + 1))
            else:
                ratio = x * (r2 - c1 + x) / ((r1 - x + 1) * (c1 - x + 1))
            term *= ratio
            total += term
            x += step
            # Every later ratio is at most this one, so the rest is at most
            # term * ratio / (1 - ratio).
            if term * ratio <= 1e-17 * total * (1.0 - ratio):
                break
        return math.exp(self.logpmf(start)) * total


def _nonnegative_int(name: str, value: int) -> int:
    """``value`` as an int >= 0, else ValueError naming ``name``."""
    try:
        result = operator.index(value)
    except TypeError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if result < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return result


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """The two-sided p-value of Fisher's exact test on the 2x2 table [[a, b], [c, d]].

    Defined as ``scipy.stats.fisher_exact([[a, b], [c, d]]).pvalue``: the
    probability, given the margins, of the tables no more probable than the
    observed one, where "no more probable" allows a relative tolerance of
    1e-14 so that tables tied in exact arithmetic count as tied; 1.0 when a
    row or column is empty or the observed table is the most probable one.
    Fast for margins in the tens of thousands, exact for counts of 1e8.
    """
    a = _nonnegative_int("a", a)
    b = _nonnegative_int("b", b)
    c = _nonnegative_int("c", c)
    d = _nonnegative_int("d", d)
    row1, row2, col1 = a + b, c + d, a + c
    if row1 == 0 or row2 == 0 or col1 == 0 or b + d == 0:
        return 1.0
    law = _Hypergeom(row1, row2, col1)
    # SciPy's mode, computed in floating point as it does, so that the same
    # tables take the same branch.
    mode = int(float((col1 + 1) * (row1 + 1)) / float(row1 + row2 + 2))
    log_exact = law.logpmf(a)
    log_mode = law.logpmf(mode)
    # SciPy: |p_exact - p_mode| / max(p_exact, p_mode) <= 1e-14 -> 1.
    if -math.expm1(-abs(log_exact - log_mode)) <= 1e-14:
        return 1.0
    # Tables on the other side of the mode count when their probability is
    # below p_exact * (1 + 1e-14), compared as a difference of logs: the
    # tolerance is far below the spacing of floats near log p_exact.
    log_gamma = math.log1p(1e-14)
    if a < mode:
        near = law.tail(a, -1)
        # Smallest x above the mode that counts (P decreases there).
        lo, hi = mode, law.hi + 1
        step = 1
    else:
        near = law.tail(a, 1)
        # Largest x below the mode that counts, by the mirror image.
        lo, hi = -mode, -law.lo + 1
        step = -1
    while lo < hi:
        mid = (lo + hi) // 2
        if law.logpmf(step * mid) - log_exact < log_gamma:
            hi = mid
        else:
            lo = mid + 1
    far_start = step * lo
    far = 0.0 if not law.lo <= far_start <= law.hi else law.tail(far_start, step)
    return min(1.0, near + far)
