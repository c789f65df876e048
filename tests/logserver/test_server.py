"""The log server's loop, in process: drains in order, skips bad entries,
recovers from a kill at any step without losing or repeating a record,
waits Redis out, and drains a Redis that is out of memory."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from manhattan.log.remote import RemoteLog, processing_key
from manhattan.log.timerotating import HOUR, TimeRotatingLog
from manhattan.logserver import server as logserver
from manhattan.logserver.protocol import Intent, batch_hash
from manhattan.logserver.server import LogServer
from tests.logserver.helpers import WAIT, drain, entry, line, read_log, record
from tests.server.test_faults import PrivateRedis, private_redis

__all__ = ["private_redis"]  # a fixture used by name


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
    thread = threading.Thread(target=logserver.run, args=(server, stop))
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


def test_run_waits_on_an_empty_queue_until_stopped(
    queue: tuple[str, str, redis.Redis], tmp_path: Path
) -> None:
    _, key, client = queue
    server = LogServer(client, key, TimeRotatingLog(tmp_path / "log"))
    stop = threading.Event()
    timer = threading.Timer(0.1, stop.set)
    timer.start()
    began = time.monotonic()
    logserver.run(server, stop)
    timer.join()
    # It ends within one wait for the queue after the stop.
    assert time.monotonic() - began < 0.1 + logserver.BLOCK_SECONDS + WAIT / 10
    assert (server.batches, server.records) == (0, 0)
    assert read_log(tmp_path / "log") == []
