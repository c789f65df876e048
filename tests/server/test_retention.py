"""``manhattan-server --retain-days``: the rule that picks the hour files to
delete, the pass that deletes them, and the server deleting them over a
real log spanning days, into real SQLite files, counting the same as
without retention."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import time
import types
from collections.abc import Callable
from pathlib import Path

import pytest

from manhattan.backend.persistence import SQLStore, StoreError
from manhattan.log.timerotating import HOUR, LATE_WRITE_GRACE, TimeRotatingLog
from manhattan.server import cli
from manhattan.server.retention import DAY, Retention, counted_hours, expired
from manhattan.visitor.records import goal_record, page_record, pixel_record
from tests.server.test_cli import config_module, free_port, one_error_line
from tests.server.test_cli_leases import Background
from tests.server.test_worker import FIREFOX, WAIT, Clock

__all__ = ["config_module"]  # a fixture used by name

# The hour of the file a committed pointer is in: 2025-11-29 16:00 UTC.
R = 1_764_000_000 + 5 * DAY


def names(*hours: int) -> list[str]:
    return [f"events.{hour}" for hour in hours]


def listing(*hours: int) -> list[tuple[int, str]]:
    return [(hour, f"events.{hour}") for hour in hours]


@pytest.mark.parametrize(
    ("files", "reached", "followed", "now", "days", "grace", "deleted"),
    [
        pytest.param([], R, set(), R + 10 * DAY, 1, LATE_WRITE_GRACE, [], id="empty-log"),
        pytest.param(
            listing(R - 3 * DAY, R), None, set(), R + 10 * DAY, 1, LATE_WRITE_GRACE, [],
            id="nothing-committed-nothing-goes",
        ),
        pytest.param(
            listing(R - 3 * DAY, R - 2 * DAY, R), R, set(), R + 2 * HOUR, 1, LATE_WRITE_GRACE,
            [R - 3 * DAY, R - 2 * DAY],
            id="old-and-passed-go",
        ),
        pytest.param(
            listing(R - 23 * HOUR, R), R, set(), R + 2 * HOUR, 1, LATE_WRITE_GRACE,
            [R - 23 * HOUR],
            id="hour-ended-exactly-n-days-ago-goes",
        ),
        pytest.param(
            listing(R - 23 * HOUR, R), R, set(), R + 2 * HOUR - 1, 1, LATE_WRITE_GRACE, [],
            id="hour-ended-a-second-short-of-n-days-stays",
        ),
        pytest.param(
            listing(R - 22 * HOUR, R), R, set(), R + 2 * HOUR, 1, LATE_WRITE_GRACE, [],
            id="hour-started-n-days-ago-stays",
        ),
        pytest.param(
            listing(R - 3 * DAY, R), R, set(), R + 10 * DAY, 1, LATE_WRITE_GRACE,
            [R - 3 * DAY],
            id="the-pointers-file-stays-however-old",
        ),
        pytest.param(
            listing(R - 3 * DAY, R - 2 * DAY, R - DAY), R - 3 * DAY, set(), R + 10 * DAY, 1,
            LATE_WRITE_GRACE, [],
            id="files-after-the-pointer-stay-uncounted",
        ),
        pytest.param(
            listing(R - 3 * DAY, R - 2 * DAY, R), R, {R - 2 * DAY}, R + 10 * DAY, 1,
            LATE_WRITE_GRACE, [R - 3 * DAY],
            id="an-hour-followed-for-late-writes-stays",
        ),
        pytest.param(
            listing(R - 3 * DAY, R + HOUR), R, set(), R + 10 * DAY, 1, LATE_WRITE_GRACE,
            [R - 3 * DAY],
            id="the-pointers-file-deleted-by-hand",
        ),
        pytest.param(
            listing(R - 4 * DAY, R - 2 * DAY, R), R, set(), R + 2 * HOUR, 1, 3 * DAY,
            [R - 4 * DAY],
            id="a-grace-longer-than-the-days-wins",
        ),
        pytest.param(
            listing(R, R - 2 * DAY, R - 3 * DAY), R, set(), R + 2 * HOUR, 1, LATE_WRITE_GRACE,
            [R - 3 * DAY, R - 2 * DAY],
            id="oldest-first-whatever-the-listing",
        ),
        pytest.param(
            listing(R - 8 * DAY, R - 6 * DAY, R - 2 * DAY), R, set(), R + 2 * HOUR, 7,
            LATE_WRITE_GRACE, [R - 8 * DAY],
            id="a-week",
        ),
    ],
)  # fmt: skip
def test_expired_deletes_only_counted_files_older_than_the_days(
    files: list[tuple[int, str]],
    reached: int | None,
    followed: set[int],
    now: float,
    days: int,
    grace: float,
    deleted: list[int],
) -> None:
    assert expired(files, reached, followed, now=now, days=days, grace=grace) == names(*deleted)


@pytest.mark.parametrize(
    ("pointer", "hours"),
    [
        pytest.param(f"events.{R}:120", (R, set()), id="manhattan-0.3"),
        pytest.param(
            f"events.{R}:10;{R - 2 * HOUR}:5;{R - HOUR}:0",
            (R, {R - 2 * HOUR, R - HOUR}),
            id="following-late-writes",
        ),
        pytest.param(f"/var/log/m/events.{R}:3", (R, set()), id="with-a-directory"),
    ],
)
def test_counted_hours_of_a_pointer(pointer: str, hours: tuple[int, set[int]]) -> None:
    assert counted_hours(TimeRotatingLog("/var/log/m/events"), pointer) == hours


@pytest.mark.parametrize(
    "pointer",
    [
        pytest.param(f"other.{R}:1", id="another-log"),
        pytest.param(f"events.{R}:1;{R + HOUR}:0", id="followed-hour-not-older"),
        pytest.param("events.soon:1", id="not-an-hour"),
    ],
)
def test_counted_hours_refuses_a_pointer_of_another_form(pointer: str) -> None:
    with pytest.raises(ValueError, match=r"is not '<events\.HOUR>:<byte offset>'"):
        counted_hours(TimeRotatingLog("/var/log/m/events"), pointer)


# The pass: a real directory of hour files.


def hour_files(tmp_path: Path, *hours: int) -> TimeRotatingLog:
    log = TimeRotatingLog(tmp_path / "events")
    for hour in hours:
        (tmp_path / f"events.{hour}").write_text("")
    return log


def present(log: TimeRotatingLog) -> list[str]:
    return [name for _, name in log.files()]


def test_retention_deletes_what_the_committed_pointer_allows_and_logs_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="manhattan.server")
    log = hour_files(tmp_path, R - 3 * DAY, R - 2 * DAY, R - HOUR, R)
    retention = Retention(log, 1, lambda: f"events.{R}:0", clock=lambda: R + 2 * HOUR)
    assert retention.prune() == names(R - 3 * DAY, R - 2 * DAY)
    assert present(log) == names(R - HOUR, R)
    assert caplog.messages == [
        f"log retention: deleted 2 counted hour file(s) older than 1 day(s) from {tmp_path}: "
        f"events.{R - 3 * DAY} to events.{R - 2 * DAY}"
    ]
    assert retention.prune() == []
    assert caplog.messages[1:] == []


def test_retention_deletes_nothing_before_the_first_commit(tmp_path: Path) -> None:
    log = hour_files(tmp_path, R - 3 * DAY, R)
    retention = Retention(log, 1, lambda: None, clock=lambda: R + 10 * DAY)
    retention.tick()
    assert present(log) == names(R - 3 * DAY, R)


def test_a_file_that_cannot_be_deleted_is_logged_and_the_others_go(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = hour_files(tmp_path, R - 3 * DAY, R)
    (tmp_path / f"events.{R - 4 * DAY}").mkdir()  # named like an hour file
    retention = Retention(log, 1, lambda: f"events.{R}:0", clock=lambda: R + 2 * HOUR)
    assert retention.prune() == names(R - 3 * DAY)
    assert present(log) == names(R - 4 * DAY, R)
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.getMessage().startswith(f"log retention: cannot delete events.{R - 4 * DAY}: ")


def test_a_file_deleted_by_hand_meanwhile_is_passed_over(tmp_path: Path) -> None:
    log = hour_files(tmp_path, R - 3 * DAY, R - 2 * DAY, R)

    def clock() -> float:
        # Asked once the files are listed: someone deletes one just then.
        os.remove(tmp_path / f"events.{R - 3 * DAY}")
        return R + 2 * HOUR

    retention = Retention(log, 1, lambda: f"events.{R}:0", clock=clock)
    assert retention.prune() == names(R - 2 * DAY)
    assert present(log) == names(R)


def test_a_pointer_of_another_log_deletes_nothing_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = hour_files(tmp_path, R - 3 * DAY, R)
    retention = Retention(log, 1, lambda: f"other.{R}:0", clock=lambda: R + 10 * DAY)
    assert retention.prune() == []
    assert present(log) == names(R - 3 * DAY, R)
    assert caplog.messages == [
        f"log retention: deleting nothing: log pointer 'other.{R}:0' is not "
        "'<events.HOUR>:<byte offset>' (followed by ';HOUR:OFFSET' for each older hour still read)"
    ]


def test_a_database_that_cannot_be_read_deletes_nothing_and_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def unreadable() -> str:
        raise StoreError("query failed on sqlite:///m.db: disk I/O error")

    log = hour_files(tmp_path, R - 3 * DAY, R)
    Retention(log, 1, unreadable, clock=lambda: R + 10 * DAY).tick()
    assert present(log) == names(R - 3 * DAY, R)
    assert caplog.messages == [
        "log retention: cannot read the committed log pointer "
        "(query failed on sqlite:///m.db: disk I/O error)"
    ]


def test_retention_keeps_files_at_least_a_day(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="kept at least 1 day, not 0"):
        Retention(TimeRotatingLog(tmp_path / "events"), 0, lambda: None)


# The server over a log spanning days, written with a controlled clock.

NOW_HOUR = int(time.time()) // HOUR * HOUR
# Hours before the current one (at import: tests run later). 2-day
# retention deletes those 49 and more back, 3-day those 73 and more; each
# kept or deleted file is two hours or more from that edge, so the outcome
# is the same for two hours. The one 1 back may be followed for late writes.
BACK = (150, 149, 120, 100, 70, 50, 47, 30, 5, 1)
A, B, C, D = (letter * 40 for letter in "abcd")


def hour_records(back: int) -> list[list[str]]:
    """Records of an hour: a returning visitor, a new one per hour that
    loads the pixel, one that never does, a goal with a value."""
    at = NOW_HOUR - back * HOUR + 60
    new = f"{back:040d}"
    stamp = [f"{at + second:0.4f}" for second in range(6)]
    return [
        page_record(stamp[0], A, "1", "198.51.100.7", "GET", f"/p/{back}", FIREFOX, ""),
        pixel_record(stamp[1], A, "1"),
        page_record(stamp[2], new, "2", "203.0.113.9", "GET", "/", FIREFOX, ""),
        pixel_record(stamp[3], new, "2"),
        goal_record(stamp[4], A if back % 2 else new, "1", "purchase", str(back), "USD"),
        page_record(stamp[5], B if back % 3 else C, "1", "192.0.2.1", "GET", "/", FIREFOX, ""),
    ]


def write_hours(directory: Path, backs: tuple[int, ...]) -> str:
    """Each hour ``backs`` back from now in its own file of the log at
    ``directory/events``; the log's --path."""
    clock = Clock()
    log = TimeRotatingLog(directory / "events", clock=clock)
    for back in backs:
        clock.now = NOW_HOUR - back * HOUR + 60
        log.write(hour_records(back))
    log.close()
    return log.path


def hours_left(path: str) -> list[int]:
    return [hour for hour, _ in TimeRotatingLog(path).files()]


def hours(*backs: int) -> list[int]:
    return [NOW_HOUR - back * HOUR for back in backs]


def database(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table but the leases (released at exit)."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
        tables = [
            name
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if name != "leases"
        ]
        return {
            table: sorted(conn.execute(f"SELECT * FROM {table}"), key=repr) for table in tables
        }


def counted_twice(
    tmp_path: Path, backs: tuple[int, ...], argv: list[str]
) -> tuple[str, str, str, str]:
    """The log of ``backs`` and a copy of it, each counted by ``--once``
    (plus ``argv``) into its own database, the copy without retention:
    (path, url, copy's path, copy's url)."""
    path = write_hours(tmp_path / "kept", backs)
    shutil.copytree(tmp_path / "kept", tmp_path / "all")
    url, all_url = (f"sqlite:///{tmp_path / name}.db" for name in ("kept", "all"))
    copy = str(tmp_path / "all" / "events")
    assert cli.main(["-p", copy, "-u", all_url, "--once"]) == 0
    assert cli.main(["-p", path, "-u", url, "--once", *argv]) == 0
    return path, url, copy, all_url


def test_once_deletes_the_counted_files_older_than_the_days_and_counts_the_same(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url, copy, all_url = counted_twice(tmp_path, BACK, ["--retain-days", "2"])
    assert hours_left(path) == hours(47, 30, 5, 1)
    assert hours_left(copy) == hours(*BACK)
    assert database(url) == database(all_url)
    with SQLStore(url) as store:
        assert store.count("viewed page") > 0  # not two empty databases alike
    # The summary lines of both runs are the same: nothing else was said.
    summaries = capsys.readouterr().err.splitlines()
    assert len(summaries) == 2
    assert summaries[0] == summaries[1]


def test_the_file_the_pointer_is_in_stays_until_the_reader_is_past_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = (150, 120, 100)
    path, url, copy, all_url = counted_twice(tmp_path, old, ["--retain-days", "1"])
    # The last file is older than the days, but appends to it would be read.
    assert hours_left(path) == hours(100)
    # An hour more, and the reader is past that file.
    write_hours(tmp_path / "kept", (2,))
    assert cli.main(["-p", path, "-u", url, "--once", "--retain-days", "1"]) == 0
    write_hours(tmp_path / "all", (2,))
    assert cli.main(["-p", copy, "-u", all_url, "--once"]) == 0
    assert hours_left(path) == hours(2)
    assert hours_left(copy) == hours(*old, 2)
    assert database(url) == database(all_url)
    capsys.readouterr()


def test_files_after_the_committed_pointer_stay_however_old(tmp_path: Path) -> None:
    path = write_hours(tmp_path, (150, 120))
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert cli.main(["-p", path, "-u", url, "--once"]) == 0
    write_hours(tmp_path, (100, 72, 3))  # not counted yet
    with SQLStore(url) as store:
        deleted = Retention(TimeRotatingLog(path), 1, store.load_pointer).prune()
    assert deleted == [f"events.{hour}" for hour in hours(150)]
    assert hours_left(path) == hours(120, 100, 72, 3)


def test_a_following_server_deletes_at_its_lease_renewals(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="manhattan.server")
    path = write_hours(tmp_path / "kept", BACK)
    url = f"sqlite:///{tmp_path / 'kept.db'}"
    server = Background(
        ["-p", path, "-u", url, "--retain-days", "3", "--lease-seconds", "0.3",
         "--flush-seconds", "0.05", "--bind", f"tcp://127.0.0.1:{free_port()}"]
    )  # fmt: skip
    try:
        # Deleted while the server runs, not only when it stops.
        wait_until(lambda: hours_left(path) == hours(70, 50, 47, 30, 5, 1))
    finally:
        assert server.stop() == 0
    deleted = [m for m in caplog.messages if m.startswith("log retention: ")]
    assert deleted
    assert all(m.startswith("log retention: deleted ") for m in deleted), deleted
    write_hours(tmp_path / "all", BACK)
    all_url = f"sqlite:///{tmp_path / 'all.db'}"
    assert cli.main(["-p", str(tmp_path / "all" / "events"), "-u", all_url, "--once"]) == 0
    with SQLStore(url) as kept, SQLStore(all_url) as every:
        assert kept.count("viewed page") == every.count("viewed page") > 0
        assert kept.goal_value("purchase") == every.goal_value("purchase") > 0


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "the files were never deleted"
        time.sleep(0.02)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["-p", "/var/log/m/events", "--retain-days", "0"],
            "argument --retain-days: must be at least 1, not 0",
            id="zero",
        ),
        pytest.param(
            ["-p", "/var/log/m/events", "--retain-days", "1.5"],
            "argument --retain-days: must be a whole number of days, not '1.5'",
            id="not-whole",
        ),
        pytest.param(
            ["--redis", "redis://127.0.0.1:1/0", "--retain-days", "7"],
            "--retain-days deletes the counted hour files of a --path log: it cannot be "
            "used with --redis (a stream is trimmed as it is counted) or --query-only",
            id="redis",
        ),
        pytest.param(
            ["--query-only", "--retain-days", "7"],
            "--retain-days deletes the counted hour files of a --path log: it cannot be "
            "used with --redis (a stream is trimmed as it is counted) or --query-only",
            id="query-only",
        ),
    ],
)
def test_bad_retain_days_flags_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    assert one_error_line(capsys.readouterr().err) == message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param("7", "retain_days must be a whole number of days, not '7'", id="text"),
        pytest.param(True, "retain_days must be a whole number of days, not True", id="bool"),
        pytest.param(7.0, "retain_days must be a whole number of days, not 7.0", id="float"),
        pytest.param(0, "retain_days must be at least 1, not 0", id="zero"),
    ],
)
def test_a_bad_retain_days_in_a_config_exits_2(
    value: object,
    message: str,
    config_module: types.ModuleType,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config_module.SETTINGS = {"path": "/var/log/m/events", "retain_days": value}  # type: ignore[attr-defined]
    assert cli.main(["--config", "manhattan_cli_test_settings.SETTINGS"]) == 2
    assert one_error_line(capsys.readouterr().err) == message


def test_retain_days_from_a_config_and_a_flag(config_module: types.ModuleType) -> None:
    config_module.SETTINGS = {"path": "/var/log/m/events", "retain_days": 30}  # type: ignore[attr-defined]
    config = ["--config", "manhattan_cli_test_settings.SETTINGS"]
    assert cli.settings_from(config).retain_days == 30
    assert cli.settings_from([*config, "--retain-days", "7"]).retain_days == 7
    assert cli.settings_from(["-p", "/var/log/m/events"]).retain_days is None
