"""Frontend benchmark: middleware overhead per request and Visitor records/s.

Run: ``make bench`` (or ``.venv/bin/python bench/frontend.py [--runs N]``).

Every figure is the median of several runs; the bare app is timed in the
same runs, interleaved, so a noisy machine moves both alike.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from webob import Request

from manhattan.log.timerotating import TimeRotatingLog
from manhattan.middleware import ManhattanMiddleware
from manhattan.visitor import Visitor
from manhattan.web.cookies import CookieSigner, new_visitor_id

SECRET = "bench-secret"
BODY = b"<!doctype html><html><head><title>Shop</title></head><body><h1>Hello</h1></body></html>"


def bare_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(BODY)))],
    )
    return [BODY]


def base_environ(cookie: str | None) -> dict[str, Any]:
    environ = Request.blank(
        "/products/blue-widget?ref=home",
        headers={
            "Host": "shop.example.com",
            "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0",
            "Referer": "https://www.example.org/search?q=widgets",
            "Accept": "text/html",
        },
        remote_addr="203.0.113.7",
    ).environ
    if cookie:
        environ["HTTP_COOKIE"] = f"session=abc123; manhattan={cookie}; theme=dark"
    return environ


def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return None


def time_app(app: Callable[..., Iterable[bytes]], environ: dict[str, Any], calls: int) -> float:
    """Seconds per call, serving like a server: call, drain, close."""
    copy = environ.copy
    began = time.perf_counter()
    for _ in range(calls):
        body = app(copy(), start_response)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return (time.perf_counter() - began) / calls


def middleware_overhead(runs: int, calls: int, directory: Path) -> dict[str, float]:
    log = TimeRotatingLog(directory / "mw" / "log")
    app = ManhattanMiddleware(bare_app, log, SECRET)
    cookie = CookieSigner(SECRET).sign(new_visitor_id())
    returning = base_environ(cookie)
    fresh = base_environ(None)
    bare, known, new = [], [], []
    time_app(app, returning, calls // 10)  # warm up: files opened, caches filled
    for _ in range(runs):
        bare.append(time_app(bare_app, returning, calls))
        known.append(time_app(app, returning, calls))
        new.append(time_app(app, fresh, calls))
    base = statistics.median(bare)
    return {
        "bare app, us/request": base * 1e6,
        "returning visitor overhead, us": (statistics.median(known) - base) * 1e6,
        "fresh visitor overhead, us": (statistics.median(new) - base) * 1e6,
        "returning visitor, x bare": statistics.median(known) / base,
        "fresh visitor, x bare": statistics.median(new) / base,
    }


def visitor_records(runs: int, visitors: int, directory: Path) -> dict[str, float]:
    log = TimeRotatingLog(directory / "visitor" / "log")
    request = Request.blank("/checkout", headers={"User-Agent": "Mozilla/5.0"})
    ids = [new_visitor_id() for _ in range(1000)]
    rates = []
    for _ in range(runs):
        began = time.perf_counter()
        for i in range(visitors):
            visitor = Visitor(ids[i % 1000], log, "1")
            visitor.page(request)
            visitor.split("Blue Button")
            visitor.goal("Began Checkout", 12.5, Visitor.SUM, Visitor.CURRENCY)
            visitor.flush()
        rates.append(3 * visitors / (time.perf_counter() - began))
    return {"Visitor records/s (page+split+goal, buffered)": statistics.median(rates)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per figure (median taken)")
    parser.add_argument("--calls", type=int, default=20000, help="requests per run")
    args = parser.parse_args()
    if args.runs < 1 or args.calls < 100:
        parser.error("--runs must be >= 1 and --calls >= 100")
    with tempfile.TemporaryDirectory() as tmp:
        figures = middleware_overhead(args.runs, args.calls, Path(tmp))
        figures |= visitor_records(args.runs, args.calls // 2, Path(tmp))
    width = max(map(len, figures))
    print(f"frontend benchmark: median of {args.runs} runs, {args.calls} requests each")
    for name, value in figures.items():
        print(f"  {name:<{width}}  {value:>12,.2f}")


if __name__ == "__main__":
    main()
