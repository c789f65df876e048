"""The declared plan: checked arguments, and JSON that travels in a log record."""

from __future__ import annotations

import json
import math

import pytest

from manhattan.analysis.plan import Plan

PLANS = [
    pytest.param(Plan("Purchased"), id="defaults"),
    pytest.param(
        Plan("Purchased", ("Added To Cart", "Viewed Help"), 0.1, 0.9, 0.01, "orange"),
        id="everything",
    ),
    pytest.param(Plan("Köpt ✓", ("Tab\there", 'Quote "q"')), id="unicode-and-escapes"),
    pytest.param(Plan("Buy", minimum_effect=2, power=0.5, alpha=0.49), id="ints-and-edges"),
    pytest.param(
        Plan("Buy", ("Refunded", "Cart"), lower_is_better=("Refunded",)), id="guardrail-lower"
    ),
    pytest.param(
        Plan("Bounced", ("Cart",), minimum_effect=0.99, lower_is_better=["Bounced"]),  # type: ignore[arg-type]
        id="goal-lower",
    ),
]

KEYS = ["goal", "guardrails", "minimum_effect", "power", "alpha", "winner"]


@pytest.mark.parametrize("plan", PLANS)
def test_json_round_trip(plan: Plan) -> None:
    text = plan.to_json()
    assert Plan.from_json(text) == plan
    assert Plan.from_json(text.encode()) == plan
    assert text.isascii()
    decoded = json.loads(text)
    # Absent when empty: a plan without it is written as before it existed.
    lower = ["lower_is_better"] if plan.lower_is_better else []
    assert list(decoded) == KEYS + lower
    assert decoded["guardrails"] == list(plan.guardrails)
    assert decoded.get("lower_is_better", []) == list(plan.lower_is_better)
    assert {**plan.fields(), **decoded} == plan.fields()
    assert text == json.dumps(decoded, separators=(",", ":"))  # compact, one line
    assert "\n" not in text
    assert "\t" not in text


def test_defaults_and_normalisation() -> None:
    plan = Plan("Buy", ["Cart"])  # type: ignore[arg-type]
    assert plan.guardrails == ("Cart",)
    assert (plan.minimum_effect, plan.power, plan.alpha, plan.winner) == (0.05, 0.8, 0.05, None)
    assert plan.goals == ("Buy", "Cart")
    assert isinstance(Plan("Buy", minimum_effect=1).minimum_effect, float)
    assert Plan.from_json('{"goal":"Buy"}') == Plan("Buy")
    assert plan.lower_is_better == ()
    assert plan.fields()["lower_is_better"] == []


@pytest.mark.parametrize(
    ("lower", "expected"),
    [
        pytest.param((), {"Buy": False, "Refunded": False}, id="none"),
        pytest.param(("Refunded",), {"Buy": False, "Refunded": True}, id="guardrail"),
        pytest.param(("Buy",), {"Buy": True, "Refunded": False}, id="goal"),
        pytest.param(("Refunded", "Buy"), {"Buy": True, "Refunded": True}, id="both"),
    ],
)
def test_which_goals_are_better_lower(lower: tuple[str, ...], expected: dict[str, bool]) -> None:
    plan = Plan("Buy", ("Refunded",), lower_is_better=list(lower))  # type: ignore[arg-type]
    assert plan.lower_is_better == lower
    assert {goal: plan.lower(goal) for goal in plan.goals} == expected
    assert plan.lower("Other") is False


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"goal": ""}, "goal must be a non-empty string", id="empty-goal"),
        pytest.param({"goal": 3}, "goal must be a non-empty string", id="goal-not-str"),
        pytest.param({"guardrails": "Cart"}, "guardrails must be a list", id="guardrails-str"),
        pytest.param({"guardrails": None}, "guardrails must be a list", id="guardrails-none"),
        pytest.param({"guardrails": ("",)}, "guardrails must be a non-empty", id="empty-guard"),
        pytest.param({"guardrails": (1,)}, "guardrails must be a non-empty", id="guard-not-str"),
        pytest.param({"guardrails": ("a", "a")}, "guardrails must be distinct", id="repeated"),
        pytest.param({"guardrails": ("Buy",)}, "must not include the goal", id="goal-guarded"),
        pytest.param({"minimum_effect": 0}, "minimum_effect must be above 0", id="effect-0"),
        pytest.param({"minimum_effect": -0.1}, "minimum_effect must be above", id="effect-neg"),
        pytest.param({"minimum_effect": math.inf}, "minimum_effect must be finite", id="inf"),
        pytest.param({"minimum_effect": math.nan}, "minimum_effect must be finite", id="nan"),
        pytest.param({"minimum_effect": True}, "minimum_effect must be a number", id="bool"),
        pytest.param({"minimum_effect": "0.1"}, "minimum_effect must be a number", id="text"),
        pytest.param({"power": 0}, "power must be between 0 and 1", id="power-0"),
        pytest.param({"power": 1}, "power must be between 0 and 1", id="power-1"),
        pytest.param({"alpha": 0}, "alpha must be between 0 and 0.5", id="alpha-0"),
        pytest.param({"alpha": 0.5}, "alpha must be between 0 and 0.5", id="alpha-half"),
        pytest.param({"alpha": None}, "alpha must be a number", id="alpha-none"),
        pytest.param({"winner": ""}, "winner must be a non-empty string", id="winner-empty"),
        pytest.param({"winner": True}, "winner must be a non-empty string", id="winner-true"),
        pytest.param({"lower_is_better": "Buy"}, "lower_is_better must be a list", id="lower-str"),
        pytest.param({"lower_is_better": None}, "lower_is_better must be a list", id="lower-none"),
        pytest.param(
            {"lower_is_better": ("",)}, "lower_is_better must be a non-empty", id="lower-empty"
        ),
        pytest.param(
            {"lower_is_better": ("Buy", "Buy")},
            "lower_is_better must be distinct",
            id="lower-twice",
        ),
        pytest.param(
            {"lower_is_better": ("Cart",)},
            "lower_is_better must name the goal or guardrails, not 'Cart'",
            id="lower-not-a-plan-goal",
        ),
        pytest.param(
            {"lower_is_better": ("Buy",), "minimum_effect": 1},
            "minimum_effect must be below 1 for a goal in lower_is_better",
            id="lower-goal-falls-by-all",
        ),
    ],
)
def test_bad_arguments_are_named(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"goal": "Buy", **kwargs}
    with pytest.raises(ValueError, match=message):
        Plan(**arguments)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "must be a JSON object", id="empty"),
        pytest.param("{", "must be a JSON object", id="truncated"),
        pytest.param(b"\xff", "must be a JSON object", id="not-utf8"),
        pytest.param("[]", "must be a JSON object, not list", id="list"),
        pytest.param(
            '{"goal":"Buy","colour":1}', r"unknown keys in a plan: \['colour'\]", id="key"
        ),
        pytest.param('{"guardrails":[]}', "a plan needs a goal", id="no-goal"),
        pytest.param('{"goal":"Buy","guardrails":"Cart"}', "guardrails must be a list", id="str"),
        pytest.param('{"goal":"Buy","power":"high"}', "power must be a number", id="power-str"),
        pytest.param('{"goal":"Buy","alpha":NaN}', "alpha must be finite", id="nan"),
        pytest.param('{"goal":null}', "goal must be a non-empty string", id="goal-null"),
        pytest.param('{"goal":"Buy","winner":1}', "winner must be a non-empty", id="winner-int"),
        pytest.param(
            '{"goal":"Buy","lower_is_better":"Buy"}', "lower_is_better must be a list", id="lower"
        ),
        pytest.param(
            '{"goal":"Buy","lower_is_better":["Cart"]}',
            "lower_is_better must name the goal or guardrails",
            id="lower-unknown",
        ),
    ],
)
def test_from_json_refuses_anything_else(text: str | bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Plan.from_json(text)
