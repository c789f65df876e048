"""Frontend benchmark: middleware overhead per request and Visitor records/s.

Run: ``make bench`` (or ``.venv/bin/python bench/frontend.py [--runs N]``).

Shared machines are noisy, so every figure is a median of several runs, and
each is also given against a baseline timed in the same runs, interleaved:

- the bare app (no middleware), to get the overhead;
- a bare-bones middleware doing only the essential work (cookie check, one
  page record, one write, pixel injection), the yardstick the targets are
  set against: the targets of 10 us (returning visitor) and 15 us (fresh)
  were set where that bare-bones middleware costs about 6 us, so they are
  1.67x and 2.5x its overhead;
- for records/s, a bare-bones loop that builds the same records as plain
  lists and writes them with one ``os.write`` per visitor.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from webob import Request

from common import print_figures
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.middleware import ManhattanMiddleware
from manhattan.visitor import Visitor
from manhattan.web.cookies import CookieSigner, new_visitor_id

SECRET = "bench-secret"
BODY = b"<!doctype html><html><head><title>Shop</title></head><body><h1>Hello</h1></body></html>"
REFERENCE_BARE_BONES_US = 6.0  # the bare-bones overhead where the targets were set
TARGETS = {"returning": 10.0, "fresh": 15.0}
TARGET_RECORDS_PER_S = 300_000

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def bare_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(BODY)))],
    )
    return [BODY]


def bare_bones_middleware(app: App, path: Path) -> App:
    """The essential work only: verify the cookie, one record, one write, inject."""
    key = hashlib.sha1(b"manhattan.signer." + SECRET.encode()).digest()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    tag = b'<img src="/vpixel.gif" alt="">'

    def middleware(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        cookie = environ.get("HTTP_COOKIE", "")
        at = cookie.find("manhattan=")
        vid = ""
        if at >= 0:
            vid, _, sig = cookie[at + 10 :].split(";", 1)[0].rpartition(".")
            digest = hmac.new(key, vid.encode(), hashlib.sha1).hexdigest()
            if not hmac.compare_digest(digest, sig):
                vid = ""
        vid = vid or os.urandom(20).hex()
        record = [
            "1",
            "page",
            f"{time.time():0.4f}",
            vid,
            "0",
            environ.get("REMOTE_ADDR", ""),
            environ["REQUEST_METHOD"],
            f"{environ['wsgi.url_scheme']}://{environ['HTTP_HOST']}{environ['PATH_INFO']}",
            environ.get("HTTP_USER_AGENT", ""),
            environ.get("HTTP_REFERER", ""),
        ]
        answer: list[Any] = []
        body = b"".join(app(environ, lambda status, headers, exc=None: answer.extend(headers)))
        at = body.find(b"</body>")
        body = body[:at] + tag + body[at:]
        headers = [(k, v) for k, v in answer if k != "Content-Length"]
        start_response("200 OK", [*headers, ("Content-Length", str(len(body)))])
        os.write(fd, b"\t".join([f.encode("unicode_escape") for f in record]) + b"\n")
        return [body]

    return middleware


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


def time_app(app: App, environ: dict[str, Any], calls: int) -> float:
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
    ours = ManhattanMiddleware(bare_app, TimeRotatingLog(directory / "mw" / "log"), SECRET)
    bones = bare_bones_middleware(bare_app, directory / "bare-bones.log")
    returning = base_environ(CookieSigner(SECRET).sign(new_visitor_id()))
    fresh = base_environ(None)
    times: dict[str, list[float]] = {"bare": [], "bones": [], "returning": [], "fresh": []}
    for app in (ours, bones):
        time_app(app, returning, calls // 10)  # warm up: files opened, caches filled
    for _ in range(runs):
        times["bare"].append(time_app(bare_app, returning, calls))
        times["bones"].append(time_app(bones, returning, calls))
        times["returning"].append(time_app(ours, returning, calls))
        times["fresh"].append(time_app(ours, fresh, calls))
    median = {name: statistics.median(values) * 1e6 for name, values in times.items()}
    bones_overhead = median["bones"] - median["bare"]
    figures = {
        "bare app, us/request": median["bare"],
        "bare-bones middleware overhead, us": bones_overhead,
    }
    for kind in ("returning", "fresh"):
        overhead = median[kind] - median["bare"]
        ratio = overhead / bones_overhead
        figures[f"{kind} visitor overhead, us"] = overhead
        figures[f"{kind} visitor overhead, x bare-bones"] = ratio
        figures[f"{kind} visitor, at the reference (target {TARGETS[kind]:g}), us"] = (
            ratio * REFERENCE_BARE_BONES_US
        )
    return figures


def visitor_loop(log: TimeRotatingLog, ids: list[str], request: Request) -> None:
    for vid in ids:
        visitor = Visitor(vid, log, "1")
        visitor.page(request)
        visitor.split("Blue Button")
        visitor.goal("Began Checkout", 12.5, Visitor.SUM, Visitor.CURRENCY)
        visitor.flush()


def bare_bones_loop(fd: int, ids: list[str], request: Request) -> None:
    environ = request.environ
    url = request.url
    for vid in ids:
        now = f"{time.time():0.4f}"
        records = [
            ["1", "page", now, vid, "1", "", "GET", url, environ["HTTP_USER_AGENT"], ""],
            ["1", "split", now, vid, "1", "Blue Button", "True"],
            ["1", "goal", now, vid, "1", "Began Checkout", "12.5", "S", "C"],
        ]
        os.write(
            fd,
            b"".join(b"\t".join([f.encode("unicode_escape") for f in r]) + b"\n" for r in records),
        )


def visitor_records(runs: int, visitors: int, directory: Path) -> dict[str, float]:
    log = TimeRotatingLog(directory / "visitor" / "log")
    fd = os.open(directory / "bare-bones-records.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    request = Request.blank("/checkout", headers={"User-Agent": "Mozilla/5.0"})
    pool = [new_visitor_id() for _ in range(1000)]
    returning = [pool[i % len(pool)] for i in range(visitors)]
    rates: dict[str, list[float]] = {"bones": [], "returning": [], "new": []}
    for _ in range(runs):
        for name, ids in (("bones", returning), ("returning", returning), ("new", None)):
            ids = ids or [new_visitor_id() for _ in range(visitors)]
            began = time.perf_counter()
            if name == "bones":
                bare_bones_loop(fd, ids, request)
            else:
                visitor_loop(log, ids, request)
            rates[name].append(3 * visitors / (time.perf_counter() - began))
    median = {name: statistics.median(values) for name, values in rates.items()}
    return {
        "bare-bones records/s": median["bones"],
        "Visitor records/s, returning visitors (pool of 1000)": median["returning"],
        "Visitor records/s, a new visitor each time": median["new"],
        "returning, x bare-bones": median["returning"] / median["bones"],
        "new, x bare-bones": median["new"] / median["bones"],
    }


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
    print_figures(
        f"frontend benchmark: median of {args.runs} runs, {args.calls} requests each", figures
    )


if __name__ == "__main__":
    main()
