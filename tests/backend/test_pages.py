"""The page dimension on hand-checked streams: paths, views, visitors,
entry pages and the cap of paths per site per day.

Every expected figure below follows from the rules in the docstring of
:mod:`manhattan.backend.pages`, worked out by hand.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from manhattan.backend.aggregate import Aggregator
from manhattan.backend.model import ALL_SITES, PageKey
from manhattan.backend.pages import (
    DEFAULT_MAX_PATHS,
    KEEP_DAYS,
    MAX_PATH_CHARS,
    MAX_VISITOR_PATHS,
    OTHER,
    VISIT_GAP,
    PageCounter,
    PathCap,
    default_page_rollups,
    normalize_path,
    utc_day,
)
from manhattan.backend.rollups import build_rollups, is_crawler
from manhattan.backend.state import MULTIPLE_SITES, VisitorState

DAY1 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
DAY2 = DAY1 + 86_400  # 2023-11-15
ROLLUPS = build_rollups(["all", "day", "browser"])


def page(
    vid: str, url: str = "/", at: float = DAY1, site: str = "1", ua: str = "Firefox"
) -> list[str]:
    return ["1", "page", f"{at:0.4f}", vid, site, "1.2.3.4", "GET", url, ua, ""]


def pixel(vid: str, at: float = DAY1, site: str = "1") -> list[str]:
    return ["1", "pixel", f"{at:0.4f}", vid, site]


def count(
    records: Iterable[list[str]], counter: PageCounter | None = None
) -> dict[PageKey, list[int]]:
    """The page rows of ``records``, counted by an aggregator with ``counter``."""
    pages = counter if counter is not None else PageCounter(ROLLUPS)
    aggregator = Aggregator(ROLLUPS, is_crawler=is_crawler, pages=pages)
    aggregator.add_all(records)
    return aggregator.drain().pages


def row(
    rows: dict[PageKey, list[int]],
    path: str,
    site: int = ALL_SITES,
    rollup: str = "all",
    bucket: str = "0",
) -> list[int]:
    return rows.get(PageKey(rollup, bucket, site, path), [0, 0, 0])


# Paths


LONG = "/" + "a" * (MAX_PATH_CHARS + 10)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        pytest.param("http://example.com/a/b", "/a/b", id="scheme-and-host-dropped"),
        pytest.param("https://example.com:8443", "/", id="host-only-is-root"),
        pytest.param("//cdn.example.com/x", "/x", id="scheme-relative"),
        pytest.param("//cdn.example.com", "/", id="scheme-relative-host-only"),
        pytest.param("/a/b?utm_source=x&id=3", "/a/b", id="query-dropped"),
        pytest.param("/a#section", "/a", id="fragment-dropped"),
        pytest.param("/a/", "/a", id="trailing-slash"),
        pytest.param("/a//", "/a", id="trailing-slashes"),
        pytest.param("/", "/", id="root-stays"),
        pytest.param("", "/", id="empty-is-root"),
        pytest.param("about", "/about", id="relative-gets-a-slash"),
        pytest.param("/About", "/About", id="case-kept"),
        pytest.param("/%7euser/%61", "/~user/a", id="unreserved-escapes-decoded"),
        pytest.param("/a%2fb%3F", "/a%2Fb%3F", id="other-escapes-upper-case"),
        pytest.param("/a b", "/a%20b", id="space-escaped"),
        pytest.param("/café", "/caf%C3%A9", id="non-ascii-as-utf8"),
        pytest.param("/a\x00b", "/a%00b", id="control-escaped"),
        pytest.param("/100%", "/100%25", id="lone-percent"),
        pytest.param("/100%z1", "/100%25z1", id="percent-without-hex"),
        pytest.param("/x\udcff", "/x%ED%B3%BF", id="lone-surrogate"),
        pytest.param("/a:b/path/x://y", "/a:b/path/x://y", id="scheme-like-later"),
        pytest.param(LONG, LONG[:MAX_PATH_CHARS], id="cut"),
    ],
)
def test_paths_are_normalised(url: str, path: str) -> None:
    assert normalize_path(url) == path


@pytest.mark.parametrize(
    ("url", "path"),
    [
        pytest.param("/p?id=3&utm_source=x", "/p?id=3", id="kept-parameter"),
        pytest.param("/p?page=2&id=3", "/p?id=3&page=2", id="sorted"),
        pytest.param("/p?%69d=%33", "/p?id=3", id="escaped-name"),
        pytest.param("/p?id", "/p?id", id="without-value"),
        pytest.param("/p?other=1", "/p", id="none-kept"),
        pytest.param("/p/?id=a b", "/p?id=a%20b", id="value-normalised"),
    ],
)
def test_a_keep_list_keeps_those_query_parameters(url: str, path: str) -> None:
    assert normalize_path(url, frozenset({"id", "page"})) == path


def test_a_cut_never_splits_an_escape() -> None:
    # The escape of "é" would straddle the cut: it is left out whole.
    url = "/" + "a" * (MAX_PATH_CHARS - 2) + "é"
    path = normalize_path(url)
    assert path == "/" + "a" * (MAX_PATH_CHARS - 2)
    assert len(normalize_path("/" + "é" * MAX_PATH_CHARS)) <= MAX_PATH_CHARS


def test_the_cap_day_without_a_day_rollup_is_the_utc_date() -> None:
    assert utc_day(DAY1) == "2023-11-14"
    assert utc_day(1e20) == "0000-00-00"


# The cap


def test_the_cap_admits_so_many_paths_per_site_and_day() -> None:
    cap = PathCap(2)
    assert [cap.admit(1, "d1", path) for path in ("/a", "/b", "/c", "/a")] == [
        "/a",
        "/b",
        OTHER,
        "/a",
    ]
    # Another site, another day: a cap of their own.
    assert cap.admit(2, "d1", "/c") == "/c"
    assert cap.admit(1, "d2", "/c") == "/c"
    assert cap.drain() == {(1, "d1", "/a"), (1, "d1", "/b"), (2, "d1", "/c"), (1, "d2", "/c")}
    assert cap.drain() == set()


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "3"])
def test_the_cap_must_be_a_whole_number(bad: object) -> None:
    with pytest.raises(ValueError, match="max_paths must be a whole number"):
        PathCap(bad)  # type: ignore[arg-type]


class Ledger:
    """The stored (site, day, path) rows of the cap, as a store keeps them."""

    def __init__(self, rows: Iterable[tuple[int, str, str]] = ()) -> None:
        self.rows = set(rows)
        self.asked: list[Sequence[str] | None] = []

    def __call__(self, days: Sequence[str] | None) -> list[tuple[int, str, str]]:
        self.asked.append(days)
        if days is None:
            newest = sorted({day for _, day, _ in self.rows})[-KEEP_DAYS:]
            return sorted(r for r in self.rows if r[1] in newest)
        return sorted(r for r in self.rows if r[1] in days)


def test_a_restart_knows_the_paths_stored_for_its_days() -> None:
    ledger = Ledger({(1, "d5", "/a"), (1, "d5", "/b")})
    cap = PathCap(3, ledger)
    cap.refresh()
    # "/a" is stored: itself; one new path fills the cap of 3.
    assert [cap.admit(1, "d5", p) for p in ("/a", "/c", "/d")] == ["/a", "/c", OTHER]
    assert ledger.asked == [None]


def test_other_workers_paths_are_learnt_after_each_commit() -> None:
    ledger = Ledger()
    cap = PathCap(2, ledger)
    cap.refresh()
    assert cap.admit(1, "d1", "/mine") == "/mine"
    ledger.rows |= cap.drain() | {(1, "d1", "/theirs"), (1, "d1", "/more")}
    cap.refresh()  # the store holds 3 now, more than the cap: nothing new goes in
    assert ledger.asked == [None, ["d1"]]
    assert [cap.admit(1, "d1", p) for p in ("/theirs", "/more", "/new")] == [
        "/theirs",
        "/more",
        OTHER,
    ]


def test_days_beyond_those_kept_in_memory_admit_no_path() -> None:
    cap = PathCap(5)
    days = [f"d{i}" for i in range(KEEP_DAYS + 1)]
    for day in days:
        cap.admit(1, day, "/a")
    cap.refresh()  # no loader: only drops the oldest day
    assert sorted({day for _, day in cap.known}) == days[1:]
    assert cap.admit(1, days[0], "/a") == OTHER  # came too late
    assert cap.admit(1, days[-1], "/b") == "/b"


def test_a_store_with_more_days_than_read_closes_the_older_ones() -> None:
    days = [f"d{i}" for i in range(KEEP_DAYS + 2)]
    cap = PathCap(5, Ledger((1, day, "/a") for day in days))
    cap.refresh()
    oldest_read = days[-KEEP_DAYS]
    assert cap.open_from == oldest_read
    assert cap.admit(1, days[0], "/new") == OTHER
    assert cap.admit(1, oldest_read, "/new") == "/new"


# Counting


def test_views_visitors_and_entries_per_path_and_bucket() -> None:
    rows = count(
        [
            page("a", "/", DAY1),
            pixel("a", DAY1),
            page("a", "/about", DAY1 + 10),
            page("a", "/about/", DAY1 + 20),  # the same page: a view, not a visitor
            page("b", "/about", DAY1 + 30),
            pixel("b", DAY1 + 30),
            # a's next visit (after 30 minutes without a page), the next day
            page("a", "/about", DAY2),
        ]
    )
    # a: "/" entry; "/about" x3 (2 on day 1, 1 on day 2, an entry); b: "/about" entry.
    assert row(rows, "/about") == [4, 2, 2]
    assert row(rows, "/") == [1, 1, 1]
    assert row(rows, "/about", 1) == [4, 2, 2]
    assert row(rows, "/about", rollup="day", bucket="2023-11-14") == [3, 2, 1]
    assert row(rows, "/about", rollup="day", bucket="2023-11-15") == [1, 1, 1]
    assert {key.rollup for key in rows} == {"all", "day"}


def test_a_visit_ends_after_the_gap_without_a_page() -> None:
    gap = VISIT_GAP
    rows = count(
        [
            page("a", "/1", DAY1),
            pixel("a", DAY1),
            page("a", "/2", DAY1 + gap),  # exactly the gap: the same visit
            page("a", "/3", DAY1 + 2 * gap + 1),  # beyond: a new visit
            page("a", "/4", DAY1 + gap),  # late (out of order): not an entry
        ]
    )
    assert [row(rows, f"/{i}")[2] for i in range(1, 5)] == [1, 0, 1, 0]


def test_bots_and_crawlers_view_no_pages() -> None:
    rows = count(
        [
            page("no-pixel", "/secret"),
            page("bot", "/secret", ua="Googlebot/2.1 (+http://www.google.com/bot.html)"),
            pixel("bot"),
            page("held", "/later"),  # held until the pixel, then counted
            pixel("held"),
        ]
    )
    assert row(rows, "/secret") == [0, 0, 0]
    assert row(rows, "/later") == [1, 1, 1]


def test_two_sites_count_apart_and_together() -> None:
    rows = count(
        [
            page("a", "/x", DAY1, site="1"),
            pixel("a", DAY1, site="1"),
            page("a", "/x", DAY1 + 1, site="2"),
            page("a", "/x", DAY1 + 2, site="1"),
            page("a", "/x", DAY1 + 3, site="2"),
            page("b", "/x", DAY1, site="2"),
            pixel("b", DAY1, site="2"),
        ]
    )
    # a is one visitor (one visit, entering on site 1) on each site and on all.
    assert row(rows, "/x", 1) == [2, 1, 1]
    assert row(rows, "/x", 2) == [3, 2, 1]
    assert row(rows, "/x") == [5, 2, 2]


def test_the_cap_counts_the_rest_as_other_per_site() -> None:
    records = [page("a", "/", DAY1), pixel("a", DAY1)]
    records += [page("a", f"/random/{i}", DAY1 + i) for i in range(1, 6)]
    records += [page("b", "/", DAY1, site="2"), pixel("b", DAY1, site="2")]
    counter = PageCounter(ROLLUPS, max_paths=3)
    rows = count(records, counter)
    # Site 1 keeps "/", /random/1 and /random/2; the 3 others are (other).
    assert row(rows, OTHER, 1) == [3, 1, 0]
    assert row(rows, "/random/2", 1) == [1, 1, 0]
    assert row(rows, "/random/3", 1) == [0, 0, 0]
    assert row(rows, "/", 2) == [1, 1, 1]
    assert row(rows, "/") == [2, 2, 2]


def test_the_cap_day_is_the_utc_date_without_a_day_rollup() -> None:
    rollups = build_rollups(["all", "week"])
    counter = PageCounter(rollups, ("all",), max_paths=1)
    aggregator = Aggregator(rollups, pages=counter)
    aggregator.add_all([page("a", "/1"), pixel("a"), page("a", "/2"), page("a", "/3", DAY2)])
    rows, admitted = counter.drain()
    assert admitted == {(1, "2023-11-14", "/1"), (1, "2023-11-15", "/3")}
    assert row(rows, OTHER) == [1, 1, 0]


def test_a_visitor_remembers_so_many_paths() -> None:
    records = [page("a", "/0"), pixel("a")]
    records += [page("a", f"/{i}", DAY1 + i) for i in range(1, MAX_VISITOR_PATHS + 1)]
    records.append(page("a", "/0", DAY1 + 500))  # forgotten: a visitor again
    records.append(page("a", f"/{MAX_VISITOR_PATHS}", DAY1 + 501))  # remembered
    rows = count(records)
    assert row(rows, "/0") == [2, 2, 1]
    assert row(rows, f"/{MAX_VISITOR_PATHS}") == [2, 1, 0]


def test_page_marks_are_stored_with_the_visitor() -> None:
    counter = PageCounter(ROLLUPS)
    aggregator = Aggregator(ROLLUPS, pages=counter)
    aggregator.add_all([page("a", "/x", site="1"), pixel("a"), page("a", "/y", DAY1 + 1, "2")])
    stored = aggregator.drain().visitors["a"]
    state = VisitorState.from_json(stored)
    assert state.pages is not None
    assert state.pages.site == MULTIPLE_SITES
    assert state.pages.last == DAY1 + 1
    assert set(state.pages.marks) == {"/x", "1 /x", "/y", "2 /y"}
    assert VisitorState.from_json(state.to_json()).to_json() == state.to_json()
    # A later process, reading the stored state: /x is known, no new visitor.
    later = Aggregator(ROLLUPS, loader=lambda ids: {"a": stored}, pages=PageCounter(ROLLUPS))
    later.add(page("a", "/x", DAY1 + 2, "1"))
    assert later.drain().pages[PageKey("all", "0", 1, "/x")] == [1, 0, 0]


def test_an_old_state_without_pages_loads() -> None:
    assert VisitorState.from_json('{"s":1}').pages is None


def test_marks_of_other_page_rollups_count_afresh() -> None:
    state = VisitorState()
    counter = PageCounter(ROLLUPS)
    counter.view(state, "/x", DAY1, 1, ("2023-11-14",))
    assert state.pages is not None
    state.pages.marks["/x"] = ("0",)  # as stored under a single page rollup
    counter.view(state, "/x", DAY1 + 1, 1, ("2023-11-14",))
    rows, _ = counter.drain()
    assert row(rows, "/x") == [2, 2, 1]


def test_without_a_page_counter_nothing_is_counted_or_refreshed() -> None:
    aggregator = Aggregator(ROLLUPS)
    aggregator.refresh_pages()
    aggregator.add_all([page("a"), pixel("a")])
    assert aggregator.drain().pages == {}


def test_refresh_pages_reads_the_store() -> None:
    ledger = Ledger()
    aggregator = Aggregator(ROLLUPS, pages=PageCounter(ROLLUPS, loader=ledger))
    aggregator.refresh_pages()
    assert ledger.asked == [None]


@pytest.mark.parametrize(
    ("page_rollups", "message"),
    [
        pytest.param((), "at least one page rollup", id="none"),
        pytest.param(("all", "all"), "must be unique", id="twice"),
        pytest.param(("browser",), "'browser' is a rollup per visitor", id="per-visitor"),
        pytest.param(("week",), "'week' is not a configured rollup", id="unknown"),
    ],
)
def test_page_rollups_are_all_and_time_rollups(
    page_rollups: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PageCounter(ROLLUPS, page_rollups)


def test_default_page_rollups_are_those_configured() -> None:
    assert default_page_rollups(ROLLUPS) == ("all", "day")
    assert default_page_rollups(build_rollups(["all", "week"])) == ("all",)
    assert PageCounter(ROLLUPS).cap.max_paths == DEFAULT_MAX_PATHS


def test_paths_are_cached_per_url() -> None:
    counter = PageCounter(ROLLUPS)
    assert counter.path("/a/") == counter.path("/a/") == "/a"
    assert list(counter._paths) == ["/a/"]


def test_stored_marks_keep_their_order_and_share_their_buckets() -> None:
    state = VisitorState()
    counter = PageCounter(ROLLUPS)
    for at, path in ((DAY1, "/a"), (DAY1 + 1, "/b"), (DAY2, "/c"), (DAY2 + 1, "/a")):
        counter.view(state, path, at, 1, (utc_day(at),))
    loaded = VisitorState.from_json(state.to_json()).pages
    assert loaded is not None
    assert state.pages is not None
    assert list(loaded.marks.items()) == list(state.pages.marks.items())
    assert list(loaded.marks) == ["/b", "/c", "/a"]  # the one counted longest ago first
    assert loaded.marks["/c"] is loaded.marks["/a"]
