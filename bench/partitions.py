"""Partitioned workers: two ``manhattan-server`` workers, each owning one of
two partitions of a Redis stream, against one worker owning both, on the
same stream and the same PostgreSQL server, in the same run.

Needs Redis and PostgreSQL on 127.0.0.1 (as the tests do). Run:
``.venv/bin/python bench/partitions.py [--events N] [--visitors N] [--runs N]``.

The stream is written once (one entry per record, as requests write them)
and kept (``--keep-stream``), so every run reads the same entries; each run
counts into a fresh PostgreSQL schema. The figure is events per second of
wall time from the workers' start to the last one's exit (process start
included, the same for both); the one-worker and two-worker runs alternate.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from manhattan.log.redisstream import partition_of, stream_key
from manhattan.log.text import encode_record
from manhattan.log.timerotating import TimeRotatingLog
from stream import write_stream

REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES = "host=127.0.0.1 port=5432 dbname=test user=postgres"
PARTITIONS = 2
COMPLEX = "Abandoned Cart|Added To Cart|Began Checkout"


def fill_stream(client: redis.Redis, stream: str, events: int, visitors: int) -> int:
    """Write the benchmark stream into ``stream``'s partitions; records written."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "log"
        write_stream(path, events, visitors)
        pipe = client.pipeline(transaction=False)
        written = 0
        for record, _ in TimeRotatingLog(path).process(None, False):
            key = stream_key(stream, partition_of(record[3], PARTITIONS))
            pipe.xadd(key, {b"r": encode_record(record)})
            written += 1
            if written % 2000 == 0:
                pipe.execute()
        pipe.execute()
    return written


def schema_url(schema: str) -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"


def run_workers(stream: str, owned: list[list[int]]) -> float:
    """Wall seconds for one worker per partition list in ``owned``, all at once."""
    schema = f"bench_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = schema_url(schema)
    try:
        # Create the tables first, so the timed runs only count.
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"from manhattan.backend.persistence import SQLStore; SQLStore({url!r}).close()",
            ],
            check=True,
        )
        commands = [
            [
                sys.executable,
                "-m",
                "manhattan.server",
                "--redis",
                REDIS_URL,
                "--stream",
                stream,
                "--partitions",
                str(PARTITIONS),
                *[flag for p in partitions for flag in ("--partition", str(p))],
                "--url",
                url,
                "--complex",
                COMPLEX,
                "--once",
                "--keep-stream",
            ]
            for partitions in owned
        ]
        began = time.perf_counter()
        children = [subprocess.Popen(command) for command in commands]
        statuses = [child.wait() for child in children]
        seconds = time.perf_counter() - began
        if any(statuses):
            raise SystemExit(f"a worker failed: {statuses}")
        return seconds
    finally:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--visitors", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    client = redis.Redis.from_url(REDIS_URL)
    stream = f"bench-partitions-{secrets.token_hex(4)}"
    try:
        written = fill_stream(client, stream, args.events, args.visitors)
        sizes = [client.xlen(stream_key(stream, p)) for p in range(PARTITIONS)]
        print(f"stream: {written} events, partitions {sizes}")
        one: list[float] = []
        two: list[float] = []
        for run in range(args.runs):
            order = [("one", [[0, 1]]), ("two", [[0], [1]])]
            if run % 2:
                order.reverse()
            for name, owned in order:
                seconds = run_workers(stream, owned)
                (one if name == "one" else two).append(written / seconds)
                print(f"run {run + 1}: {name} worker(s) {written / seconds:10.0f} events/s")
    finally:
        for p in range(PARTITIONS):
            client.delete(stream_key(stream, p))
        client.close()
    ratios = [b / a for a, b in zip(one, two, strict=True)]
    print()
    print(f"  one worker, events/s (median)          {statistics.median(one):10.0f}")
    print(f"  two workers, events/s (median)         {statistics.median(two):10.0f}")
    print(
        f"  two / one, median of per-run ratios    {statistics.median(ratios):10.2f}"
        "  (target >= 1.6)"
    )


if __name__ == "__main__":
    main()
