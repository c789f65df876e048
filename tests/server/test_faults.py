"""Faults on the production path, against real servers: Redis restarted
while app servers write and a worker follows the stream (or the log server
drains RemoteLog's list); PostgreSQL
connections dropped mid-flush; several workers killed with SIGKILL at once.

Each test ends with the counts of an uninterrupted run over the same
events: one worker reading a copy of the stream on the shared test Redis
into an SQLite file (see ``test_partitions``).
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
import sqlalchemy
from sqlalchemy import event

from manhattan.backend.persistence import SQLStore
from manhattan.log.redisstream import RedisStreamLog, stream_key
from manhattan.log.remote import RemoteLog, processing_key
from manhattan.server import cli
from tests.conftest import RedisURL
from tests.server.test_partitions import (
    PARTITIONS,
    dump,
    events,
    flags,
    stored_positions,
    write,
    write_as_requests,
)

WAIT = 60.0  # seconds a bounded wait may take; only ever reached by a failing test
COMPLEX = "Abandoned Cart|Added To Cart|Began Checkout"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def reference_counts(redis_url: RedisURL, records: list[list[str]], tmp_path: Path) -> Any:
    """The counts of one uninterrupted worker over ``records``."""
    stream = f"{redis_url.prefix}reference"
    write(redis_url, stream, records, tmp_path / "reference-fallback")
    url = f"sqlite:///{tmp_path / 'reference.db'}"
    assert cli.main(flags(redis_url, stream, url)) == 0
    counts = dump(url)
    assert counts["counts"]
    return counts


class PrivateRedis:
    """A redis-server of the test's own, on a free port, with an append-only
    file (fsync at every write), so that a restart keeps what it took: the
    setting a production Redis carrying the log needs."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is not installed (CI=true: it is required)")
            pytest.skip("redis-server is not installed")
        self.binary = binary
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.directory),
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis.from_url(self.url, socket_timeout=1)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.RedisError:
                return False

        wait_until(up, "the private redis-server to answer")
        client.close()

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(WAIT)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()


def last_ids(url: str, stream: str) -> dict[int, str]:
    client = redis.Redis.from_url(url)
    try:
        return {
            i: entries[0][0].decode()
            for i in range(PARTITIONS)
            if (entries := client.xrevrange(stream_key(stream, i), count=1))
        }
    finally:
        client.close()


def worker_command(redis_url: str, stream: str, url: str, *owned: int) -> list[str]:
    """A following (not --once) worker that commits often."""
    command = flags(redis_url, stream, url, *owned)
    command.remove("--once")
    return [
        sys.executable,
        "-m",
        "manhattan.server",
        *command,
        "--flush-seconds",
        "0.2",
        "--bind",
        f"tcp://127.0.0.1:{free_port()}",
    ]


@pytest.mark.timeout(180)
def test_redis_restarted_while_app_servers_write_and_a_worker_follows(
    redis_url: RedisURL, postgres_url: str, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    records = events(6000, 600, seed=11)
    expected = reference_counts(redis_url, records, tmp_path)
    stream = "events"
    SQLStore(postgres_url).close()  # the tables, for stored_positions to read
    errors = tmp_path / "worker.err"
    with errors.open("wb") as stderr:
        worker = subprocess.Popen(
            worker_command(private_redis.url, stream, postgres_url), stderr=stderr
        )
    try:
        log = RedisStreamLog(private_redis.url, stream, PARTITIONS, fallback=tmp_path / "fallback")
        thirds = [records[i : i + 2000] for i in range(0, 6000, 2000)]
        write_as_requests(log, thirds[0])
        # The worker is up and counting (a worker that cannot reach Redis at
        # its start exits, for its supervisor to restart it).
        wait_until(lambda: bool(stored_positions(postgres_url, stream)), "a first commit")
        private_redis.kill()
        write_as_requests(log, thirds[1])  # Redis is down: the fallback file takes them
        assert (tmp_path / "fallback").exists() or list(tmp_path.glob("fallback.sending-*"))
        # Down until the worker has met the outage; it retries, it does not exit.
        wait_until(lambda: "reading failed" in errors.read_text(), "the worker to retry")
        private_redis.start()  # its append-only file brings the first third back
        write_as_requests(log, thirds[2])
        assert log.flush(timeout=WAIT), "the fallback was not sent after the restart"
        log.close()
        assert not list(tmp_path.glob("fallback*"))

        ends = last_ids(private_redis.url, stream)
        assert len(ends) == PARTITIONS
        wait_until(
            lambda: stored_positions(postgres_url, stream) == ends,
            "the worker to commit the whole stream",
        )
        assert worker.poll() is None, "the worker died during the outage"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(WAIT) == 0
    finally:
        worker.kill()
        worker.wait(WAIT)
    assert dump(postgres_url) == expected


@pytest.mark.timeout(180)
def test_redis_restarted_under_remote_log_writers_and_the_log_server(
    redis_url: RedisURL, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    records = events(3000, 300, seed=14)
    expected = reference_counts(redis_url, records, tmp_path)
    key = "queue"
    path = tmp_path / "log" / "events"
    path.parent.mkdir()
    errors = tmp_path / "logserver.err"
    with errors.open("wb") as stderr:
        log_server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "manhattan.logserver",
                "--path",
                str(path),
                "--redis",
                private_redis.url,
                "--key",
                key,
            ],
            stderr=stderr,
        )
    try:
        log = RemoteLog(
            key,
            redis_kwargs={"host": "127.0.0.1", "port": private_redis.port},
            fallback=tmp_path / "fallback",
        )
        thirds = [records[i : i + 1000] for i in range(0, 3000, 1000)]
        write_as_requests(log, thirds[0])
        wait_until(lambda: any(path.parent.glob("events.*")), "the log server to write")
        private_redis.kill()
        write_as_requests(log, thirds[1])  # Redis is down: the fallback file takes them
        wait_until(lambda: "Redis failed" in errors.read_text(), "the log server to retry")
        private_redis.start()
        write_as_requests(log, thirds[2])
        assert log.flush(timeout=WAIT), "the fallback was not pushed after the restart"
        log.close()
        client = redis.Redis.from_url(private_redis.url)
        wait_until(
            lambda: client.llen(key) == 0 and client.llen(processing_key(key)) == 0,
            "the log server to drain the queue",
        )
        client.close()
        assert log_server.poll() is None, "the log server died during the outage"
        log_server.send_signal(signal.SIGTERM)
        assert log_server.wait(WAIT) == 0
    finally:
        log_server.kill()
        log_server.wait(WAIT)
    url = f"sqlite:///{tmp_path / 'counted.db'}"
    command = ["--path", str(path), "--url", url, "--complex", COMPLEX, "--once"]
    assert cli.main(command) == 0
    assert dump(url) == expected


class ConnectionKiller:
    """Terminates PostgreSQL backends from a second connection: the one
    about to run the ``n``-th ``INSERT INTO counts`` (mid-transaction in a
    flush) for each ``n`` in ``inserts``, and the one handed out for the
    ``n``-th read (the autocommit engine, which looks up visitors) for each
    ``n`` in ``reads``."""

    def __init__(self, postgres_url: str, inserts: set[int], reads: set[int]) -> None:
        dsn = sqlalchemy.make_url(postgres_url).set(drivername="postgresql", query={})
        self.admin = psycopg.connect(dsn.render_as_string(hide_password=False), autocommit=True)
        self.inserts, self.reads = inserts, reads
        self.seen = {"insert": 0, "read": 0}
        self.killed: list[str] = []

    def before_execute(
        self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if conn.dialect.name == "postgresql" and statement.lstrip().startswith(
            "INSERT INTO counts"
        ):
            self.seen["insert"] += 1
            if self.seen["insert"] in self.inserts:
                self.terminate("insert", conn.connection.dbapi_connection)

    def checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if isinstance(dbapi_connection, psycopg.Connection) and dbapi_connection.autocommit:
            self.seen["read"] += 1
            if self.seen["read"] in self.reads:
                self.terminate("read", dbapi_connection)

    def terminate(self, what: str, dbapi_connection: psycopg.Connection[Any]) -> None:
        pid = dbapi_connection.info.backend_pid
        self.admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + WAIT
        while self.admin.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]
        ).fetchone():
            assert time.monotonic() < deadline, "the backend outlived its termination"
            time.sleep(0.01)
        self.killed.append(what)


@pytest.mark.timeout(120)
def test_postgresql_connections_dropped_mid_flush_are_retried(
    redis_url: RedisURL, postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = events(4000, 500, seed=12)
    expected = reference_counts(redis_url, records, tmp_path)
    stream = f"{redis_url.prefix}events"
    write(redis_url, stream, records, tmp_path / "fallback")
    SQLStore(postgres_url).close()  # the tables exist before the drops begin
    killer = ConnectionKiller(postgres_url, inserts={2, 5}, reads={3})
    event.listen(sqlalchemy.Engine, "before_cursor_execute", killer.before_execute)
    event.listen(sqlalchemy.pool.Pool, "checkout", killer.checkout)
    try:
        with caplog.at_level(logging.ERROR, logger="manhattan.server"):
            assert cli.main([*flags(redis_url, stream, postgres_url), "--flush-every", "400"]) == 0
    finally:
        event.remove(sqlalchemy.Engine, "before_cursor_execute", killer.before_execute)
        event.remove(sqlalchemy.pool.Pool, "checkout", killer.checkout)
        killer.admin.close()
    assert sorted(killer.killed) == ["insert", "insert", "read"]
    messages = [record.getMessage() for record in caplog.records]
    assert sum(message.startswith("commit failed") for message in messages) == 2
    assert sum(message.startswith("reading failed") for message in messages) == 1
    assert dump(postgres_url) == expected


@pytest.mark.timeout(180)
def test_two_workers_killed_mid_stream_at_once_resume_exactly(
    redis_url: RedisURL, postgres_url: str, tmp_path: Path
) -> None:
    records = events(16_000, 1200, seed=13)
    expected = reference_counts(redis_url, records, tmp_path)
    stream = f"{redis_url.prefix}events"
    write(redis_url, stream, records, tmp_path / "fallback")
    ends = last_ids(redis_url, stream)
    SQLStore(postgres_url).close()
    owners = [(0, 1), (2, 3)]
    commands = [
        [*worker_command(redis_url, stream, postgres_url, *owned), "--flush-every", "150"]
        for owned in owners
    ]
    children = [subprocess.Popen(c, stderr=subprocess.DEVNULL) for c in commands]
    try:
        # Kill both once each has committed, with work in flight.
        wait_until(
            lambda: {0, 2} <= set(stored_positions(postgres_url, stream)),
            "both workers to commit",
        )
        for child in children:
            assert child.poll() is None, "a worker finished before it could be killed"
            os.kill(child.pid, signal.SIGKILL)
    finally:
        for child in children:
            child.kill()
            child.wait(WAIT)
    assert [child.returncode for child in children] == [-signal.SIGKILL] * 2
    assert stored_positions(postgres_url, stream) != ends  # killed before the end
    for owned in owners:
        assert cli.main(flags(redis_url, stream, postgres_url, *owned)) == 0
    assert stored_positions(postgres_url, stream) == ends
    assert dump(postgres_url) == expected
