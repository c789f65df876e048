"""The server composes analyze() from the store's test_stats() and the
statistics: StoreQueries, and the query service over a real store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from manhattan.analysis.report import analyze
from manhattan.backend.model import QUERY_NAMES, Queries, QueryError, StatsReader
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client
from manhattan.server.service import QueryService, StoreQueries, answer, serving
from tests.backend.test_persistence_analysis import two_populations
from tests.server.test_service import DictQueries


@pytest.fixture
def store() -> Iterator[SQLStore]:
    with SQLStore("sqlite://") as store:
        store.commit(two_populations())
        yield store


def test_analyze_is_the_analysis_of_the_stores_test_stats(store: SQLStore) -> None:
    result = StoreQueries(store).analyze("T", ["Buy"], site_id=None, weights={"a": 1, "b": 3})

    expected = analyze(store.test_stats("T"), ["Buy"], None, {"a": 1, "b": 3})
    assert result == {**expected, "warnings": []}
    a = result["goals"]["Buy"]["populations"]["a"]
    assert (a["visitors"], a["conversions"], a["rate"]) == (1000, 100, 0.1)


def test_analyze_passes_the_slice_on(store: SQLStore) -> None:
    queries = StoreQueries(store)
    at_site = queries.analyze("T", site_id=1)
    on_day = queries.analyze("T", rollup_key="day", bucket_id="2026-11-28")

    assert at_site == {**analyze(store.test_stats("T", site_id=1)), "warnings": []}
    assert at_site["visitors"]["a"] == 600
    assert on_day == {**analyze(store.test_stats("T", "day", "2026-11-28")), "warnings": []}
    assert on_day["visitors"]["a"] == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("",), "needs a test name", id="no-name"),
        pytest.param((5,), "needs a test name", id="not-text"),
        pytest.param(("nope",), "no test named 'nope'", id="unknown-test"),
        pytest.param(("T", ["Buy", "Bye"]), "no goal named 'Bye'", id="unknown-goal"),
        pytest.param(("T", "Buy"), "goals must be a list", id="goals-str"),
        pytest.param(("T", None, "z"), "not a population", id="bad-control"),
    ],
)
def test_bad_analyze_requests(store: SQLStore, args: tuple[object, ...], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        StoreQueries(store).analyze(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", [pytest.param(n, id=n) for n in QUERY_NAMES if n not in ("analyze", "live")]
)
def test_every_other_query_is_the_stores_own(store: SQLStore, name: str) -> None:
    assert getattr(StoreQueries(store), name) == getattr(store, name)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("commit", id="store-method"),
        pytest.param("test_stats", id="read-not-a-query"),
        pytest.param("_cursor", id="private"),
    ],
)
def test_nothing_else_of_the_store_is_reachable(store: SQLStore, name: str) -> None:
    with pytest.raises(AttributeError, match=f"'StoreQueries' object has no attribute '{name}'"):
        getattr(StoreQueries(store), name)


def test_store_queries_is_a_queries_and_the_store_a_stats_reader(store: SQLStore) -> None:
    assert isinstance(store, StatsReader)
    assert not isinstance(store, Queries)  # no analyze of its own
    assert isinstance(StoreQueries(store), Queries)


def test_serving_composes_analyze_for_a_store_only(store: SQLStore) -> None:
    served = serving(store)
    queries = DictQueries()

    assert isinstance(served, StoreQueries)
    assert served.store is store
    assert serving(queries) is queries
    composed = StoreQueries(store)
    assert serving(composed) is composed


def test_the_service_answers_analyze_over_a_store(store: SQLStore) -> None:
    expected = {**analyze(store.test_stats("T"), ["Buy"]), "warnings": []}
    with (
        QueryService(store, "tcp://127.0.0.1:0") as service,
        Client(service.address, wait=5000) as client,
    ):
        assert client.analyze("T", ["Buy"]) == json.loads(json.dumps(expected))
        assert client.count("Buy") == store.count("Buy")


def test_a_refused_analysis_is_a_query_error_reply(store: SQLStore) -> None:
    request = {"method": "analyze", "args": ["T", ["Bye"]]}
    reply: dict[str, Any] = json.loads(answer(serving(store), json.dumps(request).encode()))

    assert reply["error"]["type"] == "QueryError"
    assert reply["error"]["message"].startswith("no goal named 'Bye'")
