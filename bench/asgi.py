"""ASGI middleware benchmark: overhead per request, and how long it holds the event loop.

Run: ``.venv/bin/python bench/asgi.py [--runs N] [--calls N]``.

Overhead: the ASGI app is called directly (prepared scope, ``receive`` and
``send`` that never wait) for a returning visitor with a valid cookie and for
a fresh one, logging to a ``TimeRotatingLog`` in a temp dir, against the bare
app timed in the same, interleaved runs (median of the runs). The WSGI
middleware's overhead over its bare app is timed alongside, as a yardstick for
how fast this machine is right now. Target: 30 us over the bare app.

Event-loop blocking: each request's coroutine is driven step by step and each
step (the code between two suspensions: the time nothing else on the loop can
run) is timed; the figure is the longest step of each request (median and
99th percentile over the requests). Logs compared: the file log, a
``RedisStreamLog`` on 127.0.0.1:6379 (when reachable) and a log whose write
waits 1 ms (a network round trip), each written inline and with
``offload=True``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Generator, Iterable, MutableMapping, Sequence
from pathlib import Path
from typing import Any

from common import print_figures
from manhattan.asgi import ManhattanMiddleware
from manhattan.log import Log
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.middleware import ManhattanMiddleware as WSGIMiddleware
from manhattan.web.cookies import CookieSigner, new_visitor_id

SECRET = "bench-secret"
BODY = b"<!doctype html><html><head><title>Shop</title></head><body><h1>Hello</h1></body></html>"
TARGET_US = 30.0

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
App = Callable[[Scope, Receive, Callable[[Message], Awaitable[None]]], Any]

START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(BODY)).encode()),
    ],
}
BODY_MESSAGE = {"type": "http.response.body", "body": BODY}


async def bare_app(scope: Scope, receive: Any, send: Any) -> None:
    await send(START)
    await send(BODY_MESSAGE)


async def receive() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Message) -> None:
    return None


def make_scope(cookie: str | None) -> Scope:
    headers = [
        (b"host", b"shop.example.com"),
        (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0"),
        (b"referer", b"https://www.example.org/search?q=widgets"),
        (b"accept", b"text/html"),
        (b"accept-encoding", b"gzip, deflate"),
        (b"accept-language", b"en-GB,en;q=0.9"),
    ]
    if cookie:
        headers.append((b"cookie", f"session=abc123; manhattan={cookie}; theme=dark".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/products/blue-widget",
        "raw_path": b"/products/blue-widget",
        "root_path": "",
        "query_string": b"ref=home",
        "headers": headers,
        "client": ("203.0.113.7", 51234),
        "server": ("shop.example.com", 80),
    }


async def time_asgi(app: App, scope: Scope, calls: int) -> float:
    copy = scope.copy
    began = time.perf_counter()
    for _ in range(calls):
        await app(copy(), receive, send)
    return (time.perf_counter() - began) / calls


def wsgi_bare(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response(
        "200 OK",
        [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(BODY)))],
    )
    return [BODY]


def time_wsgi(app: Callable[..., Iterable[bytes]], environ: dict[str, Any], calls: int) -> float:
    copy = environ.copy
    began = time.perf_counter()
    for _ in range(calls):
        body = app(copy(), lambda status, headers, exc_info=None: None)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return (time.perf_counter() - began) / calls


def wsgi_environ(cookie: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/products/blue-widget",
        "QUERY_STRING": "ref=home",
        "SERVER_NAME": "shop.example.com",
        "SERVER_PORT": "80",
        "REMOTE_ADDR": "203.0.113.7",
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "shop.example.com",
        "HTTP_USER_AGENT": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0",
        "HTTP_REFERER": "https://www.example.org/search?q=widgets",
        "HTTP_ACCEPT": "text/html",
        "HTTP_COOKIE": f"session=abc123; manhattan={cookie}; theme=dark",
    }


def overhead(runs: int, calls: int, directory: Path) -> dict[str, float]:
    log = TimeRotatingLog(directory / "asgi" / "log")
    ours = ManhattanMiddleware(bare_app, log, SECRET)
    wsgi = WSGIMiddleware(wsgi_bare, TimeRotatingLog(directory / "wsgi" / "log"), SECRET)
    cookie = CookieSigner(SECRET).sign(new_visitor_id())
    returning, fresh = make_scope(cookie), make_scope(None)
    environ = wsgi_environ(cookie)
    times: dict[str, list[float]] = {k: [] for k in ("bare", "returning", "fresh", "wb", "wm")}

    async def run_all() -> None:
        await time_asgi(ours, returning, calls // 10)  # warm up: files opened, caches filled
        for _ in range(runs):
            times["bare"].append(await time_asgi(bare_app, returning, calls))
            times["returning"].append(await time_asgi(ours, returning, calls))
            times["fresh"].append(await time_asgi(ours, fresh, calls))
            times["wb"].append(time_wsgi(wsgi_bare, environ, calls))
            times["wm"].append(time_wsgi(wsgi, environ, calls))

    asyncio.run(run_all())
    median = {name: statistics.median(values) * 1e6 for name, values in times.items()}
    wsgi_overhead = median["wm"] - median["wb"]
    returning_overhead = median["returning"] - median["bare"]
    return {
        "bare ASGI app, us/request": median["bare"],
        f"returning visitor overhead, us (target {TARGET_US:g})": returning_overhead,
        "fresh visitor overhead, us": median["fresh"] - median["bare"],
        "WSGI middleware overhead (same runs), us": wsgi_overhead,
        "returning ASGI overhead, x WSGI overhead": returning_overhead / wsgi_overhead,
    }


class SlowLog:
    """A log whose write waits ``delay`` seconds, as a network round trip does."""

    def __init__(self, delay: float) -> None:
        self.delay = delay

    def write(self, records: Sequence[Sequence[str]]) -> None:
        time.sleep(self.delay)


class Stepped:
    """Awaits a coroutine, timing each step it runs on the loop."""

    def __init__(self, coroutine: Any) -> None:
        self.coroutine = coroutine
        self.longest = 0.0

    def __await__(self) -> Generator[Any, Any, None]:
        coroutine = self.coroutine
        value: Any = None
        error: BaseException | None = None
        while True:
            began = time.perf_counter()
            try:
                future = coroutine.send(value) if error is None else coroutine.throw(error)
            except StopIteration:
                self.longest = max(self.longest, time.perf_counter() - began)
                return
            self.longest = max(self.longest, time.perf_counter() - began)
            try:
                value, error = (yield future), None
            except BaseException as exc:  # handed on to the coroutine, as a Task would
                value, error = None, exc


def blocking(app: App, scope: Scope, calls: int) -> tuple[float, float]:
    """Median and 99th percentile of each request's longest loop step, in us."""

    async def run() -> list[float]:
        longest = []
        for _ in range(calls):
            stepped = Stepped(app(scope.copy(), receive, send))
            await stepped
            longest.append(stepped.longest * 1e6)
        return longest

    steps = sorted(asyncio.run(run()))
    return statistics.median(steps), steps[int(len(steps) * 0.99)]


def redis_log(directory: Path) -> tuple[Log, Callable[[], None]] | None:
    import redis

    from manhattan.log.redisstream import RedisStreamLog

    client = redis.Redis(socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        return None
    stream = f"bench-asgi-{new_visitor_id()[:8]}"
    log = RedisStreamLog(stream=stream, fallback=directory / "redis-fallback")

    def cleanup() -> None:
        client.delete(*client.keys(f"{stream}*") or [stream])
        log.close()
        client.close()

    return log, cleanup


def loop_blocking(calls: int, directory: Path) -> dict[str, float]:
    scope = make_scope(CookieSigner(SECRET).sign(new_visitor_id()))
    logs: list[tuple[str, Log]] = [
        ("file log", TimeRotatingLog(directory / "block" / "log")),
        ("1 ms log", SlowLog(0.001)),
    ]
    redis = redis_log(directory)
    if redis is not None:
        logs.insert(1, ("RedisStreamLog", redis[0]))
    figures: dict[str, float] = {}
    median, p99 = blocking(bare_app, scope, calls)
    figures["bare app: longest step, median us"] = median
    figures["bare app: longest step, p99 us"] = p99
    try:
        for name, log in logs:
            for offload in (False, True):
                app = ManhattanMiddleware(bare_app, log, SECRET, offload=offload)
                blocking(app, scope, 20)  # warm up
                median, p99 = blocking(app, scope, calls)
                how = "offload" if offload else "inline"
                figures[f"{name}, {how}: longest step, median us"] = median
                figures[f"{name}, {how}: longest step, p99 us"] = p99
    finally:
        if redis is not None:
            redis[1]()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per figure (median taken)")
    parser.add_argument("--calls", type=int, default=20000, help="requests per run")
    args = parser.parse_args()
    if args.runs < 1 or args.calls < 100:
        parser.error("--runs must be >= 1 and --calls >= 100")
    with tempfile.TemporaryDirectory() as tmp:
        figures = overhead(args.runs, args.calls, Path(tmp))
        figures |= loop_blocking(min(args.calls, 2000), Path(tmp))
    print_figures(
        f"ASGI benchmark: median of {args.runs} runs, {args.calls} requests each",
        figures,
        width=10,
    )


if __name__ == "__main__":
    main()
