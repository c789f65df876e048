"""``Experiment``: a split test with its plan, checked and worked out once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import manhattan.experiments
from manhattan.analysis.plan import Plan
from manhattan.experiments import Experiment
from manhattan.records.limits import MAX_NAME_LENGTH
from manhattan.visitor.populations import check_populations, weights_field

PLAN: dict[str, Any] = {"goal": "Purchased", "guardrails": ("Refunded",), "minimum_effect": 0.1}


def test_the_package_exports_it_lazily() -> None:
    assert manhattan.experiments.Experiment is Experiment
    assert "Experiment" in manhattan.experiments.__all__
    assert "Experiment" in dir(manhattan.experiments)


def test_it_builds_the_plan_from_its_arguments() -> None:
    experiment = Experiment("Button", ["green", "orange"], **PLAN, power=0.9, alpha=0.01)
    assert experiment.plan == Plan("Purchased", ("Refunded",), 0.1, 0.9, 0.01)
    assert experiment.goal == "Purchased"
    assert experiment.guardrails == ("Refunded",)
    assert (experiment.minimum_effect, experiment.power, experiment.alpha) == (0.1, 0.9, 0.01)
    assert experiment.name == "Button"
    assert experiment.populations == ("green", "orange")
    assert dict(experiment.weights) == {"green": 1.0, "orange": 1.0}
    assert experiment.control == "green"
    assert experiment.winner is None
    assert not experiment.ended


def test_the_defaults_are_the_plans() -> None:
    assert Experiment("Button", ["a", "b"], goal="Purchased").plan == Plan("Purchased")


@pytest.mark.parametrize(
    "lower",
    [
        pytest.param((), id="none"),
        pytest.param(("Refunded",), id="guardrail"),
        pytest.param(["Purchased", "Refunded"], id="goal-and-guardrail-as-list"),
    ],
)
def test_lower_is_better_passes_through_to_the_plan_and_its_record(lower: Any) -> None:
    experiment = Experiment("Button", ["green", "orange"], **PLAN, lower_is_better=lower)
    assert experiment.lower_is_better == tuple(lower)
    assert experiment.plan == Plan("Purchased", ("Refunded",), 0.1, lower_is_better=tuple(lower))
    assert experiment.declaration.plan == experiment.plan.to_json()
    assert Plan.from_json(experiment.declaration.plan) == experiment.plan
    assert ("lower_is_better" in experiment.declaration.plan) is bool(lower)


@pytest.mark.parametrize(
    "populations",
    [
        pytest.param(["green", "orange", "blue"], id="list"),
        pytest.param(("green", "orange"), id="tuple"),
        pytest.param({"green": 3, "orange": 1}, id="dict"),
        pytest.param({"orange": Decimal("0.5"), "green": 0.25}, id="decimal-weights"),
        pytest.param([True, False], id="booleans"),
        pytest.param([1, 2, 3], id="numbers"),
    ],
)
def test_the_declaration_is_what_split_would_work_out(populations: Any) -> None:
    declaration = Experiment("Button", populations, goal="Purchased").declaration
    choices, starts = check_populations(populations)
    assert declaration.test == "Button"
    assert list(declaration.choices) == choices
    assert (None if starts is None else list(starts)) == (
        None if declaration.starts is None else list(declaration.starts)
    )
    assert declaration.weights == weights_field(populations)
    assert declaration.plan == Plan("Purchased").to_json()
    assert declaration.texts == {str(population): population for population in populations}
    assert not declaration.ended


def test_a_dict_keeps_its_order_and_weights() -> None:
    experiment = Experiment("Button", {"orange": 1, "green": 3}, goal="Purchased")
    assert experiment.populations == ("orange", "green")
    assert dict(experiment.weights) == {"orange": 1.0, "green": 3.0}
    assert experiment.control == "orange"


@pytest.mark.parametrize(
    ("winner", "served"),
    [
        pytest.param("orange", "orange", id="by-name"),
        pytest.param(True, "green", id="true-is-the-control"),
        pytest.param("green", "green", id="the-control-by-name"),
    ],
)
def test_a_winner_ends_the_test(winner: object, served: str) -> None:
    experiment = Experiment("Button", ["green", "orange"], goal="Purchased", winner=winner)
    assert experiment.winner == served
    assert experiment.ended
    assert experiment.plan.winner == served
    declaration = experiment.declaration
    assert declaration.ended
    assert declaration.winner == served
    assert declaration.winner_text == served
    assert Plan.from_json(declaration.plan).winner == served


def test_a_winner_is_the_population_object_whose_str_it_names() -> None:
    experiment = Experiment("Shipping", [5, 10], goal="Purchased", winner="10")
    assert experiment.winner == 10
    assert experiment.declaration.winner_text == "10"
    assert Experiment("Shipping", [5, 10], goal="Purchased", winner=10).winner == 10


def test_a_true_winner_of_a_boolean_test_is_its_control() -> None:
    # True means "the control", even where True is also a population.
    experiment = Experiment("Banner", [False, True], goal="Purchased", winner=True)
    assert experiment.winner is False
    assert Experiment("Banner", [False, True], goal="Purchased", winner="True").winner is True


BAD = [
    pytest.param({"name": ""}, ValueError, "name must not be empty", id="empty-name"),
    pytest.param({"name": 3}, TypeError, "name must be a str, not int", id="name-not-str"),
    pytest.param(
        {"name": "x" * (MAX_NAME_LENGTH + 1)},
        ValueError,
        "name must be at most 512 characters",
        id="long-name",
    ),
    pytest.param({"populations": []}, ValueError, "must not be empty", id="no-populations"),
    pytest.param({"populations": {}}, ValueError, "must not be empty", id="empty-dict"),
    pytest.param({"populations": None}, TypeError, "not NoneType", id="none"),
    pytest.param({"populations": "ab"}, TypeError, "not str", id="a-string"),
    pytest.param(
        {"populations": {"a": 0, "b": 1}},
        ValueError,
        "of population 'a' must be a positive",
        id="0",
    ),
    pytest.param(
        {"populations": {"a": -1}}, ValueError, "of population 'a' must be a positive", id="neg"
    ),
    pytest.param(
        {"populations": {"a": float("inf")}}, ValueError, "positive finite", id="infinite"
    ),
    pytest.param(
        {"populations": {"a": float("nan")}}, ValueError, "positive finite", id="not-a-number"
    ),
    pytest.param({"populations": {"a": True}}, TypeError, "must be a number, not bool", id="bool"),
    pytest.param({"populations": {"a": "1"}}, TypeError, "must be a number, not str", id="str"),
    pytest.param({"populations": ["a", ""]}, ValueError, "population must not be empty", id="pop"),
    pytest.param(
        {"populations": ["a\x00"]}, ValueError, "population must not contain a NUL", id="nul"
    ),
    pytest.param({"populations": [1, "1"]}, ValueError, "distinct, not '1' twice", id="same-str"),
    pytest.param({"goal": ""}, ValueError, "goal must not be empty", id="empty-goal"),
    pytest.param({"goal": None}, TypeError, "goal must be a str, not NoneType", id="goal-none"),
    pytest.param({"guardrails": "Refunded"}, TypeError, "a list of goal names", id="one-str"),
    pytest.param({"guardrails": [""]}, ValueError, "guardrails must not be empty", id="empty"),
    pytest.param({"guardrails": ["Purchased"]}, ValueError, "must not include the goal", id="g"),
    pytest.param({"guardrails": ["a", "a"]}, ValueError, "distinct", id="twice"),
    pytest.param({"minimum_effect": 0}, ValueError, "minimum_effect must be above 0", id="effect"),
    pytest.param(
        {"lower_is_better": "Refunded"}, TypeError, "lower_is_better must be a list", id="lower"
    ),
    pytest.param(
        {"lower_is_better": ["Refunded"]},
        ValueError,
        "lower_is_better must name the goal or guardrails, not 'Refunded'",
        id="lower-not-a-plan-goal",
    ),
    pytest.param(
        {"lower_is_better": ["Purchased"], "minimum_effect": 1.5},
        ValueError,
        "minimum_effect must be below 1 for a goal in lower_is_better",
        id="lower-goal-effect",
    ),
    pytest.param({"power": 1.0}, ValueError, "power must be between 0 and 1", id="power"),
    pytest.param({"alpha": 0.5}, ValueError, "alpha must be between 0 and 0.5", id="alpha"),
    pytest.param({"alpha": "0.05"}, ValueError, "alpha must be a number", id="alpha-str"),
    pytest.param({"winner": "blue"}, ValueError, "winner must be one of the populations", id="w"),
    pytest.param({"winner": False}, ValueError, "or True (the control), not False", id="false"),
]


@pytest.mark.parametrize(("change", "error", "message"), BAD)
def test_bad_arguments_are_refused_naming_the_argument(
    change: dict[str, Any], error: type[Exception], message: str
) -> None:
    arguments: dict[str, Any] = {"name": "Button", "populations": ["a", "b"], "goal": "Purchased"}
    arguments.update(change)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        Experiment(arguments.pop("name"), arguments.pop("populations"), **arguments)


def test_populations_that_cannot_be_sorted_are_refused_in_a_dict() -> None:
    with pytest.raises(TypeError, match="comparable"):
        Experiment("Button", {1: 1, "a": 1}, goal="Purchased")


def test_it_is_immutable() -> None:
    experiment = Experiment("Button", ["a", "b"], goal="Purchased")
    with pytest.raises(AttributeError, match="immutable: cannot set 'name'"):
        experiment.name = "Other"
    with pytest.raises(AttributeError, match="immutable: cannot delete 'plan'"):
        del experiment.plan
    with pytest.raises(TypeError):
        experiment.weights["a"] = 2.0  # type: ignore[index]


SAME = {"goal": "Purchased"}


@pytest.mark.parametrize(
    ("one", "other", "equal"),
    [
        pytest.param(("B", ["a", "b"], SAME), ("B", ("a", "b"), SAME), True, id="list-tuple"),
        pytest.param(("B", ["a", "b"], SAME), ("B", ["b", "a"], SAME), False, id="order"),
        pytest.param(("B", ["a", "b"], SAME), ("C", ["a", "b"], SAME), False, id="name"),
        pytest.param(
            ("B", ["a", "b"], SAME), ("B", {"a": 1, "b": 1}, SAME), False, id="list-vs-dict"
        ),
        pytest.param(
            ("B", {"a": 1, "b": 2}, SAME), ("B", {"a": 1.0, "b": 2.0}, SAME), True, id="weights"
        ),
        pytest.param(
            ("B", ["a", "b"], SAME), ("B", ["a", "b"], {"goal": "Other"}), False, id="plan"
        ),
        pytest.param(
            ("B", ["a", "b"], SAME), ("B", ["a", "b"], {**SAME, "winner": "a"}), False, id="won"
        ),
        pytest.param(
            ("B", ["a", "b"], SAME),
            ("B", ["a", "b"], {**SAME, "lower_is_better": ["Purchased"]}),
            False,
            id="direction",
        ),
        pytest.param(
            ("B", ["a", "b"], {**SAME, "lower_is_better": ()}),
            ("B", ["a", "b"], {**SAME, "lower_is_better": []}),
            True,
            id="no-direction-list-or-tuple",
        ),
    ],
)
def test_equal_experiments_declare_the_same_test(
    one: tuple[str, Any, dict[str, Any]], other: tuple[str, Any, dict[str, Any]], equal: bool
) -> None:
    first = Experiment(one[0], one[1], **one[2])
    second = Experiment(other[0], other[1], **other[2])
    assert (first == second) is equal
    if equal:
        assert hash(first) == hash(second)
    assert len({first, second}) == (1 if equal else 2)


def test_it_is_not_equal_to_other_things() -> None:
    assert Experiment("B", ["a"], goal="Purchased") != "B"


@pytest.mark.parametrize(
    ("experiment", "shown"),
    [
        pytest.param(
            Experiment("B", ["a", "b"], goal="Purchased"),
            "Experiment('B', ['a', 'b'], goal='Purchased')",
            id="list",
        ),
        pytest.param(
            Experiment("B", {"a": 1, "b": 3}, goal="Purchased", winner="b"),
            "Experiment('B', {'a': 1.0, 'b': 3.0}, goal='Purchased', winner='b')",
            id="dict-won",
        ),
    ],
)
def test_repr(experiment: Experiment, shown: str) -> None:
    assert repr(experiment) == shown
