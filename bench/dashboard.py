"""Dashboard benchmark: render time of the test page, 4 populations and 10 goals.

Run: ``.venv/bin/python bench/dashboard.py [--calls N] [--runs N]``. A store
(SQLite file) holds one test with four populations and ten goals (five with
values) over 60 days, and two sites; a query service answers over loopback,
and the dashboard app is called in-process through WSGI (as a server thread
would call it). The baseline, timed in the same runs, is the raw
``client.analyze`` round trip the page makes among its four queries
(``sites``, ``tests``, ``analyze``, ``breakdown``). "Cold" clears the
analysis's cache of Bayesian chances first, as fresh counts would.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
from datetime import date, timedelta
from io import BytesIO
from pathlib import Path
from urllib.parse import quote

from common import commit_test, median_ms
from manhattan.analysis import bayes
from manhattan.backend.model import ALL_SITES, CounterKey
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client
from manhattan.dashboard import make_app
from manhattan.server.service import QueryService

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50, help="renders per run")
    parser.add_argument("--runs", type=int, default=5, help="runs (median of their medians)")
    args = parser.parse_args()
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
            environ = {
                "REQUEST_METHOD": "GET",
                "PATH_INFO": "/test",
                "QUERY_STRING": f"name={quote('Test')}",
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
