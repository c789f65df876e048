"""The analysis of a whole test, from aggregates worked out by hand."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

from manhattan.analysis._numeric import clear_caches
from manhattan.analysis.plan import Plan
from manhattan.analysis.report import NOT_ENOUGH, analyze, choose_control
from manhattan.backend.model import QueryError, TestStats


def shop() -> TestStats:
    # green: 1,000 visitors, 100 bought, $1,000 in all; orange: 1,000, 130, $1,300.
    return TestStats(
        "Checkout Button",
        visitors={"green": 1000, "orange": 1000},
        goals={
            "Purchased": {"green": (100, 1000.0, 20_000.0), "orange": (130, 1300.0, 26_000.0)},
            "Added To Cart": {"green": (300, 0.0, 0.0), "orange": (310, 0.0, 0.0)},
        },
        weights={"green": 1.0, "orange": 1.0},
        value_types={"Purchased": "S"},
    )


def test_a_two_population_test() -> None:
    result = analyze(shop())
    assert result["control"] == "green"
    assert result["populations"] == ["green", "orange"]
    assert result["visitors"] == {"green": 1000, "orange": 1000}
    assert result["srm"]["mismatch"] is False
    assert result["srm"]["p_value"] == pytest.approx(1.0)
    purchased = result["goals"]["Purchased"]
    assert purchased["value_type"] == "S"
    green, orange = purchased["populations"]["green"], purchased["populations"]["orange"]
    assert (green["rate"], orange["rate"]) == (0.1, 0.13)
    assert "p_value" not in green  # control is not compared with itself
    assert orange["lift"]["absolute"] == pytest.approx(0.03)
    assert orange["lift"]["relative"] == pytest.approx(0.3)
    _, reference = proportions_ztest([130, 100], [1000, 1000])
    assert orange["p_value"] == pytest.approx(float(reference), rel=1e-9)
    assert orange["test_used"] == "z-test"
    assert 0.5 < orange["chance_to_beat_control"] < 1
    assert orange["expected_loss"]["choosing_this"] < orange["expected_loss"]["keeping_control"]
    value = orange["value"]
    assert value["per_visitor"] == pytest.approx(1.3)
    assert value["lift"]["relative"] == pytest.approx(0.3)
    assert value["test_used"] == "welch"
    # Three p-values shown (two goals' rates and one value): Holm multiplies
    # the smallest by 3, the next by 2, the last by 1 (then keeps them monotone).
    shown = sorted(
        [
            orange["p_value"],
            value["p_value"],
            result["goals"]["Added To Cart"]["populations"]["orange"]["p_value"],
        ]
    )
    assert min(
        orange["p_value_holm"],
        value["p_value_holm"],
        result["goals"]["Added To Cart"]["populations"]["orange"]["p_value_holm"],
    ) == pytest.approx(min(1.0, 3 * shown[0]))
    json.dumps(result, allow_nan=False)  # plain JSON, no NaN or infinities


def test_too_few_visitors_or_conversions_says_so() -> None:
    stats = shop()
    stats.visitors["orange"] = 99
    stats.goals["Purchased"]["orange"] = (4, 40.0, 400.0)
    stats.goals["Added To Cart"]["orange"] = (30, 0.0, 0.0)
    orange = analyze(stats)["goals"]["Purchased"]["populations"]["orange"]
    assert orange["verdict"] == NOT_ENOUGH
    assert orange["p_value"] is None
    assert orange["enough_data"] is False
    assert "chance_to_beat_control" not in orange
    assert orange["rate_interval"][0] < orange["rate"] < orange["rate_interval"][1]


def test_few_conversions_use_fishers_exact_test() -> None:
    # 10 conversions among 10,100 visitors: green's 100 visitors expect 0.1 of them.
    stats = shop()
    stats.goals["Rare"] = {"green": (5, 0.0, 0.0), "orange": (5, 0.0, 0.0)}
    stats.visitors = {"green": 100, "orange": 10_000}
    rare = analyze(stats, ["Rare"])["goals"]["Rare"]["populations"]["orange"]
    assert rare["test_used"] == "fisher"


def test_in_a_time_bucket_returning_converters_count_as_visitors() -> None:
    # On a later day the population's visitors are its page viewers that day,
    # not only those assigned that day.
    stats = TestStats(
        "T",
        visitors={"a": 10, "b": 12},
        goals={"viewed page": {"a": (150, 0.0, 0.0), "b": (160, 0.0, 0.0)},
               "Buy": {"a": (20, 0.0, 0.0), "b": (30, 0.0, 0.0)}},
    )  # fmt: skip
    buy = analyze(stats, ["Buy"])["goals"]["Buy"]["populations"]
    assert (buy["a"]["visitors"], buy["b"]["visitors"]) == (150, 160)
    assert buy["b"]["rate"] == 30 / 160


def test_a_lopsided_split_is_a_sample_ratio_mismatch() -> None:
    stats = shop()
    stats.visitors = {"green": 505_000, "orange": 495_000}
    assert analyze(stats)["srm"]["mismatch"] is True
    stats.weights = {"green": 101.0, "orange": 99.0}  # ... unless the split was weighted so
    assert analyze(stats)["srm"]["mismatch"] is False


@pytest.mark.parametrize(
    ("visitors", "weights", "control", "expected"),
    [
        pytest.param({"a": 1, "b": 1}, {"b": 1.0, "a": 1.0}, None, "b", id="first-recorded"),
        pytest.param({"True": 5, "False": 5}, {}, None, "False", id="true-false"),
        pytest.param({"y": 1, "x": 1}, {}, None, "x", id="first-by-name"),
        pytest.param({"y": 1, "x": 1}, {}, "y", "y", id="given"),
        pytest.param({"True": 5, "False": 5}, {}, True, "True", id="given-as-0.3-value"),
    ],
)
def test_choosing_the_control(
    visitors: dict[str, int], weights: dict[str, float], control: object, expected: str
) -> None:
    stats = TestStats("T", visitors=visitors, weights=weights)
    assert analyze(stats, [], control)["control"] == expected
    populations = list(weights) + sorted(set(visitors) - set(weights))
    assert choose_control(stats, populations, control) == expected


def test_populations_nobody_landed_in_are_shown() -> None:
    stats = TestStats("T", visitors={"a": 300}, weights={"a": 1.0, "b": 1.0})
    result = analyze(stats, ["g"])
    assert result["populations"] == ["a", "b"]
    assert result["goals"]["g"]["populations"]["b"]["visitors"] == 0
    assert result["srm"]["mismatch"] is True  # 300 against 0


@pytest.mark.parametrize(
    ("stats", "goals", "control", "message"),
    [
        pytest.param(TestStats("T"), None, None, "has no visitors", id="empty"),
        pytest.param(shop(), "Purchased", None, "list of goal names", id="goals-str"),
        pytest.param(shop(), [1], None, "list of goal names", id="goals-int"),
        pytest.param(shop(), None, "purple", "not a population", id="control"),
    ],
)
def test_bad_requests(stats: TestStats, goals: object, control: object, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        analyze(stats, goals, control)  # type: ignore[arg-type]


def test_a_goal_nobody_reached_is_all_zeros() -> None:
    result = analyze(shop(), ["Nothing"])
    orange = result["goals"]["Nothing"]["populations"]["orange"]
    assert (orange["conversions"], orange["rate"], orange["verdict"]) == (0, 0.0, NOT_ENOUGH)
    assert "lift" not in orange  # without enough data no lift is printed (issue 13)
    assert not math.isnan(orange["rate_interval"][1])


def test_weights_given_in_the_query_replace_the_recorded_ones() -> None:
    # A 0.3 log: no weights recorded; the split was 1:3.
    stats = TestStats("T", visitors={"a": 25_000, "b": 75_000})
    assert analyze(stats, [])["srm"]["mismatch"] is True  # against equal weights
    given = analyze(stats, [], weights={"a": 1, "b": 3.0})
    assert given["srm"]["mismatch"] is False
    assert (given["srm"]["weights_given"], given["srm"]["weights_recorded"]) == (True, False)
    assert given["control"] == "a"  # the first weight given


@pytest.mark.parametrize(
    "weights",
    [
        pytest.param({}, id="empty"),
        pytest.param(["a"], id="not-an-object"),
        pytest.param({"a": 0}, id="zero"),
        pytest.param({"a": -1}, id="negative"),
        pytest.param({"a": True}, id="bool"),
        pytest.param({"a": "1"}, id="text"),
        pytest.param({"a": math.inf}, id="infinite"),
    ],
)
def test_bad_weights_in_the_query(weights: object) -> None:
    with pytest.raises(QueryError, match="weight"):
        analyze(shop(), [], weights=weights)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("population", "total", "squares"),
    [
        pytest.param("orange", math.inf, math.inf, id="infinite-variant"),
        pytest.param("orange", math.nan, math.nan, id="nan-variant"),
        pytest.param("orange", 1e300, 1e308, id="squares-below-total-squared"),
        pytest.param("green", math.inf, math.inf, id="infinite-control"),
    ],
)
def test_overflowed_value_totals_spoil_only_their_value_figures(
    population: str, total: float, squares: float
) -> None:
    stats = shop()
    conversions = stats.goals["Purchased"][population][0]
    stats.goals["Purchased"][population] = (conversions, total, squares)
    result = analyze(stats)
    json.dumps(result, allow_nan=False)
    purchased = result["goals"]["Purchased"]["populations"]
    spoiled = purchased[population]["value"]
    assert spoiled["per_visitor"] is None
    assert "overflowed" in spoiled["unusable"]
    orange = purchased["orange"]
    # The conversion figures stand; no value comparison is made.
    assert orange["p_value"] is not None
    assert "p_value" not in orange["value"]
    assert result["goals"]["Added To Cart"]["populations"]["orange"]["p_value"] is not None


# -- Issue 13, item 4: the analysis corrections ---------------------------------


def three_goals() -> TestStats:
    return TestStats(
        "T",
        visitors={"a": 2000, "b": 2000},
        goals={
            "viewed page": {"a": (2000, 0.0, 0.0), "b": (2000, 0.0, 0.0)},
            "Buy": {"a": (200, 0.0, 0.0), "b": (250, 0.0, 0.0)},
            "Cart": {"a": (500, 0.0, 0.0), "b": (540, 0.0, 0.0)},
            "Help": {"a": (50, 0.0, 0.0), "b": (80, 0.0, 0.0)},
        },
        weights={"a": 1.0, "b": 1.0},
    )


def holm_reference(p_values: list[float]) -> list[float]:
    return [float(p) for p in multipletests(p_values, method="holm")[1]]


def test_the_holm_family_is_every_goal_but_viewed_page() -> None:
    result = analyze(three_goals())
    entries = {goal: data["populations"]["b"] for goal, data in result["goals"].items()}
    family = ["Buy", "Cart", "Help"]
    expected = holm_reference([entries[goal]["p_value"] for goal in family])
    assert [entries[goal]["p_value_holm"] for goal in family] == pytest.approx(expected, rel=1e-12)
    assert entries["viewed page"]["p_value"] is not None
    assert "p_value_holm" not in entries["viewed page"]  # never a test goal


@pytest.mark.parametrize(
    "goals",
    [["Buy"], ["Help", "viewed page"], ["Cart", "Buy"]],
)
def test_asking_for_fewer_goals_never_lowers_a_p_value(goals: list[str]) -> None:
    everything = analyze(three_goals())["goals"]
    fewer = analyze(three_goals(), goals)["goals"]
    assert list(fewer) == goals
    for goal in goals:
        assert fewer[goal] == everything[goal]


def test_with_a_plan_the_family_is_its_goal_and_guardrails() -> None:
    plan = Plan("Buy", ("Help",))
    result = analyze(three_goals(), ["Cart", "Help"], plan=plan)
    help_ = result["goals"]["Help"]["populations"]["b"]
    buy = analyze(three_goals(), ["Buy"], plan=plan)["goals"]["Buy"]["populations"]["b"]
    expected = holm_reference([buy["p_value"], help_["p_value"]])
    assert [buy["p_value_holm"], help_["p_value_holm"]] == pytest.approx(expected, rel=1e-12)
    assert "p_value_holm" not in result["goals"]["Cart"]["populations"]["b"]  # exploratory


def test_a_repeated_analysis_is_the_fresh_one() -> None:
    # Figures are cached by counts, as the same counts come back with every
    # analysis until the next commit; Holm's adjustment and the plan's
    # figures go into each answer's own entries, never into what is cached.
    plan = Plan("Purchased", ("Added To Cart",))
    clear_caches()
    fresh = analyze(shop(), plan=plan, elapsed_days=2.0)
    assert analyze(shop(), plan=plan, elapsed_days=2.0) == fresh
    assert analyze(shop()) == analyze(shop())
    clear_caches()
    assert analyze(shop(), plan=plan, elapsed_days=2.0) == fresh


def test_a_large_effect_with_few_conversions_in_one_arm_is_analysed() -> None:
    # Issue 13: 60/2,000 against 4/2,000 was "not enough data" at Fisher p = 5e-14.
    stats = TestStats(
        "T", visitors={"a": 2000, "b": 2000}, goals={"Buy": {"a": (60, 0, 0), "b": (4, 0, 0)}}
    )
    b = analyze(stats)["goals"]["Buy"]["populations"]["b"]
    assert b["enough_data"] is True
    assert b["test_used"] == "z-test"  # 32 conversions expected in each arm
    _, reference = proportions_ztest([4, 60], [2000, 2000])
    assert b["p_value"] == pytest.approx(float(reference), rel=1e-9)
    assert scipy_stats.fisher_exact([[4, 1996], [60, 1940]]).pvalue < 1e-13
    # Fewer than five in the larger arm too: still not enough.
    stats.goals["Buy"] = {"a": (4, 0.0, 0.0), "b": (1, 0.0, 0.0)}
    b = analyze(stats)["goals"]["Buy"]["populations"]["b"]
    assert (b["enough_data"], b["verdict"]) == (False, NOT_ENOUGH)
    assert "lift" not in b  # and no lift is printed


def test_the_relative_interval_is_katzs_and_never_below_minus_100_percent() -> None:
    # Issue 13: the delta method gave [-112.8%, +79.5%] for 6/100 against 5/100.
    stats = TestStats(
        "T", visitors={"a": 100, "b": 100}, goals={"Buy": {"a": (6, 0, 0), "b": (5, 0, 0)}}
    )
    lift = analyze(stats)["goals"]["Buy"]["populations"]["b"]["lift"]
    low, high = confint_proportions_2indep(5, 100, 6, 100, method="log", compare="ratio")
    assert lift["relative_interval"] == pytest.approx([float(low) - 1, float(high) - 1], rel=1e-12)
    assert lift["relative_interval"][0] > -1  # type: ignore[index,operator]


def test_the_difference_interval_agrees_with_the_p_value_shown() -> None:
    # Issue 13: 100/100 against 95/100 had an interval excluding 0 at p = 0.059.
    stats = TestStats(
        "T", visitors={"a": 100, "b": 100}, goals={"Buy": {"a": (100, 0, 0), "b": (95, 0, 0)}}
    )
    b = analyze(stats)["goals"]["Buy"]["populations"]["b"]
    assert b["test_used"] == "fisher"
    assert b["p_value"] == pytest.approx(0.0594, abs=1e-4)
    low, high = b["lift"]["absolute_interval"]
    assert low is not None
    assert high is not None
    assert low < 0 < high


def test_the_value_interval_is_welchs() -> None:
    result = analyze(shop())
    value = result["goals"]["Purchased"]["populations"]["orange"]["value"]
    # green: 1,000 visitors, total 1,000, squares 20,000; orange: 1,300 and 26,000.
    sd_c = math.sqrt((20_000 - 1000**2 / 1000) / 999)
    sd_v = math.sqrt((26_000 - 1300**2 / 1000) / 999)
    reference = scipy_stats.ttest_ind_from_stats(1.3, sd_v, 1000, 1.0, sd_c, 1000, equal_var=False)
    assert value["p_value"] == pytest.approx(float(reference.pvalue), rel=1e-9)
    half = float(scipy_stats.t.isf(0.025, value["df"])) * math.sqrt((sd_c**2 + sd_v**2) / 1000)
    assert value["lift"]["absolute_interval"] == pytest.approx([0.3 - half, 0.3 + half], rel=1e-9)
    log_spread = float(scipy_stats.t.isf(0.025, value["df"])) * math.sqrt(
        sd_v**2 / 1000 / 1.3**2 + sd_c**2 / 1000 / 1.0**2
    )
    expected = [1.3 * math.exp(-log_spread) - 1, 1.3 * math.exp(log_spread) - 1]
    assert value["lift"]["relative_interval"] == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(
    ("control", "variant"),
    [
        pytest.param((100, -50.0, 5000.0), (100, 80.0, 6000.0), id="negative-control"),
        pytest.param((100, 50.0, 5000.0), (100, -80.0, 6000.0), id="negative-variant"),
    ],
)
def test_a_ratio_of_means_that_may_be_negative_has_no_relative_interval(
    control: tuple[int, float, float], variant: tuple[int, float, float]
) -> None:
    stats = TestStats(
        "T",
        visitors={"a": 1000, "b": 1000},
        goals={"Refund": {"a": control, "b": variant}},
        value_types={"Refund": "S"},
    )
    value = analyze(stats)["goals"]["Refund"]["populations"]["b"]["value"]
    assert value["lift"]["relative_interval"] is None
    assert value["p_value"] is not None


def test_a_huge_value_ratio_has_an_unbounded_end() -> None:
    stats = TestStats(
        "T",
        visitors={"a": 1000, "b": 1000},
        goals={"Buy": {"a": (100, 1e-300, 1e-300), "b": (100, 1e15, 1e28)}},
        value_types={"Buy": "S"},
    )
    relative = analyze(stats)["goals"]["Buy"]["populations"]["b"]["value"]["lift"]
    assert relative["relative_interval"] is not None
    assert relative["relative_interval"][1] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"min_visitors": -1}, "min_visitors must be", id="min-visitors"),
        pytest.param({"min_conversions": 1.5}, "min_conversions must be", id="min-conversions"),
        pytest.param({"min_visitors": True}, "min_visitors must be", id="bool"),
        pytest.param({"plan": {"goal": "Buy"}}, "plan must be a Plan", id="plan-dict"),
        pytest.param({"elapsed_days": -1.0}, "elapsed_days must be", id="days-negative"),
        pytest.param({"elapsed_days": math.nan}, "elapsed_days must be", id="days-nan"),
        pytest.param({"elapsed_days": "3"}, "elapsed_days must be", id="days-text"),
    ],
)
def test_bad_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        analyze(shop(), **kwargs)  # type: ignore[arg-type]


def arm(draw: st.DrawFn) -> tuple[int, int, float, float]:
    visitors = draw(st.integers(0, 12))
    conversions = draw(st.integers(0, visitors))
    values = draw(st.lists(st.floats(-1e3, 1e3), min_size=visitors, max_size=visitors))
    return visitors, conversions, math.fsum(values), math.fsum(v * v for v in values)


@st.composite
def small_tests(draw: st.DrawFn) -> tuple[TestStats, int, int]:
    arms = {name: arm(draw) for name in ("a", "b", "c")[: draw(st.integers(1, 3))]}
    stats = TestStats(
        "T",
        visitors={name: n for name, (n, _, _, _) in arms.items()},
        goals={
            "Buy": {name: (k, total, squares) for name, (_, k, total, squares) in arms.items()}
        },
        value_types={"Buy": draw(st.sampled_from(["", "S"]))},
    )
    if not any(stats.visitors.values()):
        stats.visitors["a"] = 1
    return stats, draw(st.integers(0, 2)), draw(st.integers(0, 1))


@settings(max_examples=300, deadline=None)
@given(small_tests(), st.booleans())
def test_no_division_by_zero_on_small_tables(
    case: tuple[TestStats, int, int], planned: bool
) -> None:
    stats, min_visitors, min_conversions = case
    result = analyze(
        stats,
        min_visitors=min_visitors,
        min_conversions=min_conversions,
        plan=Plan("Buy") if planned else None,
        elapsed_days=1.0,
    )
    json.dumps(result, allow_nan=False)
    for entry in result["goals"]["Buy"]["populations"].values():
        p_value = entry.get("p_value")
        if p_value is None:
            assert "lift" not in entry
            continue
        low, high = entry["lift"]["absolute_interval"]
        assert low is not None
        assert high is not None
        if abs(p_value - 0.05) > 1e-9:
            assert (low > 0 or high < 0) == (p_value < 0.05)
        relative = entry["lift"]["relative_interval"]
        assert relative is None or relative[0] is None or relative[0] >= -1


@pytest.mark.parametrize(
    "lower_is_better",
    [
        pytest.param((), id="higher-is-better"),
        pytest.param(("Purchased",), id="lower-is-better-goal"),
        pytest.param(("Added To Cart",), id="lower-is-better-guardrail"),
    ],
)
def test_chance_to_beat_control_follows_the_goals_direction(
    lower_is_better: tuple[str, ...],
) -> None:
    plan = Plan("Purchased", ("Added To Cart",), lower_is_better=lower_is_better)
    planned = analyze(shop(), plan=plan)["goals"]
    plain = analyze(shop())["goals"]
    for goal in ("Purchased", "Added To Cart"):
        got, higher = planned[goal]["populations"]["orange"], plain[goal]["populations"]["orange"]
        turned = goal in lower_is_better
        chance = (
            1 - higher["chance_to_beat_control"] if turned else higher["chance_to_beat_control"]
        )
        assert got["chance_to_beat_control"] == pytest.approx(chance, abs=1e-12)
        losses = higher["expected_loss"]
        expected = (
            {
                "choosing_this": losses["keeping_control"],
                "keeping_control": losses["choosing_this"],
            }
            if turned
            else losses
        )
        assert got["expected_loss"] == pytest.approx(expected, abs=1e-15)
    values = planned["Purchased"]["populations"]["orange"]["value"]
    plain_values = plain["Purchased"]["populations"]["orange"]["value"]
    if "Purchased" in lower_is_better:
        assert values["chance_to_beat_control"] == pytest.approx(
            1 - plain_values["chance_to_beat_control"], abs=1e-12
        )
        assert values["expected_loss"]["choosing_this"] == pytest.approx(
            plain_values["expected_loss"]["keeping_control"], abs=1e-15
        )
    else:
        assert values["chance_to_beat_control"] == plain_values["chance_to_beat_control"]
