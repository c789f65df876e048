"""The one-line verdict of a test, from real analyses."""

from __future__ import annotations

import pytest

from manhattan.analysis.report import analyze
from manhattan.backend.model import VIEWED_PAGE, TestStats
from manhattan.dashboard.verdict import primary_goal, verdict


def stats(goals: dict[str, dict[str, tuple[int, float, float]]], **visitors: int) -> TestStats:
    return TestStats("T", visitors=dict(visitors), goals=goals)


def test_leader_beating_control_significantly() -> None:
    result = analyze(stats({"Buy": {"a": (100, 0.0, 0.0), "b": (200, 0.0, 0.0)}}, a=1000, b=1000))
    outcome = verdict(result)
    assert (outcome.goal, outcome.leader, outcome.visitors) == ("Buy", "b", 2000)
    assert outcome.p_value == result["goals"]["Buy"]["populations"]["b"]["p_value_holm"]
    assert outcome.significant
    assert not outcome.srm


def test_control_leading_is_judged_against_the_runner_up() -> None:
    result = analyze(
        stats(
            {"Buy": {"a": (150, 0, 0), "b": (100, 0, 0), "c": (140, 0, 0)}}, a=1000, b=1000, c=1000
        )
    )
    outcome = verdict(result)
    assert outcome.leader == "a" == result["control"]
    assert outcome.p_value == result["goals"]["Buy"]["populations"]["c"]["p_value_holm"]
    assert not outcome.significant


def test_not_enough_data_and_mismatch() -> None:
    outcome = verdict(analyze(stats({"Buy": {"a": (1, 0, 0)}}, a=10, b=90)))
    assert outcome.p_value is None
    assert not outcome.significant
    assert outcome.srm
    assert outcome.srm_p_value < 0.001


def test_control_alone() -> None:
    outcome = verdict(analyze(stats({"Buy": {"a": (1, 0, 0)}}, a=10)))
    assert outcome.leader == "a"
    assert outcome.p_value is None


@pytest.mark.parametrize(
    ("goals", "expected"),
    [
        pytest.param(
            {"A": {"a": (5, 0, 0)}, "B": {"a": (9, 0, 0)}, VIEWED_PAGE: {"a": (50, 0, 0)}},
            "B",
            id="most-conversions-not-page-views",
        ),
        pytest.param({"B": {"a": (5, 0, 0)}, "A": {"a": (5, 0, 0)}}, "A", id="tie-by-name"),
        pytest.param({VIEWED_PAGE: {"a": (5, 0, 0)}}, VIEWED_PAGE, id="only-page-views"),
        pytest.param({}, None, id="no-goals"),
    ],
)
def test_primary_goal(
    goals: dict[str, dict[str, tuple[int, float, float]]], expected: str | None
) -> None:
    result = analyze(stats(goals, a=100))
    assert primary_goal(result) == expected
    if expected is None:
        assert verdict(result).leader is None
