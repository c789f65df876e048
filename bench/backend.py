"""Backend benchmark: manhattan-server --once throughput and memory, and query latency.

Run: ``make bench-backend`` (or ``.venv/bin/python bench/backend.py
[--runs N] [--events N --visitors N] [--url URL] [--queries N]
[--rollups NAMES] [--campaigns SHARE] [--pages] [--funnel]``).

On a generated stream (``bench/stream.py``: 70% pages, 10% pixels, 12%
goals, 8% splits, 2 sites, 3 tests), each run counts the whole log into a
fresh database with ``manhattan-server --once`` in its own process (all
default rollups on; pages only with ``--pages``), and reports events/s (also per CPU second of that
process, steadier on a busy machine) and peak RSS. The baseline, timed
in the same runs, is a plain Python loop that only reads the same log files
and splits their lines. Query latency is the round trip of ``count`` and of
``results`` for 4 goals through ``manhattan.client.Client`` over loopback.
``--funnel`` declares one 4-step funnel (``FUNNEL``, within a day), and
times ``funnel`` round trips too.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import print_figures
from manhattan.client import Client
from manhattan.log.timerotating import TimeRotatingLog
from stream import write_stream

FUNNEL = "Checkout|viewed page>Added To Cart>Began Checkout>Purchased"


def read_and_split(log: TimeRotatingLog) -> float:
    """Seconds a bare loop takes to read every line of the log and split it."""
    began = time.perf_counter()
    fields = 0
    for _, name in log.files():
        with open(os.path.join(log.directory, name), "rb") as stream:
            for line in stream:
                fields += len(line.split(b"\t"))
    assert fields
    return time.perf_counter() - began


def server(*args: str) -> list[str]:
    return [sys.executable, "-m", "manhattan.server", *args]


def count_once(log_path: Path, url: str, config: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds and peak RSS (bytes) of one ``--once`` run."""
    began = time.perf_counter()
    child = subprocess.Popen(server("--path", str(log_path), "--url", url, "--once", *config))
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - began
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"manhattan-server --once failed with status {child.returncode}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024


def fresh_url(base: str, directory: Path, run: int) -> str:
    if base == "sqlite":
        return f"sqlite:///{directory / f'run{run}.db'}"
    return base


def reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as connection:
        for table in ("counts", "goals", "tests", "visitors", "filtered", "meta"):
            connection.execute(text(f"DROP TABLE IF EXISTS {table}"))
    engine.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def query_latency(log_path: Path, url: str, calls: int, config: list[str]) -> dict[str, float]:
    bind = f"tcp://127.0.0.1:{free_port()}"
    child = subprocess.Popen(
        server("--path", str(log_path), "--url", url, "--bind", bind, *config)
    )
    try:
        with Client(bind, wait=10_000) as client:
            client.count("viewed page")  # waits for the server to be up
            figures: dict[str, float] = {}
            goals = ["viewed page", "Added To Cart", "Began Checkout", "Purchased"]
            queries: list[tuple[str, Callable[[], object]]] = [
                ("count", lambda: client.count("Purchased", ("Checkout Button", "orange"))),
                ("results, 4 goals", lambda: client.results("Checkout Button", goals)),
            ]
            if "--funnel" in config:
                queries.append(("funnel, 4 steps", lambda: client.funnel("Checkout")))
            for name, call in queries:
                times = []
                for _ in range(calls):
                    began = time.perf_counter()
                    call()
                    times.append(time.perf_counter() - began)
                times.sort()
                figures[f"{name} p50, ms"] = times[len(times) // 2] * 1e3
                figures[f"{name} p99, ms"] = times[int(len(times) * 0.99)] * 1e3
            return figures
    finally:
        child.terminate()
        child.wait(timeout=10)


def busy_latency(log_path: Path, directory: Path, calls: int) -> dict[str, float]:
    """``count`` round trips while the server is still counting the log."""
    bind = f"tcp://127.0.0.1:{free_port()}"
    url = f"sqlite:///{directory / 'busy.db'}"
    child = subprocess.Popen(server("--path", str(log_path), "--url", url, "--bind", bind))
    try:
        with Client(bind, wait=10_000) as client:
            client.count("viewed page")  # up (and counting: the database starts empty)
            times = []
            for _ in range(calls):
                began = time.perf_counter()
                client.count("Purchased", ("Checkout Button", "orange"))
                times.append(time.perf_counter() - began)
            busy = client.count("viewed page")
        times.sort()
        return {
            "count p50 while counting, ms": times[len(times) // 2] * 1e3,
            "count p99 while counting, ms": times[int(len(times) * 0.99)] * 1e3,
            "visitors counted when the queries ended": busy,
        }
    finally:
        child.terminate()
        child.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median taken)")
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--visitors", type=int, default=20_000)
    parser.add_argument("--url", default="sqlite", help="'sqlite' (a fresh file per run) or a URL")
    parser.add_argument("--queries", type=int, default=2000, help="round trips per query figure")
    parser.add_argument(
        "--campaigns",
        type=float,
        default=0.0,
        help="share of page URLs with UTM parameters, 0 to 1 (default 0)",
    )
    parser.add_argument("--rollups", help="comma-separated rollups (default: every built-in one)")
    parser.add_argument(
        "--funnel", action="store_true", help=f"declare the funnel {FUNNEL!r} within 1d"
    )
    parser.add_argument(
        "--pages",
        action="store_true",
        help="count pages too (the server's default page rollups all,day); "
        "without it, --page-rollups ''",
    )
    args = parser.parse_args()
    if args.runs < 1 or args.events < 1000 or args.visitors < 10:
        parser.error("--runs >= 1, --events >= 1000 and --visitors >= 10")
    if not 0.0 <= args.campaigns <= 1.0:
        parser.error(f"--campaigns must be a share from 0 to 1, not {args.campaigns}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        log_path = directory / "log" / "events"
        began = time.perf_counter()
        events = write_stream(log_path, args.events, args.visitors, campaigns=args.campaigns)
        print(
            f"generated {events:,} events from {args.visitors:,} visitors "
            f"in {time.perf_counter() - began:.1f} s"
        )
        log = TimeRotatingLog(log_path)
        config: list[str] = []
        if args.rollups:
            # The server takes a rollup list from a config dict named by dotted path.
            (directory / "bench_settings.py").write_text(
                f"CONFIG = {{'rollups': {args.rollups.split(',')!r}}}\n"
            )
            os.environ["PYTHONPATH"] = os.pathsep.join(
                filter(None, [str(directory), os.environ.get("PYTHONPATH")])
            )
            config = ["--config", "bench_settings.CONFIG"]
        if args.funnel:
            config += ["--funnel", FUNNEL, "--within", "1d"]
        if not args.pages:
            config += ["--page-rollups", ""]
        bare, once, cpu, rss = [], [], [], []
        url = ""
        for run in range(args.runs):
            bare.append(read_and_split(log))
            url = fresh_url(args.url, directory, run)
            if url.startswith("postgresql"):
                reset_postgres(url)
            seconds, used, peak = count_once(log_path, url, config)
            once.append(seconds)
            cpu.append(used)
            rss.append(peak)
        figures = {
            "read-and-split loop, events/s": events / statistics.median(bare),
            "manhattan-server --once, events/s": events / statistics.median(once),
            # On a busy machine, CPU time varies less than wall time.
            "--once, events per CPU second": events / statistics.median(cpu),
            "--once time, x the read-and-split loop": statistics.median(once)
            / statistics.median(bare),
            "peak RSS of --once, MB": max(rss) / 1e6,
        }
        figures |= query_latency(log_path, url, args.queries, config)
        figures |= busy_latency(log_path, directory, min(args.queries, 500))
        if url.startswith("postgresql"):
            reset_postgres(url)  # leave the shared database as it was
    rollups = (args.rollups or "every built-in rollup") + (", pages" if args.pages else "")
    if args.funnel:
        rollups += "; one 4-step funnel"
    print_figures(
        f"backend benchmark ({args.url}; {rollups}): median of {args.runs} runs", figures
    )


if __name__ == "__main__":
    main()
