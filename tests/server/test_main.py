"""``python -m manhattan.server``: in-process through runpy, and as a real
process that SIGTERM and SIGINT stop after flushing what it counted."""

from __future__ import annotations

import importlib
import runpy
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from manhattan.backend.persistence import SQLStore
from manhattan.client import Client
from manhattan.server import cli
from tests.server.test_cli import FIRST_SUMMARY, free_port
from tests.server.test_worker import (
    BOTH_COUNTS,
    BOTH_FILTERED,
    FIRST,
    FIRST_COUNTS,
    SECOND,
    WAIT,
    counts_of,
    log_at,
    write_each,
)

MAIN = "manhattan.server.__main__"


def run_as_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int | str | None:
    """Run ``python -m manhattan.server ARGS`` in this process; its exit code."""
    monkeypatch.setattr(sys, "argv", ["manhattan-server", *args])
    # Run afresh, as ``-m`` does (runpy warns about a module already imported).
    monkeypatch.delitem(sys.modules, MAIN, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("manhattan.server", run_name="__main__", alter_sys=True)
    return exit_info.value.code


def test_help_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_as_main(monkeypatch, "--help") == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: manhattan-server ")
    for flag in ("--path", "--url", "--complex", "--bind", "--config", "--log", "--once"):
        assert flag in out
    assert err == ""


def test_once_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log, _ = log_at(tmp_path)
    write_each(log, FIRST)
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert run_as_main(monkeypatch, "--path", log.path, "--url", url, "--once") == 0
    assert capsys.readouterr() == ("", FIRST_SUMMARY)
    with SQLStore(url) as store:
        assert counts_of(store) == FIRST_COUNTS


def test_an_error_exits_2_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = str(tmp_path / "missing" / "events")
    assert run_as_main(monkeypatch, "--path", missing, "--once") == 2
    assert capsys.readouterr().err == (
        f"manhattan-server: error: log directory {tmp_path / 'missing'} does not exist "
        f"(from --path {missing})\n"
    )


def test_importing_the_module_runs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    # Were main() run, these arguments would end it with SystemExit(2).
    monkeypatch.setattr(sys, "argv", ["manhattan-server", "--no-such-flag"])
    monkeypatch.delitem(sys.modules, MAIN, raising=False)
    module = importlib.import_module(MAIN)
    assert module.main is cli.main


def test_help_as_a_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "manhattan.server", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.startswith("usage: manhattan-server ")
    assert done.stderr == ""


def pointer_in(database: Path) -> str | None:
    """The committed log pointer, read with sqlite3 (not through the store)."""
    with sqlite3.connect(database) as connection:
        row = connection.execute("SELECT value FROM meta WHERE key = 'pointer'").fetchone()
    connection.close()
    return row[0] if row else None


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_flushes_and_exits_0(tmp_path: Path, signum: signal.Signals) -> None:
    log, clock = log_at(tmp_path)
    pointers = write_each(log, FIRST)
    clock.now += 3600
    pointers += write_each(log, SECOND)
    database = tmp_path / "m.db"
    address = f"tcp://127.0.0.1:{free_port()}"
    # Commits come every len(FIRST) events (never by time): FIRST is committed
    # at once, SECOND only by the flush that stopping makes.
    command = [
        sys.executable,
        "-m",
        "manhattan.server",
        "--path",
        log.path,
        "--url",
        f"sqlite:///{database}",
        "--bind",
        address,
        "--flush-every",
        str(len(FIRST)),
        "--flush-seconds",
        "3600",
    ]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        with Client(address, wait=500) as client:
            deadline = time.monotonic() + 3 * WAIT  # the process starts up first
            while True:
                try:
                    if client.ping() == "pong" and client.count("viewed page") == 2:
                        break
                except TimeoutError:
                    pass
                assert server.poll() is None, server.communicate()
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.01)
            assert client.count("purchase") == FIRST_COUNTS["purchase"]
        assert pointer_in(database) == pointers[len(FIRST) - 1]
        # SECOND is read in the same pass, straight after that commit; give
        # the reader a moment (four records) before stopping it.
        time.sleep(0.2)
        server.send_signal(signum)
        out, err = server.communicate(timeout=5)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert server.returncode == 0
    assert (out, err) == ("", "")
    assert pointer_in(database) == pointers[-1]
    with SQLStore(f"sqlite:///{database}") as store:
        assert counts_of(store) == BOTH_COUNTS
        assert store.filtered() == BOTH_FILTERED
