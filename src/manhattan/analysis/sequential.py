"""Always-valid inference for two proportions: figures that may be looked at
every day.

A fixed-horizon p-value is valid once, at the size fixed in advance.
Looked at daily and acted on at the first p < 0.05, it declares about 27%
of A/A tests significant over 28 looks. The figures here hold at every look
at once: the chance that the always-valid p-value *ever* falls below alpha,
however often it is looked at, is at most alpha (asymptotically).

Method: the asymptotic confidence sequence of Howard, Ramdas, McAuliffe
and Sekhon ("Time-uniform, nonparametric, nonasymptotic confidence
sequences", Annals of Statistics 2021, eq. 14 with the Gaussian mixture),
as GrowthBook uses it. For an estimate with standard error ``se`` after
``t`` observations, the two-sided ``1 - alpha`` interval at every ``t`` is

    estimate +- se * sqrt(2 (s + 1) / s * log(sqrt(s + 1) / alpha)),   s = t rho^2,

and the always-valid p-value, the smallest alpha whose interval leaves out
0, is ``min(1, sqrt(s + 1) exp(-Z^2 s / (2 (s + 1))))`` for ``Z =
estimate / se``; it is the inverse of a mixture likelihood ratio
(mixture SPRT), so it is below alpha exactly when the interval leaves out 0.

Tuning: ``rho`` sets where the sequence is tightest. It is chosen (Howard
et al., eq. 15) so that the interval is narrowest at the planned size:
``t* rho^2 = -2 log alpha + log(1 - 2 log alpha)``, ``t*`` the planned
visitors of the two populations compared. ``t`` counts visitors of both,
so ``s = c t / t*`` with ``c`` that constant.

The price: at the planned size the interval is about 1.55 times as wide as
the fixed-horizon one at alpha = 0.05 (3.04 standard errors instead of
1.96), so a test planned for 80% power at the minimum effect decides by its
planned size less often. Simulated (``.venv/bin/python bench/sequential.py
--looks 42``: 10,000 experiments of each kind, base rate 10%, minimum
effect +5%, planned size 57,756 per population met on day 14 of 42 daily
looks): A/B tests at exactly the minimum effect named the variant the
winner by the planned size in 48%, reached the declared 80% at 1.79 times
the planned size (86% by twice it, 97% by three times), and half of them
decided by 1.07 times it; A/A tests named a winner at any look in 1.8%
(alpha 5%), against 30% for a fixed-horizon p-value looked at daily.

The difference of rates uses each rate's own (unpooled) variance; the
relative lift uses the log of the ratio of rates with the delta method
(its variance ``(1 - p) / conversions`` per arm), so its interval is
always above -100%. Both are asymptotic: they need conversions in the
arms, which the analysis's minimum-sample gate asks for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_LOG_MAX = 700.0
"""Below the log of the largest float."""

POWER_AT_PLANNED_SIZE = 0.5
"""About the share of A/B tests at exactly the minimum effect that reach a
"winner" by the size planned for 80% power (alpha 0.05), as simulated; see
the module text."""

PRICE = 1.8
"""The price in visitors: the declared power is reached at about this
multiple of the planned (fixed-horizon) size, as simulated."""


def tuning(alpha: float) -> float:
    """``t* rho^2``: the constant that makes the interval narrowest at the planned size."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1, not {alpha!r}")
    log_alpha = math.log(alpha)
    return -2 * log_alpha + math.log(1 - 2 * log_alpha)


def _clock(observed: float, planned: float, alpha: float) -> float:
    """``s = t rho^2`` at ``observed`` visitors, tuned for ``planned``."""
    if not planned > 0 or not math.isfinite(planned):
        raise ValueError(f"planned must be a positive number of visitors, not {planned!r}")
    if not observed >= 0:
        raise ValueError(f"observed must be a number of visitors, not {observed!r}")
    return tuning(alpha) * observed / planned


def critical_value(observed: float, planned: float, alpha: float) -> float:
    """How many standard errors the always-valid interval reaches either side
    of the estimate at ``observed`` visitors (infinite at 0)."""
    s = _clock(observed, planned, alpha)
    if s == 0:
        return math.inf
    return math.sqrt(2 * (s + 1) / s * math.log(math.sqrt(s + 1) / alpha))


def always_valid_p(statistic: float, observed: float, planned: float, alpha: float) -> float:
    """The always-valid p-value of a z statistic at ``observed`` visitors, with
    the mixture tuned at ``alpha`` for ``planned`` visitors."""
    s = _clock(observed, planned, alpha)
    exponent = -statistic * statistic * s / (2 * (s + 1))
    return min(1.0, math.sqrt(s + 1) * math.exp(exponent))


@dataclass(frozen=True)
class AlwaysValid:
    """Always-valid figures of a variant against control.

    ``p_value``; ``interval`` of the difference of rates; ``relative_interval``
    of the relative lift (``None`` without conversions in control, an upper
    end ``None`` when unbounded).
    """

    p_value: float
    interval: tuple[float, float]
    relative_interval: tuple[float, float | None] | None


def proportions(
    control: tuple[int, int], variant: tuple[int, int], planned: float, alpha: float
) -> AlwaysValid:
    """The always-valid figures of two rates, each arm ``(conversions,
    visitors)`` with visitors; ``planned`` is the planned visitors of the
    two arms together, ``alpha`` the level of the interval."""
    (conv_c, n_c), (conv_v, n_v) = control, variant
    if n_c <= 0 or n_v <= 0:
        raise ValueError("proportions needs visitors in both arms")
    if not 0 <= conv_c <= n_c or not 0 <= conv_v <= n_v:
        raise ValueError("conversions must be between 0 and the visitors")
    observed = n_c + n_v
    width = critical_value(observed, planned, alpha)
    rate_c, rate_v = conv_c / n_c, conv_v / n_v
    difference = rate_v - rate_c
    variance = rate_c * (1 - rate_c) / n_c + rate_v * (1 - rate_v) / n_v
    if variance > 0:
        se = math.sqrt(variance)
        p_value = always_valid_p(difference / se, observed, planned, alpha)
        interval = (max(-1.0, difference - width * se), min(1.0, difference + width * se))
    else:
        # Every rate 0 or 1: the normal approximation says nothing.
        p_value, interval = 1.0, (-1.0, 1.0)
    relative: tuple[float, float | None] | None = None
    log_variance = (1 - rate_v) / conv_v + (1 - rate_c) / conv_c if conv_v and conv_c else 0.0
    if conv_c > 0 and log_variance == 0:
        # No conversions in the variant (no log), or every visitor converted
        # in both arms (no spread): all that is known is the ratio's sign.
        relative = (-1.0, None)
    elif conv_c > 0:
        log_ratio = math.log(rate_v / rate_c)
        spread = width * math.sqrt(log_variance)
        upper = log_ratio + spread
        # Early on the interval is very wide: past exp(700) it is unbounded.
        relative = (
            math.expm1(log_ratio - spread),
            math.expm1(upper) if upper < _LOG_MAX else None,
        )
    return AlwaysValid(p_value, interval, relative)
