"""The analysis in words, from real analyses (``analyze`` with and without a plan)."""

from __future__ import annotations

import copy
import math
from typing import Any

import pytest

from manhattan.analysis.decision import KEEP_RUNNING, NO_DIFFERENCE, WINNER
from manhattan.analysis.plan import Plan
from manhattan.analysis.planning import required_visitors_per_population
from manhattan.analysis.report import analyze
from manhattan.analysis.stats import TestStats
from manhattan.analysis.types import Analysis
from manhattan.analysis.wording import (
    NO_PLAN,
    NO_PLAN_NOTE,
    PLAN_NOTE,
    always_valid_span,
    moment,
    percent,
    plan_items,
    verdict,
)
from manhattan.records.vocabulary import VIEWED_PAGE

PLAN = Plan("Buy", ("Cart",), minimum_effect=0.1)


def stats(buy: dict[str, int], cart: dict[str, int], visitors: dict[str, int]) -> TestStats:
    """A test of populations ``visitors`` (the first is control) with conversions on two goals."""
    return TestStats(
        "T",
        visitors=dict(visitors),
        goals={
            "Buy": {p: (n, 0.0, 0.0) for p, n in buy.items()},
            "Cart": {p: (n, 0.0, 0.0) for p, n in cart.items()},
            VIEWED_PAGE: {p: (n, 0.0, 0.0) for p, n in visitors.items()},
        },
        weights=dict.fromkeys(visitors, 1.0),
    )


def two(buy: tuple[int, int], cart: tuple[int, int], n: int = 10_000) -> TestStats:
    """green (control) and orange, ``n`` visitors each."""
    return stats(
        dict(zip(("green", "orange"), buy, strict=True)),
        dict(zip(("green", "orange"), cart, strict=True)),
        {"green": n, "orange": n},
    )


def entry(analysis: Analysis, goal: str, population: str) -> Any:
    return analysis["goals"][goal]["populations"][population]


def test_a_winner_in_words() -> None:
    analysis = analyze(two((1000, 1300), (3000, 3000)), plan=PLAN, elapsed_days=6.0)
    orange = entry(analysis, "Buy", "orange")
    low, high = orange["always_valid_relative_interval"]
    said = verdict(analysis)
    assert said.status == WINNER
    figure = (
        f"{percent(orange['lift']['relative'])} "
        f"(95% always-valid interval {percent(low)} to {percent(high)})"
    )
    assert said.headline == f"orange beats green on Buy: {figure}"
    assert (
        said.headline == "orange beats green on Buy: +30% (95% always-valid interval +15% to +47%)"
    )
    assert said.figures == (f"orange vs green on Buy: {figure}, always-valid p < 0.001",)
    assert said.harmed == ()
    assert said.note == PLAN_NOTE
    assert said.level == "95%"
    assert (said.ended, said.warnings) == (None, ())
    assert said.plan == (
        ("primary goal", "Buy"),
        ("guardrails", "Cart"),
        ("minimum effect", "+10% of control's rate"),
        ("power", "80%"),
        ("alpha", "5%"),
    )
    required = analysis["plan"]["required_visitors_per_population"]
    assert required == required_visitors_per_population(0.1, 0.1)
    assert said.progress is not None
    assert (said.progress.visitors, said.progress.required) == (10_000, required)
    assert said.progress.share == analysis["plan"]["progress"]
    assert said.progress.text == f"10,000 of {required:,} visitors per population"


def test_control_beating_every_other_population() -> None:
    analysis = analyze(
        stats(
            {"green": 1300, "orange": 1000, "red": 1000},
            {"green": 100, "orange": 100, "red": 100},
            {"green": 10_000, "orange": 10_000, "red": 10_000},
        ),
        plan=PLAN,
    )
    said = verdict(analysis)
    assert (said.status, analysis["decision"]["winner"]) == (WINNER, "green")
    # Alpha split over the two comparisons: 97.5% intervals.
    each = "-23% (97.5% always-valid interval -32% to -12%)"
    assert said.headline == (
        f"green (control) beats orange and red on Buy: orange {each}, red {each}"
    )
    assert said.level == "97.5%"
    assert len(said.figures) == 2
    # The days remaining are unknown without the test's age.
    assert analysis["plan"]["expected_days_remaining"] is None


def test_no_difference_large_enough() -> None:
    analysis = analyze(two((10_000, 10_010), (100, 100), n=100_000), plan=PLAN, elapsed_days=30.0)
    said = verdict(analysis)
    assert said.status == NO_DIFFERENCE
    assert said.headline == (
        "no difference of 10% or more against green on Buy: "
        "orange +0.1% (95% always-valid interval -4.1% to +4.5%)"
    )
    assert said.progress is not None
    assert said.progress.share > 1


def about(number: float) -> str:
    """Two significant digits, with thousands separators (the oracle of "about N")."""
    return f"{int(float(f'{number:.2g}')):,}"


@pytest.mark.parametrize(
    ("visitors", "days", "days_said"),
    [
        pytest.param(1_000, 3.0, "about {days} days", id="many"),
        pytest.param(14_000, 100.0, "about {days} days", id="few-days"),
        pytest.param(14_500, 30.0, "less than a day", id="less-than-a-day"),
        pytest.param(14_720, 700.0, "about 1 day", id="one-day"),
        pytest.param(14_700, 1_000.0, "about 3 days", id="more-than-one"),
    ],
)
def test_keep_running_says_how_much_longer(visitors: int, days: float, days_said: str) -> None:
    buy = (visitors // 10, visitors // 10)
    analysis = analyze(two(buy, (10, 10), n=visitors), plan=PLAN, elapsed_days=days)
    said = verdict(analysis)
    assert said.status == KEEP_RUNNING
    required = analysis["plan"]["required_visitors_per_population"]
    remaining = analysis["plan"]["expected_days_remaining"]
    assert required is not None
    assert remaining is not None
    more = about(required - visitors)
    assert said.headline == (
        f"keep running: about {more} more visitors per population, "
        + days_said.format(days=about(round(remaining)))
    )
    assert said.progress is not None
    assert (said.progress.visitors, said.progress.days_remaining) == (visitors, remaining)


def test_keep_running_in_the_words_of_the_issue() -> None:
    analysis = analyze(two((100, 110), (10, 10), n=1_000), plan=PLAN, elapsed_days=3.0)
    assert verdict(analysis).headline == (
        "keep running: about 14,000 more visitors per population, about 41 days"
    )
    # Without the test's age, no days.
    analysis = analyze(two((100, 110), (10, 10), n=1_000), plan=PLAN)
    assert verdict(analysis).headline == (
        "keep running: about 14,000 more visitors per population"
    )


def test_keep_running_past_the_planned_size() -> None:
    # A difference between the minimum effect and nothing: undecided past the size.
    analysis = analyze(two((2000, 2100), (300, 300), n=20_000), plan=PLAN, elapsed_days=9.0)
    said = verdict(analysis)
    assert said.status == KEEP_RUNNING
    required = analysis["plan"]["required_visitors_per_population"]
    assert required is not None
    assert said.headline == (
        f"keep running: the planned {required:,} visitors per population are reached "
        "without a decision yet; the always-valid figures stay valid as it runs on"
    )


def test_keep_running_without_a_planned_size() -> None:
    analysis = analyze(two((0, 3), (0, 0), n=1_000), plan=PLAN)
    said = verdict(analysis)
    assert said.headline == (
        "keep running: no planned size yet (control has no conversions on 'Buy' yet)"
    )
    assert said.progress is None
    assert said.figures == ("orange vs green on Buy: not enough data yet",)
    # An older reply without the reason.
    del analysis["plan"]["reason"]
    assert verdict(analysis).headline == "keep running: no planned size yet"


def test_enough_data_without_always_valid_figures() -> None:
    # As an analysis without a planned size (see decision._required) has it.
    analysis = analyze(two((20, 30), (0, 0), n=1_000), plan=PLAN)
    orange = entry(analysis, "Buy", "orange")
    for key in ("always_valid_p", "always_valid_interval", "always_valid_relative_interval"):
        del orange[key]
    analysis["plan"] = {
        **PLAN.fields(),
        "required_visitors_per_population": None,
        "progress": None,
        "expected_days_remaining": None,
        "reason": "the test has only one population",
    }
    said = verdict(analysis)
    assert said.figures == (
        "orange vs green on Buy: no always-valid figures until the planned size can be worked out",
    )


def test_harmed_guardrails_are_said() -> None:
    analysis = analyze(two((1000, 1300), (500, 200)), plan=PLAN)
    said = verdict(analysis)
    assert analysis["decision"]["harmed_guardrails"] == [{"goal": "Cart", "population": "orange"}]
    assert said.harmed == (
        "guardrail Cart harmed by orange: -60% (95% always-valid interval -69% to -49%)",
    )
    # Asked for the goal only: the guardrail is named without figures.
    only = analyze(two((1000, 1300), (500, 200)), ["Buy"], plan=PLAN)
    assert verdict(only).harmed == ("guardrail Cart harmed by orange",)


def test_a_goal_not_asked_for_is_named_without_figures() -> None:
    winner = analyze(two((1000, 1300), (300, 300)), ["Cart"], plan=PLAN)
    said = verdict(winner)
    assert said.headline == "orange beats green on Buy"
    assert said.figures == ()
    control = analyze(two((1300, 1000), (300, 300)), ["Cart"], plan=PLAN)
    assert verdict(control).headline == "green (control) beats orange on Buy"
    same = analyze(two((10_000, 10_010), (100, 100), n=100_000), ["Cart"], plan=PLAN)
    assert verdict(same).headline == "no difference of 10% or more against green on Buy"


def test_an_ended_test_says_when_and_what_it_serves() -> None:
    analysis = analyze(two((1000, 1300), (300, 300)), plan=replace_winner("orange"))
    analysis["ended"] = {"at": 1_764_000_000.0, "winner": "orange"}
    analysis["warnings"] = ["2025-11-24 16:00:00 UTC: the plan changed: x"]
    said = verdict(analysis)
    assert said.ended == (
        "ended 2025-11-24 16:00 UTC, serving orange to everyone: the figures are those of "
        "that moment"
    )
    assert said.warnings == ("2025-11-24 16:00:00 UTC: the plan changed: x",)
    assert said.headline.startswith("orange beats green on Buy: +30%")
    # Undecided when it ended: no "keep running".
    early = analyze(two((100, 110), (30, 30), n=1_000), plan=PLAN, elapsed_days=2.0)
    early["ended"] = {"at": 1_764_000_000.0, "winner": None}
    said = verdict(early)
    assert said.ended == "ended 2025-11-24 16:00 UTC: the figures are those of that moment"
    assert said.headline == "no decision when it ended: 1,000 of 14,745 visitors per population"
    nothing = analyze(two((0, 3), (0, 0), n=1_000), plan=PLAN)
    nothing["ended"] = {"at": 0.0, "winner": "green"}
    assert verdict(nothing).headline == "no decision when it ended"


def replace_winner(winner: str) -> Plan:
    return Plan(PLAN.goal, PLAN.guardrails, PLAN.minimum_effect, winner=winner)


def test_without_control_conversions_the_figures_are_in_points() -> None:
    analysis = analyze(two((1000, 1300), (300, 300)), plan=PLAN)
    orange = entry(analysis, "Buy", "orange")
    orange["always_valid_relative_interval"] = None
    low, high = orange["always_valid_interval"]
    span = f"{low * 100:+.1f} points to {high * 100:+.1f} points"
    assert always_valid_span(orange) == span
    assert verdict(analysis).headline == (
        f"orange beats green on Buy: +3.0 points (95% always-valid interval {span})"
    )
    # A reply without the lift: the interval alone.
    del orange["lift"]
    assert verdict(analysis).headline == (
        f"orange beats green on Buy: 95% always-valid interval {span}"
    )


def test_an_unbounded_interval_end() -> None:
    analysis = analyze(two((1000, 1300), (300, 300)), plan=PLAN)
    orange = entry(analysis, "Buy", "orange")
    orange["always_valid_relative_interval"] = [-1.0, None]
    assert always_valid_span(orange) == "-100% to +∞"
    orange["always_valid_interval"] = [None, 0.5]
    orange["always_valid_relative_interval"] = None
    assert always_valid_span(orange) == "-∞ to +50.0 points"
    assert always_valid_span(entry(analysis, "Buy", "green")) is None


def test_a_plan_without_a_decision_is_undecided() -> None:
    analysis = analyze(two((100, 110), (30, 30), n=1_000), plan=PLAN, elapsed_days=2.0)
    del analysis["decision"]
    said = verdict(analysis)
    assert (said.status, said.harmed) == (KEEP_RUNNING, ())


def test_without_a_plan_the_significant_comparisons_on_every_goal_but_page_views() -> None:
    analysis = analyze(two((1000, 1300), (300, 420)))
    said = verdict(analysis)
    assert said.status == NO_PLAN
    assert said.headline == "no declared plan: fixed-horizon figures only"
    assert said.note == NO_PLAN_NOTE
    assert (said.plan, said.progress, said.level) == ((), None, None)
    buy, cart = entry(analysis, "Buy", "orange"), entry(analysis, "Cart", "orange")
    expected = []
    for goal, found in (("Buy", buy), ("Cart", cart)):
        low, high = found["lift"]["relative_interval"]
        relative = found["lift"]["relative"]
        expected.append(
            f"orange vs green on {goal}: {percent(relative)} (95% interval {percent(low)} "
            f"to {percent(high)}), p < 0.001 (Holm)"
        )
    assert said.figures == tuple(expected)
    # No goal is picked for it: the one most visitors reached is no plan.
    assert "beats" not in said.headline


@pytest.mark.parametrize(
    ("test", "expected"),
    [
        pytest.param(
            two((1000, 1010), (300, 290)),
            ("no difference significant at 5% on any goal (Holm-adjusted)",),
            id="none-significant",
        ),
        pytest.param(
            two((1, 2), (0, 0), n=50), ("not enough data on any goal yet",), id="not-enough"
        ),
        pytest.param(
            TestStats("T", visitors={"a": 100, "b": 100}, goals={VIEWED_PAGE: {"a": (100, 0, 0)}}),
            ("no goals yet",),
            id="no-goals",
        ),
    ],
)
def test_without_a_plan(test: TestStats, expected: tuple[str, ...]) -> None:
    assert verdict(analyze(test)).figures == expected


def test_without_control_conversions_the_fixed_horizon_lift_is_in_points() -> None:
    analysis = analyze(two((0, 30), (0, 0), n=1_000))
    lift = entry(analysis, "Buy", "orange")["lift"]
    assert lift["relative"] is None
    low, high = lift["absolute_interval"]
    assert verdict(analysis).figures == (
        f"orange vs green on Buy: +3.0 points (95% interval {low * 100:+.1f} points to "
        f"{high * 100:+.1f} points), p < 0.001 (Holm)",
    )


def test_a_significant_comparison_without_a_lift_is_left_out() -> None:
    # An older server's reply: a Holm p-value without the lift beside it.
    analysis = analyze(two((1000, 1300), (300, 300)))
    del entry(analysis, "Buy", "orange")["lift"]
    assert verdict(analysis).figures == (
        "no difference significant at 5% on any goal (Holm-adjusted)",
    )


@pytest.mark.parametrize(
    ("share", "expected"),
    [
        pytest.param(0.12, "+12%", id="whole"),
        pytest.param(0.041, "+4.1%", id="one-decimal"),
        pytest.param(-0.0996, "-10%", id="rounds-up-to-whole"),
        pytest.param(-0.0994, "-9.9%", id="below-ten"),
        pytest.param(1.5, "+150%", id="large"),
        pytest.param(-0.0004, "0%", id="rounds-to-none"),
        pytest.param(0.0, "0%", id="zero"),
    ],
)
def test_percent(share: float, expected: str) -> None:
    assert percent(share) == expected


@pytest.mark.parametrize(
    ("alpha", "populations", "expected"),
    [
        pytest.param(0.05, 2, "95%", id="one-comparison"),
        pytest.param(0.05, 4, "98.3%", id="three"),
        pytest.param(0.001, 2, "99.9%", id="strict"),
        pytest.param(0.0002, 3, "99.99%", id="stricter"),
    ],
)
def test_the_level_follows_alpha_and_the_comparisons(
    alpha: float, populations: int, expected: str
) -> None:
    names = [f"p{i}" for i in range(populations)]
    test = stats(dict.fromkeys(names, 100), dict.fromkeys(names, 10), dict.fromkeys(names, 1000))
    plan = Plan("Buy", alpha=alpha)
    assert verdict(analyze(test, plan=plan)).level == expected


def test_plan_items_of_a_plan_without_guardrails() -> None:
    items = dict(plan_items(Plan("Buy", minimum_effect=0.025, power=0.9, alpha=0.01).fields()))
    assert items == {
        "primary goal": "Buy",
        "guardrails": "none",
        "minimum effect": "+2.5% of control's rate",
        "power": "90%",
        "alpha": "1%",
    }


def test_moment() -> None:
    assert moment(0.0) == "1970-01-01 00:00 UTC"
    assert moment(1_764_000_059.9) == "2025-11-24 16:00 UTC"


def test_words_do_not_change_the_analysis() -> None:
    analysis = analyze(two((1000, 1300), (300, 300)), plan=PLAN)
    before = copy.deepcopy(analysis)
    verdict(analysis)
    assert analysis == before
    assert not math.isnan(analysis["plan"]["progress"] or 0.0)


def figure_of(analysis: Analysis, goal: str, population: str) -> str:
    """The always-valid figure of a comparison, as the words give it."""
    said = entry(analysis, goal, population)
    low, high = said["always_valid_relative_interval"]
    return (
        f"{percent(said['lift']['relative'])} "
        f"(95% always-valid interval {percent(low)} to {percent(high)})"
    )


@pytest.mark.parametrize(
    ("buy", "lower", "headline"),
    [
        pytest.param((1000, 1300), (), "orange beats green on Buy: +", id="higher-rise-beats"),
        pytest.param(
            (1300, 1000),
            ("Buy",),
            "orange beats green on Buy (lower is better): -",
            id="lower-fall-beats",
        ),
        pytest.param(
            (1000, 1300),
            ("Buy",),
            "green (control) beats orange on Buy (lower is better): orange +",
            id="lower-rise-loses",
        ),
        pytest.param((1300, 1000), (), "green (control) beats orange on Buy: orange -", id="fall"),
    ],
)
def test_beats_follows_the_goals_direction(
    buy: tuple[int, int], lower: tuple[str, ...], headline: str
) -> None:
    plan = Plan("Buy", ("Cart",), minimum_effect=0.1, lower_is_better=lower)
    analysis = analyze(two(buy, (3000, 3000)), plan=plan)
    said = verdict(analysis)
    assert said.status == WINNER
    assert said.headline.startswith(headline)
    assert said.headline.endswith(figure_of(analysis, "Buy", "orange"))


@pytest.mark.parametrize(
    ("cart", "lower", "sign"),
    [
        pytest.param((500, 200), (), "-", id="higher-fell"),
        pytest.param((200, 300), ("Cart",), "+", id="lower-rose"),
    ],
)
def test_a_harmed_guardrail_is_said_in_its_direction(
    cart: tuple[int, int], lower: tuple[str, ...], sign: str
) -> None:
    plan = Plan("Buy", ("Cart",), minimum_effect=0.1, lower_is_better=lower)
    analysis = analyze(two((1000, 1300), cart), plan=plan)
    named = "Cart (lower is better)" if lower else "Cart"
    figure = figure_of(analysis, "Cart", "orange")
    assert figure.startswith(sign)
    assert verdict(analysis).harmed == (f"guardrail {named} harmed by orange: {figure}",)


def test_a_lower_is_better_guardrail_rising_in_the_words_of_the_task() -> None:
    plan = Plan("Buy", ("Refunded",), minimum_effect=0.1, lower_is_better=("Refunded",))
    test = TestStats(
        "T",
        visitors={"green": 20_000, "orange": 20_000},
        goals={
            "Buy": {"green": (2000, 0.0, 0.0), "orange": (2600, 0.0, 0.0)},
            "Refunded": {"green": (400, 0.0, 0.0), "orange": (500, 0.0, 0.0)},
        },
        weights={"green": 1.0, "orange": 1.0},
    )
    analysis = analyze(test, plan=plan)
    figure = figure_of(analysis, "Refunded", "orange")
    assert figure.startswith("+25% (95% always-valid interval +")
    assert verdict(analysis).harmed == (
        f"guardrail Refunded (lower is better) harmed by orange: {figure}",
    )
    assert analysis["decision"]["winner"] == "orange"  # on Buy, better higher


@pytest.mark.parametrize(
    ("lower", "goal", "guardrails", "effect"),
    [
        pytest.param((), "Buy", "Refunded, Cart", "+10%", id="none"),
        pytest.param(
            ("Refunded",), "Buy", "Refunded (lower is better), Cart", "+10%", id="guardrail"
        ),
        pytest.param(("Buy",), "Buy (lower is better)", "Refunded, Cart", "-10%", id="goal"),
    ],
)
def test_plan_items_mark_the_goals_better_lower(
    lower: tuple[str, ...], goal: str, guardrails: str, effect: str
) -> None:
    plan = Plan("Buy", ("Refunded", "Cart"), minimum_effect=0.1, lower_is_better=lower)
    items = dict(plan_items(plan.fields()))
    assert items["primary goal"] == goal
    assert items["guardrails"] == guardrails
    assert items["minimum effect"] == f"{effect} of control's rate"


def test_plan_items_of_a_server_without_lower_is_better() -> None:
    fields = Plan("Buy", ("Refunded",)).fields()
    del fields["lower_is_better"]
    assert dict(plan_items(fields))["guardrails"] == "Refunded"
