"""The store's read for the experiment analysis: test_stats()."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from manhattan.backend.model import ALL_SITES, Batch, CounterKey, GoalInfo, QueryError, TestInfo
from manhattan.backend.persistence import SQLStore


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")]
)
def store(request: pytest.FixtureRequest, tmp_path) -> Iterator[SQLStore]:  # type: ignore[no-untyped-def]
    url = (
        f"sqlite:///{tmp_path / 'm.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("postgres_url")
    )
    with SQLStore(url) as store:
        store.commit(two_populations())
        yield store


def two_populations() -> Batch:
    """Test T: populations a and b, 1000 visitors each, goal Buy (a SUM)
    reached by 100 and 130 of them; goal Join reached outside the test."""
    return Batch(
        counts={
            CounterKey("all", "0", ALL_SITES, "", "T", "a"): [1000, 0.0, 0.0],
            CounterKey("all", "0", ALL_SITES, "", "T", "b"): [1000, 0.0, 0.0],
            CounterKey("all", "0", ALL_SITES, "Buy", "T", "a"): [100, 1000.0, 20000.0],
            CounterKey("all", "0", ALL_SITES, "Buy", "T", "b"): [130, 1300.0, 26000.0],
            CounterKey("all", "0", 1, "", "T", "a"): [600, 0.0, 0.0],
            CounterKey("all", "0", ALL_SITES, "Buy", "", ""): [230, 2300.0, 46000.0],
            CounterKey("all", "0", ALL_SITES, "Join", "", ""): [40, 0.0, 0.0],
            CounterKey("day", "2026-11-28", ALL_SITES, "", "T", "a"): [7, 0.0, 0.0],
        },
        goals={"Buy": GoalInfo("S", "C", 1.0, 2.0)},
        tests={"T": TestInfo(1.0, 2.0, crossovers=3, weights={"b": 1.0, "a": 1.0})},
    )


def test_test_stats_reads_one_slice(store: SQLStore) -> None:
    stats = store.test_stats("T")
    assert stats.visitors == {"a": 1000, "b": 1000}
    assert stats.goals == {"Buy": {"a": (100, 1000.0, 20000.0), "b": (130, 1300.0, 26000.0)}}
    assert (stats.crossovers, stats.weights, stats.value_types) == (
        3,
        {"b": 1.0, "a": 1.0},
        {"Buy": "S"},
    )
    assert store.test_stats("T", site_id=1).visitors == {"a": 600}
    assert store.test_stats("T", "day", "2026-11-28").visitors == {"a": 7}
    with pytest.raises(QueryError, match="no test named 'nope'"):
        store.test_stats("nope")


def test_test_stats_of_goals_the_store_saw(store: SQLStore) -> None:
    # Join was reached, though by nobody in T: the stats simply lack it.
    assert store.test_stats("T", goals=["Buy", "Join", "viewed page"]).goals == (
        store.test_stats("T").goals
    )
    assert store.test_stats("T", goals=[]).visitors == {"a": 1000, "b": 1000}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("nope", "all", 0, None, ["Bye"]), "no test named 'nope'", id="test-first"),
        pytest.param(("T", "all", 0, None, ["Buy", "Bye"]), "no goal named 'Bye'", id="goal"),
        pytest.param(("T", "all", 0, None, "Buy"), "goals must be a list", id="goals-str"),
        pytest.param(("T", "all", 0, None, [7]), "goal names must be str", id="goal-not-str"),
    ],
)
def test_test_stats_refuses_goals(store: SQLStore, args: tuple[object, ...], message: str) -> None:
    with pytest.raises(QueryError, match=message):
        store.test_stats(*args)  # type: ignore[arg-type]
