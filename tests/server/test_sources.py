"""What manhattan-server refuses to read, through its command line: a
--path that matches no log files (exit 2 with --once, a warning each
minute while following) and a --query-only database that does not exist."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from manhattan.backend.persistence import SQLStore
from manhattan.server import cli, sources
from manhattan.server.config import ConfigError, Settings
from tests.server.test_cli import first_log, free_port, one_error_line
from tests.server.test_worker import FIRST, FIRST_COUNTS, WAIT, T, counts_of, log_at, write_each


@pytest.mark.parametrize(
    ("given", "message"),
    [
        pytest.param(
            lambda logs: f"{logs}/events.log",
            "no log files match --path {logs}/events.log (it reads files "
            "{logs}/events.log.<hour>); did you mean --path {logs}/events?",
            id="events.log-for-events",
        ),
        pytest.param(
            lambda logs: logs,
            "no log files match --path {logs} (it reads files {logs}.<hour>); "
            "did you mean --path {logs}/events?",
            id="the-directory",
        ),
        pytest.param(
            lambda logs: f"{logs}/",
            "--path: log path must name a file, not a directory: '{logs}/'; "
            "did you mean --path {logs}/events?",
            id="the-directory-with-a-slash",
        ),
        pytest.param(
            lambda logs: f"{logs}/nowhere/",
            "--path: log path must name a file, not a directory: '{logs}/nowhere/'",
            id="a-missing-directory-with-a-slash",
        ),
        pytest.param(
            lambda logs: f"{logs}/events.{T}",
            "no log files match --path {logs}/events.{T} (it reads files "
            "{logs}/events.{T}.<hour>); did you mean --path {logs}/events?",
            id="an-hour-file",
        ),
        pytest.param(
            lambda logs: f"{logs}/access",
            "no log files match --path {logs}/access (it reads files {logs}/access.<hour>): "
            "nothing was written there yet, or the app writes its TimeRotatingLog elsewhere "
            "(--path is the path given to TimeRotatingLog)",
            id="nothing-near",
        ),
    ],
)
def test_once_with_a_path_matching_no_files_exits_2_saying_what_it_meant(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    given: Callable[[str], str],
    message: str,
) -> None:
    path, url, _ = first_log(tmp_path)  # the app wrote TimeRotatingLog(".../logs/events")
    logs = os.path.dirname(path)
    assert cli.main(["--path", given(logs), "--url", url, "--once"]) == 2
    assert one_error_line(capsys.readouterr().err) == message.format(logs=logs, T=T)
    assert not (tmp_path / "manhattan.db").exists()


def test_a_relative_path_is_suggested_as_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log, _ = log_at(tmp_path)
    write_each(log, FIRST)
    monkeypatch.chdir(os.path.dirname(log.path))
    assert cli.main(["--path", "evnts", "--url", "sqlite://", "--once"]) == 2
    assert one_error_line(capsys.readouterr().err).endswith("; did you mean --path events?")


def follow(settings: Settings, stop: threading.Event) -> tuple[threading.Thread, list[int]]:
    """Run the server with ``settings`` in a thread until ``stop``."""
    statuses: list[int] = []
    thread = threading.Thread(target=lambda: statuses.append(cli.run(settings, stop)))
    thread.start()
    return thread, statuses


def warnings_in(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "waited too long"
        time.sleep(0.01)


def test_following_a_path_without_files_warns_until_they_appear(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "NO_FILES_WARNING_SECONDS", 0.05)
    log, _ = log_at(tmp_path)
    (tmp_path / "logs").mkdir()
    url = f"sqlite:///{tmp_path / 'm.db'}"
    settings = Settings(
        path=log.path, url=url, bind=f"tcp://127.0.0.1:{free_port()}", flush_seconds=0.05
    ).check()
    stop = threading.Event()
    thread, statuses = follow(settings, stop)
    try:
        # The app may not have written yet: the server waits, and says so.
        wait_for(lambda: len(warnings_in(caplog)) >= 2)
        assert set(warnings_in(caplog)) == {
            f"no log files match --path {log.path} (it reads files {log.path}.<hour>): "
            "nothing was written there yet, or the app writes its TimeRotatingLog elsewhere "
            "(--path is the path given to TimeRotatingLog)"
        }
        pointers = write_each(log, FIRST)
        with SQLStore(url) as store:
            wait_for(lambda: store.load_pointer() == pointers[-1])
        warned = len(warnings_in(caplog))
        time.sleep(0.2)
        assert len(warnings_in(caplog)) == warned  # no more once the files are there
    finally:
        stop.set()
        thread.join(WAIT)
    assert statuses == [0]
    with SQLStore(url) as store:
        assert counts_of(store) == FIRST_COUNTS


def test_a_server_stopped_before_any_file_appears_stops_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / f"events.log.{T}").write_text("")
    path = str(tmp_path / "logs" / "events")
    settings = Settings(
        path=path, url=f"sqlite:///{tmp_path / 'm.db'}", bind=f"tcp://127.0.0.1:{free_port()}"
    ).check()
    stop = threading.Event()
    thread, statuses = follow(settings, stop)
    wait_for(lambda: bool(warnings_in(caplog)))
    stop.set()
    thread.join(WAIT)
    assert statuses == [0]
    assert warnings_in(caplog) == [
        f"no log files match --path {path} (it reads files {path}.<hour>); "
        f"did you mean --path {path}.log?"
    ]
    assert not any(t.name == "manhattan-log-watch" for t in threading.enumerate())


def test_query_only_on_a_missing_sqlite_file_refuses_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.db"
    assert cli.main(["--query-only", "--url", f"sqlite:///{missing}"]) == 2
    assert one_error_line(capsys.readouterr().err) == (
        f"--query-only: the database {missing} does not exist (a manhattan-server "
        "without --query-only creates it when it counts)"
    )
    assert not missing.exists()


def test_a_counting_server_still_creates_its_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url, _ = first_log(tmp_path)
    assert not (tmp_path / "manhattan.db").exists()
    assert cli.main(["--path", path, "--url", url, "--once"]) == 0
    with SQLStore(url) as store:
        assert counts_of(store) == FIRST_COUNTS


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite://", id="memory"),
        pytest.param("sqlite:///:memory:", id="memory-named"),
        pytest.param("sqlite:///file:missing.db?mode=ro&uri=true", id="uri-left-to-sqlite"),
        pytest.param("postgresql://127.0.0.1/test", id="postgresql"),
        pytest.param("not a url", id="bad-url-left-to-the-store"),
    ],
)
def test_only_missing_sqlite_files_are_refused(url: str) -> None:
    assert sources.check_database_exists(url) is None  # nothing to refuse here


def test_an_existing_sqlite_file_is_accepted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with pytest.raises(ConfigError, match="does not exist"):
        sources.check_database_exists(url)
    SQLStore(url).close()
    assert sources.check_database_exists(url) is None
