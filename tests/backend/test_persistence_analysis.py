"""The store's reads for the experiment analysis: test_stats() and analyze()."""

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
        store.commit(
            Batch(
                counts={
                    CounterKey("all", "0", ALL_SITES, "", "T", "a"): [1000, 0.0, 0.0],
                    CounterKey("all", "0", ALL_SITES, "", "T", "b"): [1000, 0.0, 0.0],
                    CounterKey("all", "0", ALL_SITES, "Buy", "T", "a"): [100, 1000.0, 20000.0],
                    CounterKey("all", "0", ALL_SITES, "Buy", "T", "b"): [130, 1300.0, 26000.0],
                    CounterKey("all", "0", 1, "", "T", "a"): [600, 0.0, 0.0],
                    CounterKey("all", "0", ALL_SITES, "Buy", "", ""): [230, 2300.0, 46000.0],
                    CounterKey("day", "2026-11-28", ALL_SITES, "", "T", "a"): [7, 0.0, 0.0],
                },
                goals={"Buy": GoalInfo("S", "C", 1.0, 2.0)},
                tests={"T": TestInfo(1.0, 2.0, crossovers=3, weights={"b": 1.0, "a": 1.0})},
            )
        )
        yield store


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


def test_analyze_reads_and_analyzes(store: SQLStore) -> None:
    result = store.analyze("T", ["Buy"])
    assert result["control"] == "b"  # the first recorded weight
    assert result["crossovers"] == 3
    a = result["goals"]["Buy"]["populations"]["a"]
    assert (a["visitors"], a["conversions"], a["rate"]) == (1000, 100, 0.1)
    assert a["value"]["per_visitor"] == 1.0
    assert result["goals"]["Buy"]["populations"]["a"]["p_value"] is not None


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
        store.analyze(*args)  # type: ignore[arg-type]
