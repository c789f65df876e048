"""manhattan-log-server: drains RemoteLog's Redis list into a TimeRotatingLog,
in order, skipping bad entries, and recovering from a kill at any moment
without losing or repeating a record."""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import os
import random
import runpy
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from manhattan.log.remote import RemoteLog, processing_key
from manhattan.log.timerotating import HOUR, TimeRotatingLog
from manhattan.logserver import cli
from manhattan.logserver.cli import (
    Intent,
    LogServer,
    batch_hash,
    decide,
    main,
    missing_part,
    validate,
)
from tests.server.test_faults import PrivateRedis, private_redis

__all__ = ["private_redis"]  # a fixture used by name

MAIN = "manhattan.logserver.__main__"
WAIT = 10.0  # seconds a bounded poll may take before the test fails


def record(batch: int, index: int) -> list[str]:
    return ["1", "page", f"{1_700_000_000 + batch}.5", f"v{batch}", "0", f"/{batch}/{index}"]


def line(rec: list[str]) -> bytes:
    return ("\t".join(rec) + "\n").encode()


def entry(*records: list[str]) -> bytes:
    return json.dumps(list(records)).encode()


@pytest.fixture
def queue(redis_url: Any) -> Iterator[tuple[str, str, redis.Redis]]:
    """The test's Redis URL, its queue key and a client."""
    client = redis.Redis.from_url(redis_url)
    yield str(redis_url), redis_url.prefix + "queue", client
    client.close()


def read_log(path: Path) -> list[list[str]]:
    return [rec for rec, _ in TimeRotatingLog(path).process()]


def drain(server: LogServer) -> None:
    """Cycle until both lists are empty (a cycle with entries never waits)."""
    client = server.client
    while client.llen(server.key) or client.llen(server.processing):
        assert server.cycle()


# Pure parts


INTENT = Intent(batch_hash([b"a"]), "q", "log.0", 10, 20, 1, 3)


@pytest.mark.parametrize(
    ("intent", "key", "entries", "pending", "expected"),
    [
        pytest.param(None, "q", [], 0, "take", id="idle-nothing-pending"),
        pytest.param(INTENT, "q", [], 0, "clear", id="stale-intent"),
        pytest.param(INTENT, "q", [b"a"], 3, "resume", id="intent-for-these"),
        pytest.param(INTENT, "q", [b"a"], 2, "fresh", id="intent-for-a-removed-twin"),
        pytest.param(INTENT, "q", [b"a", b"a"], 3, "fresh", id="intent-for-others"),
        pytest.param(INTENT, "other", [b"a"], 3, "fresh", id="intent-for-another-queue"),
        pytest.param(None, "q", [b"a"], 1, "fresh", id="idle-with-pending"),
    ],
)
def test_decide(
    intent: Intent | None, key: str, entries: list[bytes], pending: int, expected: str
) -> None:
    assert decide(intent, key, entries, pending) == expected


def test_batch_hash_is_of_the_entries_in_order() -> None:
    digest = hashlib.sha256(hashlib.sha256(b"x").digest() + hashlib.sha256(b"y").digest())
    assert batch_hash([b"x", b"y"]) == digest.hexdigest()
    assert batch_hash([b"y", b"x"]) != batch_hash([b"x", b"y"])
    # Entry boundaries count: "xy" is not "x" then "y".
    assert batch_hash([b"xy"]) != batch_hash([b"x", b"y"])


@pytest.mark.parametrize(
    ("present", "data", "expected"),
    [
        pytest.param(b"", b"abc\n", b"abc\n", id="nothing-written"),
        pytest.param(b"ab", b"abc\n", b"c\n", id="short-write"),
        pytest.param(b"abc\n", b"abc\n", b"", id="all-written"),
        pytest.param(b"zz", b"abc\n", b"abc\n", id="changed-by-someone-else"),
    ],
)
def test_missing_part(present: bytes, data: bytes, expected: bytes) -> None:
    assert missing_part(present, data) == expected


def test_validate_keeps_good_entries_in_order_and_says_why_bad_ones_are_not() -> None:
    good = [record(1, 0), record(1, 1)]
    records, problems = validate([entry(*good), b"nope", entry(record(2, 0)), b"[1]"])
    assert records == [*good, record(2, 0)]
    assert len(problems) == 2
    assert problems[0].startswith("entry 1 (4 bytes): not JSON")
    assert problems[1] == "entry 3 (3 bytes): record 0 is int, not a list"


def test_an_intent_round_trips_through_its_file_form() -> None:
    assert Intent.loads(INTENT.dumps()) == INTENT


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"[1]", id="not-an-object"),
        pytest.param(b'{"batch": "x"}', id="missing-fields"),
        pytest.param(
            b'{"batch": "x", "key": "q", "file": "f", "offset": "1", "length": 2, '
            b'"count": 1, "pending": 1}',
            id="wrong-type",
        ),
        pytest.param(b"{", id="not-json"),
    ],
)
def test_a_damaged_intent_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError, match=r"not an intent|Expecting"):
        Intent.loads(data)


# Draining, in process


def test_round_trip_in_fifo_order(queue: tuple[str, str, redis.Redis], tmp_path: Path) -> None:
    _, key, client = queue
    remote = RemoteLog(key, redis_kwargs={"host": "127.0.0.1", "port": 6379})
    batches = [[record(b, i) for i in range(b % 3 + 1)] for b in range(25)]
    for batch in batches:
        remote.write(batch)
    remote.close()
    server = LogServer(client, key, TimeRotatingLog(tmp_path / "log"), batch=4)
    drain(server)
    expected = [rec for batch in batches for rec in batch]
    assert read_log(tmp_path / "log") == expected
    assert (server.batches, server.records, server.skipped) == (25, len(expected), 0)
    assert not (tmp_path / "log.logserver-state").exists()
    assert not client.exists(key, processing_key(key))
    # Nothing more: a cycle waits, then says so.
    assert server.cycle(block=0.05) is False


def test_bad_entries_are_skipped_counted_logged_and_removed(
    queue: tuple[str, str, redis.Redis], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, key, client = queue
    client.rpush(key, entry(record(1, 0)), b"garbage", b'{"a": 1}', entry(record(2, 0)))
    client.rpush(key, b'[["too", "short"]]')
    server = LogServer(client, key, TimeRotatingLog(tmp_path / "log"), batch=1)
    with caplog.at_level(logging.WARNING, logger="manhattan.logserver"):
        drain(server)
    assert read_log(tmp_path / "log") == [record(1, 0), record(2, 0)]
    assert (server.batches, server.records, server.skipped) == (5, 2, 3)
    skipped = [r.getMessage() for r in caplog.records if "skipped a bad entry" in r.getMessage()]
    assert len(skipped) == 3
    assert "not JSON" in skipped[0]
    assert not client.exists(key, processing_key(key))


def prepare(
    client: redis.Redis,
    key: str,
    tmp_path: Path,
    entries: list[bytes],
    data: bytes,
    present: bytes,
) -> Path:
    """A kill after the intent was written: ``entries`` (whose records are
    ``data``) in processing, an intent for them at the end of an hour file
    that already holds ``b"old\\n"`` and then ``present``. Returns the file."""
    client.rpush(processing_key(key), *entries)
    hour_file = tmp_path / f"log.{HOUR * 400_000}"
    hour_file.write_bytes(b"old\n" + present)
    intent = Intent(
        batch_hash(entries), key, hour_file.name, 4, len(data), len(entries), len(entries)
    )
    (tmp_path / "log.logserver-state").write_bytes(intent.dumps())
    return hour_file


@pytest.mark.parametrize(
    ("written", "warned"),
    [
        pytest.param("all", False, id="killed-before-removal"),
        pytest.param("part", False, id="killed-in-a-short-write"),
        pytest.param("none", False, id="killed-before-writing"),
        pytest.param("other", True, id="file-changed-by-someone-else"),
        pytest.param("gone", False, id="file-deleted-by-someone-else"),
    ],
)
def test_recovery_writes_nothing_twice(
    queue: tuple[str, str, redis.Redis],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    written: str,
    warned: bool,
) -> None:
    _, key, client = queue
    entries = [entry(record(1, 0), record(1, 1)), b"bad", entry(record(2, 0))]
    data = b"".join(line(rec) for rec in [record(1, 0), record(1, 1), record(2, 0)])
    present = {"all": data, "part": data[:17], "other": b"x\n"}.get(written, b"")
    hour_file = prepare(client, key, tmp_path, entries, data, present)
    if written == "gone":
        hour_file.unlink()
    client.rpush(key, entry(record(3, 0)))  # pushed meanwhile: waits its turn
    server = LogServer(client, key, TimeRotatingLog(tmp_path / "log"))
    with caplog.at_level(logging.WARNING, logger="manhattan.logserver"):
        assert server.cycle(block=0.05)
    before = {"other": b"old\nx\n", "gone": b""}.get(written, b"old\n")
    expected = before + data
    assert hour_file.read_bytes() == expected
    assert any("is written again" in r.getMessage() for r in caplog.records) is warned
    assert not client.exists(processing_key(key))
    assert not (tmp_path / "log.logserver-state").exists()
    assert client.lrange(key, 0, -1) == [entry(record(3, 0))]


def test_a_stale_intent_never_hides_a_new_identical_batch(
    queue: tuple[str, str, redis.Redis], tmp_path: Path
) -> None:
    # Killed after removing the batch, before clearing its intent; then the
    # very same payload is pushed again: it is new, and written again.
    _, key, client = queue
    entries = [entry(record(1, 0))]
    data = line(record(1, 0))
    hour_file = prepare(client, key, tmp_path, entries, data, data)
    client.delete(processing_key(key))
    client.rpush(key, *entries)
    server = LogServer(client, key, TimeRotatingLog(tmp_path / "log"))
    drain(server)
    assert read_log(tmp_path / "log")[-2:] == [record(1, 0), record(1, 0)]
    assert hour_file.read_bytes().startswith(b"old\n" + data)
    assert not (tmp_path / "log.logserver-state").exists()


def test_pending_entries_without_an_intent_are_written(
    queue: tuple[str, str, redis.Redis], tmp_path: Path
) -> None:
    # Killed after moving entries to processing, before writing the intent.
    _, key, client = queue
    client.rpush(processing_key(key), entry(record(1, 0)))
    client.rpush(key, entry(record(2, 0)))
    server = LogServer(client, key, TimeRotatingLog(tmp_path / "log"))
    drain(server)
    assert read_log(tmp_path / "log") == [record(1, 0), record(2, 0)]


def test_redis_failures_are_waited_out_with_growing_pauses(
    queue: tuple[str, str, redis.Redis],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, key, client = queue
    client.rpush(key, entry(record(1, 0)))
    server = LogServer(client, key, TimeRotatingLog(tmp_path / "log"))
    failures = iter([redis.ConnectionError("gone"), redis.TimeoutError("slow")])
    lrange = client.lrange

    def flaky(*args: Any) -> Any:
        error = next(failures, None)
        if error is not None:
            raise error
        return lrange(*args)

    monkeypatch.setattr(client, "lrange", flaky)
    stop = threading.Event()
    thread = threading.Thread(target=cli.run, args=(server, stop))
    with caplog.at_level(logging.INFO, logger="manhattan.logserver"):
        thread.start()
        deadline = time.monotonic() + WAIT
        while server.records < 1:
            assert time.monotonic() < deadline, "the batch was never written"
            time.sleep(0.01)
        stop.set()
        thread.join(WAIT)
    assert not thread.is_alive()
    messages = [r.getMessage() for r in caplog.records]
    assert "Redis failed (gone): trying again in 0.1 s" in messages
    assert "Redis failed (slow): trying again in 0.2 s" in messages
    assert "1 entries taken, 1 records written" in messages
    assert read_log(tmp_path / "log") == [record(1, 0)]


# The command line


def one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("manhattan-log-server: error: ")
    return err


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
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
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


def test_an_identical_batch_after_a_removed_one_is_written_again(
    queue: tuple[str, str, redis.Redis], tmp_path: Path
) -> None:
    # Killed after removing a batch from the processing list, before
    # clearing its intent; the next batch holds the very same payload.
    _, key, client = queue
    entries = [entry(record(1, 0))]
    data = line(record(1, 0))
    prepare(client, key, tmp_path, entries, data, data)  # processing: [A], intent for it
    client.rpush(processing_key(key), *entries)  # [A, A] before the removal...
    Path(tmp_path / "log.logserver-state").write_bytes(
        Intent(batch_hash(entries), key, f"log.{HOUR * 400_000}", 4, len(data), 1, 2).dumps()
    )
    client.ltrim(processing_key(key), 1, -1)  # ... and [A] after it
    server = LogServer(client, key, TimeRotatingLog(tmp_path / "log"))
    drain(server)
    assert read_log(tmp_path / "log")[-2:] == [record(1, 0), record(1, 0)]


def fill_until_refused(client: redis.Redis, key: str) -> list[list[str]]:
    """Push entries of two records until Redis is out of memory, a hundred
    at a time, then one at a time; the records pushed."""
    pushed: list[list[str]] = []
    for size in (100, 1):
        for _ in range(10**5):
            records = [record(len(pushed) + n, i) for n in range(size) for i in range(2)]
            try:
                client.rpush(key, *(entry(*records[i : i + 2]) for i in range(0, 2 * size, 2)))
            except redis.exceptions.OutOfMemoryError:
                break
            pushed += records
    return pushed


def test_a_redis_out_of_memory_is_drained(private_redis: PrivateRedis, tmp_path: Path) -> None:
    client = redis.Redis.from_url(private_redis.url)
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory", used + 2 * 1024 * 1024)
    client.config_set("maxmemory-policy", "noeviction")
    pushed = fill_until_refused(client, "q")
    with pytest.raises(redis.exceptions.OutOfMemoryError):
        client.lmove("q", "elsewhere")  # what the log server used to do
    server = LogServer(client, "q", TimeRotatingLog(tmp_path / "log"), batch=500)
    drain(server)
    assert read_log(tmp_path / "log") == pushed
    client.rpush("q", entry(record(0, 9)))  # app servers can push again
    client.close()
