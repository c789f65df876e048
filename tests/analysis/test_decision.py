"""A test against its declared plan: planned size, progress, always-valid
figures and the decision, through :func:`analyze`."""

from __future__ import annotations

import json
import math

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import proportion_effectsize

from manhattan.analysis.decision import KEEP_RUNNING, NO_DIFFERENCE, WINNER
from manhattan.analysis.plan import Plan
from manhattan.analysis.planning import days_remaining, required_visitors_per_population
from manhattan.analysis.report import analyze
from manhattan.analysis.sequential import proportions
from manhattan.analysis.stats import TestStats


def two_goals(buy: dict[str, int], cart: dict[str, int], visitors: dict[str, int]) -> TestStats:
    return TestStats(
        "T",
        visitors=dict(visitors),
        goals={
            "Buy": {p: (n, 0.0, 0.0) for p, n in buy.items()},
            "Cart": {p: (n, 0.0, 0.0) for p, n in cart.items()},
            "Help": {p: (n // 10, 0.0, 0.0) for p, n in cart.items()},
        },
        weights=dict.fromkeys(visitors, 1.0),
    )


def test_the_plan_and_its_progress() -> None:
    stats = two_goals({"a": 1000, "b": 1100}, {"a": 3000, "b": 2990}, {"a": 10_000, "b": 9_000})
    plan = Plan("Buy", ("Cart",), minimum_effect=0.1)
    result = analyze(stats, plan=plan, elapsed_days=6.0)
    figures = result["plan"]
    required = required_visitors_per_population(0.1, 0.1, 0.05, 0.8)
    assert figures["required_visitors_per_population"] == required
    assert figures["progress"] == 9_000 / required
    assert figures["expected_days_remaining"] == days_remaining([10_000, 9_000], required, 6.0)
    assert {key: figures[key] for key in plan.fields()} == plan.fields()  # type: ignore[literal-required]
    assert "reason" not in figures
    json.dumps(result, allow_nan=False)


def test_always_valid_figures_on_the_goal_and_guardrails_only() -> None:
    stats = two_goals({"a": 1000, "b": 1100}, {"a": 3000, "b": 2990}, {"a": 10_000, "b": 10_000})
    plan = Plan("Buy", ("Cart",))
    result = analyze(stats, plan=plan)
    required = result["plan"]["required_visitors_per_population"]
    assert required is not None
    for goal in ("Buy", "Cart"):
        entries = result["goals"][goal]["populations"]
        expected = proportions(
            (entries["a"]["conversions"], 10_000), (entries["b"]["conversions"], 10_000),
            2 * required, plan.alpha,
        )  # fmt: skip
        assert entries["b"]["always_valid_p"] == expected.p_value
        assert entries["b"]["always_valid_interval"] == list(expected.interval)
        assert entries["b"]["always_valid_relative_interval"] == list(
            expected.relative_interval or ()
        )
        assert "always_valid_p" not in entries["a"]  # control
        # Wider than the fixed-horizon interval beside it: the price of looking daily.
        fixed = entries["b"]["lift"]["absolute_interval"]
        valid = entries["b"]["always_valid_interval"]
        assert valid[0] < (fixed[0] or 0)
        assert (fixed[1] or 0) < valid[1]
    assert "always_valid_p" not in result["goals"]["Help"]["populations"]["b"]


def test_alpha_is_split_over_the_populations_compared() -> None:
    stats = two_goals(
        {"a": 1000, "b": 1100, "c": 1050}, {"a": 3000, "b": 2990, "c": 3000},
        {"a": 10_000, "b": 10_000, "c": 10_000},
    )  # fmt: skip
    result = analyze(stats, plan=Plan("Buy"))
    required = result["plan"]["required_visitors_per_population"]
    assert required == required_visitors_per_population(0.1, 0.05, 0.05, 0.8, populations=3)
    raw = proportions((1000, 10_000), (1100, 10_000), 2 * required, 0.025)
    b = result["goals"]["Buy"]["populations"]["b"]
    assert b["always_valid_p"] == min(1.0, 2 * raw.p_value)
    assert b["always_valid_interval"] == list(raw.interval)


@pytest.mark.parametrize(
    ("buy", "visitors", "status", "winner"),
    [
        pytest.param({"a": 1000, "b": 1400}, 10_000, WINNER, "b", id="variant-wins"),
        pytest.param({"a": 1400, "b": 1000}, 10_000, WINNER, "a", id="control-wins"),
        pytest.param({"a": 1000, "b": 1010}, 10_000, KEEP_RUNNING, None, id="keep-running"),
        pytest.param(
            {"a": 100_000, "b": 100_100}, 1_000_000, NO_DIFFERENCE, None, id="no-difference"
        ),
        pytest.param({"a": 10_000, "b": 11_000}, 100_000, WINNER, "b", id="past-plan-wins"),
    ],
)
def test_the_decision(buy: dict[str, int], visitors: int, status: str, winner: str | None) -> None:
    stats = two_goals(buy, {"a": 3000, "b": 3000}, {"a": visitors, "b": visitors})
    decision = analyze(stats, plan=Plan("Buy", ("Cart",)))["decision"]
    assert (decision["status"], decision["winner"]) == (status, winner)
    assert decision["harmed_guardrails"] == []


def test_the_best_of_several_winners_wins() -> None:
    stats = two_goals(
        {"a": 1000, "b": 1400, "c": 1600}, {"a": 1, "b": 1, "c": 1},
        {"a": 10_000, "b": 10_000, "c": 10_000},
    )  # fmt: skip
    decision = analyze(stats, plan=Plan("Buy"))["decision"]
    assert (decision["status"], decision["winner"]) == (WINNER, "c")


def test_a_harmed_guardrail_is_listed() -> None:
    # Help is a tenth of Cart: 300 against 200 is harmed too, 30 against 29 is not.
    stats = two_goals(
        {"a": 1000, "b": 1400, "c": 1000}, {"a": 3000, "b": 2000, "c": 2900},
        {"a": 10_000, "b": 10_000, "c": 10_000},
    )  # fmt: skip
    decision = analyze(stats, plan=Plan("Buy", ("Cart", "Help")))["decision"]
    assert (decision["status"], decision["winner"]) == (WINNER, "b")
    assert decision["harmed_guardrails"] == [
        {"goal": "Cart", "population": "b"},
        {"goal": "Help", "population": "b"},
    ]


@pytest.mark.parametrize(
    ("buy", "visitors", "reason"),
    [
        pytest.param({"b": 10}, {"a": 1000, "b": 1000}, "control has no conversions", id="none"),
        pytest.param({"a": 1000, "b": 10}, {"a": 1000, "b": 1000}, "base_rate", id="all"),
        pytest.param(
            {"a": 600, "b": 600}, {"a": 1000, "b": 1000}, "above 100%", id="effect-too-big"
        ),
        pytest.param({"a": 10}, {"a": 1000}, "only one population", id="alone"),
    ],
)
def test_no_planned_size_says_why(
    buy: dict[str, int], visitors: dict[str, int], reason: str
) -> None:
    stats = two_goals(buy, {}, visitors)
    result = analyze(stats, plan=Plan("Buy", minimum_effect=0.7))
    figures = result["plan"]
    assert figures["required_visitors_per_population"] is None
    assert figures["progress"] is None
    assert figures["expected_days_remaining"] is None
    assert reason in figures["reason"]
    assert result["decision"] == {"status": KEEP_RUNNING, "winner": None, "harmed_guardrails": []}
    for entry in result["goals"]["Buy"]["populations"].values():
        assert "always_valid_p" not in entry


def test_without_enough_data_there_are_no_always_valid_figures() -> None:
    stats = two_goals({"a": 10, "b": 12}, {}, {"a": 50, "b": 5000})
    result = analyze(stats, plan=Plan("Buy"))
    assert result["plan"]["required_visitors_per_population"] is not None
    b = result["goals"]["Buy"]["populations"]["b"]
    assert b["enough_data"] is False
    assert "always_valid_p" not in b
    assert result["decision"]["status"] == KEEP_RUNNING


def test_a_plan_goal_nobody_reached_is_planned_for_later() -> None:
    stats = two_goals({}, {}, {"a": 100, "b": 100})
    result = analyze(stats, ["Cart"], plan=Plan("Purchased"))
    assert "control has no conversions on 'Purchased'" in result["plan"]["reason"]
    assert list(result["goals"]) == ["Cart"]  # the plan's goal is judged, not shown


@pytest.mark.parametrize(
    ("buy", "lower", "winner"),
    [
        pytest.param({"a": 1000, "b": 1400}, False, "b", id="higher-variant-up"),
        pytest.param({"a": 1000, "b": 1400}, True, "a", id="lower-variant-up"),
        pytest.param({"a": 1400, "b": 1000}, False, "a", id="higher-variant-down"),
        pytest.param({"a": 1400, "b": 1000}, True, "b", id="lower-variant-down"),
        pytest.param({"a": 1400, "b": 1000, "c": 800}, True, "c", id="lower-the-lowest-wins"),
        pytest.param({"a": 1000, "b": 1400, "c": 1600}, False, "c", id="higher-the-highest"),
        pytest.param({"a": 1000, "b": 1400, "c": 800}, True, "c", id="lower-one-better"),
        pytest.param({"a": 800, "b": 1400, "c": 1000}, True, "a", id="lower-control-beats-all"),
    ],
)
def test_the_winner_follows_the_goals_direction(
    buy: dict[str, int], lower: bool, winner: str
) -> None:
    visitors = dict.fromkeys(buy, 10_000)
    stats = two_goals(buy, dict.fromkeys(buy, 3000), visitors)
    plan = Plan("Buy", lower_is_better=("Buy",) if lower else ())
    decision = analyze(stats, plan=plan)["decision"]
    assert (decision["status"], decision["winner"]) == (WINNER, winner)


@pytest.mark.parametrize(
    ("buy", "visitors"),
    [
        pytest.param({"a": 100_000, "b": 100_100}, 1_000_000, id="a-hair-higher"),
        pytest.param({"a": 100_100, "b": 100_000}, 1_000_000, id="a-hair-lower"),
    ],
)
@pytest.mark.parametrize(
    "lower", [pytest.param(False, id="higher"), pytest.param(True, id="lower")]
)
def test_no_difference_large_enough_either_way(
    buy: dict[str, int], visitors: int, lower: bool
) -> None:
    stats = two_goals(buy, {"a": 3000, "b": 3000}, {"a": visitors, "b": visitors})
    plan = Plan("Buy", lower_is_better=("Buy",) if lower else ())
    decision = analyze(stats, plan=plan)["decision"]
    assert (decision["status"], decision["winner"]) == (NO_DIFFERENCE, None)


@pytest.mark.parametrize(
    ("rate", "lower", "varied"),
    [
        pytest.param(0.1, False, 0.11, id="higher-rises"),
        pytest.param(0.1, True, 0.09, id="lower-falls"),
        pytest.param(0.8, True, 0.72, id="lower-falls-above-half"),
    ],
)
def test_the_planned_size_is_for_a_change_in_the_better_direction(
    rate: float, lower: bool, varied: float
) -> None:
    visitors = 100_000
    stats = two_goals({"a": round(rate * visitors), "b": 1}, {}, {"a": visitors, "b": visitors})
    plan = Plan("Buy", minimum_effect=0.1, lower_is_better=("Buy",) if lower else ())
    required = analyze(stats, plan=plan)["plan"]["required_visitors_per_population"]
    # Oracle: statsmodels' power at the effect size of the change planned for.
    h = float(proportion_effectsize(varied, rate))
    solved = float(NormalIndPower().solve_power(effect_size=h, alpha=0.05, power=0.8))
    assert required == math.ceil(solved * (1 - 1e-9))


def test_a_lower_is_better_goal_with_every_visitor_converted_has_no_planned_size() -> None:
    stats = two_goals({"a": 1000, "b": 900}, {}, {"a": 1000, "b": 1000})
    result = analyze(stats, plan=Plan("Buy", lower_is_better=("Buy",)))
    assert result["plan"]["required_visitors_per_population"] is None
    assert "base_rate must be between 0 and 1, not 1.0" in result["plan"]["reason"]


@pytest.mark.parametrize(
    ("cart", "lower", "harmed"),
    [
        pytest.param({"a": 3000, "b": 2000}, False, True, id="higher-fell"),
        pytest.param({"a": 3000, "b": 2000}, True, False, id="lower-fell"),
        pytest.param({"a": 2000, "b": 3000}, False, False, id="higher-rose"),
        pytest.param({"a": 2000, "b": 3000}, True, True, id="lower-rose"),
        pytest.param({"a": 3000, "b": 3010}, True, False, id="lower-unchanged"),
    ],
)
def test_a_guardrail_is_harmed_on_its_worse_side(
    cart: dict[str, int], lower: bool, harmed: bool
) -> None:
    stats = two_goals({"a": 1000, "b": 1400}, cart, {"a": 10_000, "b": 10_000})
    plan = Plan("Buy", ("Cart",), lower_is_better=("Cart",) if lower else ())
    result = analyze(stats, plan=plan)
    decision = result["decision"]
    assert decision["winner"] == "b"  # the goal's direction is the goal's alone
    assert decision["harmed_guardrails"] == (
        [{"goal": "Cart", "population": "b"}] if harmed else []
    )
    interval = result["goals"]["Cart"]["populations"]["b"]["always_valid_interval"]
    worse = interval[0] > 0 if lower else interval[1] < 0
    assert worse is harmed
    assert result["plan"]["lower_is_better"] == list(plan.lower_is_better)
