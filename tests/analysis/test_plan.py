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
]


@pytest.mark.parametrize("plan", PLANS)
def test_json_round_trip(plan: Plan) -> None:
    text = plan.to_json()
    assert Plan.from_json(text) == plan
    assert Plan.from_json(text.encode()) == plan
    assert text.isascii()
    decoded = json.loads(text)
    assert list(decoded) == ["goal", "guardrails", "minimum_effect", "power", "alpha", "winner"]
    assert decoded["guardrails"] == list(plan.guardrails)
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
    ],
)
def test_from_json_refuses_anything_else(text: str | bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Plan.from_json(text)
