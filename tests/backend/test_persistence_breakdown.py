"""The store's reads for the dashboard: sites() and breakdown(), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from manhattan.backend.model import ALL_SITES, Batch, CounterKey, QueryError
from manhattan.backend.persistence import SQLStore
from manhattan.backend.persistence.queries import MAX_BREAKDOWN_BUCKETS, MAX_BREAKDOWN_GOALS

DAYS = [f"2026-11-{day:02}" for day in range(20, 29)]  # 9 days


def rows() -> dict[CounterKey, list[float]]:
    """Day d (0..8): population a has 10+d impressions and d buyers spending
    2*d; b has 20 impressions and 1 buyer; outside the test, 100+d page
    viewers and 3*d buyers; site 2 holds one day of its own."""
    counts: dict[CounterKey, list[float]] = {}
    for d, day in enumerate(DAYS):
        counts[CounterKey("day", day, ALL_SITES, "", "T", "a")] = [10 + d, 0.0, 0.0]
        counts[CounterKey("day", day, ALL_SITES, "Buy", "T", "a")] = [d, 2.0 * d, 0.0]
        counts[CounterKey("day", day, ALL_SITES, "", "T", "b")] = [20, 0.0, 0.0]
        counts[CounterKey("day", day, ALL_SITES, "Buy", "T", "b")] = [1, 5.0, 25.0]
        counts[CounterKey("day", day, ALL_SITES, "viewed page", "", "")] = [100 + d, 0.0, 0.0]
        counts[CounterKey("day", day, ALL_SITES, "Buy", "", "")] = [3 * d, 1.5 * d, 0.0]
    for browser, viewers in (("Firefox", 30), ("Chrome", 50), ("Safari", 40), ("Other", 5)):
        counts[CounterKey("browser", browser, ALL_SITES, "viewed page", "", "")] = [viewers, 0, 0]
        counts[CounterKey("browser", browser, ALL_SITES, "Buy", "", "")] = [viewers // 10, 1, 0]
    counts[CounterKey("browser", "Chrome", ALL_SITES, "", "T", "a")] = [9, 0.0, 0.0]
    counts[CounterKey("browser", "Firefox", ALL_SITES, "", "T", "a")] = [3, 0.0, 0.0]
    counts[CounterKey("browser", "Firefox", ALL_SITES, "", "T", "b")] = [8, 0.0, 0.0]
    counts[CounterKey("day", DAYS[0], 2, "Buy", "", "")] = [4, 0.0, 0.0]
    for site in (ALL_SITES, 7, 2):
        counts[CounterKey("all", "0", site, "viewed page", "", "")] = [1, 0.0, 0.0]
    # As the server counts, every count has a twin in rollup "all" for all sites.
    counts[CounterKey("all", "0", ALL_SITES, "Buy", "", "")] = [1, 0.0, 0.0]
    counts[CounterKey("all", "0", ALL_SITES, "", "T", "a")] = [1, 0.0, 0.0]
    return counts


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
        store.commit(Batch(counts=rows()))
        yield store


def test_sites_are_those_with_counts_in_order(store: SQLStore) -> None:
    assert store.sites() == [2, 7]


def test_sites_of_an_empty_store() -> None:
    with SQLStore("sqlite://") as store:
        assert store.sites() == []


def test_breakdown_of_a_test_takes_the_last_days_with_impressions(store: SQLStore) -> None:
    table = store.breakdown("day", ["Buy"], "T", limit=3)
    assert list(table) == DAYS[-3:]  # oldest first, the newest three
    for d, day in enumerate(DAYS[-3:], start=6):
        assert table[day] == {
            "a": {"": [10 + d, 0.0], "Buy": [d, 2.0 * d]},
            "b": {"": [20, 0.0], "Buy": [1, 5.0]},
        }


def test_breakdown_without_a_test_is_population_blank(store: SQLStore) -> None:
    table = store.breakdown("day", ["viewed page", "Buy"], limit=MAX_BREAKDOWN_BUCKETS)
    assert list(table) == DAYS
    assert table[DAYS[4]] == {"": {"viewed page": [104, 0.0], "Buy": [12, 6.0]}}
    # Day 0 has a row of its buyers: none.
    assert table[DAYS[0]] == {"": {"viewed page": [100, 0.0], "Buy": [0, 0.0]}}


def test_breakdown_by_visitors_ranks_buckets_by_the_first_goal(store: SQLStore) -> None:
    table = store.breakdown("browser", ["viewed page", "Buy"], limit=2, order="visitors")
    assert table == {
        "Chrome": {"": {"viewed page": [50, 0.0], "Buy": [5, 1.0]}},
        "Safari": {"": {"viewed page": [40, 0.0], "Buy": [4, 1.0]}},
    }
    # With a test: ranked by impressions of all populations (Firefox: 3 + 8).
    ranked = store.breakdown("browser", ["Buy"], "T", limit=1, order="visitors")
    assert ranked == {"Firefox": {"a": {"": [3, 0.0]}, "b": {"": [8, 0.0]}}}


def test_breakdown_of_one_site(store: SQLStore) -> None:
    assert store.breakdown("day", ["Buy"], site_id=2) == {DAYS[0]: {"": {"Buy": [4, 0.0]}}}


def test_breakdown_of_nothing_counted_is_empty(store: SQLStore) -> None:
    # Site 7, test T and goal Buy are known: none of them in rollup day there.
    assert store.breakdown("day", ["Buy"], site_id=7) == {}
    assert store.breakdown("day", ["Buy"], "T", site_id=7) == {}


def test_repeated_goals_are_asked_once(store: SQLStore) -> None:
    assert store.breakdown("day", ["Buy", "Buy"], limit=1) == {DAYS[-1]: {"": {"Buy": [24, 12.0]}}}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"rollup_key": ""}, "rollup_key must be a non-empty str", id="rollup-empty"),
        pytest.param({"rollup_key": 3}, "rollup_key must be a non-empty str", id="rollup-int"),
        pytest.param({"goals": "Buy"}, "goals must be a non-empty list", id="goals-str"),
        pytest.param({"goals": []}, "goals must be a non-empty list", id="goals-empty"),
        pytest.param({"goals": None}, "goals must be a non-empty list", id="goals-none"),
        pytest.param(
            {"goals": ["g"] * (MAX_BREAKDOWN_GOALS + 1)}, "at most 50 goals", id="many-goals"
        ),
        pytest.param({"goals": ["Buy", 3]}, "goal names must be str", id="goal-int"),
        pytest.param({"test_name": ""}, "test_name must be a non-empty str", id="test-empty"),
        pytest.param({"test_name": ["T"]}, "test_name must be a non-empty str", id="test-list"),
        pytest.param({"site_id": "1"}, "site_id must be an int", id="site-str"),
        pytest.param({"limit": 0}, "limit must be an int from 1 to 400", id="limit-0"),
        pytest.param({"limit": 401}, "limit must be an int from 1 to 400", id="limit-big"),
        pytest.param({"limit": True}, "limit must be an int", id="limit-bool"),
        pytest.param({"limit": 2.0}, "limit must be an int", id="limit-float"),
        pytest.param({"order": "random"}, "order must be one of bucket, visitors", id="order"),
    ],
)
def test_bad_breakdown_arguments(store: SQLStore, kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"rollup_key": "day", "goals": ["Buy"], **kwargs}
    with pytest.raises(QueryError, match=message):
        store.breakdown(**arguments)  # type: ignore[arg-type]
