"""The dashboard app over WebTest, against a real query service."""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from webtest import TestApp

from manhattan.analysis.wording import NO_PLAN, verdict
from manhattan.backend.model import ALL_SITES, Batch, CounterKey, TestInfo
from manhattan.backend.persistence import SQLStore, StoreError
from manhattan.dashboard import make_app, views
from manhattan.server.service import QueryService
from tests.client.test_client import free_address
from tests.dashboard.conftest import (
    BUTTON,
    EVIL_GOAL,
    EVIL_POPULATION,
    EVIL_TEST,
    Backend,
    fill,
)
from tests.test_keys import make_keys


@pytest.fixture
def app(backend: Backend) -> Iterator[TestApp]:
    with make_app(backend.address, wait=5000) as dashboard:
        yield TestApp(dashboard)


def cells(page: Any) -> dict[tuple[str, str, str], str]:
    """``{(goal, population, field): data-value}`` of the test page's table."""
    found = {}
    for row in page.html.select("table.analysis tbody tr"):
        for cell in row.select("[data-field]"):
            found[row["data-goal"], row["data-population"], cell["data-field"]] = cell.get(
                "data-value", cell.get("data-low")
            )
    return found


def test_tests_page_lists_tests_newest_first_with_verdicts(app: TestApp, backend: Backend) -> None:
    page = app.get("/")
    assert page.content_type == "text/html"
    rows = page.html.select("table.tests tbody tr")
    names = [row["data-test"] for row in rows]
    assert names == [test["name"] for test in backend.client.tests()]
    for row in rows:
        analysis = backend.client.analyze(row["data-test"])
        expected = verdict(analysis)
        visitors = int(row.select_one('[data-field="visitors"]')["data-value"])
        assert visitors == sum(analysis["visitors"].values())
        assert row.select_one('[data-field="verdict"]')["data-value"] == expected.status
        headline = row.select_one('[data-field="headline"]').text
        assert headline == ("When it ended: " if expected.ended else "") + expected.headline
        shown = [span.text for span in row.select('[data-field="warning"]')]
        assert shown == list(expected.warnings)
        figures = [span.text for span in row.select('[data-field="figure"]')]
        # The figures of a test without a plan: there is no goal to lead with.
        assert figures == (list(expected.figures) if expected.status == NO_PLAN else [])
    button = rows[names.index(BUTTON)]
    assert button.select_one('[data-field="verdict"]')["data-value"] == NO_PLAN
    assert "gold vs red on Added To Cart" in button.select_one('[data-field="figure"]').text


def test_test_page_shows_the_analysis(app: TestApp, backend: Backend) -> None:
    page = app.get("/test", {"name": BUTTON})
    analysis = backend.client.analyze(BUTTON)
    shown = cells(page)
    for goal, result in analysis["goals"].items():
        for population, entry in result["populations"].items():
            assert int(shown[goal, population, "visitors"]) == entry["visitors"]
            assert int(shown[goal, population, "conversions"]) == entry["conversions"]
            assert float(shown[goal, population, "rate"]) == entry["rate"]
            if "p_value_holm" in entry:
                assert float(shown[goal, population, "p_value_holm"]) == entry["p_value_holm"]
    # Purchased has values: per visitor, shown where the analysis has them.
    gold = analysis["goals"]["Purchased"]["populations"]["gold"]["value"]["per_visitor"]
    assert float(shown["Purchased", "gold", "per_visitor"]) == gold
    # An interval bar per cell, a daily chart per goal with a line per population.
    bars = page.html.select('td[data-field="rate_interval"]')
    assert len(bars) == len(analysis["goals"]) * len(analysis["populations"])
    assert all(bar.select_one("svg.interval rect.range") for bar in bars)
    charts = page.html.select("figure[data-chart]")
    assert {chart["data-chart"] for chart in charts} == set(analysis["goals"])
    assert len(charts[0].select("polyline")) == 4


def test_goals_page_by_day_matches_counts(app: TestApp, backend: Backend) -> None:
    page = app.get("/goals")
    rows = page.html.select("table.goals tbody tr")
    days = [row["data-bucket"] for row in rows]
    assert days == sorted(days, reverse=True)
    assert len(days) == 6
    for row in rows:
        for cell in row.select('td[data-field="visitors"]'):
            expected = backend.client.count(cell["data-goal"], None, "day", row["data-bucket"])
            assert int(cell["data-value"]) == expected
    purchased = rows[0].select_one('td[data-goal="Purchased"] [data-field="value"]')
    assert float(purchased["data-value"]) == backend.client.goal_value(
        "Purchased", None, "day", days[0]
    )
    assert page.html.select("svg.chart polyline")


@pytest.mark.parametrize(
    ("rollup", "buckets"),
    [
        pytest.param("browser", ["Chrome", "Firefox"], id="browser"),
        pytest.param("referrer", ["direct", "google.com", "news.example.org"], id="referrer"),
        pytest.param("all", ["0"], id="all"),
    ],
)
def test_goals_page_by_other_rollups(app: TestApp, rollup: str, buckets: list[str]) -> None:
    page = app.get("/goals", {"rollup": rollup})
    assert (
        sorted(row["data-bucket"] for row in page.html.select("table.goals tbody tr")) == buckets
    )
    assert not page.html.select("svg.chart")  # only time rollups are charted


def test_site_selector_and_one_site(app: TestApp, backend: Backend) -> None:
    page = app.get("/test", {"name": BUTTON})
    links = {a["data-site"]: a["href"] for a in page.html.select("nav.sites a")}
    assert set(links) == {"", "1", "2"}
    one = app.get(links["2"])
    analysis = backend.client.analyze(BUTTON, site_id=2)
    assert (
        int(cells(one)["Added To Cart", "red", "visitors"])
        == (analysis["goals"]["Added To Cart"]["populations"]["red"]["visitors"])
    )
    goals = app.get("/goals", {"site": "1", "rollup": "week"})
    assert goals.html.select_one('nav.sites a[aria-current="page"]')["data-site"] == "1"


def test_what_users_logged_is_escaped(app: TestApp) -> None:
    listed = app.get("/")
    assert EVIL_TEST not in listed.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in listed.text
    link = next(a for a in listed.html.select("table.tests a") if a.text == EVIL_TEST)
    page = app.get(link["href"])
    for text in (EVIL_TEST, EVIL_POPULATION, EVIL_GOAL):
        assert text not in page.text
    assert not page.html.select("script")
    assert not page.html.select("img")
    assert not page.html("b")
    assert page.html.select_one("h1").text == EVIL_TEST
    # In SVG text too: the titles and legends hold the names as text.
    legends = [text.text for text in page.html.select("svg text.legend")]
    assert EVIL_POPULATION in legends
    goals = app.get("/goals")
    assert EVIL_GOAL not in goals.text
    assert goals.html.select_one(f'th[data-goal="{EVIL_GOAL}"]')


def test_pages_follow_script_name(backend: Backend, request: pytest.FixtureRequest) -> None:
    dashboard = make_app(backend.address)
    request.addfinalizer(dashboard.close)
    app = TestApp(dashboard, extra_environ={"SCRIPT_NAME": "/stats"})
    page = app.get("/stats/")
    hrefs = [a["href"] for a in page.html.select("a")] + [
        link["href"] for link in page.html.select("link[rel=stylesheet]")
    ]
    assert hrefs
    assert all(href.startswith("/stats/") for href in hrefs)
    assert app.get("/stats/static/dashboard.css").content_type == "text/css"


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        pytest.param("/", {"site": "x"}, "site must be a site id", id="site-text"),
        pytest.param("/", {"site": "-1"}, "site must be a site id", id="site-negative"),
        pytest.param(
            "/", {"color": "red"}, "unknown query parameter &#39;color&#39;", id="unknown"
        ),
        pytest.param("/test", {}, "query parameter &#39;name&#39; is missing", id="no-name"),
        pytest.param("/goals", {"rollup": "x" * 1001}, "longer than 1000 characters", id="long"),
        pytest.param(
            "/static/dashboard.css", {"v": "1"}, "(this page takes: none)", id="css-params"
        ),
    ],
)
def test_bad_parameters_are_400_naming_the_problem(
    app: TestApp, path: str, params: dict[str, str], message: str
) -> None:
    page = app.get(path, params, status=400)
    assert message in page.text


def test_repeated_parameter_is_400(app: TestApp) -> None:
    page = app.get("/goals?rollup=day&rollup=week", status=400)
    assert "&#39;rollup&#39; is given more than once" in page.text


def test_query_string_not_utf8_is_400(app: TestApp) -> None:
    page = app.get("/goals?rollup=%ff", status=400)
    assert "not valid UTF-8" in page.text


def test_unknown_page_is_404(app: TestApp) -> None:
    assert "There is no page at /admin" in app.get("/admin", status=404).text


def test_test_without_visitors_at_a_site_says_so(
    tmp_path: Any, request: pytest.FixtureRequest
) -> None:
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
        with QueryService(store, "tcp://127.0.0.1:0") as service:
            dashboard = make_app(service.address)
            request.addfinalizer(dashboard.close)
            small = TestApp(dashboard)
            page = small.get("/test", {"name": "T", "site": "2"})
            assert "has no visitors in this slice" in page.text
            listed = small.get("/", {"site": "2"})
            assert "has no visitors in this slice" in listed.text
            # No goals: no verdict; no day rollup counted: no chart.
            assert "no goals yet" in small.get("/").text
            assert "No daily counts" in small.get("/test", {"name": "T"}).text
            assert "Nothing counted by day" in small.get("/goals").text


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_only_reads(app: TestApp, method: str) -> None:
    page = app.request("/", method=method, status=405)
    assert page.headers["Allow"] == "GET, HEAD"


def test_head_has_no_body(app: TestApp) -> None:
    page = app.head("/")
    assert page.status_int == 200
    assert page.body == b""


def test_security_headers(app: TestApp) -> None:
    page = app.get("/")
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["X-Content-Type-Options"] == "nosniff"


def basic(credentials: bytes) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials).decode()}


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="none"),
        pytest.param(basic(b"ann:wrong"), id="wrong-password"),
        pytest.param(basic(b"bob:s3cret"), id="wrong-user"),
        pytest.param({"Authorization": "Bearer s3cret"}, id="other-scheme"),
        pytest.param({"Authorization": "Basic !!!"}, id="not-base64"),
    ],
)
def test_auth_refuses(
    backend: Backend, headers: dict[str, str], request: pytest.FixtureRequest
) -> None:
    dashboard = make_app(backend.address, auth=("ann", "s3cret"))
    request.addfinalizer(dashboard.close)
    app = TestApp(dashboard)
    page = app.get("/", headers=headers, status=401)
    assert page.headers["WWW-Authenticate"] == 'Basic realm="Manhattan dashboard", charset="UTF-8"'
    assert BUTTON not in page.text
    assert app.post("/", headers=headers, status=401)


@pytest.mark.parametrize(
    "auth", [pytest.param(("ann", "s3cret"), id="pair"), pytest.param("ann:s3cret", id="text")]
)
def test_auth_lets_in(
    backend: Backend, request: pytest.FixtureRequest, auth: tuple[str, str] | str
) -> None:
    dashboard = make_app(backend.address, auth=auth)
    request.addfinalizer(dashboard.close)
    app = TestApp(dashboard)
    assert BUTTON in app.get("/", headers=basic(b"ann:s3cret")).text
    assert app.get("/", headers=basic(b"ann:wrong"), status=401)


@pytest.mark.parametrize(
    ("auth", "message"),
    [
        pytest.param(("", ""), "the user is empty", id="empty-pair"),
        pytest.param(("ann", ""), "the password is empty", id="no-password"),
        pytest.param(("", "s3cret"), "the user is empty", id="no-user"),
        pytest.param(":s3cret", "the user is empty", id="text-no-user"),
        pytest.param("ann", "no ':' found", id="text-no-colon"),
        pytest.param(("a:n", "s3cret"), "cannot contain ':'", id="colon-in-user"),
    ],
)
def test_unusable_credentials_are_refused(auth: tuple[str, str] | str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        make_app("tcp://127.0.0.1:5555", auth=auth)
    assert "s3cret" not in str(raised.value)


def test_credentials_of_another_type_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="auth must be"):
        make_app("tcp://127.0.0.1:5555", auth=["ann", "s3cret"])  # type: ignore[arg-type]


def test_a_curve_server_is_reached_with_its_key(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    fill(url, people=20, days=1)
    keys = make_keys(tmp_path)
    with (
        SQLStore(url) as store,
        QueryService(store, "tcp://127.0.0.1:0", curve_secret_key=keys.server_secret) as service,
        make_app(service.address, curve_server_key=keys.server_public) as dashboard,
        make_app(service.address, wait=300) as keyless,
    ):
        assert BUTTON in TestApp(dashboard).get("/").text
        page = TestApp(keyless).get("/", status=503)
    assert "requires other Curve keys" in page.text


def test_backend_down_is_a_503_page(request: pytest.FixtureRequest) -> None:
    dashboard = make_app(free_address(), wait=100)
    request.addfinalizer(dashboard.close)
    app = TestApp(dashboard)
    for path in ("/", "/goals", "/test?name=x"):
        page = app.get(path, status=503)
        assert "Backend not reachable" in page.text
        assert "Traceback" not in page.text
        assert page.headers["Retry-After"] == "5"


class FailingStore(SQLStore):
    """A store whose reads for analyses and breakdowns fail in the database."""

    def test_stats(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreError("query failed on sqlite:///m.db: disk <gone>")

    def breakdown(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreError("query failed on sqlite:///m.db: disk <gone>")


@pytest.mark.parametrize("path", ["/", f"/test?name={BUTTON}", "/goals"])
def test_backend_error_is_a_502_page(tmp_path: Any, path: str) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    fill(url, people=20, days=1)
    with (
        FailingStore(url) as store,
        QueryService(store, "tcp://127.0.0.1:0") as service,
        make_app(service.address) as dashboard,
    ):
        page = TestApp(dashboard).get(path, status=502)
    assert "StoreError: query failed on sqlite:///m.db: disk &lt;gone&gt;" in page.text


def broken_page(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """A view with a bug: a missing key, which a LookupError handler would take for a 404."""
    return {}["analysis"]


@pytest.mark.parametrize(
    ("path", "view"),
    [
        pytest.param("/", "tests_page", id="tests"),
        pytest.param(f"/test?name={BUTTON}", "test_page", id="test"),
        pytest.param("/goals", "goals_page", id="goals"),
    ],
)
def test_a_bug_in_a_view_is_a_logged_500_page(
    app: TestApp,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    path: str,
    view: str,
) -> None:
    monkeypatch.setattr(views, view, broken_page)

    with caplog.at_level(logging.ERROR, logger="manhattan.dashboard"):
        page = app.get(path, status=500)

    assert "Dashboard error" in page.text
    assert "Traceback" not in page.text
    assert "Not found" not in page.text
    (record,) = caplog.records
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], KeyError)
    assert path.split("?")[0] in record.getMessage()


def test_a_thread_per_request_reuses_idle_connections(backend: Backend) -> None:
    # As under a threading server: every request comes on a thread of its own.
    dashboard = make_app(backend.address)
    statuses: list[int] = []
    for _ in range(5):
        request = threading.Thread(
            target=lambda: statuses.append(TestApp(dashboard).get("/").status_int)
        )
        request.start()
        request.join()
    assert statuses == [200] * 5
    assert len(dashboard._clients) == 1
    dashboard.close()


def test_bad_address_fails_at_once() -> None:
    with pytest.raises(ValueError, match="cannot connect"):
        make_app("nonsense://x")
    with pytest.raises(ValueError, match="wait must be a positive"):
        make_app("tcp://127.0.0.1:5555", wait=0)
