"""Every table of every page as a CSV download: the page's numbers, exact;
text no spreadsheet runs; a file name; clear errors for bad requests. And
the goals page's breakdown by any rollup the server counts."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from webtest import TestApp

from manhattan.backend.model import ALL_SITES, Batch, CounterKey, TestInfo
from manhattan.backend.persistence import SQLStore
from manhattan.dashboard import make_app, views
from manhattan.records.vocabulary import VIEWED_PAGE
from manhattan.server.service import QueryService
from tests.dashboard.conftest import (
    BUTTON,
    CHECKOUT,
    CUSTOM_ROLLUP,
    EVIL_CAMPAIGN,
    EVIL_GOAL,
    Backend,
)


@pytest.fixture
def app(backend: Backend) -> Iterator[TestApp]:
    with make_app(backend.address, wait=5000) as dashboard:
        yield TestApp(dashboard)


def download(app: TestApp, path: str, params: dict[str, str]) -> list[list[str]]:
    """The rows of a CSV download, checked to be one."""
    response = app.get(path, params)
    assert response.content_type == "text/csv"
    assert response.charset == "utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="manhattan-')
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    return list(csv.reader(io.StringIO(response.text)))


def html_values(page: Any, table: str) -> list[list[str]]:
    """The ``data-value`` cells of a generic table of a page."""
    return [
        [cell["data-value"] for cell in row.select("td")]
        for row in page.html.select(f'section[data-table="{table}"] tbody tr')
    ]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        pytest.param("/overview", {}, id="overview"),
        pytest.param("/overview", {"site": "1"}, id="overview-site"),
        pytest.param("/funnels", {}, id="funnels"),
        pytest.param(
            "/funnels", {"name": CHECKOUT, "test": BUTTON, "site": "2"}, id="funnel-test"
        ),
    ],
)
def test_every_link_downloads_the_tables_values(
    app: TestApp, path: str, params: dict[str, str]
) -> None:
    page = app.get(path, params)
    links = page.html.select("a.csv")
    assert links
    for link in links:
        href = urlsplit(link["href"])
        assert href.path == f"{path}.csv"
        query = dict(parse_qsl(href.query))
        # The page's parameters, and those it chose (the first funnel).
        assert params.items() <= query.items()
        assert query["table"] == link["data-csv"]
        table = download(app, href.path, query)
        headings = [th.text for th in page.html.select(f'[data-table="{query["table"]}"] th')]
        assert table[0] == headings or (len(table) == 1 and not headings)
        # Text cells as the page holds them, but formula-safe; numbers exact.
        expected = [
            [("'" + v) if v[:1] in ("=", "+", "-", "@") and not _number(v) else v for v in row]
            for row in html_values(page, query["table"])
        ]
        assert table[1:] == expected


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_overview_csv_names_its_file_and_guards_formulas(app: TestApp) -> None:
    response = app.get("/overview.csv", {"table": "utm_campaign", "site": "1"})
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="manhattan-overview-utm_campaign-site-1.csv"'
    )
    rows = list(csv.reader(io.StringIO(response.text)))
    assert ["'" + EVIL_CAMPAIGN] in [row[:1] for row in rows]
    assert response.headers["Cache-Control"] == "no-store"


def test_tests_page_tables_as_csv(app: TestApp, backend: Backend) -> None:
    tests = download(app, "/tests.csv", {"table": "tests"})
    assert tests[0][:4] == ["Test", "Started (seconds since 1970, UTC)", "Populations", "Visitors"]
    by_name = {row[0]: row for row in tests[1:]}
    assert len(by_name) == len(backend.client.tests())
    for test in backend.client.tests():
        row = by_name[test["name"]]
        assert float(row[1]) == test["first"]
        assert row[2] == ", ".join(test["populations"])
    visitors = sum(backend.client.analyze(BUTTON)["visitors"].values())
    assert by_name[BUTTON][3] == str(visitors)
    not_counted = download(app, "/tests.csv", {"table": "not_counted"})
    assert not_counted[0] == ["Reason", "Events", "Meaning"]
    filtered = {reason: n for reason, n in backend.client.filtered().items() if n}
    assert {row[0]: int(row[1]) for row in not_counted[1:]} == filtered
    page = app.get("/")
    # The "Not counted" table is shown (and its link) when something was not.
    assert [a["href"] for a in page.html.select("a.csv")] == ["/tests.csv?table=tests"] + (
        ["/tests.csv?table=not_counted"] if filtered else []
    )


def test_test_page_analysis_as_csv_is_unrounded(app: TestApp, backend: Backend) -> None:
    rows = download(app, "/test.csv", {"name": BUTTON, "table": "analysis"})
    analysis = backend.client.analyze(BUTTON)
    header, body = rows[0], rows[1:]
    assert len(body) == len(analysis["goals"]) * len(analysis["populations"])
    for row in body:
        entry = analysis["goals"][row[0]]["populations"][row[1]]
        cells = dict(zip(header, row, strict=True))
        assert int(cells["Visitors"]) == entry["visitors"]
        assert float(cells["Rate"]) == entry["rate"]
        assert float(cells["95% interval low"]) == entry["rate_interval"][0]
        chance = entry.get("chance_to_beat_control")
        assert cells["Chance to beat control"] == ("" if chance is None else repr(chance))
    response = app.get("/test.csv", {"name": BUTTON, "table": "analysis", "site": "2"})
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="manhattan-test-Button-color-analysis-site-2.csv"'
    )


def test_goals_csv_holds_visitors_and_values(app: TestApp, backend: Backend) -> None:
    rows = download(app, "/goals.csv", {"rollup": "day", "table": "goals"})
    header = rows[0]
    assert header[0] == "Day"
    assert f"{EVIL_GOAL}: visitors" in header
    assert "Purchased: value" in header
    table = backend.client.breakdown("day", [VIEWED_PAGE], None, None, limit=31)
    column = header.index(f"{VIEWED_PAGE}: visitors")
    counted = {row[0]: int(row[column]) for row in rows[1:]}
    assert counted == {day: int(cells[""][VIEWED_PAGE][0]) for day, cells in table.items()}


@pytest.mark.parametrize(
    "rollup", [pytest.param(CUSTOM_ROLLUP, id="custom"), pytest.param("hour", id="hour")]
)
def test_goals_page_breaks_down_by_any_rollup_the_server_counts(
    app: TestApp, backend: Backend, rollup: str
) -> None:
    page = app.get("/goals", {"rollup": rollup})
    offered = [a.text for a in page.html.select("nav.rollups a")]
    assert offered == views.offered_rollups(backend.client.rollups())
    assert CUSTOM_ROLLUP in offered
    order, limit, heading = views.rollup_layout(rollup)
    table = backend.client.breakdown(rollup, [VIEWED_PAGE], None, None, limit=limit, order=order)
    buckets = [row["data-bucket"] for row in page.html.select("table.goals tbody tr")]
    assert sorted(buckets) == sorted(table)
    assert page.html.select_one("table.goals thead th").text == heading
    # Hours are a time: charted, newest first; the custom rollup is not.
    assert (page.html.select_one("svg.chart") is not None) == (rollup == "hour")
    if rollup == "hour":
        assert buckets == sorted(table, reverse=True)


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        pytest.param(
            "/overview.csv", {}, 400, "query parameter &#39;table&#39; is missing", id="no-table"
        ),
        pytest.param(
            "/overview.csv?table=pages&table=daily",
            None,
            400,
            "&#39;table&#39; is given more than once",
            id="two-tables",
        ),
        pytest.param(
            "/overview.csv",
            {"table": "nope"},
            404,
            "no table named &#39;nope&#39; on this page (its tables: daily, pages, entry_pages",
            id="unknown-table",
        ),
        pytest.param(
            "/overview.csv",
            {"table": "pages", "color": "red"},
            400,
            "unknown query parameter &#39;color&#39; (this page takes: site, by)",
            id="unknown-parameter",
        ),
        pytest.param(
            "/overview",
            {"table": "pages"},
            400,
            "unknown query parameter &#39;table&#39;",
            id="table-on-the-page",
        ),
        pytest.param(
            "/overview.csv", {"table": "pages", "site": "x"}, 400, "site must be", id="bad-site"
        ),
        pytest.param(
            "/test.csv",
            {"name": "Free shipping", "table": "nope"},
            404,
            "no table named &#39;nope&#39; on this page (its tables: analysis)",
            id="test-unknown-table",
        ),
        pytest.param(
            "/goals.csv",
            {"rollup": "dya", "table": "goals"},
            404,
            "no rollup named &#39;dya&#39;",
            id="goals-unknown-rollup",
        ),
        pytest.param("/.csv", {"table": "tests"}, 404, "There is no page at /.csv", id="root"),
        pytest.param(
            "/static/dashboard.css.csv", {}, 404, "There is no page at", id="css-is-not-a-page"
        ),
    ],
)
def test_bad_downloads_are_clear_error_pages(
    app: TestApp, path: str, params: dict[str, str] | None, status: int, message: str
) -> None:
    page = app.get(path, params, status=status)
    assert page.content_type == "text/html"
    assert message in page.text


def test_a_test_without_visitors_has_no_table_to_download(tmp_path: Path) -> None:
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.commit(
            Batch(
                counts={
                    CounterKey("all", "0", ALL_SITES, "", "T", "a"): [5, 0.0, 0.0],
                    CounterKey("all", "0", 1, "", "T", "a"): [5, 0.0, 0.0],
                    CounterKey("all", "0", 2, "Buy", "", ""): [1, 0.0, 0.0],
                },
                tests={"T": TestInfo(1.0, 2.0)},
            )
        )
        with (
            QueryService(store, "tcp://127.0.0.1:0") as service,
            make_app(service.address) as dashboard,
        ):
            app = TestApp(dashboard)
            # The page says why (no visitors at site 2), with no table.
            assert "has no visitors in this slice" in app.get("/test?name=T&site=2").text
            page = app.get("/test.csv?name=T&site=2&table=analysis", status=404)
    assert "no table named &#39;analysis&#39; on this page (its tables: none)" in page.text


def test_head_of_a_download(app: TestApp) -> None:
    response = app.head("/overview.csv", {"table": "pages"})
    assert response.content_type == "text/csv"
    assert response.body == b""
