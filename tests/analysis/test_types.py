"""The analysis has the shape its TypedDicts declare: every required key,
no undeclared one, at every level, in every case the analysis has."""

from __future__ import annotations

import math
from typing import Any

import pytest

from manhattan.analysis.plan import Plan
from manhattan.analysis.report import analyze
from manhattan.analysis.types import (
    Analysis,
    Decision,
    ExpectedLoss,
    GoalResult,
    Harm,
    Lift,
    PlanResult,
    PopulationResult,
    SampleRatio,
    ValueResult,
)
from manhattan.backend.model import TestStats

NESTED: dict[type, dict[str, type]] = {
    Analysis: {"srm": SampleRatio, "plan": PlanResult, "decision": Decision},
    PopulationResult: {"value": ValueResult, "lift": Lift, "expected_loss": ExpectedLoss},
    ValueResult: {"lift": Lift, "expected_loss": ExpectedLoss},
}


def check(value: Any, shape: Any) -> int:
    """Check ``value`` against the TypedDict ``shape``; the dicts checked."""
    required, optional = shape.__required_keys__, shape.__optional_keys__
    assert required <= value.keys() <= required | optional, (shape.__name__, sorted(value))
    checked = 1
    if shape is Decision:
        for harm in value["harmed_guardrails"]:
            checked += check(harm, Harm)
    for key, inner in NESTED.get(shape, {}).items():
        if key in value:
            checked += check(value[key], inner)
    return checked


def walk(analysis: Analysis) -> int:
    """Check every level of an analysis; the dicts checked."""
    checked = check(analysis, Analysis)
    for goal in analysis["goals"].values():
        checked += check(goal, GoalResult)
        for population in goal["populations"].values():
            checked += check(population, PopulationResult)
    return checked


STATS = {
    "values": TestStats(
        "Shop",
        visitors={"green": 1000, "orange": 1000},
        goals={
            "Purchased": {"green": (100, 1000.0, 20_000.0), "orange": (130, 1300.0, 26_000.0)},
            "Added To Cart": {"green": (300, 0.0, 0.0), "orange": (310, 0.0, 0.0)},
        },
        weights={"green": 1.0, "orange": 1.0},
        value_types={"Purchased": "S"},
    ),
    "not enough": TestStats(
        "Small", visitors={"a": 10, "b": 12}, goals={"Buy": {"a": (2, 0.0, 0.0)}}
    ),
    "unusable": TestStats(
        "Overflow",
        visitors={"a": 500, "b": 500},
        goals={"Buy": {"a": (50, math.inf, math.inf), "b": (60, 600.0, 9000.0)}},
        value_types={"Buy": "S"},
    ),
}


HARMFUL = TestStats(
    "Harm",
    visitors={"a": 10_000, "b": 10_000},
    goals={"Buy": {"a": (1000, 0.0, 0.0), "b": (1400, 0.0, 0.0)},
           "Cart": {"a": (3000, 0.0, 0.0), "b": (2000, 0.0, 0.0)}},
)  # fmt: skip


@pytest.mark.parametrize(
    ("stats", "plan", "least"),
    [
        pytest.param(STATS["values"], None, 16, id="values"),
        pytest.param(STATS["not enough"], None, 5, id="not-enough"),
        pytest.param(STATS["unusable"], None, 8, id="unusable"),
        pytest.param(STATS["values"], Plan("Purchased", ("Added To Cart",)), 18, id="plan"),
        pytest.param(STATS["not enough"], Plan("Buy"), 7, id="plan-without-size"),
        pytest.param(HARMFUL, Plan("Buy", ("Cart",)), 13, id="plan-harm"),
    ],
)
def test_analysis_has_the_declared_shape(stats: TestStats, plan: Plan | None, least: int) -> None:
    assert walk(analyze(stats, plan=plan)) >= least
