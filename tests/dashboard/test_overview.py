"""The Overview and Funnels pages over WebTest, against a real query service:
every number is the one the client's queries answer."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from webtest import TestApp

from manhattan.backend.funnels import parse_funnel
from manhattan.backend.live import LiveVisitors
from manhattan.backend.model import ALL_SITES, Batch, CounterKey, TestInfo
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client
from manhattan.dashboard import make_app, overview
from manhattan.records.vocabulary import VIEWED_PAGE
from manhattan.server.service import QueryService, StoreQueries
from tests.dashboard.conftest import BUTTON, CHECKOUT, CUSTOM_ROLLUP, EVIL_TEST, Backend, fill
from tests.dashboard.test_app import FailingStore


@pytest.fixture
def app(backend: Backend) -> Iterator[TestApp]:
    with make_app(backend.address, wait=5000) as dashboard:
        yield TestApp(dashboard)


def rows(page: Any, table: str) -> list[tuple[str, ...]]:
    """The ``data-value`` of each cell of a table, row by row."""
    return [
        tuple(cell["data-value"] for cell in row.select("td"))
        for row in page.html.select(f'section[data-table="{table}"] tbody tr')
    ]


def shown(values: tuple[Any, ...]) -> tuple[str, ...]:
    """Cells as the page's ``data-value`` attributes hold them."""
    return tuple("" if value is None else str(value) for value in values)


def top_buckets(client: Client, rollup: str, site: int | None) -> list[tuple[str, ...]]:
    """A rollup's buckets with most visitors, most first, from the client."""
    table = client.breakdown(rollup, [VIEWED_PAGE], None, site, limit=10, order="visitors")
    found = [(bucket, int(cells[""][VIEWED_PAGE][0])) for bucket, cells in table.items()]
    return [shown(row) for row in sorted(found, key=lambda row: (-row[1], row[0]))]


@pytest.mark.parametrize("site", [pytest.param(None, id="all-sites"), pytest.param(2, id="site")])
def test_overview_shows_what_the_queries_answer(
    app: TestApp, backend: Backend, site: int | None
) -> None:
    client = backend.client
    page = app.get("/overview", {"site": site} if site else {})
    tiles = {tile["data-field"]: tile for tile in page.html.select(".tile")}
    assert int(tiles["visitors"]["data-value"]) == client.count(VIEWED_PAGE, site_id=site)
    # The fixture's server only answers queries: no live visitors to show.
    assert tiles["live"]["data-value"] == ""
    assert "not available" in tiles["live"].text
    assert "--query-only" in tiles["live"].text
    limit = overview.PAGE_ROWS
    assert rows(page, "pages") == [shown(row) for row in client.pages(site, limit=limit)]
    assert rows(page, "pages")  # the fixture's visitors viewed pages
    assert rows(page, "entry_pages") == [
        shown(row) for row in client.entry_pages(site, limit=limit)
    ]
    for rollup in ("referrer", "utm_source", "utm_medium", "utm_campaign", "browser"):
        assert rows(page, rollup) == top_buckets(client, rollup, site), rollup
        assert rows(page, rollup)
    visitors = client.breakdown("day", [VIEWED_PAGE], None, site, limit=30, order="bucket")
    views = dict(client.page_totals(site, "day"))
    newest = date.fromisoformat(max([*visitors, *views]))
    days = [(newest - timedelta(days=back)).isoformat() for back in range(29, -1, -1)]
    expected = [
        shown(
            (
                day,
                int(visitors[day][""][VIEWED_PAGE][0]) if day in visitors else 0,
                views.get(day, 0),
            )
        )
        for day in days
    ]
    assert rows(page, "daily") == expected
    assert int(tiles["page_views"]["data-value"]) == sum(int(row[2]) for row in expected)
    chart = page.html.select_one('figure[data-chart="daily"] svg.chart')
    assert [text.text for text in chart.select("text.legend")] == ["Visitors", "Page views"]
    # One link per table, to its CSV with the page's site.
    links = {link["data-csv"]: link["href"] for link in page.html.select("a.csv")}
    assert set(links) == {section["data-table"] for section in page.html.select("[data-table]")}
    assert links["pages"] == "/overview.csv?table=pages" + (f"&site={site}" if site else "")


def test_overview_is_in_the_nav_and_the_other_pages_stay(app: TestApp) -> None:
    nav = app.get("/overview").html.select("header nav:not(.sites) a")
    assert [link.text for link in nav] == ["Overview", "Tests", "Goals", "Funnels"]
    assert nav[0]["aria-current"] == "page"
    assert app.get("/").html.select_one("h1").text == "Split tests"
    assert app.get("/tests").html.select_one("h1").text == "Split tests"


@contextmanager
def served(store: SQLStore, **queries: Any) -> Iterator[TestApp]:
    """The dashboard of a query service over ``store``."""
    with (
        QueryService(StoreQueries(store, **queries), "tcp://127.0.0.1:0") as service,
        make_app(service.address, wait=5000) as dashboard,
    ):
        yield TestApp(dashboard)


def test_overview_shows_live_visitors_of_a_counting_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    fill(url, people=12, days=1)
    tracker = LiveVisitors(clock=lambda: 1_000_000.0)
    for vid, site in (("a", 1), ("b", 1), ("c", 2)):
        tracker.seen(vid, site, 1_000_000.0 - 60)
    with SQLStore(url) as store, served(store, tracker=tracker) as app:
        live = app.get("/overview").html.select_one('.tile[data-field="live"]')
        site = app.get("/overview?site=1").html.select_one('.tile[data-field="live"]')
    assert (live["data-value"], site["data-value"]) == ("3", "2")
    assert "not available" not in live.text


def test_overview_of_a_store_that_counted_nothing(tmp_path: Path) -> None:
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store, served(store) as app:
        page = app.get("/overview")
    assert page.html.select_one("svg.chart") is None
    for section in page.html.select("section[data-table]"):
        assert section.select("tbody tr") == []
        assert section.select_one("p.empty").text, section["data-table"]
    assert "Nothing counted per day yet." in page.text


def test_overview_says_which_rollups_the_server_does_not_keep(tmp_path: Path) -> None:
    # Counts in the "all" rollup only: no day, referrer, campaign or
    # browser rollup, no page counts.
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.commit(
            Batch(
                counts={
                    CounterKey("all", "0", site, VIEWED_PAGE, "", ""): [3, 0.0, 0.0]
                    for site in (ALL_SITES, 1)
                }
            )
        )
        with served(store) as app:
            page = app.get("/overview")
    assert page.html.select_one('.tile[data-field="visitors"]')["data-value"] == "3"
    for rollup in ("referrer", "utm_campaign", "browser"):
        note = page.html.select_one(f'section[data-table="{rollup}"] p.empty').text
        assert f"no rollup named '{rollup}'" in note
    daily = page.html.select_one('section[data-table="daily"] p.empty').text
    assert "no rollup named 'day'" in daily


def test_an_overview_the_server_fails_is_a_502_page(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    fill(url, people=20, days=1)
    with FailingStore(url) as store, served(store) as app:
        page = app.get("/overview", status=502)
    assert "StoreError: query failed" in page.text


def test_funnel_page_shows_the_steps_and_their_rates(app: TestApp, backend: Backend) -> None:
    page = app.get("/funnels")
    steps = backend.client.funnel(CHECKOUT)
    first = steps[0][1]
    expected = []
    for index, (step, visitors) in enumerate(steps):
        previous = steps[index - 1][1] if index else 0
        expected.append(
            shown((step, visitors, visitors / previous if previous else None, visitors / first))
        )
    assert rows(page, "steps") == expected
    bars = page.html.select("svg.funnel g.step")
    assert [(bar["data-step"], int(bar["data-value"])) for bar in bars] == steps
    assert page.html.select_one('nav.rollups a[aria-current="page"]').text == CHECKOUT
    assert "Steps, in order: viewed page → Added To Cart → Purchased." in page.text


@pytest.mark.parametrize("site", [pytest.param(None, id="all-sites"), pytest.param(1, id="site")])
def test_funnel_page_per_population_of_a_test(
    app: TestApp, backend: Backend, site: int | None
) -> None:
    params = {"name": CHECKOUT, "test": BUTTON} | ({"site": str(site)} if site else {})
    page = app.get("/funnels", params)
    populations = next(t for t in backend.client.tests() if t["name"] == BUTTON)["populations"]
    figures = page.html.select("figure[data-population]")
    assert [figure["data-population"] for figure in figures] == populations
    table = rows(page, "steps")
    for population in populations:
        counts = backend.client.funnel(CHECKOUT, (BUTTON, population), site_id=site)
        assert [(row[1], int(row[2])) for row in table if row[0] == population] == counts
    chosen = page.html.select_one("form.choose option[selected]")
    assert chosen["value"] == BUTTON
    # The site selector keeps the funnel and the test.
    assert any(
        f"test={BUTTON.replace(' ', '+')}" in link["href"]
        for link in page.html.select("nav.sites a")
    )


def test_funnel_of_a_test_with_an_evil_name_is_text(app: TestApp) -> None:
    page = app.get("/funnels", {"test": EVIL_TEST})
    assert "<script>alert(1)" not in page.text
    assert page.html.select_one("form.choose option[selected]").text == EVIL_TEST


@pytest.mark.parametrize(
    ("params", "message"),
    [
        pytest.param(
            {"name": "Chekout"},
            "no funnel named &#39;Chekout&#39; (did you mean &#39;Checkout&#39;?",
            id="funnel",
        ),
        pytest.param(
            {"test": "Buton color"},
            "no test named &#39;Buton color&#39; (did you mean &#39;Button color&#39;?",
            id="test",
        ),
    ],
)
def test_funnel_page_refuses_unknown_names_with_suggestions(
    app: TestApp, params: dict[str, str], message: str
) -> None:
    page = app.get("/funnels", params, status=404)
    assert message in page.text


def test_funnel_page_without_declared_funnels(tmp_path: Path) -> None:
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store, served(store) as app:
        page = app.get("/funnels")
    assert "No funnels are declared" in page.html.select_one("p.empty").text
    assert page.html.select("a.csv") == []


@pytest.mark.parametrize(
    ("counts", "rates"),
    [
        pytest.param([100, 40, 10], [(None, 1.0), (0.4, 0.4), (0.25, 0.1)], id="funnel"),
        pytest.param([0, 0], [(None, None), (None, None)], id="nobody"),
        pytest.param([5, 0, 0], [(None, 1.0), (0.0, 0.0), (None, 0.0)], id="nobody-after"),
        pytest.param([], [], id="no-steps"),
    ],
)
def test_step_rates(counts: list[int], rates: list[tuple[float | None, float | None]]) -> None:
    assert overview.rates(counts) == rates


def test_window_is_the_days_ending_on_the_newest() -> None:
    assert overview.window("2026-03-02", 3) == ["2026-02-28", "2026-03-01", "2026-03-02"]


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        pytest.param(
            "/overview",
            {"rollup": "day"},
            "unknown query parameter &#39;rollup&#39; (this page takes: site, by)",
            id="overview-unknown",
        ),
        pytest.param("/overview", {"site": "1.5"}, "site must be a site id", id="overview-site"),
        pytest.param(
            "/funnels",
            {"step": "1"},
            "unknown query parameter &#39;step&#39; (this page takes: name, test, site)",
            id="funnels-unknown",
        ),
        pytest.param("/funnels", {"name": "x" * 1001}, "longer than 1000", id="funnels-long"),
    ],
)
def test_bad_parameters_are_a_400_page(
    app: TestApp, path: str, params: dict[str, str], message: str
) -> None:
    page = app.get(path, params, status=400)
    assert page.html.select_one("[data-error]")["data-error"] == "Bad request"
    assert message in page.text


def test_overview_offers_more_rollups_and_breaks_down_by_one(
    app: TestApp, backend: Backend
) -> None:
    page = app.get("/overview")
    offered = [a.text for a in page.html.select('nav[aria-label="Breakdown"] a')]
    assert offered == overview.more_rollups(backend.client.rollups())
    assert CUSTOM_ROLLUP in offered
    # Shown already: the daily chart and the sources table.
    assert "day" not in offered
    assert "referrer" not in offered
    assert page.html.select('section[data-table="by"]') == []
    chosen = app.get("/overview", {"by": CUSTOM_ROLLUP, "site": "1"})
    assert rows(chosen, "by") == top_buckets(backend.client, CUSTOM_ROLLUP, 1)
    assert {row[0] for row in rows(chosen, "by")} == {"tagged", "untagged"}
    link = chosen.html.select_one('section[data-table="by"] a.csv')["href"]
    assert link == f"/overview.csv?table=by&site=1&by={CUSTOM_ROLLUP}"
    # The site selector keeps the breakdown.
    assert all(f"by={CUSTOM_ROLLUP}" in a["href"] for a in chosen.html.select("nav.sites a"))


def test_overview_refuses_a_rollup_it_does_not_offer(app: TestApp) -> None:
    # The referrer has its own table: "by" offers only the others.
    page = app.get("/overview", {"by": "referrer"}, status=404)
    assert "no breakdown named &#39;referrer&#39; (this page shows browser_version, " in page.text


@pytest.mark.parametrize("path", ["/overview", "/funnels"])
def test_links_and_forms_follow_script_name(backend: Backend, path: str) -> None:
    with make_app(backend.address, wait=5000) as dashboard:
        app = TestApp(dashboard, extra_environ={"SCRIPT_NAME": "/stats"})
        page = app.get(f"/stats{path}")
        targets = [a["href"] for a in page.html.select("a")]
        targets += [form["action"] for form in page.html.select("form")]
        assert any(".csv?" in target for target in targets)
        assert all(target.startswith("/stats/") for target in targets)
        download = page.html.select_one("a.csv")["href"]
        assert app.get(download).content_type == "text/csv"


def test_funnel_of_a_test_without_populations_says_so(tmp_path: Path) -> None:
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.declare_funnels([parse_funnel("F|a>b")])
        store.commit(
            Batch(
                counts={CounterKey("all", "0", ALL_SITES, "a", "", ""): [1, 0.0, 0.0]},
                tests={"T": TestInfo(1.0, 2.0)},  # listed, nobody in it yet
            )
        )
        with served(store) as app:
            page = app.get("/funnels", {"test": "T"})
    assert page.html.select("figure[data-population]") == []
    note = page.html.select_one('section[data-table="steps"] p.empty').text
    assert note == "The test has no population with visitors yet."
