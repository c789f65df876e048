"""The analysis of one split test: every population against control, per goal.

:func:`analyze` takes a test's aggregates (:class:`TestStats`) and returns
plain JSON-able data: for each goal and population the conversion rate with
its Wilson interval; against control, with enough data, the lift with its
score interval (which agrees with the p-value beside it) and Katz's
relative interval, a p-value (z-test or Fisher's exact test; Welch's
t-test for values per visitor), Holm-adjusted p-values across the test's
family of goals (the plan's goal and guardrails; without a plan every goal
but ``viewed page``), the Bayesian chance to beat control and expected
loss; for the test, the sample ratio mismatch check; and with a declared
:class:`~manhattan.analysis.plan.Plan`, the planned size, the progress
toward it and the decision on always-valid figures
(:mod:`manhattan.analysis.decision`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TypeAlias

from manhattan.analysis import bayes, decision
from manhattan.analysis.frequentist import (
    Z95,
    conversion_p_value,
    holm,
    sample_ratio_mismatch,
    t_quantile,
    welch_t_test,
    wilson,
)
from manhattan.analysis.plan import Plan
from manhattan.analysis.score import (
    log_ratio_interval,
    matched_z,
    score_difference_interval,
    score_statistic,
)
from manhattan.analysis.stats import TestStats
from manhattan.analysis.types import (
    Analysis,
    GoalResult,
    Lift,
    PopulationResult,
    ValueResult,
)
from manhattan.exceptions import QueryError
from manhattan.records.vocabulary import VIEWED_PAGE

MIN_VISITORS = 100
MIN_CONVERSIONS = 5
NOT_ENOUGH = "not enough data"
UNUSABLE_VALUES = "value totals overflowed (or are inconsistent): no figures for them"

_LOG_MAX = 709.0
"""Below the log of the largest float."""

Row: TypeAlias = tuple[int, int, float, float]
"""(visitors, conversions, value total, sum of squares) of a population."""


def check_weights(weights: object) -> dict[str, float]:
    """Weights given in a query: population -> a positive finite number."""
    if not isinstance(weights, Mapping) or not weights:
        raise QueryError("weights must be a non-empty object of population -> weight")
    checked: dict[str, float] = {}
    for name, weight in weights.items():
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float)
            or not math.isfinite(weight)
            or weight <= 0
        ):
            raise QueryError(f"weight of population {name!r} must be a positive number")
        checked[str(name)] = float(weight)
    return checked


def choose_control(stats: TestStats, populations: Sequence[str], control: object = None) -> str:
    """The control: as given, else the first weighted population recorded by
    split(), else ``False`` of a True/False test, else the first by name."""
    if control is not None:
        name = str(control)
        if name not in populations:
            raise QueryError(f"control {name!r} is not a population of test {stats.name!r}")
        return name
    if stats.weights:
        return next(iter(stats.weights))
    if set(populations) == {"True", "False"}:
        return "False"
    return populations[0]


def _check_options(
    min_visitors: object, min_conversions: object, plan: object, elapsed_days: object
) -> None:
    for name, value in (("min_visitors", min_visitors), ("min_conversions", min_conversions)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise QueryError(f"{name} must be a whole number of at least 0, not {value!r}")
    if plan is not None and not isinstance(plan, Plan):
        raise QueryError(f"plan must be a Plan, not {type(plan).__name__}")
    if elapsed_days is not None and (
        isinstance(elapsed_days, bool)
        or not isinstance(elapsed_days, int | float)
        or not 0 <= elapsed_days < math.inf
    ):
        raise QueryError(
            f"elapsed_days must be a number of days of at least 0, not {elapsed_days!r}"
        )


def analyze(
    stats: TestStats,
    goals: Sequence[str] | None = None,
    control: object = None,
    weights: Mapping[str, float] | None = None,
    *,
    min_visitors: int = MIN_VISITORS,
    min_conversions: int = MIN_CONVERSIONS,
    plan: Plan | None = None,
    elapsed_days: float | None = None,
) -> Analysis:
    """The analysis of a test (see the module text), as plain data of the
    shape :class:`~manhattan.analysis.types.Analysis` declares.

    ``weights`` (population -> weight) replace those split() recorded: for
    logs written before weights were recorded, or by Manhattan 0.3.
    ``plan`` adds the planned size, the progress toward it (``elapsed_days``
    is the test's age, for the days remaining), the always-valid figures
    on its goal and guardrails and the decision
    (:mod:`manhattan.analysis.decision`).
    """
    _check_options(min_visitors, min_conversions, plan, elapsed_days)
    if weights is not None:
        stats = replace(stats, weights=check_weights(weights))
    if goals is None:
        goals = sorted(stats.goals)
    elif isinstance(goals, str) or not all(isinstance(goal, str) for goal in goals):
        raise QueryError("goals must be a list of goal names")
    populations = list(stats.weights) + sorted(set(stats.visitors) - set(stats.weights))
    if not populations:
        raise QueryError(f"test {stats.name!r} has no visitors in this slice")
    chosen = choose_control(stats, populations, control)
    observed = [stats.visitors.get(population, 0) for population in populations]
    shares = (
        [stats.weights.get(p, 0.0) for p in populations]
        if stats.weights
        else [1.0] * len(populations)
    )
    chi2, srm_p, mismatch = sample_ratio_mismatch(observed, shares)
    result: Analysis = {
        "test": stats.name,
        "control": chosen,
        "populations": populations,
        "visitors": dict(zip(populations, observed, strict=True)),
        "crossovers": stats.crossovers,
        "srm": {
            "chi2": _finite(chi2),
            "p_value": srm_p,
            "mismatch": mismatch,
            "weights": dict(zip(populations, shares, strict=True)),
            "weights_recorded": bool(stats.weights) and weights is None,
            "weights_given": weights is not None,
        },
        "goals": {},
    }
    # Holm's family is fixed before looking at results, and does not depend
    # on the goals asked for: asking for fewer must not lower a p-value.
    family_goals = (
        list(plan.goals) if plan else [goal for goal in stats.goals if goal != VIEWED_PAGE]
    )
    gate = (min_visitors, min_conversions)
    lower = frozenset(plan.lower_is_better) if plan else frozenset()
    computed = {
        goal: _goal(stats, goal, populations, chosen, gate, goal in lower)
        for goal in dict.fromkeys([*goals, *family_goals])
    }
    family = [
        tested
        for goal in family_goals
        for entry in computed[goal]["populations"].values()
        for tested in (entry, entry.get("value"))
        if tested is not None and tested.get("p_value") is not None
    ]
    for tested, adjusted in zip(family, holm([t["p_value"] for t in family]), strict=True):
        tested["p_value_holm"] = adjusted
    if plan is not None:
        result["plan"], result["decision"] = decision.judge(
            plan, computed, populations, chosen, elapsed_days
        )
    result["goals"] = {goal: computed[goal] for goal in goals}
    return result


def _goal(
    stats: TestStats,
    goal: str,
    populations: list[str],
    chosen: str,
    gate: tuple[int, int],
    lower: bool = False,
) -> GoalResult:
    """One goal's figures for every population (see :func:`analyze`);
    ``lower``: a decrease is the improvement (the plan's ``lower_is_better``)."""
    rows = stats.goals.get(goal, {})
    value_type = stats.value_types.get(goal, "")
    per_population: dict[str, PopulationResult] = {}
    control_row = _row(rows, stats, chosen)
    for population in populations:
        row = _row(rows, stats, population)
        entry = _conversions(row)
        if value_type:
            entry["value"] = _value(row)
        if population != chosen:
            _compare(entry, control_row, row, value_type, gate, lower)
        per_population[population] = entry
    return {"value_type": value_type, "populations": per_population}


def _row(rows: dict[str, tuple[int, float, float]], stats: TestStats, population: str) -> Row:
    """(visitors, conversions, value total, sum of squares) of a population.

    In a time bucket (a day, a week) the visitors are those of the
    population seen then: an impression counts in the bucket of the split,
    while the visitor may come back and convert another day, so the
    population's page viewers in the bucket count too.
    """
    conversions, total, squares = rows.get(population, (0, 0.0, 0.0))
    viewers = stats.goals.get(VIEWED_PAGE, {}).get(population, (0, 0.0, 0.0))[0]
    visitors = max(stats.visitors.get(population, 0), viewers, conversions)
    return visitors, conversions, total, squares


def _conversions(row: Row) -> PopulationResult:
    visitors, conversions, _, _ = row
    low, high = wilson(conversions, visitors)
    return {
        "visitors": visitors,
        "conversions": conversions,
        "rate": conversions / visitors if visitors else 0.0,
        "rate_interval": [low, high],
    }


def _value(row: Row) -> ValueResult:
    visitors, _, total, squares = row
    try:
        mean, variance = bayes.mean_and_variance(visitors, total, squares)
    except ValueError:
        # Totals stored before values were bounded can be infinite, NaN or
        # inconsistent: say so for this row instead of failing the whole test.
        return {
            "total": _finite(total),
            "per_visitor": None,
            "per_visitor_interval": [None, None],
            "unusable": UNUSABLE_VALUES,
        }
    spread = Z95 * math.sqrt(variance) if math.isfinite(variance) else math.inf
    return {
        "total": total,
        "per_visitor": mean,
        "per_visitor_interval": [_finite(mean - spread), _finite(mean + spread)],
    }


def _compare(
    entry: PopulationResult,
    control: Row,
    row: Row,
    value_type: str,
    gate: tuple[int, int],
    lower: bool = False,
) -> None:
    """A population against control, on conversions and values.

    The chance to beat control and the expected losses follow the goal's
    direction: for a goal that is better ``lower``, beating control is a
    lower rate (or value), so the arms are swapped in those figures only.

    The gate asks for ``min_visitors`` in each arm but ``min_conversions``
    only in the larger one: demanding them in both hid the largest effects
    (60/2,000 against 4/2,000 is Fisher p = 5e-14); Fisher's test covers
    the small counts. Below the gate no lift is given either.
    """
    (n_c, conv_c, _, _), (n_v, conv_v, _, _) = control, row
    min_visitors, min_conversions = gate
    enough = min(n_c, n_v) >= max(1, min_visitors) and max(conv_c, conv_v) >= min_conversions
    entry["enough_data"] = enough
    if not enough:
        entry["verdict"] = NOT_ENOUGH
        entry["p_value"] = None
        return
    p_value, test_used = conversion_p_value(conv_c, n_c, conv_v, n_v)
    entry["p_value"], entry["test_used"] = p_value, test_used
    statistic = score_statistic(conv_c, n_c, conv_v, n_v, 0.0)
    # Beside Fisher's test the interval is matched to its p-value.
    z = matched_z(statistic, p_value) if test_used == "fisher" else Z95
    low, high = score_difference_interval(conv_c, n_c, conv_v, n_v, z)
    ratio = log_ratio_interval(conv_c, n_c, conv_v, n_v)
    entry["lift"] = {
        "absolute": conv_v / n_v - conv_c / n_c,
        "absolute_interval": [low, high],
        "relative": None if conv_c == 0 else (conv_v / n_v) / (conv_c / n_c) - 1,
        "relative_interval": None if ratio is None else [ratio[0] - 1, _finite(ratio[1] - 1)],
    }
    # The arm to beat first: P(second beats first), and the losses of
    # (choosing the second, keeping the first).
    beaten, beating = ((conv_v, n_v), (conv_c, n_c)) if lower else ((conv_c, n_c), (conv_v, n_v))
    entry["chance_to_beat_control"] = bayes.beta_chance_to_beat(beaten, beating)
    loss_variant, loss_control = bayes.beta_expected_loss(beaten, beating)
    entry["expected_loss"] = {"choosing_this": loss_variant, "keeping_control": loss_control}
    if value_type and "unusable" not in entry["value"] and _usable(control) and min(n_c, n_v) > 1:
        _compare_values(entry["value"], control, row, lower)


def _compare_values(value: ValueResult, control: Row, row: Row, lower: bool = False) -> None:
    """Values per visitor against control (both arms with 2 visitors or more)."""
    (n_c, _, total_c, squares_c), (n_v, _, total_v, squares_v) = control, row
    mean_c, variance_c = bayes.mean_and_variance(n_c, total_c, squares_c)
    mean_v, variance_v = bayes.mean_and_variance(n_v, total_v, squares_v)
    t, df, p = welch_t_test((n_c, total_c, squares_c), (n_v, total_v, squares_v))
    value["lift"] = _value_lift(mean_c, variance_c, mean_v, variance_v, df)
    value["p_value"], value["test_used"] = p, "welch"
    value["t"], value["df"] = _finite(t), _finite(df)
    arms = ((mean_c, variance_c), (mean_v, variance_v))
    beaten, beating = arms[::-1] if lower else arms
    value["chance_to_beat_control"] = bayes.normal_chance_to_beat(beaten, beating)
    loss_variant, loss_control = bayes.normal_expected_loss(beaten, beating)
    value["expected_loss"] = {"choosing_this": loss_variant, "keeping_control": loss_control}


def _value_lift(
    mean_c: float, variance_c: float, mean_v: float, variance_v: float, df: float
) -> Lift:
    """The difference of means with Welch's t interval (it agrees with the
    p-value beside it), and the relative lift from the log of the ratio of
    means (delta method) when both means are positive, else without an
    interval (a ratio of means that may be negative has no honest one)."""
    # Without spread Welch's df is undefined and the interval a point.
    z = t_quantile(df) if math.isfinite(df) else Z95
    spread = z * math.sqrt(variance_c + variance_v)
    difference = mean_v - mean_c
    relative = None if mean_c == 0 else mean_v / mean_c - 1
    relative_interval: list[float | None] | None = None
    if mean_c > 0 and mean_v > 0:
        # Standard errors over means, so that tiny means do not underflow.
        log_spread = z * math.hypot(math.sqrt(variance_v) / mean_v, math.sqrt(variance_c) / mean_c)
        log_ratio = math.log(mean_v) - math.log(mean_c)
        upper = log_ratio + log_spread
        # Past exp(709) a float overflows: the interval is unbounded there.
        relative_interval = [
            math.expm1(log_ratio - log_spread),
            math.expm1(upper) if upper < _LOG_MAX else None,
        ]
    return {
        "absolute": difference,
        "absolute_interval": [_finite(difference - spread), _finite(difference + spread)],
        "relative": relative,
        "relative_interval": relative_interval,
    }


def _usable(row: Row) -> bool:
    """Whether a row's value totals can be analysed (see :func:`_value`)."""
    return "unusable" not in _value(row)


def _finite(number: float | None) -> float | None:
    """JSON has no infinities: an unbounded end is None."""
    return number if number is not None and math.isfinite(number) else None
