"""The dashboard and what the server does not know: a misspelled name in a
page's parameters is a 404 page with the closest known names; other
backend errors stay 502 pages, and are logged; and the tests page's "Not
counted" table of the events the server read and did not count."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from webtest import TestApp

from manhattan.backend.model import ALL_SITES, Batch, CounterKey, QueryError, TestInfo
from manhattan.backend.persistence import SQLStore
from manhattan.client import ServerError
from manhattan.dashboard import make_app, views
from manhattan.server.service import QueryService, StoreQueries
from tests.dashboard.conftest import BUTTON, Backend, fill
from tests.dashboard.test_app import FailingStore

OFFERED = (
    "day, week, month, browser, referrer, all, "
    # Every other rollup the server counts, by name: the built-in ones
    # beyond the fixed six, and the tests' custom rollup.
    "browser_version, hour, network, plan, utm_campaign, utm_medium, utm_source"
)


@pytest.fixture
def app(backend: Backend) -> Iterator[TestApp]:
    with make_app(backend.address, wait=5000) as dashboard:
        yield TestApp(dashboard)


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        pytest.param(
            "/test",
            {"name": "Buton color"},
            "no test named &#39;Buton color&#39; (did you mean &#39;Button color&#39;?)",
            id="test",
        ),
        pytest.param(
            "/test",
            {"name": "<i>nope</i>"},
            "no test named &#39;&lt;i&gt;nope&lt;/i&gt;&#39; (tests() lists the known tests)",
            id="test-escaped",
        ),
        pytest.param(
            "/goals",
            {"rollup": "dya"},
            "no rollup named &#39;dya&#39; (did you mean &#39;day&#39;? this page shows "
            f"{OFFERED})",
            id="rollup",
        ),
        pytest.param(
            "/goals",
            {"rollup": "year"},
            f"no rollup named &#39;year&#39; (this page shows {OFFERED})",
            id="rollup-nothing-close",
        ),
        pytest.param("/", {"site": "9"}, "no site 9 (sites with counts: 1, 2)", id="site-tests"),
        pytest.param(
            "/goals", {"site": "12"}, "no site 12 (sites with counts: 1, 2)", id="site-goals"
        ),
        pytest.param(
            "/test",
            {"name": BUTTON, "site": "3"},
            "no site 3 (sites with counts: 1, 2)",
            id="site-test",
        ),
    ],
)
def test_a_misspelled_name_is_a_404_page_with_suggestions(
    app: TestApp, path: str, params: dict[str, str], message: str
) -> None:
    page = app.get(path, params, status=404)
    assert page.html.select_one("[data-error]")["data-error"] == "Not found"
    assert message in page.text


def store_refusals(url: str) -> dict[str, str]:
    """What the real store says to a query naming each kind of unknown name,
    and to an analysis with nothing to analyse."""
    messages = {}
    with SQLStore(url) as store:
        for kind, query in {
            "goal": lambda: store.count("Purchsed"),
            "test": lambda: store.count(variant=("Buton color", "red")),
            "population": lambda: store.count(variant=(BUTTON, "rde")),
            "rollup": lambda: store.count("Purchased", rollup_key="dya"),
            "bucket": lambda: store.count("Purchased", rollup_key="day", bucket_id="2024-01-01"),
            "site": lambda: store.count("Purchased", site_id=9),
            "bad argument": lambda: StoreQueries(store).analyze(BUTTON, weights={}),
        }.items():
            with pytest.raises(QueryError) as refused:
                query()
            messages[kind] = str(refused.value)
    with SQLStore("sqlite://") as store:
        # Test T had visitors at site 1; site 2 counted a goal, and no visitor of T.
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
        with pytest.raises(QueryError) as refused:
            StoreQueries(store).analyze("T", site_id=2)
        messages["no data"] = str(refused.value)
    return messages


def test_unknown_name_tells_refused_names_from_other_query_errors(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    fill(url, people=20, days=1)
    messages = store_refusals(url)
    # As the client gets them, over the query socket.
    errors = {kind: ServerError("QueryError", message) for kind, message in messages.items()}
    assert {kind: views.unknown_name(error) for kind, error in errors.items()} == {
        "goal": True,
        "test": True,
        "population": True,
        "rollup": True,
        "bucket": True,
        "site": True,
        "no data": False,
        "bad argument": False,
    }
    assert "has no visitors in this slice" in messages["no data"]
    assert views.no_data(errors["no data"])
    assert not views.unknown_name(ServerError("StoreError", "no test named 'x'"))


def test_other_backend_errors_stay_502_and_are_logged(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    fill(url, people=20, days=1)
    with (
        FailingStore(url) as store,
        QueryService(store, "tcp://127.0.0.1:0") as service,
        make_app(service.address) as dashboard,
    ):
        TestApp(dashboard).get("/test", {"name": BUTTON}, status=502)
    logged = [r for r in caplog.records if r.name == "manhattan.dashboard"]
    assert [r.levelno for r in logged] == [logging.ERROR]
    assert logged[0].getMessage() == (
        f"http://localhost/test?name=Button+color: the Manhattan server at {service.address} "
        "answered StoreError: query failed on sqlite:///m.db: disk <gone>"
    )


def not_counted_rows(page: Any) -> list[tuple[str, str, str]]:
    return [
        (row["data-reason"], row.select_one("[data-field=events]")["data-value"], row.text)
        for row in page.html.select("table.not-counted tbody tr")
    ]


def test_the_tests_page_shows_what_was_not_counted_and_why(
    tmp_path: Any, request: pytest.FixtureRequest
) -> None:
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.commit(
            Batch(
                counts={CounterKey("all", "0", ALL_SITES, "", "T", "a"): [5, 0.0, 0.0]},
                tests={"T": TestInfo(1.0, 2.0)},
                filtered={
                    "crawler": 300,
                    "awaiting pixel": 2_000,
                    "held overflow": 0,
                    "a reason of tomorrow": 1,
                },
            )
        )
        with QueryService(store, "tcp://127.0.0.1:0") as service:
            dashboard = make_app(service.address)
            request.addfinalizer(dashboard.close)
            page = TestApp(dashboard).get("/")
    rows = not_counted_rows(page)
    assert [row[:2] for row in rows] == [
        ("awaiting pixel", "2000"),
        ("crawler", "300"),
        ("a reason of tomorrow", "1"),
    ]
    assert "2,000" in rows[0][2]
    assert "held until the visitor's browser loads the tracking pixel" in rows[0][2]
    assert "a known crawler's user agent" in rows[1][2]


def test_the_tests_page_says_when_everything_was_counted(app: TestApp) -> None:
    page = app.get("/")
    assert not_counted_rows(page) == []
    assert "Every event read so far was counted." in page.text


def test_every_reason_the_backend_gives_has_a_meaning() -> None:
    assert all(views.NOT_COUNTED.values())
    assert {"awaiting pixel", "crawler", "malformed record", "malformed line"} <= set(
        views.NOT_COUNTED
    )
