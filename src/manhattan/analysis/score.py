"""Intervals for two proportions that agree with the tests beside them.

:func:`score_difference_interval` inverts the score test of ``p_v - p_c =
delta`` (Mee 1984; Miettinen and Nurminen 1985 without their ``N / (N -
1)`` factor). At ``delta = 0`` the restricted estimate is the pooled rate,
so the statistic is exactly the pooled two-proportion z statistic: the
interval excludes 0 exactly when the z-test's p-value is below 5%. The
unpooled Wald interval it replaces disagreed with that p-value in about 1%
of comparisons (100/100 against 95/100: an interval excluding 0 at p = 0.059).

:func:`log_ratio_interval` is Katz's interval for the relative lift, from
the log of the ratio of the rates: its ends are ratios, so the relative
lift is never below -100% (the delta method on the ratio itself gave
[-112.8%, +79.5%] for 6/100 against 5/100).

Cost: an interval end is the root of the statistic, and each trial
difference needs the restricted maximum, itself a root. With some visitors
converted and some not in each arm, Newton's method on both at once from
Newcombe's interval takes two or three steps (about 15 us an interval
for large arms, where bracketing the ends took about 130 us); elsewhere,
or where Newton's method fails, the end is bracketed. Intervals are cached by counts, as a
test's counts come back with every analysis until the next commit.
"""

from __future__ import annotations

import functools
import math

from manhattan.analysis._numeric import remember
from manhattan.analysis.frequentist import Z95, wilson
from manhattan.analysis.special import norm_ppf

_TOLERANCE = 1e-12
"""The relative width at which a bracketed interval end is taken as found."""

_NEWTON_STEPS = 8
"""Newton's steps tried for an interval end before bracketing it instead
(two or three settle it from Newcombe's end, unless rounding noise keeps
the steps from shrinking, as for an end within a hair of 0)."""

_SETTLED = 1e-9
"""The relative size of a last Newton step: its square is below a rounding."""


def _score(conv_c: int, n_c: int, conv_v: int, n_v: int, delta: float, rate: float) -> float:
    """The derivative of the log-likelihood in control's rate ``rate`` under
    ``p_v = rate + delta`` (infinite at an edge where a count has no room)."""
    total = 0.0
    for count, size, chance in ((conv_c, n_c, rate), (conv_v, n_v, rate + delta)):
        if count:
            total += count / chance if chance > 0 else math.inf
        if size - count:
            total -= (size - count) / (1 - chance) if chance < 1 else math.inf
    return total


def _restricted_rates(
    conv_c: int, n_c: int, conv_v: int, n_v: int, delta: float
) -> tuple[float, float]:
    """The maximum likelihood rates ``(p_c, p_v)`` under ``p_v - p_c = delta``.

    The log-likelihood is concave in control's rate over the range where
    both rates are in [0, 1], so its maximum is an edge of that range when
    the derivative there points outward, else the one zero of the
    derivative inside: found by Newton's method kept within a bracket on
    the derivative's sign, from the pooled rate shifted by ``delta``. (The
    closed form through Farrington and Manning's cubic also has roots at the
    edges, where it multiplied out the derivative's denominators, and is
    good to only about 1e-8 near them.)
    """
    low, high = max(0.0, -delta), min(1.0, 1.0 - delta)
    # With some visitors converted and some not in each arm, the score is
    # +inf at the low edge and -inf at the high one: no need to look.
    if not (0 < conv_c < n_c and 0 < conv_v < n_v):
        if high <= low or _score(conv_c, n_c, conv_v, n_v, delta, low) <= 0:
            return low, low + delta
        if _score(conv_c, n_c, conv_v, n_v, delta, high) >= 0:
            return high, high + delta
    fail_c, fail_v = n_c - conv_c, n_v - conv_v
    rate = (conv_c + conv_v - n_v * delta) / (n_c + n_v)
    # Each pass moves an end of the bracket strictly inward, and the loop
    # ends once it is a few floats wide: it always ends.
    while True:
        if not low < rate < high:
            rate = 0.5 * (low + high)
        varied = rate + delta
        if 0 < rate < 1 and 0 < varied < 1:
            # Both rates inside (0, 1): written out, as this is the hot loop
            # of the interval (a count of 0 adds 0).
            c_yes, c_no = conv_c / rate, fail_c / (1 - rate)
            v_yes, v_no = conv_v / varied, fail_v / (1 - varied)
            score = c_yes - c_no + v_yes - v_no
            curvature = c_yes / rate + c_no / (1 - rate) + v_yes / varied + v_no / (1 - varied)
        else:
            # A rate rounded onto an edge (the bracket a float or two wide,
            # or rate + delta rounded): the score is infinite there, and the
            # NaN step makes the next pass bisect.
            score, curvature = _score(conv_c, n_c, conv_v, n_v, delta, rate), math.nan
        if score > 0:
            low = rate
        elif score < 0:
            high = rate
        if score == 0 or high - low <= 4e-16 * high:
            return rate, rate + delta
        step = score / curvature
        rate += step
        # Newton's steps square their error: after one this small, the
        # rate is good to the last bit.
        if abs(step) <= 1e-9 * rate:
            return rate, rate + delta


def score_statistic(conv_c: int, n_c: int, conv_v: int, n_v: int, delta: float) -> float:
    """The score statistic of ``p_v - p_c = delta`` (both arms need visitors).

    ``0`` where the observed difference is ``delta``; ``+-inf`` where the
    restricted variance vanishes but the difference does not.
    """
    observed = conv_v / n_v - conv_c / n_c - delta
    if observed == 0:
        return 0.0
    rate_c, rate_v = _restricted_rates(conv_c, n_c, conv_v, n_v, delta)
    variance = rate_v * (1 - rate_v) / n_v + rate_c * (1 - rate_c) / n_c
    if variance <= 0:
        return math.copysign(math.inf, observed)
    return observed / math.sqrt(variance)


def _newton_end(
    conv_c: int, n_c: int, conv_v: int, n_v: int, z: float, end: float, delta: float, fit: bool
) -> float | None:
    """The end of the interval toward ``end`` by Newton's method from
    ``delta``, for counts with some visitors converted and some not in each
    arm (where the statistic is smooth); ``None`` if a step leaves the
    range where the end can be, or the steps do not settle.

    Newton's method in two unknowns at once, control's restricted rate and
    the difference: the zero of the score in the rate, and the difference
    ``z`` restricted standard errors from the estimate, so that the rates
    are not fitted anew at every trial difference. The rate starts from
    the pooled rate shifted by ``delta``, or with ``fit`` from the
    restricted rate there: near an edge of [0, 1] (a few conversions) the
    shifted pooled rate can be too far for Newton's steps. From Newcombe's
    end (within about 0.1% of the width for large arms) three steps settle
    both.
    """
    estimate = conv_v / n_v - conv_c / n_c
    side = math.copysign(1.0, end)
    fail_c, fail_v = n_c - conv_c, n_v - conv_v
    if fit:
        rate, _ = _restricted_rates(conv_c, n_c, conv_v, n_v, delta)
    else:
        rate = (conv_c + conv_v - n_v * delta) / (n_c + n_v)
    for _ in range(_NEWTON_STEPS):
        varied = rate + delta
        variance = rate * (1 - rate) / n_c + varied * (1 - varied) / n_v
        beyond = side * (delta - estimate)
        # Both rates inside (0, 1) and the end beyond the estimate, or give
        # up (a NaN from an earlier step fails this too).
        if not (0 < rate < 1 and 0 < varied < 1 and variance > 0 and beyond > 0):
            return None
        c_yes, c_no = conv_c / rate, fail_c / (1 - rate)
        v_yes, v_no = conv_v / varied, fail_v / (1 - varied)
        score = c_yes - c_no + v_yes - v_no
        curve_v = v_yes / varied + v_no / (1 - varied)
        curve = c_yes / rate + c_no / (1 - rate) + curve_v
        root = math.sqrt(variance)
        gap = beyond - z * root
        # The gap's derivatives in the rate and in the difference.
        half = z / (2 * root)
        along_v = (1 - 2 * varied) / n_v
        by_rate = -half * ((1 - 2 * rate) / n_c + along_v)
        by_delta = side - half * along_v
        # Solve J (d rate, d delta) = -(score, gap) for the Jacobian
        # J = [[-curve, -curve_v], [by_rate, by_delta]], whose determinant
        # is -det. A det of 0 would raise: NaN steps end the search instead.
        det = curve * by_delta - curve_v * by_rate or math.nan
        step_rate = (score * by_delta + gap * curve_v) / det
        step = -(score * by_rate + gap * curve) / det
        rate += step_rate
        delta += step
        # Newton's steps square their error: after one this small, the end
        # is good to the last bits.
        if abs(step) <= _SETTLED * abs(delta) and abs(step_rate) <= _SETTLED * rate:
            return delta
    return None


def _bound(
    conv_c: int, n_c: int, conv_v: int, n_v: int, z: float, end: float, reach: float
) -> float:
    """The end of the interval between the estimate and ``end`` (-1 or 1),
    ``reach`` from the estimate by Newcombe's interval.

    The statistic's size grows from 0 at the estimate toward ``end``, so the
    set where it is within ``z`` is an interval. Its edge is found by
    Newton's method where the statistic is smooth (:func:`_newton_end`);
    otherwise, or where that fails, it is bracketed and found by the
    Illinois method (regula falsi that halves a stale end's weight), with
    bisection where the statistic is infinite.
    """

    def excess(delta: float) -> float:
        return abs(score_statistic(conv_c, n_c, conv_v, n_v, delta)) - z

    estimate = inside = conv_v / n_v - conv_c / n_c
    outside = end
    guess = max(-1.0, min(1.0, estimate + math.copysign(reach, end)))
    # At -1 or 1 both rates are forced to 0 and 1: with some visitors
    # converted and some not in each arm, the statistic is infinite there.
    if 0 < conv_c < n_c and 0 < conv_v < n_v:
        for fit in (False, True):
            found = _newton_end(conv_c, n_c, conv_v, n_v, z, end, guess, fit)
            if found is not None:
                return found
        f_out = math.inf
    else:
        f_out = excess(outside)
        if f_out <= 0:
            return end
    f_in = -z
    # Bracket the end with Newcombe's and a point 5% beyond.
    for further in (guess, max(-1.0, min(1.0, estimate + math.copysign(reach * 1.05, end)))):
        f_guess = excess(further)
        if f_guess > 0:
            outside, f_out = further, f_guess
            break
        inside, f_in = further, f_guess
    side = 0
    # Each pass moves an end of the bracket strictly inward, and the loop
    # ends once it is a few floats wide: it always ends.
    while True:
        low, high = min(inside, outside), max(inside, outside)
        if high - low <= _TOLERANCE * max(abs(low), abs(high)):
            return inside
        middle = math.nan
        if math.isfinite(f_out):
            middle = inside - f_in * (outside - inside) / (f_out - f_in)
        if not low < middle < high:  # also NaN: bisect instead
            middle = 0.5 * (inside + outside)
        f_mid = excess(middle)
        if f_mid <= 0:
            inside, f_in = middle, f_mid
            if side == -1:
                f_out *= 0.5
            side = -1
        else:
            outside, f_out = middle, f_mid
            if side == 1:
                f_in *= 0.5
            side = 1


def score_difference_interval(
    conv_c: int, n_c: int, conv_v: int, n_v: int, z: float = Z95
) -> tuple[float, float]:
    """The score interval of ``p_v - p_c`` at critical value ``z`` (both arms
    need visitors): every difference whose score statistic is within ``z``.

    statsmodels' ``confint_proportions_2indep(method="score",
    correction=False)`` is meant to be the same, but solves a slightly
    different cubic (control's conversions where Miettinen and Nurminen
    have its visitors), so it differs a little away from rates near 0.5;
    the tests check against the restricted maximum found by SciPy.
    """
    if n_c <= 0 or n_v <= 0:
        raise ValueError("score_difference_interval needs visitors in both arms")
    return _interval(conv_c, n_c, conv_v, n_v, z)


@remember
@functools.lru_cache(maxsize=1024)
def _interval(conv_c: int, n_c: int, conv_v: int, n_v: int, z: float) -> tuple[float, float]:
    """:func:`score_difference_interval`, cached: a test's counts come back
    with every analysis until the next commit."""
    rate_c, rate_v = conv_c / n_c, conv_v / n_v
    low_c, high_c = wilson(conv_c, n_c, z)
    low_v, high_v = wilson(conv_v, n_v, z)
    # Newcombe's interval, from Wilson's, ends within a few percent of the
    # score interval's (about 0.1% of the width for large arms).
    down = math.hypot(rate_v - low_v, high_c - rate_c)
    up = math.hypot(high_v - rate_v, rate_c - low_c)
    return (
        _bound(conv_c, n_c, conv_v, n_v, z, -1.0, down),
        _bound(conv_c, n_c, conv_v, n_v, z, 1.0, up),
    )


def log_ratio_interval(
    conv_c: int, n_c: int, conv_v: int, n_v: int, z: float = Z95
) -> tuple[float, float] | None:
    """Katz's interval of the ratio ``p_v / p_c``, ``None`` when control has
    no conversions (there is no ratio).

    With no conversions in the variant the log is undefined, and with every
    visitor converted in both arms the variance is 0 (a point, not an
    interval); then half a conversion and half a visitor are added to each
    arm (the usual adjustment, statsmodels' ``method="log-adjusted"``).
    Both ends are positive ratios, so the relative lift ``ratio - 1`` stays
    above -100%.
    """
    if conv_c <= 0 or n_c <= 0 or n_v <= 0:
        return None
    degenerate = conv_v == 0 or (conv_v == n_v and conv_c == n_c)
    add = 0.5 if degenerate else 0.0
    x_c, m_c, x_v, m_v = conv_c + add, n_c + add, conv_v + add, n_v + add
    log_ratio = math.log((x_v / m_v) / (x_c / m_c))
    spread = z * math.sqrt(1 / x_v - 1 / m_v + 1 / x_c - 1 / m_c)
    return math.exp(log_ratio - spread), math.exp(log_ratio + spread)


def matched_z(statistic: float, p_value: float, z: float = Z95) -> float:
    """The critical value at which the score interval agrees with another
    test's p-value (Fisher's, where the table is too small for the z-test).

    Scaling ``z`` by ``|statistic| / z_p``, with ``z_p`` the normal
    equivalent of ``p_value``, puts 0 inside the interval exactly when
    ``p_value`` is 5% or more: for 100/100 against 95/100 (Fisher p =
    0.059) the interval widens to include 0. ``z`` itself when either
    figure says nothing (a statistic of 0, or p-values of 0 or 1).
    """
    if not 0 < p_value < 1 or statistic == 0 or not math.isfinite(statistic):
        return z
    return z * abs(statistic) / -norm_ppf(p_value / 2)
