"""Experiments looked at every day, simulated: what the always-valid decision
and the fixed-horizon p-value each declare (shared by the simulation test
and ``bench/sequential.py``).

Each experiment has a control and one variant. Every day both get the same
number of visitors, enough to reach the planned size (for the true control
rate) after ``planned_day`` days; conversions are binomial. At each daily
look the decision is made exactly as :func:`~manhattan.analysis.report.analyze`
makes it (:func:`manhattan.analysis.decision.judge`, the planned size
worked out from control's rate so far), and the fixed-horizon p-value
(z-test, or Fisher's for small tables) is checked as someone peeking would.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from manhattan.analysis.decision import NO_DIFFERENCE, WINNER, judge
from manhattan.analysis.frequentist import conversion_p_value
from manhattan.analysis.plan import Plan
from manhattan.analysis.planning import required_visitors_per_population
from manhattan.analysis.types import GoalResult, PopulationResult


@dataclass(frozen=True)
class Figures:
    """What a batch of simulated experiments declared.

    ``winner``: the share where the always-valid decision ever named the
    variant the winner; ``winner_by_plan``: the same by the planned size;
    ``control_won``: the share where it named control; ``no_difference``:
    the share that ended "no difference large enough"; ``peeking``: the
    share where the fixed-horizon p-value was ever below alpha;
    ``median_stop``: the median size at the first decision of any kind,
    relative to the planned size (``inf`` when most never decided);
    ``won_by_look``: the share where the variant was named the winner by
    each look.
    """

    experiments: int
    planned: int
    winner: float
    winner_by_plan: float
    control_won: float
    no_difference: float
    peeking: float
    median_stop: float
    won_by_look: tuple[float, ...]


def _entry(conversions: int, visitors: int) -> PopulationResult:
    return {
        "visitors": visitors,
        "conversions": conversions,
        "rate": conversions / visitors,
        "rate_interval": [0.0, 1.0],  # not read by the decision
        "enough_data": True,
    }


def simulate(
    experiments: int,
    lift: float,
    *,
    seed: int,
    looks: int = 28,
    planned_day: int = 14,
    base_rate: float = 0.1,
    plan: Plan | None = None,
) -> Figures:
    """Simulate ``experiments`` experiments whose variant's rate is
    ``base_rate * (1 + lift)`` (see the module text)."""
    plan = plan or Plan("Buy")
    planned = required_visitors_per_population(
        base_rate, plan.minimum_effect, plan.alpha, plan.power
    )
    daily = math.ceil(planned / planned_day)
    rng = np.random.default_rng(seed)
    shape = (experiments, looks)
    control = rng.binomial(daily, base_rate, size=shape).cumsum(axis=1).tolist()
    variant = rng.binomial(daily, base_rate * (1 + lift), size=shape).cumsum(axis=1).tolist()
    counts = {"winner": 0, "winner_by_plan": 0, "control": 0, "none": 0, "peeking": 0}
    stops: list[float] = []
    won_at = [0] * looks
    for conv_c, conv_v in zip(control, variant, strict=True):
        stop = math.inf
        for look in range(looks):
            visitors = daily * (look + 1)
            goal: GoalResult = {
                "value_type": "",
                "populations": {
                    "a": _entry(conv_c[look], visitors),
                    "b": _entry(conv_v[look], visitors),
                },
            }
            _, decision = judge(plan, {plan.goal: goal}, ["a", "b"], "a", None)
            if decision["status"] == WINNER:
                won = decision["winner"] == "b"
                counts["winner" if won else "control"] += 1
                counts["winner_by_plan"] += won and look < planned_day
                won_at[look] += won
                stop = visitors / planned
                break
            if decision["status"] == NO_DIFFERENCE:
                counts["none"] += 1
                stop = visitors / planned
                break
        stops.append(stop)
        counts["peeking"] += any(
            conversion_p_value(c, daily * (look + 1), v, daily * (look + 1))[0] < plan.alpha
            for look, (c, v) in enumerate(zip(conv_c, conv_v, strict=True))
        )
    return Figures(
        experiments=experiments,
        planned=planned,
        winner=counts["winner"] / experiments,
        winner_by_plan=counts["winner_by_plan"] / experiments,
        control_won=counts["control"] / experiments,
        no_difference=counts["none"] / experiments,
        peeking=counts["peeking"] / experiments,
        median_stop=statistics.median(stops),
        won_by_look=tuple(float(share) for share in np.cumsum(won_at) / experiments),
    )


def standard_error(share: float, experiments: int) -> float:
    """The simulation error of a share of ``experiments``."""
    return math.sqrt(share * (1 - share) / experiments)
