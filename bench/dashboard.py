"""Dashboard benchmark: render time of the test page, 4 populations and 10
goals, and of the Overview, 90 days and 1,000 paths.

Run: ``.venv/bin/python bench/dashboard.py [--calls N] [--runs N] [--page
test|overview|both]``. A store
(SQLite file) holds one test with four populations and ten goals (five with
values) over 60 days, and two sites; a query service answers over loopback,
and the dashboard app is called in-process through WSGI (as a server thread
would call it). The baseline, timed in the same runs, is the raw
``client.analyze`` round trip the page makes among its four queries
(``sites``, ``tests``, ``analyze``, ``breakdown``). "Cold" clears the
analysis's cache of Bayesian chances first, as fresh counts would.

The Overview's store holds 90 days of page counts for 1,000 paths (each in
the ``day`` and ``all`` page rollups, for all sites and for site 1: 182,000
page rows), ``viewed page`` per day, and 40 referrers, 20 buckets of each
``utm_*`` rollup and 12 browsers; the page makes 12 queries (sites, live,
the day breakdown, page totals, visitors, pages, entry pages and five
rollups' breakdowns). Its baseline is ``client.pages`` alone.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from collections.abc import Callable
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import quote

from common import commit_test, median_ms
from manhattan.analysis import bayes
from manhattan.backend.live import LiveVisitors
from manhattan.backend.model import ALL_SITES, Batch, CounterKey, PageKey
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client
from manhattan.dashboard import make_app
from manhattan.records.vocabulary import VIEWED_PAGE
from manhattan.server.service import QueryService, StoreQueries

POPULATIONS = ["control", "blue", "green", "red"]
GOALS = [f"goal {i}" for i in range(10)]
DAYS = [(date(2026, 9, 1) + timedelta(days=d)).isoformat() for d in range(60)]


def fill(store: SQLStore) -> None:
    rng = random.Random(1)
    counts: dict[CounterKey, list[float]] = {}
    for site in (ALL_SITES, 1, 2):
        for population in POPULATIONS:
            for rollup, bucket, scale in [("all", "0", 1.0)] + [("day", d, 1 / 60) for d in DAYS]:
                visitors = int(rng.randint(40_000, 42_000) * scale)
                key = CounterKey(rollup, bucket, site, "", "Test", population)
                counts[key] = [visitors, 0.0, 0.0]
                for i, goal in enumerate(GOALS):
                    converted = int(visitors * rng.uniform(0.01, 0.3))
                    total = converted * rng.uniform(5, 50) if i % 2 else 0.0
                    squares = total * total / max(converted, 1) * 1.5
                    key = CounterKey(rollup, bucket, site, goal, "Test", population)
                    counts[key] = [converted, total, squares]
    commit_test(store, counts, GOALS, POPULATIONS)


OVERVIEW_DAYS = [(date(2026, 9, 1) + timedelta(days=d)).isoformat() for d in range(90)]
PATHS = [f"/section-{i % 20}/article-{i}" for i in range(1000)]
SOURCES = {
    "referrer": [f"site-{i}.example" for i in range(40)],
    "utm_source": [f"source-{i}" for i in range(20)],
    "utm_medium": [f"medium-{i}" for i in range(20)],
    "utm_campaign": [f"campaign-{i}" for i in range(20)],
    "browser": [f"Browser {i}" for i in range(12)],
}


def fill_overview(store: SQLStore) -> None:
    """90 days of 1,000 paths' page counts and the Overview's rollups."""
    rng = random.Random(2)
    counts: dict[CounterKey, list[float]] = {}
    pages: dict[PageKey, list[int]] = {}
    for site in (ALL_SITES, 1):
        counts[CounterKey("all", "0", site, VIEWED_PAGE, "", "")] = [500_000, 0.0, 0.0]
        for day in OVERVIEW_DAYS:
            counts[CounterKey("day", day, site, VIEWED_PAGE, "", "")] = [
                rng.randint(4_000, 6_000),
                0.0,
                0.0,
            ]
            for path in PATHS:
                views = rng.randint(1, 60)
                pages[PageKey("day", day, site, path)] = [views, views // 2 + 1, views // 4]
        for path in PATHS:
            pages[PageKey("all", "0", site, path)] = [
                sum(pages[PageKey("day", day, site, path)][i] for day in OVERVIEW_DAYS)
                for i in range(3)
            ]
        for rollup, buckets in SOURCES.items():
            for bucket in buckets:
                visitors = rng.randint(100, 50_000)
                counts[CounterKey(rollup, bucket, site, VIEWED_PAGE, "", "")] = [
                    visitors,
                    0.0,
                    0.0,
                ]
    store.commit(Batch(counts=counts, pages=pages))


def bench_overview(args: argparse.Namespace) -> None:
    """The Overview's render time against ``client.pages`` alone."""
    baselines, renders = [], []
    with (
        tempfile.TemporaryDirectory() as tmp,
        SQLStore(f"sqlite:///{Path(tmp) / 'o.db'}") as store,
    ):
        fill_overview(store)
        with (
            QueryService(
                StoreQueries(store, tracker=LiveVisitors()), "tcp://127.0.0.1:0"
            ) as service,
            Client(service.address) as client,
            make_app(service.address) as app,
        ):
            render = renderer(app, "/overview", "")
            page = render()
            assert page.count(b"<tr>") >= 20 + 20 + 40, "the tables are filled"
            assert b'class="chart"' in page
            for _ in range(args.runs):
                baselines.append(median_ms(lambda: client.pages(), args.calls))
                renders.append(median_ms(render, args.calls))
    pages_ms, page_ms = statistics.median(baselines), statistics.median(renders)
    print(f"overview benchmark: median of {args.runs} runs of {args.calls} calls")
    print("  90 days x 1,000 paths (182,000 page rows), 12 queries per page")
    print(f"  client.pages round trip (baseline) p50, ms   {pages_ms:8.3f}")
    print(f"  overview render, in-process WSGI p50, ms     {page_ms:8.3f}")
    print(f"  overview, x pages                           {page_ms / pages_ms:8.2f}")
    print(f"  target: overview <= 100 ms                  {'met' if page_ms <= 100 else 'MISSED'}")


def renderer(app: Any, path: str, query: str) -> Callable[[], bytes]:
    """A call of ``app`` for ``path?query`` (as a server thread would), checked to be 200."""
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8080",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": BytesIO(),
    }
    statuses: list[str] = []

    def render() -> bytes:
        body = b"".join(app(dict(environ), lambda s, h, e=None: statuses.append(s)))
        assert statuses.pop() == "200 OK"
        return body

    return render


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="renders per run")
    parser.add_argument("--runs", type=int, default=5, help="runs (median of their medians)")
    parser.add_argument(
        "--page", choices=("test", "overview", "both"), default="both", help="pages to time"
    )
    args = parser.parse_args()
    if args.page in ("overview", "both"):
        bench_overview(args)
    if args.page == "overview":
        return
    analyses, pages, colds = [], [], []
    with (
        tempfile.TemporaryDirectory() as tmp,
        SQLStore(f"sqlite:///{Path(tmp) / 'd.db'}") as store,
    ):
        fill(store)
        with (
            QueryService(store, "tcp://127.0.0.1:0") as service,
            Client(service.address) as client,
            make_app(service.address) as app,
        ):
            render = renderer(app, "/test", f"name={quote('Test')}")

            def render_cold() -> bytes:
                bayes._ordered_chance.cache_clear()
                return render()

            page = render()
            assert page.count(b'class="interval"') == len(POPULATIONS) * len(GOALS)
            assert page.count(b"<polyline") == len(POPULATIONS) * len(GOALS)
            for _ in range(args.runs):
                analyses.append(median_ms(lambda: client.analyze("Test"), args.calls))
                pages.append(median_ms(render, args.calls))
                colds.append(median_ms(render_cold, args.calls))
    analyze_ms, page_ms = statistics.median(analyses), statistics.median(pages)
    print(f"dashboard benchmark: median of {args.runs} runs of {args.calls} calls")
    print(f"  client.analyze round trip (baseline) p50, ms  {analyze_ms:8.3f}")
    print(f"  test page render, in-process WSGI p50, ms     {page_ms:8.3f}")
    print(f"  test page, x analyze                          {page_ms / analyze_ms:8.2f}")
    print(f"  test page render, analysis cache cold, ms     {statistics.median(colds):8.3f}")
    print(f"  target: test page < 50 ms                     {'met' if page_ms < 50 else 'MISSED'}")


if __name__ == "__main__":
    main()
