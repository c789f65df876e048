"""Declared experiments through the server: a log a Visitor wrote with an
Experiment, counted by ``manhattan-server --once``, analysed by the plan it
carries; the worker's and the store wrappers' part in ending a test."""

from __future__ import annotations

import logging
import threading
import uuid
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import redis

from manhattan.analysis.report import analyze
from manhattan.backend.aggregate import Aggregator
from manhattan.backend.model import Batch, EndedReader, TestInfo, TestPlan
from manhattan.backend.persistence import SQLStore, StoreError
from manhattan.backend.plans import when
from manhattan.experiments import Experiment
from manhattan.log.streamreader import StreamReader
from manhattan.server import cli
from manhattan.server.leases import GuardedStore, LeaseKeeper
from manhattan.server.service import DAY_SECONDS, StoreQueries
from manhattan.server.streamstore import StreamStore
from manhattan.server.worker import Worker
from manhattan.visitor import Visitor
from tests.backend.test_aggregate import ROLLUPS
from tests.backend.test_plans import BEFORE_AND_AFTER, END, RUNNING
from tests.log.streams import redis_client, stream_name  # noqa: F401
from tests.server.test_worker import Clock, T, log_at

with warnings.catch_warnings():
    # WebOb 1.8 imports the stdlib cgi module, deprecated since Python 3.11.
    warnings.filterwarnings("ignore", "'cgi' is deprecated", DeprecationWarning)
    from webob import Request

DAY = 86_400.0
START = T - 10 * DAY


class At(Visitor):
    """A visitor whose records carry the time it is given."""

    now = START

    def timestamp(self) -> float:
        return self.now


def visit(log: Any, vid: str, at: float, experiment: Experiment, *goals: str) -> Any:
    """One request of ``vid`` at ``at``: a page, the pixel, the split, ``goals``."""
    visitor = At(vid, log)
    visitor.now = at
    visitor.page(Request.blank("/"))
    visitor.pixel()
    chosen = visitor.split(experiment)
    for goal in goals:
        visitor.goal(goal)
    visitor.flush()
    return chosen


def test_a_log_of_an_experiment_is_analysed_by_its_plan(tmp_path: Path) -> None:
    name = f"Button {uuid.uuid4()}"  # end markers are recorded once per process
    running = Experiment(name, ["green", "orange"], goal="Purchased", minimum_effect=0.2)
    wider = Experiment(name, ["green", "orange", "blue"], goal="Purchased", minimum_effect=0.2)
    ended = Experiment(name, ["green", "orange"], goal="Purchased", winner="orange")
    log, _ = log_at(tmp_path)
    chosen: dict[str, Any] = {}
    for i in range(40):
        vid = f"visitor-{i:02d}"
        goals = ("Purchased",) if i % 3 == 0 else ()
        chosen[vid] = visit(log, vid, START + i * 60, running, *goals)
    # A deploy adds a population: a returning visitor may move.
    moved = [vid for vid in chosen if visit(log, vid, START + DAY, wider) != chosen[vid]]
    end = START + 2 * DAY
    assert visit(log, "visitor-00", end, ended) == "orange"  # the end marker
    # After the end: the winner for everyone, and nothing more counts for the test.
    for i in range(40):
        visit(log, f"visitor-{i:02d}", end + 60 + i, ended, "Purchased")
    log.close()
    url = f"sqlite:///{tmp_path / 'manhattan.db'}"
    assert cli.main(["--path", log.path, "--url", url, "--once"]) == 0

    with SQLStore(url) as store:
        analysis = StoreQueries(store).analyze(name, ["Purchased"])
        stats = store.test_stats(name)
    assert analysis["ended"] == {"at": end, "winner": "orange"}
    assert stats.started == START
    assert stats.plan == ended.plan
    assert analysis["plan"]["goal"] == "Purchased"
    assert "decision" in analysis
    # The counts are those before the end: 40 visitors, every third converted.
    assert sum(analysis["visitors"].values()) == 40
    conversions = analysis["goals"]["Purchased"]["populations"]
    assert sum(result["conversions"] for result in conversions.values()) == 14
    assert analysis["crossovers"] == len(moved) > 0
    assert analysis["warnings"] == [
        f"{when(START + DAY)}: the populations changed from green, orange to green, orange, blue",
        f"{len(moved)} returning visitors were assigned another population than their "
        "first, and still count in their first: compare populations with care",
    ]


def test_analyze_gives_the_plan_the_tests_age(tmp_path: Path) -> None:
    with SQLStore("sqlite://") as store:
        store.commit(Batch(*_impressions("Button")))
        store.commit(Batch(plans={"Button": TestPlan(RUNNING.to_json(), START)}))
        queries = StoreQueries(store, clock=Clock(START + 3 * DAY))
        stats = store.test_stats("Button")
        expected = analyze(stats, plan=RUNNING, elapsed_days=3.0)
        assert queries.analyze("Button") == {**expected, "warnings": []}
        assert "ended" not in queries.analyze("Button")
        # A clock behind the first split: an age of 0, never negative.
        early = StoreQueries(store, clock=Clock(START - 5))
        assert (
            early.analyze("Button")["plan"] == analyze(stats, plan=RUNNING, elapsed_days=0)["plan"]
        )
        ended = RUNNING.to_json().replace('"winner":null', '"winner":"b"')
        store.commit(Batch(plans={"Button": TestPlan(ended, START + DAY, START + DAY, "b")}))
        stats = store.test_stats("Button")
        expected = analyze(stats, plan=stats.plan, elapsed_days=1.0)
        result = queries.analyze("Button")
        assert result == {**expected, "warnings": [], "ended": {"at": START + DAY, "winner": "b"}}
    assert DAY_SECONDS == DAY


def test_a_test_without_a_start_has_no_age() -> None:
    class NoStart:
        def __init__(self, store: SQLStore) -> None:
            self.store = store

        def test_stats(self, *args: Any) -> Any:
            stats = self.store.test_stats(*args)
            stats.started = None
            stats.ended = 5.0  # an end without a plan: no winner to name
            stats.plan = None
            return stats

    with SQLStore("sqlite://") as store:
        store.commit(Batch(*_impressions("Button")))
        result = StoreQueries(NoStart(store)).analyze("Button")
    assert result["ended"] == {"at": 5.0, "winner": None}
    assert "plan" not in result


def _impressions(test: str) -> tuple[dict[Any, list[float]], dict[str, Any], dict[str, TestInfo]]:
    from manhattan.backend.model import ALL_SITES, CounterKey

    counts: dict[Any, list[float]] = {
        CounterKey("all", "0", ALL_SITES, "", test, "a"): [100, 0.0, 0.0],
        CounterKey("all", "0", ALL_SITES, "", test, "b"): [100, 0.0, 0.0],
        CounterKey("all", "0", ALL_SITES, "Purchased", test, "a"): [10, 0.0, 0.0],
        CounterKey("all", "0", ALL_SITES, "Purchased", test, "b"): [15, 0.0, 0.0],
    }
    return counts, {}, {test: TestInfo(START, START + DAY, weights={"a": 1.0, "b": 1.0})}


# The worker


class Records:
    """A log reader over a list of records: one pass, then the end."""

    def __init__(self, records: list[list[str]]) -> None:
        self.records = records

    def process(self, pointer: Any, follow: bool, stop: Any) -> Any:
        start = 0 if pointer is None else int(pointer)
        for i in range(start, len(self.records)):
            yield self.records[i], str(i + 1)


class Unreadable:
    """A store whose ``load_ended`` fails after ``good`` reads."""

    def __init__(self, store: SQLStore, good: int) -> None:
        self.store = store
        self.good = good

    def load_pointer(self) -> str | None:
        return self.store.load_pointer()

    def load_visitors(self, visitor_ids: Sequence[str]) -> dict[str, str]:
        return self.store.load_visitors(visitor_ids)

    def load_ended(self) -> dict[str, float]:
        if self.good <= 0:
            raise StoreError("query failed on sqlite://: database is locked")
        self.good -= 1
        return self.store.load_ended()

    def commit(self, batch: Batch) -> None:
        self.store.commit(batch)


def test_a_worker_commits_a_batch_of_an_end_marker_alone() -> None:
    marker = BEFORE_AND_AFTER[7]
    with SQLStore("sqlite://") as store:
        Worker(Records([marker]), store, Aggregator(ROLLUPS)).run(threading.Event(), once=True)
        assert store.load_ended() == {"Button": END}
        assert store.load_pointer() == "1"


def test_a_worker_learns_of_ends_other_workers_committed() -> None:
    with SQLStore("sqlite://") as store:
        store.commit(Batch(plans={"Other": TestPlan(RUNNING.to_json(), 1.0, 1.0, "x")}))
        aggregator = Aggregator(ROLLUPS)
        worker = Worker(Records(BEFORE_AND_AFTER), store, aggregator)
        worker.run(threading.Event(), once=True)
        assert aggregator.ended == {"Button": END, "Other": 1.0}


def test_a_failed_read_of_the_ends_after_a_commit_waits_for_the_next(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with SQLStore("sqlite://") as sql:
        store = Unreadable(sql, good=1)
        aggregator = Aggregator(ROLLUPS)
        with caplog.at_level(logging.ERROR, logger="manhattan.server"):
            Worker(Records(BEFORE_AND_AFTER), store, aggregator).run(threading.Event(), once=True)
        assert aggregator.ended == {"Button": END}  # what it counted itself
        assert "reading which tests have ended failed" in caplog.text
        with pytest.raises(StoreError, match="database is locked"):
            Worker(Records([]), store, Aggregator(ROLLUPS)).run(threading.Event(), once=True)


def test_a_worker_over_a_store_that_keeps_no_ends_counts_alone() -> None:
    with SQLStore("sqlite://") as sql:
        store = Plain(sql)
        assert not isinstance(store, EndedReader)
        aggregator = Aggregator(ROLLUPS)
        Worker(Records(BEFORE_AND_AFTER), store, aggregator).run(threading.Event(), once=True)
        assert aggregator.ended == {"Button": END}


class Plain:
    """A store without ``load_ended``."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store

    def load_pointer(self) -> str | None:
        return self.store.load_pointer()

    def load_pointers(self, names: Sequence[str]) -> dict[str, str]:
        return self.store.load_pointers(names)

    def load_visitors(self, visitor_ids: Sequence[str]) -> dict[str, str]:
        return self.store.load_visitors(visitor_ids)

    def commit(self, batch: Batch) -> None:
        self.store.commit(batch)


# The store wrappers pass load_ended on


def test_a_guarded_store_tells_the_ends(tmp_path: Path) -> None:
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.commit(Batch(plans={"Button": TestPlan(RUNNING.to_json(), 1.0, 2.0, "a")}))
        guarded = GuardedStore(store, LeaseKeeper(store, 30))
        assert guarded.load_ended() == {"Button": 2.0}


def test_a_stream_store_tells_the_ends_its_store_tells(
    client: redis.Redis, stream: str, tmp_path: Path
) -> None:
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.commit(Batch(plans={"Button": TestPlan(RUNNING.to_json(), 1.0, 2.0, "a")}))
        reader = StreamReader(client, stream, [0])
        assert StreamStore(store, reader).load_ended() == {"Button": 2.0}
        assert StreamStore(Plain(store), reader).load_ended() == {}
