"""Declared experiments in the store: plans, versions and ends, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from manhattan.analysis.plan import Plan
from manhattan.backend.aggregate import Aggregator
from manhattan.backend.model import ALL_SITES, Batch, CounterKey, EndedReader, TestInfo, TestPlan
from manhattan.backend.persistence import SQLStore
from manhattan.backend.plans import PLAN, POPULATIONS, warnings_of
from tests.backend.test_aggregate import DAY1, ROLLUPS
from tests.backend.test_plans import BEFORE_AND_AFTER, END, HOUR, RUNNING

ENDED = Plan("Purchased", winner="orange")
WIDER = Plan("Purchased", minimum_effect=0.1)


def url_of(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return url_of(request, tmp_path)


@pytest.fixture
def store(url: str) -> Iterator[SQLStore]:
    with SQLStore(url) as store:
        yield store


def impressions(test: str = "Button") -> Batch:
    return Batch(
        counts={
            CounterKey("all", "0", ALL_SITES, "", test, "green"): [10, 0.0, 0.0],
            CounterKey("all", "0", ALL_SITES, "", test, "orange"): [12, 0.0, 0.0],
        },
        tests={test: TestInfo(DAY1, DAY1 + HOUR, crossovers=2)},
    )


def test_a_store_tells_which_tests_ended(store: SQLStore) -> None:
    assert isinstance(store, EndedReader)
    assert store.load_ended() == {}


def test_a_test_without_a_plan_has_none(store: SQLStore) -> None:
    store.commit(impressions())
    stats = store.test_stats("Button")
    assert (stats.plan, stats.ended, stats.warnings) == (None, None, [])
    assert stats.started == DAY1


def test_the_plan_the_start_and_the_end_reach_test_stats(store: SQLStore) -> None:
    store.commit(impressions())
    store.commit(Batch(plans={"Button": TestPlan(RUNNING.to_json(), DAY1)}))
    stats = store.test_stats("Button")
    assert (stats.plan, stats.started, stats.ended) == (RUNNING, DAY1, None)
    store.commit(Batch(plans={"Button": TestPlan(ENDED.to_json(), END, END, "orange")}))
    stats = store.test_stats("Button")
    assert (stats.plan, stats.started, stats.ended) == (ENDED, DAY1, END)
    assert store.load_ended() == {"Button": END}


def test_plans_merge_the_latest_plan_and_the_earliest_end(store: SQLStore) -> None:
    store.commit(impressions())
    other = Plan("Purchased", winner="green")
    for entry in [
        TestPlan(WIDER.to_json(), DAY1 + 2 * HOUR),
        TestPlan(RUNNING.to_json(), DAY1 + HOUR),  # older: the plan stays
        TestPlan(ENDED.to_json(), END + 10, END + 10, "orange"),
        TestPlan(other.to_json(), END + 5, END, "green"),  # an earlier end, an older plan
        TestPlan(ENDED.to_json(), END + 20, END + 20, "orange"),  # a later end
    ]:
        store.commit(Batch(plans={"Button": entry}))
    stats = store.test_stats("Button")
    assert stats.plan == ENDED
    assert stats.ended == END
    assert store.load_ended() == {"Button": END}
    with store._cursor() as cursor:  # the winner of the earliest end
        cursor.execute("SELECT winner FROM test_plans")
        assert cursor.fetchall() == [("green",)]


def test_versions_keep_when_each_was_first_seen_and_make_the_warnings(store: SQLStore) -> None:
    store.commit(impressions())
    two, three = '{"green":1.0,"orange":1.0}', '{"green":1.0,"orange":1.0,"blue":1.0}'
    store.commit(
        Batch(
            versions={
                ("Button", POPULATIONS, two): DAY1 + HOUR,
                ("Button", PLAN, RUNNING.to_json()): DAY1,
                ("Other", PLAN, RUNNING.to_json()): DAY1,
            }
        )
    )
    store.commit(
        Batch(
            versions={
                ("Button", POPULATIONS, two): DAY1,  # seen earlier after all
                ("Button", POPULATIONS, three): DAY1 + 3 * HOUR,
                ("Button", PLAN, RUNNING.to_json()): DAY1 + 4 * HOUR,  # later: no change
            }
        )
    )
    expected = [
        (POPULATIONS, two, DAY1),
        (POPULATIONS, three, DAY1 + 3 * HOUR),
        (PLAN, RUNNING.to_json(), DAY1),
    ]
    warnings = store.test_stats("Button").warnings
    assert warnings == warnings_of(expected, crossovers=2)
    assert len(warnings) == 2
    assert "the populations changed from green, orange to green, orange, blue" in warnings[0]
    assert warnings[1].startswith("2 returning visitors were assigned another population")


def test_a_long_population_list_is_kept_whole(store: SQLStore) -> None:
    # Far beyond an index row: the key holds its digest.
    weights = {f"population {i:04d} " + "x" * 40: 1.0 for i in range(300)}
    value = json.dumps(weights, separators=(",", ":"))
    store.commit(impressions())
    store.commit(
        Batch(versions={("Button", POPULATIONS, value): DAY1, ("Button", POPULATIONS, "{}"): 0.0})
    )
    warnings = store.test_stats("Button").warnings
    assert "population 0299 " + "x" * 40 in warnings[0]


def test_the_tables_are_added_to_a_database_made_before_them(url: str) -> None:
    with SQLStore(url) as store:
        store.commit(impressions())
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE test_plans"))
        conn.execute(text("DROP TABLE test_versions"))
    engine.dispose()
    with SQLStore(url) as store:
        store.commit(Batch(plans={"Button": TestPlan(ENDED.to_json(), END, END, "orange")}))
        assert store.test_stats("Button").ended == END
        assert store.test_stats("Button").visitors == {"green": 10, "orange": 12}


def test_an_end_survives_a_restart_of_the_counting(url: str) -> None:
    # Count half the stream, commit, and carry on in a fresh aggregator that
    # learns the end from the store only: the same counts as in one go.
    with SQLStore(url) as store:
        first = Aggregator(ROLLUPS, loader=store.load_visitors)
        first.add_all(BEFORE_AND_AFTER[:8])
        store.commit(first.drain("half"))
    with SQLStore(url) as store:
        second = Aggregator(ROLLUPS, loader=store.load_visitors)
        second.adopt_ended(store.load_ended())
        assert second.ended == {"Button": END}
        second.add_all(BEFORE_AND_AFTER[8:])
        store.commit(second.drain("end"))
        resumed = store.test_stats("Button", goals=["Purchased"])
    whole = Aggregator(ROLLUPS)
    whole.add_all(BEFORE_AND_AFTER)
    with SQLStore("sqlite://") as memory:
        memory.commit(whole.drain("end"))
        expected = memory.test_stats("Button", goals=["Purchased"])
    assert resumed == expected
    assert resumed.visitors == {"green": 1, "orange": 1}
    assert resumed.goals["Purchased"] == {"green": (1, 0.0, 0.0)}
    assert resumed.ended == END


def test_what_a_hostile_plan_holds_is_stored_escaped(store: SQLStore) -> None:
    # A NUL and a lone surrogate no database takes as text, in a log no
    # frontend of ours wrote: the plan's JSON escapes them, and the winner
    # column holds the record's (checked) population.
    plan = '{"goal":"Pur\\u0000chased","winner":"or\\ud800ange"}'
    marker = ["1", "split", f"{END:0.4f}", "a", "0", "Button", "orange", "", plan]
    running = [
        "1",
        "split",
        f"{DAY1:0.4f}",
        "a",
        "0",
        "Button",
        "green",
        "",
        plan.replace('"winner":"or\\ud800ange"', '"guardrails":["\\u0000"]'),
    ]
    aggregator = Aggregator(ROLLUPS)
    aggregator.add_all([*BEFORE_AND_AFTER[:2], running, marker])
    store.commit(aggregator.drain("p"))
    stats = store.test_stats("Button")
    assert stats.ended == END
    assert stats.plan is not None
    assert stats.plan.winner == "or\ud800ange"
    assert stats.plan.goal == "Pur\x00chased"
    with store._cursor() as cursor:
        cursor.execute("SELECT winner FROM test_plans")
        assert cursor.fetchall() == [("orange",)]
