"""A test against its plan: the planned size, progress, and the decision.

:func:`judge` adds the always-valid figures
(:mod:`~manhattan.analysis.sequential`) to the comparisons on the plan's
goal and guardrails, and decides the test on them:

- ``"winner"``: some population's always-valid interval on the goal lies
  entirely on the better side of control's rate (the best such population
  by rate wins), or every other population's lies entirely on the worse
  side (control wins). Better is higher, or lower for a goal in the plan's
  ``lower_is_better``;
- ``"no difference large enough"``: every population has the planned
  visitors and every relative always-valid interval on the goal lies within
  plus or minus the minimum effect;
- ``"keep running"`` otherwise.

Alpha is split over the ``k`` populations compared with control
(Bonferroni, as the planned size assumes): each interval has level ``1 -
alpha / k`` and ``always_valid_p`` is ``k`` times the comparison's own, so
it is below alpha exactly when its interval leaves out 0. A guardrail is
harmed where a population's interval lies entirely on the worse side of
control's rate: below it, or above it for a guardrail in
``lower_is_better`` (more refunds); guardrails do not split alpha further,
as a warning should rather come early.

The planned size is worked out at control's current rate on the goal
(:mod:`~manhattan.analysis.planning`), for a change of the minimum effect
in the better direction, so it moves a little as the test runs; without
conversions in control there is no rate to plan from, and no always-valid
figures either (they are tuned to the planned size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from manhattan.analysis.plan import Plan
from manhattan.analysis.planning import (
    days_remaining,
    progress,
    required_visitors_per_population,
)
from manhattan.analysis.sequential import proportions
from manhattan.analysis.types import Decision, GoalResult, Harm, PlanResult, PopulationResult

WINNER = "winner"
NO_DIFFERENCE = "no difference large enough"
KEEP_RUNNING = "keep running"


def _required(
    plan: Plan, control: PopulationResult, populations: int
) -> tuple[int | None, str | None]:
    """The visitors each population needs, or ``None`` and why not."""
    if populations < 2:
        return None, "the test has only one population"
    if control["conversions"] == 0:
        return None, f"control has no conversions on {plan.goal!r} yet"
    rate, effect = control["rate"], plan.minimum_effect
    if plan.lower(plan.goal) and rate < 1:
        # The planned test is two-sided, so the size for a fall from p to
        # p (1 - e) is that for a rise from p (1 - e) back to p. (A rate of
        # 100% is refused below as it is for a goal better higher.)
        rate, effect = rate * (1 - effect), effect / (1 - effect)
    try:
        return required_visitors_per_population(
            rate, effect, plan.alpha, plan.power, populations
        ), None
    except ValueError as exc:  # a rate of 100%, or one the effect takes above it
        return None, str(exc)


def _always_valid(
    entry: PopulationResult, control: PopulationResult, planned: float, alpha: float, k: int
) -> None:
    """Add the always-valid figures to a comparison with enough data."""
    figures = proportions(
        (control["conversions"], control["visitors"]),
        (entry["conversions"], entry["visitors"]),
        planned,
        alpha / k,
    )
    entry["always_valid_p"] = min(1.0, k * figures.p_value)
    entry["always_valid_interval"] = list(figures.interval)
    relative = figures.relative_interval
    entry["always_valid_relative_interval"] = (
        None if relative is None else [relative[0], relative[1]]
    )


def judge(
    plan: Plan,
    goals: Mapping[str, GoalResult],
    populations: Sequence[str],
    control: str,
    elapsed_days: float | None,
) -> tuple[PlanResult, Decision]:
    """The plan's figures and the decision (see the module text).

    ``goals`` must hold the plan's goal and guardrails; their comparisons
    get the always-valid figures in place.
    """
    primary = goals[plan.goal]["populations"]
    sizes = [primary[population]["visitors"] for population in populations]
    required, reason = _required(plan, primary[control], len(populations))
    fields = plan.fields()
    result: PlanResult = {
        "goal": fields["goal"],
        "guardrails": fields["guardrails"],
        "minimum_effect": fields["minimum_effect"],
        "power": fields["power"],
        "alpha": fields["alpha"],
        "winner": fields["winner"],
        "lower_is_better": list(plan.lower_is_better),
        "required_visitors_per_population": required,
        "progress": None if required is None else progress(sizes, required),
        "expected_days_remaining": None
        if required is None
        else days_remaining(sizes, required, elapsed_days),
    }
    decision: Decision = {"status": KEEP_RUNNING, "winner": None, "harmed_guardrails": []}
    if reason is not None:
        result["reason"] = reason
    if required is None:
        return result, decision
    k = len(populations) - 1
    others = [population for population in populations if population != control]
    for goal in plan.goals:
        entries = goals[goal]["populations"]
        for population in others:
            if entries[population].get("enough_data"):
                _always_valid(entries[population], entries[control], 2 * required, plan.alpha, k)
    harmed: list[Harm] = [
        {"goal": goal, "population": population}
        for goal in plan.guardrails
        for population in others
        if _better(goals[goal]["populations"][population], plan.lower(goal))[1] < 0
    ]
    decision["harmed_guardrails"] = harmed
    decision["status"], decision["winner"] = _decide(plan, primary, others, control, required)
    return result, decision


def _decide(
    plan: Plan,
    primary: Mapping[str, PopulationResult],
    others: Sequence[str],
    control: str,
    required: int,
) -> tuple[str, str | None]:
    judged = [primary[population] for population in others]
    if not all("always_valid_interval" in entry for entry in judged):
        return KEEP_RUNNING, None
    lower = plan.lower(plan.goal)
    better = [p for p in others if _better(primary[p], lower)[0] > 0]
    if better:
        sign = -1 if lower else 1
        return WINNER, max(better, key=lambda population: sign * primary[population]["rate"])
    if all(_better(entry, lower)[1] < 0 for entry in judged):
        return WINNER, control
    reached = min(primary[population]["visitors"] for population in primary) >= required
    effect = plan.minimum_effect
    if reached and all(
        _within(entry.get("always_valid_relative_interval"), effect) for entry in judged
    ):
        return NO_DIFFERENCE, None
    return KEEP_RUNNING, None


def _better(entry: PopulationResult, lower: bool) -> tuple[float, float]:
    """The always-valid interval of the improvement over control (the
    difference of rates, negated when lower is better); ``(0, 0)``, neither
    better nor worse, without one."""
    low, high = entry.get("always_valid_interval", (0.0, 0.0))
    return (-high, -low) if lower else (low, high)


def _within(interval: list[float | None] | None, effect: float) -> bool:
    """Whether a relative interval lies within plus or minus ``effect``."""
    low, high = interval if interval is not None else (None, None)
    return low is not None and high is not None and -effect < low and high < effect
