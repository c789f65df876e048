"""Declared experiments in the aggregation: plans, their changes, and the end marker."""

from __future__ import annotations

import json
import time
import uuid
import warnings

import pytest

with warnings.catch_warnings():
    # WebOb 1.8 imports the stdlib cgi module, deprecated since Python 3.11.
    warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning)
    from webob import Request

from manhattan.analysis.plan import Plan
from manhattan.backend.aggregate import Aggregator
from manhattan.backend.complexgoals import parse_complex_goal
from manhattan.backend.model import Batch, TestPlan
from manhattan.backend.plans import (
    PLAN,
    POPULATIONS,
    Experiments,
    plan_of,
    warnings_of,
    when,
)
from manhattan.backend.state import VisitorState
from manhattan.experiments import Experiment
from manhattan.log.memory import MemoryLog
from manhattan.visitor import Visitor
from tests.backend.test_aggregate import DAY1, ROLLUPS, Totals, goal, page, pixel, run

HOUR = 3600.0
RUNNING = Plan("Purchased")
WEIGHTS = {"green": 1.0, "orange": 1.0}


def split(
    vid: str,
    population: str,
    at: float = DAY1,
    *,
    test: str = "Button",
    weights: dict[str, float] | None = None,
    plan: Plan | None = RUNNING,
) -> list[str]:
    """A split record as Visitor.split(experiment) writes it."""
    fields = [json.dumps(WEIGHTS if weights is None else weights), plan.to_json() if plan else ""]
    return ["1", "split", f"{at:0.4f}", vid, "0", test, population, *fields]


def marker(winner: str, at: float, vid: str = "someone", test: str = "Button") -> list[str]:
    return split(vid, winner, at, test=test, plan=Plan("Purchased", winner=winner))


def human(vid: str, at: float = DAY1) -> list[list[str]]:
    return [page(vid, at), pixel(vid, at)]


def visitors(totals: Totals, population: str, goal: str = "", test: str = "Button") -> float:
    return totals.visitors(goal, test=test, population=population)


def test_a_declared_split_counts_as_any_split_and_notes_its_plan() -> None:
    _, totals = run([*human("a"), split("a", "green"), goal("a", "Purchased")])
    assert visitors(totals, "green") == 1
    assert visitors(totals, "green", "Purchased") == 1
    [batch] = totals.batches
    assert batch.plans == {"Button": TestPlan(RUNNING.to_json(), DAY1)}
    assert batch.versions == {
        ("Button", PLAN, RUNNING.to_json()): DAY1,
        ("Button", POPULATIONS, '{"green":1.0,"orange":1.0}'): DAY1,
    }
    assert batch.tests["Button"].first == DAY1


def test_the_latest_plan_is_kept_and_each_version_with_when_first_seen() -> None:
    bigger = Plan("Purchased", minimum_effect=0.1)
    records = [
        *human("a"),
        split("a", "green", DAY1 + 2 * HOUR, plan=bigger),
        *human("b"),
        split("b", "green", DAY1 + HOUR),
        split("c", "green", DAY1 + 3 * HOUR, plan=None),  # held: no pixel
        *human("d"),
        split("d", "orange", DAY1 + 3 * HOUR, weights={"green": 1, "orange": 1, "blue": 1}),
    ]
    _, totals = run(records)
    [batch] = totals.batches
    assert batch.plans["Button"] == TestPlan(RUNNING.to_json(), DAY1 + 3 * HOUR)
    assert batch.versions == {
        ("Button", PLAN, bigger.to_json()): DAY1 + 2 * HOUR,
        ("Button", PLAN, RUNNING.to_json()): DAY1 + HOUR,
        ("Button", POPULATIONS, '{"green":1.0,"orange":1.0}'): DAY1 + HOUR,
        ("Button", POPULATIONS, '{"green":1.0,"orange":1.0,"blue":1.0}'): DAY1 + 3 * HOUR,
    }


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("not json", id="not-json"),
        pytest.param("[]", id="not-an-object"),
        pytest.param('{"goal": ""}', id="bad-goal"),
        pytest.param('{"goal": "a", "winner": 3}', id="bad-winner"),
        pytest.param("[" * 100_000 + "]" * 100_000, id="too-deep"),
    ],
)
def test_a_split_with_an_unreadable_plan_counts_without_one(text: str) -> None:
    record = [*split("a", "green")[:-1], text]
    _, totals = run([*human("a"), record])
    assert visitors(totals, "green") == 1
    [batch] = totals.batches
    assert batch.plans == {}
    assert [key[1] for key in batch.versions] == [POPULATIONS]
    assert plan_of(text) is None


def test_a_split_without_weights_notes_no_population_list() -> None:
    record = ["1", "split", f"{DAY1:0.4f}", "a", "0", "Button", "True"]
    _, totals = run([*human("a"), record])
    assert totals.batches[0].versions == {}


END = DAY1 + 5 * HOUR
BEFORE_AND_AFTER = [
    *human("a"),
    split("a", "green"),
    *human("b"),
    split("b", "orange"),
    goal("a", "Purchased", at=END - 1),
    marker("orange", END),
    goal("b", "Purchased", at=END),
    split("c", "green", END + 1),  # a process that has not heard yet
    *human("c", END + 1),
    *human("d", END + 2),
    split("d", "orange", END + 2),
    goal("d", "Purchased", at=END + 3),
]


def test_the_end_marker_freezes_the_tests_counts() -> None:
    aggregator, totals = run(BEFORE_AND_AFTER)
    assert visitors(totals, "green") == 1
    assert visitors(totals, "orange") == 1
    assert visitors(totals, "green", "Purchased") == 1
    assert visitors(totals, "orange", "Purchased") == 0
    # Outside the test everything counts as before.
    assert totals.visitors("Purchased") == 3
    assert aggregator.ended == {"Button": END}
    [batch] = totals.batches
    ended = Plan("Purchased", winner="orange").to_json()
    assert batch.plans == {"Button": TestPlan(ended, END, END, "orange")}
    assert "Button" not in json.loads(totals.states["b"]).get("t", {})
    assert json.loads(totals.states["a"])["t"] == {"Button": "green"}


def test_the_end_marker_is_no_impression_and_needs_no_human() -> None:
    # The marker's visitor never loaded the pixel, and is a crawler besides.
    records = [page("bot", ua="Googlebot"), marker("orange", END, vid="bot")]
    aggregator, totals = run(records, is_crawler=lambda agent: "bot" in agent.lower())
    assert aggregator.ended == {"Button": END}
    assert totals.counts.get(("all", "0", -1, "", "Button", "orange")) is None
    assert "bot" in totals.states  # the page, not the marker


def test_the_earliest_end_marker_wins() -> None:
    aggregator = Aggregator(ROLLUPS)
    aggregator.add_all([marker("orange", END + 10), marker("green", END), marker("blue", END + 5)])
    assert aggregator.ended == {"Button": END}
    batch = aggregator.drain()
    entry = batch.plans["Button"]
    assert (entry.ended, entry.winner, entry.at) == (END, "green", END + 10)
    assert Plan.from_json(entry.plan).winner == "orange"


def test_an_end_marker_after_a_plan_keeps_the_latest_plan() -> None:
    aggregator = Aggregator(ROLLUPS)
    aggregator.add_all([*human("a", END + 1), split("a", "green", END + 1), marker("orange", END)])
    entry = aggregator.drain().plans["Button"]
    assert (entry.at, entry.ended, entry.winner) == (END + 1, END, "orange")
    assert entry.plan == RUNNING.to_json()


def test_an_ended_test_stays_ended_across_a_restart() -> None:
    totals = Totals()
    first = Aggregator(ROLLUPS, loader=totals.load)
    first.add_all(BEFORE_AND_AFTER[:8])
    totals.add(first.drain())
    stored = {test: entry.ended for test, entry in totals.batches[0].plans.items() if entry.ended}
    assert stored == {"Button": END}
    second = Aggregator(ROLLUPS, loader=totals.load)  # a fresh process
    second.adopt_ended(stored)
    second.add_all(BEFORE_AND_AFTER[8:])
    totals.add(second.drain())
    _, whole = run(BEFORE_AND_AFTER)
    assert {k: v for k, v in totals.counts.items() if v[0]} == {
        k: v for k, v in whole.counts.items() if v[0]
    }


def test_adopted_end_times_keep_the_earliest() -> None:
    aggregator = Aggregator(ROLLUPS)
    aggregator.adopt_ended({"a": 5.0, "b": 7.0})
    aggregator.adopt_ended({"a": 6.0, "b": 3.0, "c": 1.0})
    assert aggregator.ended == {"a": 5.0, "b": 3.0, "c": 1.0}


def test_conversions_before_the_end_arriving_late_still_count() -> None:
    # Records before the end, counted after the marker was seen: by time.
    records = [marker("orange", END), *human("a"), split("a", "green"), goal("a", "Purchased")]
    _, totals = run(records)
    assert visitors(totals, "green", "Purchased") == 1


def test_a_complex_goal_reached_after_the_end_is_not_credited_to_the_test() -> None:
    both = parse_complex_goal("Both|Viewed,Purchased")
    records = [
        *human("a"),
        split("a", "green"),
        goal("a", "Viewed"),
        marker("orange", END),
        goal("a", "Purchased", at=END + 1),
    ]
    _, totals = run(records, complex_goals=[both])
    assert totals.visitors("Both") == 1
    assert visitors(totals, "green", "Both") == 0


def test_a_complex_goal_counted_before_the_end_stays_counted_for_the_test() -> None:
    both = parse_complex_goal("Both|Viewed,Purchased|Refunded")
    records = [
        *human("a"),
        split("a", "green"),
        goal("a", "Viewed"),
        goal("a", "Purchased"),
        marker("orange", END),
        goal("a", "Refunded", at=END + 1),  # takes it back, but not from the ended test
    ]
    _, totals = run(records, complex_goals=[both])
    assert totals.visitors("Both") == 0
    assert visitors(totals, "green", "Both") == 1
    assert json.loads(totals.states["a"])["c"]["Both"][4] == []


def test_a_drain_starts_a_new_batch_of_plans() -> None:
    aggregator = Aggregator(ROLLUPS)
    aggregator.add_all([*human("a"), split("a", "green")])
    assert aggregator.drain().plans
    batch = aggregator.drain()
    assert batch.plans == {}
    assert batch.versions == {}
    assert not batch


def test_experiments_leave_ended_tests_only() -> None:
    experiments = Experiments()
    experiments.adopt_ended({"Old": 10.0})
    state = VisitorState()
    state.tests = {"Old": "a", "New": "b"}
    experiments.leave_ended(state, 9.0)
    assert state.tests == {"Old": "a", "New": "b"}
    experiments.leave_ended(state, 10.0)
    assert state.tests == {"New": "b"}


def test_a_visitor_writes_what_the_backend_reads() -> None:
    # End to end in memory: Visitor.split(experiment) -> Aggregator.
    # A name of its own: a process records an experiment's end marker once.
    name = f"Button {uuid.uuid4()}"
    running = Experiment(name, ["green", "orange"], goal="Purchased")
    ended = Experiment(name, ["green", "orange"], goal="Purchased", winner="orange")
    log = MemoryLog()
    for vid, experiment in [("v1", running), ("v2", running), ("v3", ended), ("v4", ended)]:
        visitor = Visitor(vid, log)
        visitor.page(_request())
        visitor.pixel()
        visitor.split(experiment)
        visitor.goal("Purchased")
        visitor.flush()
    aggregator, totals = run(log.records)
    assert name in aggregator.ended
    assert sum(visitors(totals, p, test=name) for p in ["green", "orange"]) == 2
    assert sum(visitors(totals, p, "Purchased", name) for p in ["green", "orange"]) == 2
    assert totals.visitors("Purchased") == 4


def _request() -> Request:
    return Request.blank("/")


# Warnings


def test_when_is_utc_to_the_second() -> None:
    assert when(DAY1) == "2023-11-14 22:13:20 UTC"
    assert time.gmtime(DAY1).tm_hour == 22


def test_one_version_of_each_is_no_change() -> None:
    versions = [(PLAN, RUNNING.to_json(), DAY1), (POPULATIONS, '{"a":1.0}', DAY1)]
    assert warnings_of(versions, crossovers=4) == []


def test_a_changed_plan_names_what_changed_and_when() -> None:
    changed = Plan("Purchased", ("Refunded",), minimum_effect=0.1)
    versions = [(PLAN, changed.to_json(), DAY1 + HOUR), (PLAN, RUNNING.to_json(), DAY1)]
    assert warnings_of(versions, crossovers=0) == [
        "2023-11-14 23:13:20 UTC: the plan changed: guardrails [] -> ['Refunded'], "
        "minimum_effect 0.05 -> 0.1"
    ]


@pytest.mark.parametrize(
    ("crossovers", "moved"),
    [
        pytest.param(0, [], id="none"),
        pytest.param(1, ["1 returning visitor was assigned"], id="one"),
        pytest.param(7, ["7 returning visitors were assigned"], id="seven"),
    ],
)
def test_a_changed_population_list_warns_with_the_visitors_it_moved(
    crossovers: int, moved: list[str]
) -> None:
    versions = [
        (POPULATIONS, '{"green":1.0,"orange":1.0}', DAY1),
        (POPULATIONS, '{"green":1.0,"orange":1.0,"blue":1.0}', (day2 := DAY1 + 86_400)),
        (POPULATIONS, '{"green":1.0,"orange":3.0}', day2 + HOUR),
    ]
    warnings = warnings_of(versions, crossovers)
    assert warnings[:2] == [
        "2023-11-15 22:13:20 UTC: the populations changed from green, orange to "
        "green, orange, blue",
        "2023-11-15 23:13:20 UTC: the populations changed from green, orange, blue to "
        "green (1), orange (3)",
    ]
    assert [warning[: len(start)] for warning, start in zip(warnings[2:], moved, strict=True)] == (
        moved
    )
    assert len(warnings) == 2 + len(moved)


def test_warnings_are_in_time_order_across_kinds() -> None:
    versions = [
        (PLAN, RUNNING.to_json(), DAY1),
        (PLAN, Plan("Purchased", power=0.9).to_json(), DAY1 + 2 * HOUR),
        (POPULATIONS, '{"a":1.0}', DAY1),
        (POPULATIONS, '{"a":1.0,"b":1.0}', DAY1 + HOUR),
    ]
    warnings = warnings_of(versions, crossovers=0)
    assert [warning.split(": ")[1] for warning in warnings] == [
        "the populations changed from a to a, b",
        "the plan changed",
    ]


def test_a_batch_of_plans_or_versions_alone_is_something_to_commit() -> None:
    assert Batch(plans={"Button": TestPlan(RUNNING.to_json(), DAY1)})
    assert Batch(versions={("Button", PLAN, RUNNING.to_json()): DAY1})
    assert not Batch()
