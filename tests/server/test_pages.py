"""Pages end to end: a file log counted by ``manhattan-server --once``, then
asked through the query service with ``Client``, ``manhattan-client pages``
and ``manhattan-export pages``.

The log (all on 2026-12-01 UTC): on site 1, visitor ``a`` views ``/``,
``/products?id=7`` twice (written two ways), ``/About`` and ``/about``
(two pages: paths are case-sensitive), and comes back an hour later (a new
visit) to ``/About``; a visitor who never loads the pixel and a crawler
that does view ``/secret``. On site 2, ``c`` views ``/`` and ``/r/1`` to
``/r/5``: with at most 4 paths per site per day, ``/r/4`` and ``/r/5``
count as ``(other)``.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from manhattan.backend.pages import OTHER
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client
from manhattan.client.export import main as export_main
from manhattan.client.shell import main as shell_main
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.server.cli import main, run, settings_from
from manhattan.server.config import ConfigError, Settings
from manhattan.server.service import QueryService

T = 1_796_083_200.0  # 2026-12-01 00:00 UTC
DAY = "2026-12-01"
GOOGLEBOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"


def page(vid: str, url: str, at: float, site: str = "1", ua: str = "Firefox") -> list[str]:
    return ["1", "page", f"{at:.4f}", vid, site, "1.2.3.4", "GET", url, ua, ""]


def pixel(vid: str, at: float, site: str = "1") -> list[str]:
    return ["1", "pixel", f"{at:.4f}", vid, site]


def records() -> list[list[str]]:
    return [
        page("a", "http://shop.example/", T),
        pixel("a", T),
        page("a", "http://shop.example/products/?id=7&utm_source=mail#top", T + 10),
        page("a", "/products?id=7", T + 20),
        page("a", "/About", T + 30),
        page("a", "/about", T + 40),
        page("a", "/About/", T + 3600),
        page("no-pixel", "/secret", T),
        page("crawler", "/secret", T, ua=GOOGLEBOT),
        pixel("crawler", T),
        page("c", "/", T, site="2"),
        pixel("c", T, site="2"),
        *(page("c", f"/r/{i}", T + i, site="2") for i in range(1, 6)),
    ]


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("pages")
    log = TimeRotatingLog(directory / "logs" / "events")
    log.write(records())
    log.close()
    url = f"sqlite:///{directory / 'm.db'}"
    flags = ["--max-paths-per-day", "4", "--keep-query-params", "id"]
    assert main(["--path", log.path, "--url", url, "--once", *flags], io.StringIO()) == 0
    return url


@pytest.fixture(scope="module")
def served(database: str) -> Iterator[tuple[str, Client]]:
    with (
        SQLStore(database) as store,
        QueryService(store, "tcp://127.0.0.1:0") as service,
        Client(service.address, wait=10_000) as client,
    ):
        yield service.address, client


@pytest.fixture
def client(served: tuple[str, Client]) -> Client:
    return served[1]


def test_pages_of_a_site_most_viewed_first(client: Client) -> None:
    assert client.pages(1) == [
        ("/About", 2, 1),
        ("/products?id=7", 2, 1),
        ("/", 1, 1),
        ("/about", 1, 1),
    ]


def test_bots_and_crawlers_view_no_page(client: Client) -> None:
    assert "/secret" not in {path for path, _, _ in client.pages(limit=1000)}
    assert client.filtered() == {"awaiting pixel": 1, "crawler": 2}


def test_paths_beyond_the_cap_are_other(client: Client) -> None:
    assert client.pages(2) == [
        (OTHER, 2, 1),
        ("/", 1, 1),
        ("/r/1", 1, 1),
        ("/r/2", 1, 1),
        ("/r/3", 1, 1),
    ]


def test_all_sites_together(client: Client) -> None:
    assert client.pages(limit=4) == [
        (OTHER, 2, 1),
        ("/", 2, 2),
        ("/About", 2, 1),
        ("/products?id=7", 2, 1),
    ]
    assert client.pages(None, "day", DAY, limit=4) == client.pages(limit=4)


def test_entry_pages_are_the_first_of_each_visit(client: Client) -> None:
    assert client.entry_pages(1) == [("/", 1), ("/About", 1)]
    assert client.entry_pages() == [("/", 2), ("/About", 1)]


def test_page_totals_per_day(client: Client) -> None:
    assert client.page_totals() == [(DAY, 12)]
    assert client.page_totals(2) == [(DAY, 6)]
    assert client.page_totals(1, "all") == [("0", 6)]


def test_unknown_rollups_are_refused_naming_the_page_rollups(client: Client) -> None:
    with pytest.raises(Exception, match="pages are kept for the rollups 'all', 'day' only"):
        client.pages(rollup_key="browser")


def test_manhattan_client_pages(
    served: tuple[str, Client], capsys: pytest.CaptureFixture[str]
) -> None:
    address = served[0]
    assert shell_main(["--connect", address, "pages", "--site", "2", "--limit", "2"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "         views    visitors  path",
        "             2           1 (other)",
        "             1           1 /",
    ]
    assert shell_main(["--connect", address, "pages", "--entry"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "        visits  path",
        "             2 /",
        "             1 /About",
    ]
    argv = ["--connect", address, "pages", "--rollup", "day", "--bucket", "2026-11-30"]
    assert shell_main(argv) == 1
    assert "no bucket '2026-11-30'" in capsys.readouterr().err


def test_manhattan_client_pages_of_a_site_without_any(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (
        SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store,
        QueryService(store, "tcp://127.0.0.1:0") as service,
    ):
        assert shell_main(["--connect", service.address, "pages"]) == 0
    assert capsys.readouterr().out == "no page views counted here yet\n"


def test_manhattan_export_pages(served: tuple[str, Client]) -> None:
    out = io.StringIO()
    argv = ["--connect", served[0], "pages", "--rollup", "day", "--format", "jsonl"]
    assert export_main(argv, out) == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    # All sites (8 paths), then site 1 (4), then site 2 (5).
    assert [(row["site"], row["rollup"], row["bucket"]) for row in rows] == (
        [(None, "day", DAY)] * 8 + [(1, "day", DAY)] * 4 + [(2, "day", DAY)] * 5
    )
    assert rows[9] == {
        "site": 1,
        "rollup": "day",
        "bucket": DAY,
        "path": "/products?id=7",
        "views": 2,
        "visitors": 1,
        "entries": 0,
    }


def test_manhattan_export_pages_beyond_the_entry_limit(served: tuple[str, Client]) -> None:
    out = io.StringIO()
    argv = ["--connect", served[0], "pages", "--site", "1", "--bucket", "0", "--limit", "2"]
    assert export_main(argv, out) == 0
    # Two entry pages fill the limit: a path not among them may have more.
    assert out.getvalue().splitlines() == [
        "site,rollup,bucket,path,views,visitors,entries",
        "1,all,0,/About,2,1,1",
        "1,all,0,/products?id=7,2,1,",
    ]


@pytest.mark.parametrize("limit", ["0", "1001"])
def test_manhattan_export_pages_limit_is_checked(
    served: tuple[str, Client], limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--connect", served[0], "pages", "--limit", limit]
    assert export_main(argv, io.StringIO()) == 2
    assert "--limit" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        pytest.param([], (None, 1000, []), id="defaults"),
        pytest.param(
            ["--page-rollups", "all, day,week", "--keep-query-params", "id,page"],
            (["all", "day", "week"], 1000, ["id", "page"]),
            id="lists",
        ),
        pytest.param(["--page-rollups", "", "--max-paths-per-day", "5"], ([], 5, []), id="off"),
    ],
)
def test_page_flags(argv: list[str], expected: tuple[object, ...]) -> None:
    settings = settings_from(["--path", "log", *argv])
    assert (settings.page_rollups, settings.max_paths_per_day, settings.keep_query_params) == (
        expected
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"page_rollups": "day"}, "page_rollups must be a list", id="rollups-text"),
        pytest.param({"keep_query_params": [""]}, "keep_query_params must be", id="empty-name"),
        pytest.param({"max_paths_per_day": 0}, "max_paths_per_day must be", id="zero"),
        pytest.param({"max_paths_per_day": True}, "max_paths_per_day must be", id="bool"),
    ],
)
def test_bad_page_settings_are_config_errors(values: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings(path="log", **values).check()  # type: ignore[arg-type]


def test_a_page_rollup_that_is_not_a_time_rollup_stops_the_server(tmp_path: Path) -> None:
    settings = Settings(
        path=str(tmp_path / "events"), url="sqlite://", once=True, page_rollups=["browser"]
    ).check()
    with pytest.raises(ConfigError, match="page rollup 'browser' is a rollup per visitor"):
        run(settings, threading.Event())


def test_without_page_rollups_no_page_is_counted(tmp_path: Path) -> None:
    log = TimeRotatingLog(tmp_path / "logs" / "events")
    log.write(records())
    log.close()
    url = f"sqlite:///{tmp_path / 'm.db'}"
    settings = Settings(path=log.path, url=url, once=True, page_rollups=[]).check()
    assert run(settings, threading.Event(), io.StringIO()) == 0
    with SQLStore(url) as store:
        assert store.pages() == []
        assert store.count("viewed page") == 2
