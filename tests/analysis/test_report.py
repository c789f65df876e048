"""The analysis of a whole test, from aggregates worked out by hand."""

from __future__ import annotations

import json
import math

import pytest
from statsmodels.stats.proportion import proportions_ztest

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
    assert orange["lift"]["relative"] is None  # nothing to be relative to
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
