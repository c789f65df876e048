"""manhattan-server's command line, run in-process through main(): a real
log, a real SQLite file, real sockets on 127.0.0.1 and real signals."""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import zmq

from manhattan.backend.model import QueryError
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.server import cli
from tests.server.test_worker import (
    FIRST,
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

ERROR = "manhattan-server: error: "

FIRST_SUMMARY = (
    "manhattan-server: this run: 14 records read; database totals: 2 visitors counted "
    "(viewed a page); events not counted: awaiting pixel 2, crawler 2\n"
)
"""The line --once ends with, having counted FIRST into a fresh database."""

SECOND_SUMMARY = (
    "manhattan-server: this run: 4 records read; database totals: 4 visitors counted "
    "(viewed a page); events not counted: crawler 2\n"
)
"""Its line having counted SECOND after FIRST: C's pixel counted C's held
events, so none await the pixel any more (this run's figure is its own)."""


def first_log(tmp_path: Path) -> tuple[str, str, list[str]]:
    """A log holding FIRST; its --path, a database --url, and the pointers."""
    log, _ = log_at(tmp_path)
    pointers = write_each(log, FIRST)
    log.close()
    return log.path, f"sqlite:///{tmp_path / 'manhattan.db'}", pointers


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def one_error_line(err: str) -> str:
    """The single error line of ``err`` (and no traceback)."""
    assert err.startswith(ERROR), err
    assert err.endswith("\n")
    assert err.count("\n") == 1, err
    assert "Traceback" not in err
    return err[len(ERROR) : -1]


def test_once_counts_the_log_and_says_only_what_it_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url, pointers = first_log(tmp_path)
    assert cli.main(["-p", path, "-u", url, "--once"]) == 0
    assert capsys.readouterr() == ("", FIRST_SUMMARY)
    with SQLStore(url) as store:
        assert counts_of(store) == FIRST_COUNTS
        assert store.filtered() == FIRST_FILTERED
        assert store.load_pointer() == pointers[-1]


def test_once_again_counts_only_what_was_added(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url, _ = first_log(tmp_path)
    assert cli.main(["--path", path, "--url", url, "--once"]) == 0
    log, _ = log_at(tmp_path, T + HOUR + 30)
    pointers = write_each(log, SECOND)
    assert cli.main(["--path", path, "--url", url, "--once"]) == 0
    assert capsys.readouterr() == ("", FIRST_SUMMARY + SECOND_SUMMARY)
    with SQLStore(url) as store:
        assert store.count("viewed page") == 4
        assert store.count("signup") == 3
        assert store.load_pointer() == pointers[-1]


def test_verbose_logs_and_writes_a_status_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url, _ = first_log(tmp_path)
    assert cli.main(["--path", path, "--url", url, "--once", "-v"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 4, err
    assert lines[0].endswith(f" INFO manhattan.server: counting {path} into {url}")
    assert lines[1].startswith("manhattan-server: 14 events, ")
    assert lines[1].endswith("/s, behind by 0 bytes")
    assert lines[2].endswith(" INFO manhattan.server: stopped after 14 events")
    assert f"{lines[3]}\n" == FIRST_SUMMARY


def test_log_file_gets_the_servers_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, url, _ = first_log(tmp_path)
    log_file = tmp_path / "server.log"
    assert cli.main(["--path", path, "--url", url, "--once", "-v", "--log", str(log_file)]) == 0
    logged = log_file.read_text().splitlines()
    assert len(logged) == 2
    assert logged[0].endswith(f" INFO manhattan.server: counting {path} into {url}")
    assert logged[1].endswith(" INFO manhattan.server: stopped after 14 events")
    # The status line and the summary stay on stderr, the only things there.
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("manhattan-server: 14 events, ")
    assert err.endswith(FIRST_SUMMARY)
    assert err.count("\n") == 2


def test_a_log_file_in_a_missing_directory_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url, _ = first_log(tmp_path)
    log_file = tmp_path / "missing" / "server.log"
    assert cli.main(["--path", path, "--url", url, "--once", "--log", str(log_file)]) == 2
    assert str(log_file) in one_error_line(capsys.readouterr().err)


def test_once_on_a_terminal_draws_a_progress_bar(tmp_path: Path) -> None:
    path, url, _ = first_log(tmp_path)
    master, replica = os.openpty()
    with os.fdopen(replica, "w") as terminal:
        assert terminal.isatty()
        assert cli.main(["--path", path, "--url", url, "--once"], stderr=terminal) == 0
    shown = b""
    while True:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the terminal's other end is closed and all was read
            break
        if not data:
            break
        shown += data
    os.close(master)
    text = shown.decode()
    # The summary follows the finished bar.
    assert text.endswith(FIRST_SUMMARY.replace("\n", "\r\n"))
    text = text.removesuffix(FIRST_SUMMARY.replace("\n", "\r\n"))
    assert text.startswith("\r[")
    assert text.endswith("\r\n")  # the terminal turns the bar's closing "\n" into "\r\n"
    last = text[:-2].rpartition("\r")[2]
    assert last.startswith(f"[{'#' * 30}] 100.0% 14 events ")
    assert last.endswith("/s")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(
            ["--flush-every", "0"], "argument --flush-every: must be at least 1, not 0", id="every"
        ),
        pytest.param(
            ["--flush-every", "ten"],
            "argument --flush-every: must be a whole number, not 'ten'",
            id="every-word",
        ),
        pytest.param(
            ["--flush-seconds", "x"],
            "argument --flush-seconds: must be a number of seconds, not 'x'",
            id="seconds-word",
        ),
        pytest.param(
            ["--flush-seconds", "0"],
            "argument --flush-seconds: must be a positive number of seconds, not 0",
            id="seconds-zero",
        ),
        pytest.param(
            ["--flush-seconds", "inf"],
            "argument --flush-seconds: must be a positive number of seconds, not inf",
            id="seconds-inf",
        ),
        pytest.param(
            ["--flush-seconds", "nan"],
            "argument --flush-seconds: must be a positive number of seconds, not nan",
            id="seconds-nan",
        ),
        pytest.param(
            ["--week-start", "friday"],
            "argument --week-start: invalid choice: 'friday'",
            id="week-start",
        ),
        pytest.param(
            ["--capacity", "-3"], "argument --capacity: must be at least 1, not -3", id="capacity"
        ),
        pytest.param(
            ["--partition", "x"],
            "argument --partition: must be a whole number, not 'x'",
            id="p",
        ),
        pytest.param(
            ["--partition", "-1"],
            "argument --partition: must be at least 0, not -1",
            id="p-neg",
        ),
        pytest.param(
            ["--lease-seconds", "0"],
            "argument --lease-seconds: must be a positive number of seconds, not 0",
            id="lease-zero",
        ),
        pytest.param(["--no-such-flag"], "unrecognized arguments: --no-such-flag", id="unknown"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    path, url, _ = first_log(tmp_path)
    assert cli.main(["--path", path, "--url", url, "--once", *flags]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert one_error_line(err).startswith(message)
    assert not (tmp_path / "manhattan.db").exists()


def test_small_flush_every_and_capacity_count_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Commits every 2 events, and at most 1 visitor state in memory: states
    # go to the database and come back, and the counts do not change.
    path, url, pointers = first_log(tmp_path)
    argv = ["--path", path, "--url", url, "--once", "--flush-every", "2", "--capacity", "1"]
    assert cli.main(argv) == 0
    assert capsys.readouterr() == ("", FIRST_SUMMARY)
    with SQLStore(url) as store:
        assert counts_of(store) == FIRST_COUNTS
        assert store.filtered() == FIRST_FILTERED
        assert store.load_pointer() == pointers[-1]


def test_week_start_choices_are_accepted(tmp_path: Path) -> None:
    path, url, _ = first_log(tmp_path)
    assert cli.main(["--path", path, "--url", url, "--once", "--week-start", "monday"]) == 0
    with SQLStore(url) as store:
        # 2025-11-24 is a Monday: its own week's first day.
        assert store.count("viewed page", rollup_key="week", bucket_id="2025-11-24") == 2


@pytest.mark.parametrize(
    ("make_flags", "message"),
    [
        pytest.param(
            lambda path, url: ["--url", url],
            "--path or --redis is required: the log to read",
            id="no-path",
        ),
        pytest.param(
            lambda path, url: ["--path", path + ".d/x/events", "--url", url],
            "log directory {path}.d/x does not exist (from --path {path}.d/x/events)",
            id="missing-log-directory",
        ),
        pytest.param(
            lambda path, url: ["--path", os.path.dirname(path) + "/", "--url", url],
            "--path: log path must name a file, not a directory",
            id="path-is-a-directory",
        ),
        pytest.param(
            lambda path, url: [
                "--path",
                path,
                "--url",
                "postgresql+psycopg://postgres@127.0.0.1:1/x",
            ],
            "cannot open the store at postgresql+psycopg://postgres@127.0.0.1:1/x",
            id="unreachable-database",
        ),
        pytest.param(
            lambda path, url: ["--path", path, "--url", "sqlite:////no/such/dir/m.db"],
            "cannot open the store at sqlite:////no/such/dir/m.db: "
            "directory /no/such/dir does not exist",
            id="database-directory-missing",
        ),
        pytest.param(
            lambda path, url: ["--path", path, "--url", "mysql://localhost/x"],
            "cannot open the store at mysql://localhost/x: unsupported database 'mysql'",
            id="unsupported-database",
        ),
        pytest.param(
            lambda path, url: ["--path", path, "--url", url, "--timezone", "Mars/Olympus_Mons"],
            "unknown time zone 'Mars/Olympus_Mons'",
            id="bad-timezone",
        ),
        pytest.param(
            lambda path, url: ["--path", path, "--url", url, "-c", "Cart|added|added"],
            "complex goal 'Cart' both includes and excludes added",
            id="bad-complex-goal",
        ),
        pytest.param(
            lambda path, url: ["--path", path, "--url", url, "-c", "ok|a", "-c", "ok|b"],
            "complex goal 'ok' is defined twice",
            id="complex-goal-twice",
        ),
        pytest.param(
            lambda path, url: ["--path", path, "--redis", "redis://127.0.0.1:1/0", "--url", url],
            "--path and --redis cannot be used together",
            id="path-and-redis",
        ),
        pytest.param(
            lambda path, url: ["--redis", "redis://127.0.0.1:1/0", "--url", url],
            "cannot reach Redis at redis://127.0.0.1:1/0: ",
            id="unreachable-redis",
        ),
        pytest.param(
            lambda path, url: ["--redis", "http://127.0.0.1/0", "--url", url],
            "--redis: Redis URL must specify one of the following schemes",
            id="not-a-redis-url",
        ),
        pytest.param(
            lambda path, url: ["--redis", "redis://h", "--partitions", "2", "--partition", "2"],
            "--partition 2 is not one of the 2 partitions",
            id="partition-out-of-range",
        ),
        pytest.param(
            lambda path, url: ["--path", path, "--url", url, "--config", "nowhere_to_be_found.X"],
            "--config nowhere_to_be_found.X: cannot import nowhere_to_be_found",
            id="config-not-importable",
        ),
    ],
)
def test_bad_settings_are_one_error_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    make_flags: Callable[[str, str], list[str]],
    message: str,
) -> None:
    path, url, _ = first_log(tmp_path)
    assert cli.main([*make_flags(path, url), "--once"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert one_error_line(err).startswith(message.format(path=path))


@pytest.fixture
def unreadable(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make a path unreadable to the server's access check.

    Tests run as root here, for whom chmod takes nothing away: the check's
    answer is what a user without the permission would get."""
    denied: set[str] = set()
    access = os.access

    def checked_access(path: Any, mode: int, **kwargs: Any) -> bool:
        if os.fspath(path) in denied:
            return False
        return access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", checked_access)
    return lambda path: denied.add(path)


def test_an_unreadable_log_directory_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], unreadable: Callable[[str], None]
) -> None:
    path, url, _ = first_log(tmp_path)
    os.chmod(os.path.dirname(path), 0)
    try:
        unreadable(os.path.dirname(path))
        assert cli.main(["--path", path, "--url", url, "--once"]) == 2
    finally:
        os.chmod(os.path.dirname(path), 0o755)
    message = one_error_line(capsys.readouterr().err)
    assert message == f"log directory {os.path.dirname(path)} is not readable"


def test_an_unreadable_log_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], unreadable: Callable[[str], None]
) -> None:
    path, url, _ = first_log(tmp_path)
    os.chmod(f"{path}.{T}", 0)
    unreadable(f"{path}.{T}")
    assert cli.main(["--path", path, "--url", url, "--once"]) == 2
    message = one_error_line(capsys.readouterr().err)
    assert message == f"log file events.{T} in {os.path.dirname(path)} is not readable"


def test_a_database_of_another_log_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url, pointers = first_log(tmp_path)
    assert cli.main(["--path", path, "--url", url, "--once"]) == 0
    assert capsys.readouterr().err == FIRST_SUMMARY
    other = tmp_path / "logs" / "other"
    TimeRotatingLog(other, clock=lambda: T).write(FIRST)
    assert cli.main(["--path", str(other), "--url", url, "--once"]) == 2
    message = one_error_line(capsys.readouterr().err)
    assert message == (
        f"the database at {url} has counted another log (up to {pointers[-1]}), "
        f"not --path {other}: use a fresh database for this log"
    )


def test_a_log_file_shorter_than_the_pointer_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url, pointers = first_log(tmp_path)
    assert cli.main(["--path", path, "--url", url, "--once"]) == 0
    assert capsys.readouterr().err == FIRST_SUMMARY
    os.truncate(f"{path}.{T}", 100)
    assert cli.main(["--path", path, "--url", url, "--once"]) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"the database at {url} has counted {pointers[-1]}, but that log file now holds "
        "only 100 bytes: it was replaced; use a fresh database"
    )


def test_a_deleted_log_file_is_passed_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url, _ = first_log(tmp_path)
    assert cli.main(["--path", path, "--url", url, "--once"]) == 0
    log, _ = log_at(tmp_path, T + HOUR + 30)
    write_each(log, SECOND)
    os.remove(f"{path}.{T}")  # the hour the pointer is in: old logs cleaned up
    assert cli.main(["--path", path, "--url", url, "--once"]) == 0
    assert capsys.readouterr().err == FIRST_SUMMARY + SECOND_SUMMARY
    with SQLStore(url) as store:
        assert store.count("signup") == 3


@pytest.fixture
def config_module(tmp_path: Path) -> Iterator[types.ModuleType]:
    module = types.ModuleType("manhattan_cli_test_settings")
    sys.modules[module.__name__] = module
    yield module
    del sys.modules[module.__name__]


def test_settings_from_a_config_dict_with_flags_winning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config_module: types.ModuleType
) -> None:
    path, url, _ = first_log(tmp_path)
    config_module.SETTINGS = {  # type: ignore[attr-defined]
        "path": path,
        "url": "sqlite:////no/such/directory/at/all.db",  # the --url flag wins
        "once": True,
        "timezone": "Asia/Tokyo",
        "rollups": ["day"],
        "complex": ["Bought unsigned|purchase|signup"],
    }
    assert cli.main(["--config", "manhattan_cli_test_settings.SETTINGS", "--url", url]) == 0
    assert capsys.readouterr() == ("", FIRST_SUMMARY)
    with SQLStore(url) as store:
        # 16:00 UTC on the 24th is 01:00 on the 25th in Tokyo.
        assert store.count("viewed page", rollup_key="day", bucket_id="2025-11-25") == 2
        with pytest.raises(QueryError, match="has no bucket '2025-11-24'"):
            store.count("viewed page", rollup_key="day", bucket_id="2025-11-24")
        # A signed up before buying: never counts; B bought without signing up.
        assert store.count("Bought unsigned") == 1
        assert store.count("Bought unsigned", ("Button", "blue")) == 1
        assert store.count("Bought unsigned", ("Button", "red")) == 0


def test_a_config_with_a_bad_value_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config_module: types.ModuleType
) -> None:
    path, url, _ = first_log(tmp_path)
    config_module.SETTINGS = {"path": path, "week_start": "friday"}  # type: ignore[attr-defined]
    argv = ["--config", "manhattan_cli_test_settings.SETTINGS", "--url", url, "--once"]
    assert cli.main(argv) == 2
    assert one_error_line(capsys.readouterr().err).startswith("week_start must be one of ")


def test_a_config_naming_an_unknown_rollup_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config_module: types.ModuleType
) -> None:
    path, url, _ = first_log(tmp_path)
    config_module.SETTINGS = {"rollups": ["day", "nowhere_at_all.rollup"]}  # type: ignore[attr-defined]
    argv = ["--config", "manhattan_cli_test_settings.SETTINGS", "-p", path, "-u", url, "--once"]
    assert cli.main(argv) == 2
    assert one_error_line(capsys.readouterr().err).startswith(
        "rollup 'nowhere_at_all.rollup': cannot import 'nowhere_at_all'"
    )


def test_an_address_in_use_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url, _ = first_log(tmp_path)
    context = zmq.Context()
    taken = context.socket(zmq.ROUTER)
    try:
        port = taken.bind_to_random_port("tcp://127.0.0.1")
        address = f"tcp://127.0.0.1:{port}"
        assert cli.main(["--path", path, "--url", url, "--bind", address]) == 2
    finally:
        taken.close(linger=0)
        context.term()
    assert one_error_line(capsys.readouterr().err) == (
        f"cannot bind the query service to {address}: Address already in use"
    )
    with SQLStore(url) as store:
        assert store.load_pointer() is None  # nothing was counted


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_server_which_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], signum: signal.Signals
) -> None:
    path, url, pointers = first_log(tmp_path)
    address = f"tcp://127.0.0.1:{free_port()}"
    received: list[int] = []

    def ours(number: int, frame: types.FrameType | None) -> None:
        received.append(number)

    previous = signal.signal(signum, ours)
    seen: dict[str, Any] = {}

    def query_then_signal() -> None:
        # Every path ends with the signal, so that main() never waits forever.
        try:
            with Client(address, wait=200) as client:
                deadline = time.monotonic() + WAIT
                while time.monotonic() < deadline:
                    try:
                        seen["ping"] = client.ping()
                        seen["pages"] = client.count("viewed page")
                    except TimeoutError:
                        continue
                    if seen["pages"] == 2:
                        seen["results"] = client.results("Button", ["purchase"])
                        break
                    time.sleep(0.01)
        finally:
            os.kill(os.getpid(), signum)

    helper = threading.Thread(target=query_then_signal)
    try:
        helper.start()
        status = cli.main(
            ["--path", path, "--url", url, "--bind", address, "--flush-seconds", "0.05"]
        )
        helper.join(WAIT)
        # main() put the handler it found back.
        assert signal.getsignal(signum) is ours
    finally:
        signal.signal(signum, previous)
    assert status == 0
    assert received == []  # the signal went to main()'s handler
    assert seen == {"ping": "pong", "pages": 2, "results": {"blue": [20.0], "red": [15.0]}}
    assert capsys.readouterr() == ("", "")
    with SQLStore(url) as store:
        assert counts_of(store) == FIRST_COUNTS
        assert store.load_pointer() == pointers[-1]


def test_main_outside_the_main_thread_leaves_signals_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url, _ = first_log(tmp_path)
    handler = signal.getsignal(signal.SIGTERM)
    statuses: list[int] = []
    thread = threading.Thread(
        target=lambda: statuses.append(cli.main(["--path", path, "--url", url, "--once"]))
    )
    thread.start()
    thread.join(WAIT)
    assert statuses == [0]
    assert signal.getsignal(signal.SIGTERM) is handler
    with SQLStore(url) as store:
        assert counts_of(store) == FIRST_COUNTS


def test_settings_from_gives_the_flags_over_the_defaults() -> None:
    settings = cli.settings_from(
        [
            "-p",
            "/var/log/m/events",
            "-c",
            "a|b",
            "-c",
            "c|d|e",
            "--flush-seconds",
            "2.5",
            "--flush-every",
            "7",
            "--capacity",
            "1000",
        ]
    )
    assert (settings.flush_every, settings.capacity) == (7, 1000)
    assert settings.path == "/var/log/m/events"
    assert settings.complex == ["a|b", "c|d|e"]
    assert settings.flush_seconds == 2.5
    assert settings.url == "sqlite:///manhattan.db"
    assert settings.bind == "tcp://127.0.0.1:5555"
    assert (settings.once, settings.verbose) == (False, False)
