"""The store's page tables and reads: pages(), entry_pages(), page_totals()
and the cap's stored paths, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from manhattan.backend.aggregate import Aggregator
from manhattan.backend.model import ALL_SITES, Batch, CounterKey, PageKey, QueryError
from manhattan.backend.pages import KEEP_DAYS, OTHER, PageCounter
from manhattan.backend.persistence import SQLStore
from manhattan.backend.persistence.pagereads import MAX_PAGES_LIMIT
from manhattan.backend.rollups import build_rollups

DAYS = ["2026-11-28", "2026-11-29", "2026-11-30"]


def pages() -> dict[PageKey, list[int]]:
    """Site 1: "/" viewed 10+d times by 5 visitors on day d, "/b" 3 times by
    3, "/a" 3 times by 2 (a tie with "/b" on views); all sites the same
    plus site 2's "/x" (once a day)."""
    rows: dict[PageKey, list[int]] = {}
    for site in (1, ALL_SITES):
        for d, day in enumerate(DAYS):
            rows[PageKey("day", day, site, "/")] = [10 + d, 5, 4]
            rows[PageKey("day", day, site, "/b")] = [3, 3, 0]
            rows[PageKey("day", day, site, "/a")] = [3, 2, 1]
        rows[PageKey("all", "0", site, "/")] = [33, 12, 12]
        rows[PageKey("all", "0", site, "/b")] = [9, 6, 0]
        rows[PageKey("all", "0", site, "/a")] = [9, 4, 3]
    for day in DAYS:
        rows[PageKey("day", day, 2, "/x")] = [1, 1, 1]
        rows[PageKey("day", day, ALL_SITES, "/x")] = [1, 1, 1]
    rows[PageKey("all", "0", 2, "/x")] = [3, 1, 3]
    rows[PageKey("all", "0", ALL_SITES, "/x")] = [3, 1, 3]
    return rows


def counts() -> dict[CounterKey, list[float]]:
    """What the server counts beside: every site's page viewers."""
    return {
        CounterKey("all", "0", site, "viewed page", "", ""): [1, 0.0, 0.0]
        for site in (1, 2, ALL_SITES)
    }


@pytest.fixture(
    params=[pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'm.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(url: str) -> Iterator[SQLStore]:
    with SQLStore(url) as store:
        store.commit(Batch(counts=counts(), pages=pages()))
        yield store


def test_pages_most_viewed_first_ties_by_path(store: SQLStore) -> None:
    assert store.pages(1) == [("/", 33, 12), ("/a", 9, 4), ("/b", 9, 6)]
    assert store.pages() == [("/", 33, 12), ("/a", 9, 4), ("/b", 9, 6), ("/x", 3, 1)]
    assert store.pages(2, "day", DAYS[0]) == [("/x", 1, 1)]
    assert store.pages(limit=1) == [("/", 33, 12)]


def test_commits_add_up(store: SQLStore) -> None:
    store.commit(Batch(pages={PageKey("all", "0", 1, "/a"): [1, 1, 1]}))
    assert store.pages(1, limit=2) == [("/", 33, 12), ("/a", 10, 5)]


def test_entry_pages_most_first_without_zeros(store: SQLStore) -> None:
    assert store.entry_pages(1) == [("/", 12), ("/a", 3)]
    assert store.entry_pages(None, "day", DAYS[2], limit=2) == [("/", 4), ("/a", 1)]


def test_page_totals_per_bucket_oldest_first(store: SQLStore) -> None:
    # Site 1 on day d: 10+d + 3 + 3; all sites one more (site 2's "/x").
    assert store.page_totals(1) == [(day, 16 + d) for d, day in enumerate(DAYS)]
    assert store.page_totals() == [(day, 17 + d) for d, day in enumerate(DAYS)]
    assert store.page_totals(2, "all") == [("0", 3)]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda s: s.pages(rollup_key="week"),
            "pages are kept for the rollups 'all', 'day' only, not 'week'",
            id="rollup",
        ),
        pytest.param(
            lambda s: s.page_totals(rollup_key="browser"),
            "not 'browser'",
            id="totals-rollup",
        ),
        pytest.param(
            lambda s: s.entry_pages(None, "day", "2026-11-31"),
            "rollup 'day' has no bucket '2026-11-31'.*did you mean",
            id="bucket",
        ),
        pytest.param(lambda s: s.pages(9), r"no site 9 \(known sites: 1, 2\)", id="site"),
        pytest.param(lambda s: s.page_totals(9), "no site 9", id="totals-site"),
        pytest.param(lambda s: s.pages(limit=0), "limit must be an int from 1", id="limit-0"),
        pytest.param(
            lambda s: s.pages(limit=MAX_PAGES_LIMIT + 1), "limit must be an int", id="limit-big"
        ),
        pytest.param(lambda s: s.pages(limit=True), "limit must be an int", id="limit-bool"),
        pytest.param(lambda s: s.pages(rollup_key=""), "rollup_key must be", id="rollup-empty"),
        pytest.param(lambda s: s.pages("1"), "site_id must be an int", id="site-text"),
    ],
)
def test_unknown_names_and_bad_arguments_are_query_errors(
    store: SQLStore, call: object, message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        call(store)  # type: ignore[operator]


def test_a_known_site_without_pages_answers_empty(store: SQLStore) -> None:
    store.commit(Batch(counts={CounterKey("all", "0", 3, "Buy", "", ""): [1, 0.0, 0.0]}))
    assert store.pages(3) == []
    assert store.page_totals(3, "day") == []


def test_a_store_without_pages_answers_empty() -> None:
    with SQLStore("sqlite://") as store:
        store.commit(Batch(counts=counts()))
        assert store.pages(rollup_key="anything") == []
        assert store.entry_pages(9) == []
        assert store.page_totals() == []


def test_the_caps_paths_are_kept_once_and_read_by_day(url: str) -> None:
    days = [f"2026-12-0{d}" for d in range(1, KEEP_DAYS + 2)]
    admitted = {(site, day, path) for site in (1, 2) for day in days for path in ("/", "/a")}
    with SQLStore(url) as store:
        assert store.load_page_paths(None) == []
        store.commit(Batch(page_paths=admitted))
        store.commit(Batch(page_paths={(1, days[0], "/")}))  # again: kept once
        newest = store.load_page_paths(None)
        assert sorted(newest) == sorted(r for r in admitted if r[1] in days[1:])
        assert sorted(store.load_page_paths([days[0]])) == sorted(
            r for r in admitted if r[1] == days[0]
        )
        assert store.load_page_paths([]) == []


def test_a_counting_restart_keeps_the_cap(url: str) -> None:
    """Two processes one after the other: the second knows the first's paths."""
    rollups = build_rollups(["all", "day"])
    at = 1_764_547_200.0  # 2025-12-01 00:00 UTC
    views = [
        ["1", "page", f"{at + i:.4f}", "v", "1", "ip", "GET", f"/p{i}", "Firefox", ""]
        for i in range(4)
    ]
    pixel = ["1", "pixel", f"{at:.4f}", "v", "1"]
    with SQLStore(url) as store:
        for part in ([views[0], pixel, views[1]], [views[2], views[3]]):
            aggregator = Aggregator(
                rollups,
                loader=store.load_visitors,
                pages=PageCounter(rollups, max_paths=2, loader=store.load_page_paths),
            )
            aggregator.refresh_pages()
            aggregator.add_all(part)
            store.commit(aggregator.drain())
        assert store.pages(1) == [(OTHER, 2, 1), ("/p0", 1, 1), ("/p1", 1, 1)]
