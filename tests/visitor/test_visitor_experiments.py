"""``Visitor.split`` of a declared experiment, its end marker, and forced populations."""

from __future__ import annotations

import itertools
import json
import random
import uuid
from typing import Any

import pytest

from manhattan.analysis.plan import Plan
from manhattan.experiments import Experiment
from manhattan.log.memory import MemoryLog
from manhattan.records import layout
from manhattan.visitor import Visitor, choose_population
from manhattan.visitor.visitor import END_MARKER_SECONDS, END_MARKERS, EndMarkers

VID = "0123456789abcdef0123456789abcdef01234567"
POPULATIONS = [
    pytest.param(["green", "orange", "blue"], id="list"),
    pytest.param({"green": 1, "orange": 3}, id="dict"),
    pytest.param([True, False], id="booleans"),
]


def unique(name: str) -> str:
    """A test name no other test used: end markers are recorded once per process."""
    return f"{name} {uuid.uuid4()}"


def visitor_ids(count: int) -> list[str]:
    rng = random.Random(13)
    return [f"{rng.getrandbits(160):040x}" for _ in range(count)]


@pytest.mark.parametrize("populations", POPULATIONS)
def test_an_experiment_assigns_as_split_with_its_populations_does(populations: Any) -> None:
    experiment = Experiment("Button", populations, goal="Purchased")
    for vid in visitor_ids(300):
        expected = choose_population(vid, "Button", populations)
        assert Visitor(vid, MemoryLog()).split(experiment) == expected
        assert Visitor(vid, MemoryLog()).split("Button", populations) == expected


def test_an_experiment_records_its_weights_and_plan_once_per_visitor_object() -> None:
    experiment = Experiment("Button", {"green": 1, "orange": 3}, goal="Purchased")
    log = MemoryLog()
    visitor = Visitor(VID, log, site_id=3)
    chosen = visitor.split(experiment)
    assert visitor.split(experiment) == chosen
    visitor.flush()
    [record] = log.records
    assert record[: layout.COMMON_FIELDS] == ["1", "split", record[2], VID, "3"]
    assert record[layout.SPLIT_TEST] == "Button"
    assert record[layout.SPLIT_POPULATION] == chosen
    assert json.loads(record[layout.SPLIT_WEIGHTS]) == {"green": 1.0, "orange": 3.0}
    assert Plan.from_json(record[layout.SPLIT_PLAN]) == experiment.plan
    assert len(record) == layout.SPLIT_PLAN + 1


class At(Visitor):
    """A visitor whose records carry a fixed time."""

    def timestamp(self) -> float:
        return 1400000000.5


@pytest.mark.parametrize(
    ("populations", "trailing"),
    [
        pytest.param(None, [], id="none"),
        pytest.param(["a", "b"], ['{"a":1.0,"b":1.0}'], id="list"),
        pytest.param({"b": 3, "a": 1}, ['{"b":3.0,"a":1.0}'], id="dict"),
    ],
)
def test_split_by_name_records_exactly_as_before(populations: Any, trailing: list[str]) -> None:
    # 0.3's seven fields, then the weights (since the weights were added),
    # and never a plan: only an Experiment has one.
    log = MemoryLog()
    visitor = At(VID, log)
    chosen = visitor.split("Button", populations)
    visitor.flush()
    assert log.records == [
        ["1", "split", "1400000000.5000", VID, "0", "Button", str(chosen), *trailing]
    ]
    assert chosen == choose_population(VID, "Button", populations)


def test_split_of_an_experiment_takes_no_populations() -> None:
    experiment = Experiment("Button", ["a", "b"], goal="Purchased")
    with pytest.raises(TypeError, match="takes no populations"):
        Visitor(VID, MemoryLog()).split(experiment, ["a", "b"])


@pytest.mark.parametrize(
    "test",
    [
        pytest.param(3, id="int"),
        pytest.param(object(), id="object"),
        pytest.param(type("Fake", (), {"declaration": "no"})(), id="fake-declaration"),
    ],
)
def test_split_of_something_else_is_refused(test: Any) -> None:
    with pytest.raises(TypeError, match="test_name must be a str"):
        Visitor(VID, MemoryLog()).split(test)


@pytest.mark.parametrize("winner", ["orange", True])
def test_an_ended_experiment_serves_its_winner_and_records_one_end_marker(winner: Any) -> None:
    name = unique("Button")
    experiment = Experiment(name, ["green", "orange"], goal="Purchased", winner=winner)
    log = MemoryLog()
    for vid in visitor_ids(20):
        visitor = Visitor(vid, log)
        assert visitor.split(experiment) == experiment.winner
        assert visitor.split(experiment) == experiment.winner
        visitor.flush()
    [marker] = log.records
    assert marker[layout.SPLIT_TEST] == name
    assert marker[layout.SPLIT_POPULATION] == str(experiment.winner)
    assert json.loads(marker[layout.SPLIT_WEIGHTS]) == {"green": 1.0, "orange": 1.0}
    assert Plan.from_json(marker[layout.SPLIT_PLAN]).winner == str(experiment.winner)


def test_the_end_marker_is_per_plan() -> None:
    name = unique("Button")
    log = MemoryLog()
    for winner in ["green", "orange", "green"]:
        visitor = Visitor(VID, log)
        visitor.split(Experiment(name, ["green", "orange"], goal="Purchased", winner=winner))
        visitor.flush()
    assert [record[layout.SPLIT_POPULATION] for record in log.records] == ["green", "orange"]


def test_an_end_marker_that_cannot_be_stamped_records_nothing() -> None:
    class Broken(Visitor):
        def timestamp(self) -> float:
            return -1.0

    experiment = Experiment(unique("Button"), ["a", "b"], goal="Purchased", winner="a")
    log = MemoryLog()
    with pytest.raises(ValueError, match="not negative"):
        Broken(VID, log).split(experiment)
    visitor = Visitor(VID, log)
    visitor.split(experiment)
    visitor.flush()
    assert [record[layout.SPLIT_POPULATION] for record in log.records] == ["a"]


def test_end_markers_are_due_again_after_their_interval() -> None:
    markers = EndMarkers(seconds=10.0)
    key = ("Button", "{}")
    assert [markers.due(key, now) for now in [100.0, 105.0, 109.9, 110.0, 115.0, 121.0]] == [
        True,
        False,
        False,
        True,
        False,
        True,
    ]
    assert markers.due(("Other", "{}"), 115.0)
    assert EndMarkers().seconds == END_MARKER_SECONDS == 3600.0
    assert isinstance(END_MARKERS, EndMarkers)


FORCED_SPLITS = [
    pytest.param(["green", "orange"], "orange", "orange", id="list"),
    pytest.param({"green": 1, "orange": 0}, "orange", "orange", id="zero-weight"),
    pytest.param(None, "True", True, id="true-false"),
    pytest.param(None, "False", False, id="false"),
    pytest.param([1, 2], "2", 2, id="by-str"),
]


@pytest.mark.parametrize(("populations", "forced", "served"), FORCED_SPLITS)
def test_a_forced_population_is_served_and_nothing_recorded(
    populations: Any, forced: str, served: Any
) -> None:
    log = MemoryLog()
    visitor = Visitor(VID, log, forced={"Button": forced})
    for _ in range(2):
        chosen = visitor.split("Button", populations)
        assert chosen == served
        assert type(chosen) is type(served)
    visitor.split("Other", ["x"])
    visitor.flush()
    assert [record[layout.SPLIT_TEST] for record in log.records] == ["Other"]


@pytest.mark.parametrize("winner", [None, "green"])
def test_a_forced_experiment_is_served_and_nothing_recorded(winner: str | None) -> None:
    experiment = Experiment(unique("Button"), [1, 2], goal="Purchased", winner=winner and "1")
    log = MemoryLog()
    visitor = Visitor(VID, log, forced={experiment.name: "2"})
    assert visitor.split(experiment) == 2
    visitor.flush()
    assert log.records == []


@pytest.mark.parametrize("declared", [False, True])
def test_forcing_a_population_the_test_lacks_is_ignored(declared: bool) -> None:
    populations = ["green", "orange"]
    test: Any = Experiment("Button", populations, goal="Purchased") if declared else "Button"
    log = MemoryLog()
    visitor = Visitor(VID, log, forced={"Button": "purple"})
    chosen = visitor.split(test, None if declared else populations)
    assert chosen == choose_population(VID, "Button", populations)
    visitor.flush()
    assert [record[layout.SPLIT_POPULATION] for record in log.records] == [chosen]


@pytest.mark.parametrize(
    ("forced", "kept"),
    [
        pytest.param(None, None, id="none"),
        pytest.param({}, None, id="empty"),
        pytest.param({"a": "b"}, {"a": "b"}, id="mapping"),
    ],
)
def test_forced_is_kept_as_a_dict_or_none(
    forced: dict[str, str] | None, kept: dict[str, str] | None
) -> None:
    visitor = Visitor(VID, MemoryLog(), forced=forced)
    assert visitor.forced == kept
    if forced:
        assert visitor.forced is not forced  # a copy: the caller's dict may change


def test_forced_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match=r"forced must be a mapping .* not list"):
        Visitor(VID, MemoryLog(), forced=[("a", "b")])  # type: ignore[arg-type]


def test_forced_is_keyword_only() -> None:
    with pytest.raises(TypeError):
        Visitor(VID, MemoryLog(), "", True, {"a": "b"})  # type: ignore[call-arg]


def test_many_visitors_split_an_experiment_in_its_weights() -> None:
    experiment = Experiment("Button", {"green": 1, "orange": 3}, goal="Purchased")
    chosen = [Visitor(vid, MemoryLog()).split(experiment) for vid in visitor_ids(4000)]
    counts = {key: len(list(group)) for key, group in itertools.groupby(sorted(chosen))}
    assert 0.7 < counts["orange"] / len(chosen) < 0.8
