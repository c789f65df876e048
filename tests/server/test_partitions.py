"""Partitioned workers: a Redis stream log counted by workers that each own
whole partitions, into one PostgreSQL database, equals one worker's count.

Real Redis and PostgreSQL on 127.0.0.1; the reference is one worker over
all the partitions into an SQLite file. Both databases are read back with
SQLAlchemy, independently of the store's own queries.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis
import sqlalchemy

from manhattan.backend.persistence import SQLStore
from manhattan.log import Log
from manhattan.log.redisstream import RedisStreamLog, stream_key
from manhattan.server import cli
from manhattan.visitor.records import goal_record, page_record, pixel_record, split_record
from tests.conftest import RedisURL

START = 1_764_000_000.0
PARTITIONS = 4
WAIT = 60.0  # seconds a bounded wait may take; only ever reached by a failing test


def events(count: int, visitors: int, seed: int, start: int = 0) -> list[list[str]]:
    """A mixed stream: pages (some by a crawler), pixels, goals with values, splits."""
    rng = random.Random(seed)
    ids = [f"{random.Random(v).getrandbits(160):040x}" for v in range(visitors)]
    records = []
    for i in range(start, start + count):
        vid = rng.choice(ids)
        stamp, site = f"{START + i * 7.3:0.4f}", str(1 + int(vid, 16) % 2)
        roll = rng.random()
        if roll < 0.6:
            agent = "Googlebot/2.1" if int(vid, 16) % 17 == 0 else "Mozilla/5.0 Firefox/133.0"
            records.append(page_record(stamp, vid, site, "198.51.100.4", "GET", "/", agent, ""))
        elif roll < 0.75:
            records.append(pixel_record(stamp, vid, site))
        elif roll < 0.9:
            name = rng.choice(["Added To Cart", "Began Checkout", "Purchased"])
            value = rng.choice(["", "9.5", "12", "30"])
            records.append(goal_record(stamp, vid, site, name, value, "S" if value else "", ""))
        else:
            test = rng.choice(["Button", "Banner"])
            records.append(split_record(stamp, vid, site, test, str(int(vid, 16) % 3)))
    return records


def write_as_requests(log: Log, records: list[list[str]]) -> None:
    """Write ``records`` in small writes, as requests make them (five records each)."""
    for start in range(0, len(records), 5):
        log.write(records[start : start + 5])


def write(url: str, stream: str, records: list[list[str]], fallback: Path) -> None:
    log = RedisStreamLog(url, stream, PARTITIONS, fallback=fallback, socket_timeout=5.0)
    write_as_requests(log, records)
    log.close()
    assert not fallback.exists()  # everything reached Redis


def dump(url: str) -> dict[str, list[tuple[object, ...]]]:
    """The counted tables, zero rows left out, in key order."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:

            def rows(sql: str) -> list[tuple[object, ...]]:
                return [tuple(row) for row in conn.execute(sqlalchemy.text(sql))]

            return {
                "counts": rows(
                    "SELECT rollup, bucket, site, goal, test, population, visitors,"
                    " value_total, value_sumsq FROM counts"
                    " WHERE visitors != 0 OR value_total != 0 ORDER BY 1, 2, 3, 4, 5, 6"
                ),
                "goals": rows("SELECT * FROM goals ORDER BY name"),
                "tests": rows("SELECT * FROM tests ORDER BY name"),
                "filtered": rows(
                    "SELECT reason, events FROM filtered WHERE events != 0 ORDER BY reason"
                ),
            }
    finally:
        engine.dispose()


def flags(redis_url: str, stream: str, url: str, *owned: int) -> list[str]:
    partition_flags = [flag for i in owned for flag in ("--partition", str(i))]
    return [
        "--redis",
        redis_url,
        "--stream",
        stream,
        "--partitions",
        str(PARTITIONS),
        *partition_flags,
        "--url",
        url,
        "--complex",
        "Abandoned Cart|Added To Cart|Began Checkout",
        "--once",
    ]


def run_workers(redis_url: str, stream: str, url: str, *owned: tuple[int, ...]) -> None:
    """One ``manhattan-server --once`` per partition set, all at once, in threads."""
    statuses: list[int] = []

    def work(partitions: tuple[int, ...]) -> None:
        extra = ["--flush-every", "300"]
        statuses.append(cli.main([*flags(redis_url, stream, url, *partitions), *extra]))

    threads = [threading.Thread(target=work, args=(partitions,)) for partitions in owned]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert statuses == [0] * len(owned)


def test_two_workers_resuming_count_what_one_worker_counts(
    redis_url: RedisURL, postgres_url: str, tmp_path: Path
) -> None:
    stream = f"{redis_url.prefix}events"
    first, second = events(3000, 300, seed=1), events(3000, 300, seed=2, start=3000)
    write(redis_url, stream, first, tmp_path / "fallback")
    client = redis.Redis.from_url(redis_url)
    client.xadd(stream_key(stream, 3), {b"r": b"not a record\n"})  # skipped, counted once
    client.close()
    # One worker owning all 4, reading ahead of the others, and keeping what
    # it read for them (it is not the only consumer).
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    assert cli.main([*flags(redis_url, stream, reference), "--keep-stream"]) == 0
    run_workers(redis_url, stream, postgres_url, (0, 1), (2, 3))
    write(redis_url, stream, second, tmp_path / "fallback")
    assert cli.main([*flags(redis_url, stream, reference), "--keep-stream"]) == 0
    run_workers(redis_url, stream, postgres_url, (0, 1), (2, 3))
    # Nothing new: a third run adds nothing.
    run_workers(redis_url, stream, postgres_url, (1, 0), (3, 2))

    # Each commit trimmed its partitions up to the committed entry.
    client = redis.Redis.from_url(redis_url)
    assert [client.xlen(stream_key(stream, i)) for i in range(PARTITIONS)] == [1] * PARTITIONS
    client.close()
    expected = dump(reference)
    assert expected["counts"]
    assert ("malformed line", 1) in expected["filtered"]
    assert dump(postgres_url) == expected


def test_a_database_that_cannot_open_closes_the_stream_and_is_one_error_line(
    redis_url: RedisURL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = "sqlite:////no/such/dir/m.db"
    assert cli.main(flags(redis_url, f"{redis_url.prefix}events", url)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"manhattan-server: error: cannot open the store at {url}: ")
    assert err.count("\n") == 1


def stored_positions(url: str, stream: str) -> dict[int, str]:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sqlalchemy.text("SELECT key, value FROM meta WHERE key LIKE :prefix"),
                {"prefix": f"stream:{stream}:%"},
            ).all()
    except sqlalchemy.exc.ProgrammingError:
        return {}  # no tables yet
    finally:
        engine.dispose()
    return {int(key.rpartition(":")[2]): value for key, value in rows}


@pytest.mark.timeout(120)
def test_kill_9_mid_stream_then_restart_counts_exactly_once(
    redis_url: RedisURL, postgres_url: str, tmp_path: Path
) -> None:
    stream = f"{redis_url.prefix}events"
    write(redis_url, stream, events(20_000, 1500, seed=3), tmp_path / "fallback")
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    assert cli.main([*flags(redis_url, stream, reference), "--keep-stream"]) == 0
    client = redis.Redis.from_url(redis_url)
    last_id = client.xrevrange(stream_key(stream, 0), count=1)[0][0].decode()
    client.close()
    command = [
        sys.executable,
        "-m",
        "manhattan.server",
        *flags(redis_url, stream, postgres_url, 0, 1),
        "--flush-every",
        "100",
    ]
    SQLStore(postgres_url).close()  # the tables, for stored_positions to read
    child = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        # Kill right after a commit is seen: mid-stream, with work in flight.
        deadline = time.monotonic() + WAIT
        position = None
        while position is None and child.poll() is None:
            assert time.monotonic() < deadline, "no commit seen"
            position = stored_positions(postgres_url, stream).get(0)
            time.sleep(0.005)
        assert child.poll() is None, "the worker finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(WAIT)
    assert child.returncode == -signal.SIGKILL
    assert position is not None
    assert position != last_id  # killed before the end
    subprocess.run(command, check=True, timeout=WAIT, stderr=subprocess.DEVNULL)
    assert stored_positions(postgres_url, stream)[0] == last_id
    run_workers(redis_url, stream, postgres_url, (2, 3))
    assert dump(postgres_url) == dump(reference)
