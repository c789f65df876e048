"""live(): answered by the counting server from what its aggregator saw,
over a real socket; refused by a server that only answers queries."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from manhattan.backend.aggregate import Aggregator
from manhattan.backend.live import LiveVisitors
from manhattan.backend.model import ALL_SITES, Batch, CounterKey, QueryError
from manhattan.backend.persistence import SQLStore
from manhattan.backend.rollups import build_rollups, is_crawler
from manhattan.client import Client
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.server.cli import run
from manhattan.server.config import Settings
from manhattan.server.service import QueryService, StoreQueries
from tests.backend.test_aggregate import goal, page, pixel
from tests.server.test_cli import free_port

NOW = 1_800_000_000.0
MINUTE = 60.0
WAIT = 5000  # ms: only elapses when a test fails


def recent_traffic(now: float) -> list[list[str]]:
    """Two humans on site 1 (one also on site 2), a third 40 minutes ago,
    a visitor who never loads the pixel and a crawler: 2 live in 30
    minutes (1 on site 2), 3 in 60."""
    at = now - 5 * MINUTE
    return [
        page("a", at, site="1"),
        pixel("a", at, site="1"),
        page("a", at + 1, site="2"),
        page("b", at, site="1"),
        pixel("b", at, site="1"),
        page("c", now - 40 * MINUTE, site="1"),
        pixel("c", now - 40 * MINUTE, site="1"),
        page("no-pixel", at, site="2"),
        goal("no-pixel", "Signup", at=at, site="2"),
        page("crawler", at, site="2", ua="Googlebot/2.1 (+http://www.google.com/bot.html)"),
        pixel("crawler", at, site="2"),
    ]


@pytest.fixture
def counted() -> Iterator[tuple[SQLStore, LiveVisitors]]:
    """A store and the live visitors of an aggregator that counted recent_traffic."""
    tracker = LiveVisitors(clock=lambda: NOW)
    aggregator = Aggregator(build_rollups(["all"]), is_crawler=is_crawler, live=tracker)
    aggregator.add_all(recent_traffic(NOW))
    with SQLStore("sqlite://") as store:
        store.commit(aggregator.drain())
        yield store, tracker


@pytest.fixture
def client(counted: tuple[SQLStore, LiveVisitors]) -> Iterator[Client]:
    store, tracker = counted
    with (
        QueryService(StoreQueries(store, tracker=tracker), "tcp://127.0.0.1:0") as service,
        Client(service.address, wait=WAIT) as client,
    ):
        yield client


@pytest.mark.parametrize(
    ("minutes", "site_id", "expected"),
    [
        pytest.param(30, None, 2, id="all-sites"),
        pytest.param(30, 1, 2, id="site-1"),
        pytest.param(30, 2, 1, id="site-2"),
        pytest.param(60, None, 3, id="an-hour"),
        pytest.param(1, None, 0, id="a-minute"),
        pytest.param(60, 2, 1, id="site-2-an-hour"),
    ],
)
def test_the_service_answers_live_visitors(
    client: Client, minutes: int, site_id: int | None, expected: int
) -> None:
    assert client.live(minutes, site_id) == expected


def test_defaults_are_thirty_minutes_on_all_sites(client: Client) -> None:
    assert client.live() == client.live(30, None) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param((0,), r"live\(\) takes minutes from 1 to 60, not 0", id="zero"),
        pytest.param((90,), r"live\(\) takes minutes from 1 to 60, not 90", id="too-long"),
        pytest.param((30, 7), r"no site 7 \(known sites: 1, 2\)", id="unknown-site"),
        pytest.param((30, "1"), "site_id as a whole number or None", id="site-text"),
    ],
)
def test_bad_live_requests_are_query_errors(
    client: Client, args: tuple[object, ...], message: str
) -> None:
    with pytest.raises(QueryError, match=message):
        client.live(*args)  # type: ignore[arg-type]


def test_a_known_site_with_nobody_live_is_zero(counted: tuple[SQLStore, LiveVisitors]) -> None:
    store, _ = counted
    nobody = LiveVisitors(clock=lambda: NOW)

    assert StoreQueries(store, tracker=nobody).live(30, 2) == 0


def test_a_store_that_counted_nothing_answers_zero_for_any_site() -> None:
    with SQLStore("sqlite://") as store:
        assert StoreQueries(store, tracker=LiveVisitors()).live(30, 5) == 0


def test_without_a_tracker_live_is_refused_saying_why() -> None:
    with SQLStore("sqlite://") as store, pytest.raises(QueryError, match="--query-only"):
        StoreQueries(store).live()


def test_a_query_only_server_refuses_live(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with SQLStore(url) as store:
        store.commit(
            Batch(counts={CounterKey("all", "0", ALL_SITES, "Buy", "", ""): [7, 0.0, 0.0]})
        )
    bind = f"tcp://127.0.0.1:{free_port()}"
    stop = threading.Event()
    settings = Settings(url=url, bind=bind, query_only=True).check()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run(settings, stop)))
    thread.start()
    try:
        with Client(bind, wait=WAIT) as client, pytest.raises(QueryError) as raised:
            client.live()
    finally:
        stop.set()
        thread.join(10)
    assert result == [0]
    assert "only answers queries (--query-only)" in str(raised.value)


def test_the_counting_server_answers_live_from_its_log(tmp_path: Path) -> None:
    now = time.time()
    log = TimeRotatingLog(tmp_path / "logs" / "events")
    log.write(recent_traffic(now))
    log.close()
    bind = f"tcp://127.0.0.1:{free_port()}"
    stop = threading.Event()
    settings = Settings(
        path=log.path, url=f"sqlite:///{tmp_path / 'm.db'}", bind=bind, flush_seconds=0.05
    ).check()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run(settings, stop)))
    thread.start()
    answers: list[tuple[int, int, int]] = []
    try:
        with Client(bind, wait=WAIT) as client:
            deadline = time.monotonic() + WAIT / 1000
            while time.monotonic() < deadline:
                answers.append((client.live(), client.live(60), client.live(30, 2)))
                if answers[-1] != (0, 0, 0):
                    break
                time.sleep(0.01)
    finally:
        stop.set()
        thread.join(10)
    assert result == [0]
    assert answers[-1] == (2, 3, 1)
