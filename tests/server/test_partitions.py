"""Partitioned workers: a Redis stream log counted by workers that each own
whole partitions, into one PostgreSQL database, equals one worker's count.

Real Redis and PostgreSQL on 127.0.0.1; the reference is one worker over
all the partitions into an SQLite file. Both databases are read back with
SQLAlchemy, independently of the store's own queries.
"""

from __future__ import annotations

import io
import logging
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
import sqlalchemy
from sqlalchemy import update

from manhattan.backend.model import Batch
from manhattan.backend.persistence import SQLStore
from manhattan.backend.persistence import lease as lease_sql
from manhattan.backend.persistence.lease import Holder
from manhattan.backend.persistence.schema import leases
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


# -- Partitions that move on their own ---------------------------------------

OTHER = Holder("elsewhere:7:cafe", "elsewhere", 7)


def leases_of(url: str, prefix: str = "stream:") -> dict[str, int]:
    """Lease name -> holder's pid, of the leases whose names start with ``prefix``."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text("SELECT name, pid FROM leases")).all()
    finally:
        engine.dispose()
    return {str(name): int(pid) for name, pid in rows if str(name).startswith(prefix)}


def spread(url: str, share: int) -> Callable[[], bool]:
    """Whether every partition is held, none of the holders holding more than ``share``."""

    def check() -> bool:
        pids = list(leases_of(url).values())
        return len(pids) == PARTITIONS and max(pids.count(pid) for pid in pids) <= share

    return check


def hold(url: str, name: str, seconds: float = 60) -> None:
    """OTHER, a live worker elsewhere, holds lease ``name`` (taking it over
    from whoever held it); ``seconds`` < 0: its lease has run out."""
    with SQLStore(url) as store:

        def take(conn: sqlalchemy.Connection) -> None:
            conn.execute(update(leases).where(leases.c.name == name).values(expires=0.0))
            assert lease_sql.acquire(conn, name, OTHER, seconds).holder == OTHER.token

        store.commit(Batch(), guard=take)


def last_ids(url: str, stream: str) -> dict[int, str]:
    client = redis.Redis.from_url(url)
    try:
        return {
            i: client.xrevrange(stream_key(stream, i), count=1)[0][0].decode()
            for i in range(PARTITIONS)
        }
    finally:
        client.close()


def wait_until(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def following(redis_url: str, stream: str, url: str, log: Path) -> list[str]:
    """A worker's command line: no --partition, following the stream, a 1.5 s lease."""
    port = cli_port()
    return [
        sys.executable,
        "-m",
        "manhattan.server",
        *flags(redis_url, stream, url)[:-1],  # all but --once
        *("--flush-every", "100", "--lease-seconds", "1.5", "--bind", f"tcp://127.0.0.1:{port}"),
        *("-v", "--log", str(log)),
    ]


def cli_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.mark.timeout(120)
def test_three_workers_one_killed_mid_stream_count_what_one_worker_counts(
    redis_url: RedisURL, postgres_url: str, tmp_path: Path
) -> None:
    stream, copy = f"{redis_url.prefix}events", f"{redis_url.prefix}reference"
    records = events(5000, 500, seed=4)
    # The reference: one uninterrupted worker over a copy of the stream.
    write(redis_url, copy, records, tmp_path / "fallback")
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    assert cli.main(flags(redis_url, copy, reference)) == 0
    SQLStore(postgres_url).close()  # the tables, for the polls below
    logs = [tmp_path / f"worker{i}.log" for i in range(3)]
    workers = [subprocess.Popen(following(redis_url, stream, postgres_url, log)) for log in logs]
    try:
        # Three workers: at most ceil(4 / 3) = 2 partitions each.
        wait_until(spread(postgres_url, 2), "the partitions were not spread")
        write(redis_url, stream, records, tmp_path / "fallback")
        ends = last_ids(redis_url, stream)
        wait_until(lambda: bool(stored_positions(postgres_url, stream)), "no commit seen")
        holders = list(leases_of(postgres_url).values())
        killed = max(workers, key=lambda child: holders.count(child.pid))
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(WAIT)
        assert stored_positions(postgres_url, stream) != ends  # killed mid-stream
        wait_until(
            lambda: stored_positions(postgres_url, stream) == ends, "not counted to the end"
        )
        others = [child for child in workers if child is not killed]
        # Two workers left: 2 each, the killed one's taken over.
        wait_until(spread(postgres_url, 2), "the dead worker's partitions were not taken")
        assert set(leases_of(postgres_url).values()) == {child.pid for child in others}
        wait_until(
            lambda: set(leases_of(postgres_url, "member:").values()) == {c.pid for c in others},
            "the dead worker's member lease was not cleared",
        )
        for child in others:
            child.send_signal(signal.SIGTERM)
        assert [child.wait(WAIT) for child in others] == [0, 0]
    finally:
        for child in workers:
            child.kill()
            child.wait(WAIT)
    assert leases_of(postgres_url, prefix="") == {}  # all released at a clean exit
    assert "took partition" in "".join(log.read_text() for log in logs)
    assert dump(postgres_url) == dump(reference)


def test_a_pinned_partition_a_live_worker_holds_is_refused(
    redis_url: RedisURL, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream, url = f"{redis_url.prefix}events", f"sqlite:///{tmp_path / 'm.db'}"
    SQLStore(url).close()
    hold(url, f"stream:{stream}:1")
    assert cli.main(flags(redis_url, stream, url, 0, 1)) == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"manhattan-server: error: another manhattan-server counts this into {url} "
        f"(lease stream:{stream}:1 is held by elsewhere pid 7 since "
    )
    assert err.count("\n") == 1
    assert leases_of(url, prefix="") == {f"stream:{stream}:1": 7}  # 0's was given back


def test_a_worker_finding_every_partition_held_stands_by(
    redis_url: RedisURL, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stream, url = f"{redis_url.prefix}events", f"sqlite:///{tmp_path / 'm.db'}"
    write(redis_url, stream, events(50, 10, seed=5), tmp_path / "fallback")
    SQLStore(url).close()
    for i in range(PARTITIONS):
        hold(url, f"stream:{stream}:{i}")
    with caplog.at_level(logging.INFO, logger="manhattan.server"):
        assert cli.main(flags(redis_url, stream, url)) == 0
    assert "no partition is free for this worker: standing by to take over" in caplog.messages
    assert stored_positions(url, stream) == {}  # counted nothing


@pytest.mark.parametrize(
    ("owned", "verbose"),
    [
        pytest.param((), False, id="self-assigned"),
        pytest.param(tuple(range(PARTITIONS)), True, id="pinned-verbose"),
    ],
)
def test_a_partition_taken_from_a_running_worker_is_dropped_then_taken_back(
    redis_url: RedisURL, tmp_path: Path, owned: tuple[int, ...], verbose: bool
) -> None:
    stream, copy = f"{redis_url.prefix}events", f"{redis_url.prefix}reference"
    url, reference = f"sqlite:///{tmp_path / 'm.db'}", f"sqlite:///{tmp_path / 'ref.db'}"
    first, second = events(1000, 100, seed=6), events(1000, 100, seed=7, start=1000)
    for name in (stream, copy):
        write(redis_url, name, first, tmp_path / "fallback")
    SQLStore(url).close()  # the tables, for the polls below
    argv = [
        *flags(redis_url, stream, url, *owned)[:-1],
        *(
            "--lease-seconds",
            "0.3",
            "--flush-seconds",
            "0.05",
            "--bind",
            f"tcp://127.0.0.1:{cli_port()}",
        ),
        *(["-v"] if verbose else []),
    ]
    stop = threading.Event()
    outcome: list[int] = []
    worker = threading.Thread(
        target=lambda: outcome.append(cli.run(cli.settings_from(argv), stop, io.StringIO()))
    )
    worker.start()
    name = f"stream:{stream}:1"
    try:
        ends = last_ids(redis_url, stream)
        wait_until(lambda: stored_positions(url, stream) == ends, "first part not counted")
        hold(url, name)  # another worker takes partition 1 over
        write(redis_url, stream, second, tmp_path / "fallback")
        ends = last_ids(redis_url, stream)
        # The others go on; partition 1 stays where its last commit left it.
        wait_until(
            lambda: (
                {i: p for i, p in stored_positions(url, stream).items() if i != 1}
                == {i: p for i, p in ends.items() if i != 1}
            ),
            "the other partitions were not counted on",
        )
        assert stored_positions(url, stream)[1] != ends[1]
        hold(url, name, seconds=-1)  # that worker died: its lease runs out
        wait_until(lambda: stored_positions(url, stream) == ends, "partition 1 not taken back")
    finally:
        stop.set()
        worker.join(WAIT)
    assert outcome == [0]
    write(redis_url, copy, second, tmp_path / "fallback")
    assert cli.main([*flags(redis_url, copy, reference), "--keep-stream"]) == 0
    assert dump(url) == dump(reference)
