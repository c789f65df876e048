"""manhattan-server's leases through its command line: one server per log
and database, and a stalled one that lost its lease commits nothing. Real
SQLite files and the real PostgreSQL; in-process servers in threads, and
real processes where they must be paused (SIGSTOP)."""

from __future__ import annotations

import io
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import types
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import update

from manhattan.backend.model import Batch
from manhattan.backend.persistence import SQLStore
from manhattan.backend.persistence import lease as lease_sql
from manhattan.backend.persistence.engine import safe_url
from manhattan.backend.persistence.lease import Holder
from manhattan.backend.persistence.schema import leases
from manhattan.server import cli
from manhattan.server.leases import FILE_LOG
from tests.server.test_cli import config_module, first_log, free_port, one_error_line
from tests.server.test_worker import (
    BOTH_COUNTS,
    BOTH_FILTERED,
    FIRST_COUNTS,
    FIRST_FILTERED,
    HOUR,
    SECOND,
    WAIT,
    T,
    counts_of,
    log_at,
    write_each,
)

__all__ = ["config_module"]  # a fixture used by name


class Background:
    """``cli.run`` with ``argv`` in a thread, until :meth:`stop`; its
    return value or the exception it raised in ``outcome``."""

    def __init__(self, argv: list[str]) -> None:
        self.halt = threading.Event()
        self.outcome: list[object] = []
        settings = cli.settings_from(argv)
        self.thread = threading.Thread(target=self._run, args=(settings,))
        self.thread.start()

    def _run(self, settings: cli.Settings) -> None:
        try:
            self.outcome.append(cli.run(settings, self.halt, io.StringIO()))
        except Exception as exc:
            self.outcome.append(exc)

    def stop(self) -> object:
        self.halt.set()
        return self.join()

    def join(self) -> object:
        self.thread.join(WAIT)
        assert not self.thread.is_alive()
        [outcome] = self.outcome
        return outcome


def wait_for_pointer(url: str, pointer: str) -> None:
    deadline = time.monotonic() + WAIT
    while True:
        with SQLStore(url) as store:
            if store.load_pointer() == pointer:
                return
        assert time.monotonic() < deadline, f"{pointer} was never committed"
        time.sleep(0.02)


def lease_rows(url: str) -> list[tuple[Any, ...]]:
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sqlalchemy.text("SELECT name, host, pid FROM leases"))
            return [tuple(row) for row in rows]
    finally:
        engine.dispose()


def take_lease(url: str, name: str = FILE_LOG, expire_first: bool = True) -> None:
    """OTHER takes lease ``name`` as if the holder's had run out."""
    with SQLStore(url) as store:

        def steal(conn: sqlalchemy.Connection) -> None:
            if expire_first:
                conn.execute(update(leases).where(leases.c.name == name).values(expires=0.0))
            assert lease_sql.acquire(conn, name, OTHER, 60).holder == OTHER.token

        store.commit(Batch(), guard=steal)


OTHER = Holder("elsewhere:7:cafe", "elsewhere", 7)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: an SQLite file, or a fresh schema of the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'manhattan.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


def test_a_second_server_on_the_same_log_and_database_refuses_naming_the_holder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], database: str
) -> None:
    path, _, pointers = first_log(tmp_path)
    argv = ["--path", path, "--url", database]
    first = Background([*argv, "--bind", f"tcp://127.0.0.1:{free_port()}"])
    try:
        wait_for_pointer(database, pointers[-1])
        # Refused, it changes nothing: not even the funnels queries list.
        assert cli.main([*argv, "--once", "--funnel", "Join|viewed page>signup"]) == 2
        assert [row[1:] for row in lease_rows(database)] == [(socket.gethostname(), os.getpid())]
        with SQLStore(database) as store:
            assert store.funnels() == []
    finally:
        assert first.stop() == 0
    message = one_error_line(capsys.readouterr().err)
    assert message.startswith(
        f"another manhattan-server counts this into {safe_url(database)} (lease log is held "
        f"by {socket.gethostname()} pid {os.getpid()} since "
    )
    assert message.endswith(
        " unless renewed): stop that one, or if it died, start this one again once the "
        "lease has expired"
    )
    assert lease_rows(database) == []  # released at the first one's exit
    assert cli.main([*argv, "--once"]) == 0
    with SQLStore(database) as store:
        assert counts_of(store) == FIRST_COUNTS  # counted once
        assert store.filtered() == FIRST_FILTERED


def pause_outside_a_transaction(child: subprocess.Popen[str], url: str) -> None:
    """SIGSTOP ``child`` at a moment it holds no lock in the database at
    ``url``: paused inside a transaction, it would keep everyone out."""
    sqlite = url.startswith("sqlite")
    engine = sqlalchemy.create_engine(url, connect_args={"timeout": 0.2} if sqlite else {})
    try:
        for _ in range(50):
            child.send_signal(signal.SIGSTOP)
            try:
                with engine.begin() as conn:
                    if not sqlite:
                        conn.execute(sqlalchemy.text("SET LOCAL lock_timeout = '200ms'"))
                    conn.execute(update(leases).values(expires=leases.c.expires))
            except sqlalchemy.exc.OperationalError:
                child.send_signal(signal.SIGCONT)
                time.sleep(0.05)
            else:
                return
    finally:
        engine.dispose()
    raise AssertionError("the process never left its transaction")


@pytest.mark.timeout(60)
def test_a_stalled_holder_whose_lease_was_taken_commits_nothing_and_exits_2(
    tmp_path: Path, database: str
) -> None:
    path, _, pointers = first_log(tmp_path)
    argv = [sys.executable, "-m", "manhattan.server", "--path", path, "--url", database]
    fast = ["--lease-seconds", "1", "--flush-seconds", "0.05"]
    stalled = subprocess.Popen(
        [*argv, *fast, "--bind", f"tcp://127.0.0.1:{free_port()}"],
        stderr=subprocess.PIPE,
        text=True,
    )
    taker = None
    try:
        wait_for_pointer(database, pointers[-1])
        pause_outside_a_transaction(stalled, database)
        log, _ = log_at(tmp_path, T + HOUR + 30)
        second = write_each(log, SECOND)  # the stalled one has not read these
        time.sleep(1.5)  # its lease runs out: it is alive, but not renewing
        taker = subprocess.Popen([*argv, *fast, "--bind", f"tcp://127.0.0.1:{free_port()}"])
        wait_for_pointer(database, second[-1])
        stalled.send_signal(signal.SIGCONT)
        _, err = stalled.communicate(timeout=WAIT)
        assert stalled.returncode == 2
        taker.send_signal(signal.SIGTERM)
        assert taker.wait(WAIT) == 0
    finally:
        for child in (stalled, taker):
            if child is not None:
                child.kill()
                child.wait(WAIT)
    message = one_error_line(err)
    assert message.startswith(
        f"lease log was lost (now held by {socket.gethostname()} pid {taker.pid} since "
    )
    assert message.endswith(
        f"another manhattan-server counts {path} into {safe_url(database)} now; this one "
        "stopped without committing what it counted since its last commit"
    )
    with SQLStore(database) as store:
        assert counts_of(store) == BOTH_COUNTS  # the stalled one doubled nothing
        assert store.filtered() == BOTH_FILTERED


def test_a_lease_lost_while_idle_stops_the_server_naming_the_taker(tmp_path: Path) -> None:
    path, url, pointers = first_log(tmp_path)
    server = Background(
        [
            *("--path", path, "--url", url, "--lease-seconds", "0.2", "--flush-seconds", "0.05"),
            "--bind",
            f"tcp://127.0.0.1:{free_port()}",
        ]
    )
    try:
        wait_for_pointer(url, pointers[-1])
        take_lease(url)
    finally:
        outcome = server.join()
    assert isinstance(outcome, cli.ConfigError)
    assert str(outcome).startswith("lease log was lost (now held by elsewhere pid 7 since ")
    with SQLStore(url) as store:
        assert counts_of(store) == FIRST_COUNTS


def test_a_commit_after_the_lease_was_taken_commits_nothing(tmp_path: Path) -> None:
    path, url, _ = first_log(tmp_path)
    # Counts, but commits only when stopped: by then the lease is another's.
    server = Background(
        [
            *("--path", path, "--url", url, "--flush-seconds", "1000", "--flush-every", "100000"),
            "--bind",
            f"tcp://127.0.0.1:{free_port()}",
        ]
    )
    try:
        time.sleep(1.0)  # reads the 14 events
        take_lease(url)
    finally:
        outcome = server.stop()
    assert isinstance(outcome, cli.ConfigError)
    assert str(outcome).startswith("lease log was lost (now held by elsewhere pid 7 since ")
    with SQLStore(url) as store:
        assert (store.load_pointer(), store.count("viewed page")) == (None, 0)


def test_leases_that_cannot_be_released_are_an_error_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path, url, pointers = first_log(tmp_path)
    server = Background(
        [
            *("--path", path, "--url", url, "--lease-seconds", "0.2", "--flush-seconds", "0.05"),
            "--bind",
            f"tcp://127.0.0.1:{free_port()}",
        ]
    )
    try:
        wait_for_pointer(url, pointers[-1])
        with sqlite3.connect(tmp_path / "manhattan.db") as conn:
            conn.execute("ALTER TABLE leases RENAME TO gone")
    finally:
        assert server.stop() == 0
    [message] = [m for m in caplog.messages if m.startswith("could not release the leases")]
    assert "no such table: leases" in message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("soon", "lease_seconds must be a number, not 'soon'", id="type"),
        pytest.param(True, "lease_seconds must be a number, not True", id="bool"),
        pytest.param(0, "lease_seconds must be positive, not 0", id="zero"),
        pytest.param(float("nan"), "lease_seconds must be positive, not nan", id="nan"),
    ],
)
def test_a_bad_lease_seconds_in_a_config_is_one_error_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    config_module: types.ModuleType,
    value: object,
    message: str,
) -> None:
    path, url, _ = first_log(tmp_path)
    config_module.SETTINGS = {"path": path, "lease_seconds": value}  # type: ignore[attr-defined]
    argv = ["--config", "manhattan_cli_test_settings.SETTINGS", "--url", url, "--once"]
    assert cli.main(argv) == 2
    assert one_error_line(capsys.readouterr().err) == message


def test_lease_seconds_from_a_config_and_a_flag(config_module: types.ModuleType) -> None:
    config_module.SETTINGS = {"path": "/var/log/m/events", "lease_seconds": 5}  # type: ignore[attr-defined]
    config = ["--config", "manhattan_cli_test_settings.SETTINGS"]
    assert cli.settings_from(config).lease_seconds == 5
    assert cli.settings_from([*config, "--lease-seconds", "2.5"]).lease_seconds == 2.5
    assert cli.settings_from(["-p", "/var/log/m/events"]).lease_seconds == 30.0
