"""The analysis of one split test: every population against control, per goal.

:func:`analyze` takes a test's aggregates (:class:`TestStats`) and returns
plain JSON-able data: for each goal and population the conversion rate with
its Wilson interval, the lift over control with intervals, a p-value (z-test
or Fisher's exact test; Welch's t-test for values per visitor), Holm-adjusted
p-values across everything shown, the Bayesian chance to beat control and
expected loss; and, for the test, the sample ratio mismatch check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

from manhattan.analysis import bayes
from manhattan.analysis.frequentist import (
    Z95,
    conversion_p_value,
    difference_interval,
    holm,
    sample_ratio_mismatch,
    welch_t_test,
    wilson,
)
from manhattan.analysis.types import (
    Analysis,
    Lift,
    PopulationResult,
    ValueResult,
)
from manhattan.backend.model import VIEWED_PAGE, QueryError, TestStats

MIN_VISITORS = 100
MIN_CONVERSIONS = 5
NOT_ENOUGH = "not enough data"
UNUSABLE_VALUES = "value totals overflowed (or are inconsistent): no figures for them"


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


def analyze(
    stats: TestStats,
    goals: Sequence[str] | None = None,
    control: object = None,
    weights: Mapping[str, float] | None = None,
    *,
    min_visitors: int = MIN_VISITORS,
    min_conversions: int = MIN_CONVERSIONS,
) -> Analysis:
    """The analysis of a test (see the module text), as plain data of the
    shape :class:`~manhattan.analysis.types.Analysis` declares.

    ``weights`` (population -> weight) replace those split() recorded: for
    logs written before weights were recorded, or by Manhattan 0.3.
    """
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
    # Every comparison shown with a p-value: one family for Holm's adjustment.
    family: list[PopulationResult | ValueResult] = []
    for goal in goals:
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
                _compare(entry, control_row, row, value_type, min_visitors, min_conversions)
                for tested in (entry, entry.get("value")):
                    if tested is not None and tested.get("p_value") is not None:
                        family.append(tested)
            per_population[population] = entry
        result["goals"][goal] = {"value_type": value_type, "populations": per_population}
    for tested, adjusted in zip(family, holm([t["p_value"] for t in family]), strict=True):
        tested["p_value_holm"] = adjusted
    return result


def _row(
    rows: dict[str, tuple[int, float, float]], stats: TestStats, population: str
) -> tuple[int, int, float, float]:
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


def _conversions(row: tuple[int, int, float, float]) -> PopulationResult:
    visitors, conversions, _, _ = row
    low, high = wilson(conversions, visitors)
    return {
        "visitors": visitors,
        "conversions": conversions,
        "rate": conversions / visitors if visitors else 0.0,
        "rate_interval": [low, high],
    }


def _value(row: tuple[int, int, float, float]) -> ValueResult:
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
    control: tuple[int, int, float, float],
    row: tuple[int, int, float, float],
    value_type: str,
    min_visitors: int,
    min_conversions: int,
) -> None:
    (n_c, conv_c, total_c, squares_c), (n_v, conv_v, total_v, squares_v) = control, row
    enough = min(n_c, n_v) >= min_visitors and min(conv_c, conv_v) >= min_conversions
    if n_c and n_v:
        rate_c, rate_v = conv_c / n_c, conv_v / n_v
        entry["lift"] = _lift(
            difference_interval(
                rate_c, rate_c * (1 - rate_c) / n_c, rate_v, rate_v * (1 - rate_v) / n_v
            )
        )
    entry["enough_data"] = enough
    if not enough:
        entry["verdict"] = NOT_ENOUGH
        entry["p_value"] = None
        return
    entry["p_value"], entry["test_used"] = conversion_p_value(conv_c, n_c, conv_v, n_v)
    entry["chance_to_beat_control"] = bayes.beta_chance_to_beat((conv_c, n_c), (conv_v, n_v))
    loss_variant, loss_control = bayes.beta_expected_loss((conv_c, n_c), (conv_v, n_v))
    entry["expected_loss"] = {"choosing_this": loss_variant, "keeping_control": loss_control}
    if value_type and "unusable" not in entry["value"] and _usable(control):
        value = entry["value"]
        mean_c, variance_c = bayes.mean_and_variance(n_c, total_c, squares_c)
        mean_v, variance_v = bayes.mean_and_variance(n_v, total_v, squares_v)
        value["lift"] = _lift(difference_interval(mean_c, variance_c, mean_v, variance_v))
        t, df, p = welch_t_test((n_c, total_c, squares_c), (n_v, total_v, squares_v))
        value["p_value"], value["test_used"] = p, "welch"
        value["t"], value["df"] = _finite(t), _finite(df)
        value["chance_to_beat_control"] = bayes.normal_chance_to_beat(
            (mean_c, variance_c), (mean_v, variance_v)
        )
        loss_variant, loss_control = bayes.normal_expected_loss(
            (mean_c, variance_c), (mean_v, variance_v)
        )
        value["expected_loss"] = {"choosing_this": loss_variant, "keeping_control": loss_control}


def _usable(row: tuple[int, int, float, float]) -> bool:
    """Whether a row's value totals can be analysed (see :func:`_value`)."""
    return "unusable" not in _value(row)


def _lift(
    interval: tuple[float, float, float, float | None, float | None, float | None],
) -> Lift:
    absolute, low, high, relative, relative_low, relative_high = interval
    return {
        "absolute": absolute,
        "absolute_interval": [_finite(low), _finite(high)],
        "relative": relative,
        "relative_interval": None
        if relative is None
        else [_finite(relative_low), _finite(relative_high)],
    }


def _finite(number: float | None) -> float | None:
    """JSON has no infinities: an unbounded end is None."""
    return number if number is not None and math.isfinite(number) else None
