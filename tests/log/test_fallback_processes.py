"""Several app server processes sharing one fallback path while Redis is
killed and restarted: each record arrives, none twice beyond the documented
at-least-once case, no sender dies and no file is left behind. And the
pieces that make that so: which names are data, offset files left by a
crash, a sender that survives local errors."""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import time
from pathlib import Path

import pytest
import redis

from manhattan.log import fallback as fb
from manhattan.log.redisstream import RedisStreamLog, read_partition
from manhattan.log.remote import RemoteLog
from manhattan.log.text import encode_record
from tests.conftest import RedisURL
from tests.log.fallback_writer import record, write
from tests.log.test_redisstream import REDIS_URL, WAIT, client, fallback, stream
from tests.server.test_faults import PrivateRedis, private_redis, wait_until

__all__ = ["client", "fallback", "private_redis", "stream"]  # fixtures used by name

PROCESSES = 6
RECORDS = 1500


def test_processes_sharing_a_fallback_lose_and_repeat_nothing_through_a_redis_restart(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    shared = tmp_path / "fallbacks"
    shared.mkdir()
    context = multiprocessing.get_context("spawn")
    args = (private_redis.url, "s", str(shared / "fallback"))
    workers = [
        context.Process(target=write, args=(*args, worker, RECORDS)) for worker in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    watcher = redis.Redis.from_url(private_redis.url, socket_timeout=5)
    try:
        wait_until(lambda: watcher.xlen("s:0") > PROCESSES * RECORDS // 5, "writes to begin")
        private_redis.kill()  # mid-way: every process spills to the one fallback path
        time.sleep(0.5)
        private_redis.start()
        for worker in workers:
            worker.join(WAIT)
        assert [worker.exitcode for worker in workers] == [0] * PROCESSES
        got = [r for _, records in read_partition(watcher, "s", 0, count=10**6) for r in records]
    finally:
        watcher.close()
        for worker in workers:
            if worker.is_alive():
                worker.kill()
    assert None not in got  # nothing but records was sent (no offset file taken for data)
    expected = [record(w, n) for w in range(PROCESSES) for n in range(RECORDS)]
    copies = collections.Counter(map(tuple, got))
    assert set(copies) == set(map(tuple, expected))
    # At least once: a write Redis applied but was killed before answering
    # is written again. Each process had at most one write under way.
    assert sum(copies.values()) - len(expected) <= PROCESSES
    assert os.listdir(shared) == []


def test_only_sending_files_are_data_and_orphaned_offset_files_are_removed(
    client: redis.Redis, stream: str, fallback: str
) -> None:
    data = f"{fallback}.sending-{0:020d}-1-abcd"
    with open(data, "wb") as file:
        file.write(encode_record(record(1, 1)))
    junk = {
        # A sender's offset file and its temporary, while it sends "data".
        f"{data}{fb.SENT_SUFFIX}": b"0",
        f"{data}{fb.SENT_SUFFIX}.77.tmp": b"0",
        # Left by processes that died after deleting their data file.
        f"{fallback}.sending-{1:020d}-2-ef01{fb.SENT_SUFFIX}": b"12",
        f"{fallback}.sending-{2:020d}-3-2345{fb.SENT_SUFFIX}.88.tmp": b"12",
        f"{fallback}.sending-{3:020d}-4-6789{fb.SENT_SUFFIX}.tmp": b"12",
    }
    for path, content in junk.items():
        with open(path, "wb") as file:
            file.write(content)
    strangers = [f"{fallback}.sending-by-hand", f"{fallback}.sending-{0:020d}-1-abcd.bak"]
    for path in strangers:
        open(path, "wb").close()
    log = RedisStreamLog(REDIS_URL, stream, fallback=fallback)
    assert log.flush(timeout=WAIT)
    log.close()
    assert [r for _, records in read_partition(client, stream, 0) for r in records] == [
        record(1, 1)
    ]
    assert sorted(os.listdir(os.path.dirname(fallback))) == sorted(
        os.path.basename(path) for path in strangers
    )


def test_a_local_error_never_ends_the_sender(
    redis_url: RedisURL,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(fb, "RETRY_SECONDS", 0.01)
    key = f"{redis_url.prefix}queue"
    real_save = fb._save_offset
    failures = []

    def save(path: str, sent: int) -> None:
        if not failures:
            failures.append(path)
            raise OSError(28, "No space left on device")
        real_save(path, sent)

    monkeypatch.setattr(fb, "_save_offset", save)
    log = RemoteLog(key, {"host": "127.0.0.1", "port": 1}, fallback=tmp_path / "fb")
    log.write([record(1, 1)])  # Redis is down: the write spills
    log.redis = redis.Redis(host="127.0.0.1", port=6379)
    with caplog.at_level(logging.WARNING, logger="manhattan.log"):
        assert log.flush(timeout=WAIT)
    client = log.redis
    # The chunk whose offset could not be noted is sent again: at least once.
    assert client.lrange(key, 0, -1) == [b'[["1","page","1.0000","p1","0","/1"]]'] * 2
    log.close()
    assert any("No space left" in r.getMessage() for r in caplog.records)
    assert os.listdir(tmp_path) == []
