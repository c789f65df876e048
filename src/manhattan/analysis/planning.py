"""How many visitors a test needs, and how far along it is.

The planned size is that of a two-sided test of two proportions on Cohen's
effect size ``h = 2 asin(sqrt(p1)) - 2 asin(sqrt(p0))``, with ``p0`` the
control's rate and ``p1 = p0 (1 + minimum_effect)``. On that scale the
variance of an observed rate is ``1 / n`` whatever the rate, so with ``n``
visitors in each population the test statistic is normal with mean
``h sqrt(n / 2)`` and variance 1, and the power is

    Phi(h sqrt(n / 2) - z) + Phi(-h sqrt(n / 2) - z),   z = Phi^-1(1 - alpha' / 2)

(both tails, as statsmodels' ``NormalIndPower`` counts it).
:func:`visitors_for_power` solves it for ``n``; roughly ``n = 2 ((z +
z_power) / h)^2``.

With more than one population besides control, ``alpha' = alpha / k`` for
``k`` comparisons with control (Bonferroni): the chance that any of them is
a false positive stays at most ``alpha``, and the always-valid verdict
(:mod:`manhattan.analysis.sequential`) splits alpha the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from manhattan.analysis._numeric import normal_cdf, normal_pdf
from manhattan.analysis.special import norm_ppf

_NEWTON_STEPS = 40
"""Newton's steps, all taken: a handful settle a typical plan to the last
bit (later steps change nothing), about 30 one whose power is barely above
alpha' (the root is then near 0, where the power is flat)."""


def _check(base_rate: float, minimum_effect: float, alpha: float, power: float) -> float:
    """The varied rate ``base_rate * (1 + minimum_effect)``, after checking the arguments."""
    if not 0 < base_rate < 1:
        raise ValueError(f"base_rate must be between 0 and 1, not {base_rate!r}")
    if not 0 < minimum_effect < math.inf:
        raise ValueError(f"minimum_effect must be above 0, not {minimum_effect!r}")
    if not 0 < alpha < 0.5:
        raise ValueError(f"alpha must be between 0 and 0.5, not {alpha!r}")
    if not 0 < power < 1:
        raise ValueError(f"power must be between 0 and 1, not {power!r}")
    varied = base_rate * (1 + minimum_effect)
    if varied > 1:
        raise ValueError(
            f"minimum_effect {minimum_effect!r} takes the rate {base_rate!r} above 100%"
        )
    return varied


def comparison_alpha(alpha: float, populations: int) -> float:
    """Each comparison's share of ``alpha``: Bonferroni over the
    ``populations - 1`` comparisons with control."""
    if isinstance(populations, bool) or not isinstance(populations, int) or populations < 2:
        raise ValueError(f"populations must be an integer of at least 2, not {populations!r}")
    return alpha / (populations - 1)


def effect_size(base_rate: float, varied_rate: float) -> float:
    """Cohen's h between two rates."""
    return 2 * math.asin(math.sqrt(varied_rate)) - 2 * math.asin(math.sqrt(base_rate))


def visitors_for_power(
    base_rate: float,
    minimum_effect: float,
    alpha: float = 0.05,
    power: float = 0.8,
    populations: int = 2,
) -> float:
    """The visitors per population (not rounded) at which the test has
    ``power`` to detect ``minimum_effect``; see the module text."""
    varied = _check(base_rate, minimum_effect, alpha, power)
    z = -norm_ppf(comparison_alpha(alpha, populations) / 2)
    h = abs(effect_size(base_rate, varied))
    # x = h sqrt(n / 2); the power rises with x from alpha' at x = 0.
    x = max(0.0, z + norm_ppf(power))
    for _ in range(_NEWTON_STEPS):
        gap = normal_cdf(x - z) + normal_cdf(-x - z) - power
        slope = normal_pdf(x - z) - normal_pdf(x + z)
        if slope <= 0:
            break  # x = 0: the power asked for is below alpha', no visitors needed
        x = max(0.0, x - gap / slope)
    return 2 * (x / h) ** 2


def required_visitors_per_population(
    base_rate: float,
    minimum_effect: float,
    alpha: float = 0.05,
    power: float = 0.8,
    populations: int = 2,
) -> int:
    """:func:`visitors_for_power` rounded up to whole visitors (at least 1).

    ``ValueError`` naming the argument for a base rate outside (0, 1), a
    minimum effect that takes the rate above 100%, alpha outside (0, 0.5),
    power outside (0, 1) or fewer than 2 populations.
    """
    exact = visitors_for_power(base_rate, minimum_effect, alpha, power, populations)
    # A size a rounding error above a whole number is that number.
    return max(1, math.ceil(exact * (1 - 1e-12)))


def progress(visitors: Sequence[int], required: int) -> float:
    """The share of the required visitors the smallest population has (above
    1 once every population is past it)."""
    if required < 1:
        raise ValueError(f"required must be at least 1, not {required!r}")
    if not visitors:
        raise ValueError("progress needs the visitors of at least one population")
    return min(visitors) / required


def days_remaining(
    visitors: Sequence[int], required: int, elapsed_days: float | None
) -> float | None:
    """The days until the smallest population has the required visitors at
    its traffic so far; 0 once it has, ``None`` without a test age or before
    it has any visitor."""
    smallest = min(visitors) if visitors else 0
    if smallest >= required >= 1:
        return 0.0
    if elapsed_days is None or not elapsed_days > 0 or not math.isfinite(elapsed_days):
        return None
    if smallest <= 0:
        return None
    return (required - smallest) * elapsed_days / smallest
