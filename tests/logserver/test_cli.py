"""manhattan-log-server: its flags, its start errors in one line (exit 2),
SIGTERM and SIGINT (exit 0), and as a process killed at random moments
without losing or repeating a record."""

from __future__ import annotations

import importlib
import os
import random
import runpy
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import redis

from manhattan.log.remote import RemoteLog, processing_key
from manhattan.logserver import cli, protocol, server
from manhattan.logserver.cli import main
from manhattan.logserver.protocol import Intent
from manhattan.logserver.server import LogServer
from tests.cli_output import error_line
from tests.logserver.helpers import WAIT, entry, read_log, record

MAIN = "manhattan.logserver.__main__"


# The command line


@pytest.mark.parametrize(
    ("name", "module"),
    [
        pytest.param(name, module, id=name)
        for name, module in [
            ("Intent", protocol),
            ("Decision", protocol),
            ("batch_hash", protocol),
            ("decide", protocol),
            ("missing_part", protocol),
            ("validate", protocol),
            ("LogServer", server),
            ("StateFile", server),
            ("run", server),
        ]
    ],
)
def test_names_stay_importable_from_the_cli_module(name: str, module: ModuleType) -> None:
    assert getattr(cli, name) is getattr(module, name)


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    return error_line(capsys.readouterr(), cli.PROGRAM)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([], "the following arguments are required: -p/--path", id="no-path"),
        pytest.param(["--path", "x", "--batch", "0"], "--batch: ", id="zero-batch"),
        pytest.param(["--path", "x", "--batch", "a"], "not 'a'", id="word-batch"),
        pytest.param(["--path", "x", "--bogus"], "unrecognized arguments", id="unknown"),
    ],
)
def test_bad_flags_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(args) == 2
    assert message in one_error_line(capsys)


def test_flags_and_their_defaults() -> None:
    args = cli.build_parser().parse_args(["-p", "x", "--batch", "3"])
    # 0.3's -k names the Redis list, as --key does.
    assert cli.build_parser().parse_args(["-p", "x", "-k", "q:1"]).key == "q:1"
    assert (args.path, args.batch, args.redis, args.key) == (
        "x",
        3,
        "redis://127.0.0.1:6379/0",
        "manhattan:log:queue",
    )
    assert cli.build_parser().parse_args(["-p", "x"]).batch == 100


def write_state(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "log.logserver-state").write_bytes(content)


@pytest.mark.parametrize(
    ("setup", "args", "message"),
    [
        pytest.param(
            None, ["--redis", "redis://127.0.0.1:1"], "cannot reach Redis", id="no-redis"
        ),
        pytest.param(None, ["--redis", "http://127.0.0.1"], "cannot reach Redis", id="bad-url"),
        pytest.param(b"{", [], "log.logserver-state is damaged", id="damaged-state"),
        pytest.param(
            Intent("h", "other:queue", "log.0", 0, 1, 1, 1).dumps(),
            [],
            "unfinished batch from Redis list 'other:queue': run with --key other:queue first",
            id="state-of-another-queue",
        ),
    ],
)
def test_start_errors_exit_2_with_one_line(
    queue: tuple[str, str, redis.Redis],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    setup: bytes | None,
    args: list[str],
    message: str,
) -> None:
    url, key, _ = queue
    if setup is not None:
        write_state(tmp_path, setup)
    argv = ["--path", str(tmp_path / "log"), "--redis", url, "--key", key, *args]
    assert main(argv) == 2
    assert message in one_error_line(capsys)


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param("file/log", "cannot create log directory", id="directory-is-a-file"),
        pytest.param("dir/", "must name a file", id="directory"),
    ],
)
def test_bad_paths_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], path: str, message: str
) -> None:
    (tmp_path / "file").touch()
    assert main(["--path", f"{tmp_path}/{path}"]) == 2
    assert message in one_error_line(capsys)


def test_main_drains_until_sigterm(
    queue: tuple[str, str, redis.Redis], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, key, client = queue
    client.rpush(key, entry(record(1, 0)), entry(record(2, 0)))
    own_log = tmp_path / "server.log"

    def stop_when_drained() -> None:
        deadline = time.monotonic() + WAIT
        while client.llen(key) or client.llen(processing_key(key)):
            if time.monotonic() > deadline:
                break  # the assertions below fail
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)

    before = signal.getsignal(signal.SIGTERM)
    stopper = threading.Thread(target=stop_when_drained)
    stopper.start()
    # A directory that does not exist yet is created, as TimeRotatingLog does.
    path = tmp_path / "new" / "log"
    argv = ["-p", str(path), "--redis", url, "-k", key, "--log", str(own_log)]
    status = main([*argv, "-v"])
    stopper.join()
    assert status == 0
    assert signal.getsignal(signal.SIGTERM) is before
    assert read_log(path) == [record(1, 0), record(2, 0)]
    text = own_log.read_text()
    assert f"draining Redis list '{key}' into {path}" in text
    assert "stopped after 2 entries" in text
    assert capsys.readouterr() == ("", "")


def test_main_runs_outside_the_main_thread_without_signals(
    queue: tuple[str, str, redis.Redis], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, key, _ = queue
    started = threading.Event()

    def run_briefly(server: LogServer, stop: threading.Event) -> None:
        started.set()

    monkeypatch.setattr(cli, "run", run_briefly)
    result: list[int] = []
    argv = ["-p", str(tmp_path / "log"), "--redis", url, "--key", key]
    thread = threading.Thread(target=lambda: result.append(main(argv)))
    thread.start()
    thread.join(WAIT)
    assert started.is_set()
    assert result == [0]


# As a process


def test_help_in_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "argv", ["manhattan-log-server", "--help"])
    monkeypatch.delitem(sys.modules, MAIN, raising=False)
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_module("manhattan.logserver", run_name="__main__", alter_sys=True)
    assert exit_info.value.code == 0
    out, _ = capsys.readouterr()
    assert out.startswith("usage: manhattan-log-server ")
    for flag in ("--path", "--redis", "--key", "--batch", "--log", "--verbose"):
        assert flag in out


def test_importing_the_module_runs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["manhattan-log-server", "--no-such-flag"])
    monkeypatch.delitem(sys.modules, MAIN, raising=False)
    assert importlib.import_module(MAIN).main is cli.main


def server_command(url: str, key: str, path: Path, *extra: str) -> list[str]:
    module = [sys.executable, "-m", "manhattan.logserver"]
    return [*module, "-p", str(path), "--redis", url, "--key", key, *extra]


def test_unreachable_redis_exits_2_as_a_process(tmp_path: Path) -> None:
    done = subprocess.run(
        server_command("redis://127.0.0.1:1", "k", tmp_path / "log"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("manhattan-log-server: error: cannot reach Redis at ")
    assert done.stderr.count("\n") == 1


def wait_for(condition: Any, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert process.poll() is None, f"the server ended while waiting for {what}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.005)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_exits_0_promptly(
    queue: tuple[str, str, redis.Redis], tmp_path: Path, signum: signal.Signals
) -> None:
    url, key, client = queue
    process = subprocess.Popen(server_command(url, key, tmp_path / "log"), stderr=subprocess.PIPE)
    try:
        client.rpush(key, entry(record(1, 0)))
        wait_for(lambda: read_log(tmp_path / "log"), process, "the record")
        process.send_signal(signum)  # while it waits on an empty queue
        _, err = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert err == b""
    assert read_log(tmp_path / "log") == [record(1, 0)]


def test_kill_9_at_random_moments_loses_and_repeats_nothing(
    queue: tuple[str, str, redis.Redis], tmp_path: Path
) -> None:
    url, key, client = queue
    path = tmp_path / "log"
    batches = [[record(b, i) for i in range(b % 4 + 1)] for b in range(600)]
    remote = RemoteLog(key, redis_kwargs={"host": "127.0.0.1", "port": 6379})

    def produce() -> None:
        for batch in batches:
            remote.write(batch)
            time.sleep(0.0005)

    producer = threading.Thread(target=produce)
    producer.start()
    chooser = random.Random(5)
    kills = 0
    try:
        for _ in range(6):
            before = len(read_log(path))
            process = subprocess.Popen(server_command(url, key, path, "--batch", "3"))
            try:
                wait_for(lambda: len(read_log(path)) > before, process, "progress")  # noqa: B023
                time.sleep(chooser.uniform(0, 0.03))
            finally:
                process.kill()
                process.wait()
            kills += process.returncode == -signal.SIGKILL
        producer.join(WAIT)
        process = subprocess.Popen(server_command(url, key, path))
        try:
            wait_for(
                lambda: (
                    not (client.llen(key) or client.llen(processing_key(key)))
                    and not (tmp_path / "log.logserver-state").exists()
                ),
                process,
                "the queue drained",
            )
            process.terminate()
            process.wait(5)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    finally:
        producer.join(WAIT)
        remote.close()
    assert kills == 6
    assert process.returncode == 0
    assert read_log(path) == [rec for batch in batches for rec in batch]
