"""The fallback file (manhattan.log.fallback) as the Redis stream log uses
it: backoff, resuming a send that failed halfway or crashed, files other
processes left or are sending, forks, torn and short writes. Against a real
Redis where records are sent, and port 1 (refused) where Redis is down."""

from __future__ import annotations

import fcntl
import itertools
import os
import time

import pytest
import redis

from manhattan.log import fallback as fb
from manhattan.log.redisstream import RedisStreamLog, partition_of
from manhattan.log.text import encode_record
from tests.log.test_redisstream import (
    CLOSED_URL,
    REDIS_URL,
    WAIT,
    client,
    fallback,
    fallback_content,
    leftovers,
    read_all,
    rec,
    stream,
)

__all__ = ["client", "fallback", "stream"]  # fixtures used by name


def test_the_sender_backs_off_while_redis_is_down(fallback, monkeypatch):
    monkeypatch.setattr(fb, "RETRY_SECONDS", 0.01)
    monkeypatch.setattr(fb, "MAX_RETRY_SECONDS", 0.02)
    tries = []
    real_resend = fb.Fallback._resend

    def resend(self):
        tries.append(time.monotonic())
        return real_resend(self)

    monkeypatch.setattr(fb.Fallback, "_resend", resend)
    down = RedisStreamLog(CLOSED_URL, "s", fallback=fallback)
    for n in range(50):
        down.write([rec("v", n)])  # each write wakes the sender; it keeps its pace
    time.sleep(0.2)
    down.close()
    gaps = [later - earlier for earlier, later in itertools.pairwise(tries)]
    assert 3 <= len(tries) < 50
    assert min(gaps) >= 0.009
    assert fallback_content(fallback).count(b"\n") == 50


def test_records_spilled_while_the_backlog_is_sent_follow_it(
    client, stream, fallback, monkeypatch
):
    log = RedisStreamLog(CLOSED_URL, stream, fallback=fallback)
    log.write([rec("v", 1)])
    log.close()
    real_send_file = fb.Fallback._send_file
    spilled = []

    def send_file(self, path, *, wait):
        if not spilled:  # a request's write arriving mid-send
            spilled.append(path)
            log.write([rec("v", 2)])
        return real_send_file(self, path, wait=wait)

    monkeypatch.setattr(fb.Fallback, "_send_file", send_file)
    log.client = redis.Redis.from_url(REDIS_URL)
    log.write([rec("v", 0)])  # Redis is back; the backlog still goes first
    assert log.flush(timeout=WAIT)
    log.close()
    assert read_all(client, stream, 0) == [rec("v", 1), rec("v", 0), rec("v", 2)]


def test_a_running_sender_picks_up_files_other_processes_left(
    client, stream, fallback, monkeypatch
):
    monkeypatch.setattr(fb, "IDLE_CHECK_SECONDS", 0.01)
    log = RedisStreamLog(CLOSED_URL, stream, fallback=fallback)
    log.write([rec("v", 1)])
    log.client = redis.Redis.from_url(REDIS_URL)  # Redis is back
    assert log.flush(timeout=WAIT)
    # Another process, stopped while Redis was down, left its file.
    with open(f"{fallback}.sending-{0:020d}-1-cccc", "wb") as file:
        file.write(encode_record(rec("w", 2)))
    deadline = time.monotonic() + WAIT
    while leftovers(fallback) and time.monotonic() < deadline:
        time.sleep(0.005)
    log.close()
    assert read_all(client, stream, 0) == [rec("v", 1), rec("w", 2)]


def test_a_forked_child_starts_its_own_sender(client, stream, fallback, monkeypatch):
    monkeypatch.setattr(fb, "RETRY_SECONDS", 60.0)
    log = RedisStreamLog(CLOSED_URL, stream, fallback=fallback)
    log.write([rec("v", 1)])

    def parent_is_waiting() -> bool:
        # Its one try failed and it let go of the file: it waits 60 s now.
        sending = [f for f in leftovers(fallback) if ".sending-" in f]
        if not sending:
            return False
        fd = os.open(os.path.join(os.path.dirname(fallback), sending[0]), os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        finally:
            os.close(fd)
        return True

    deadline = time.monotonic() + WAIT
    while not parent_is_waiting():
        assert time.monotonic() < deadline
        time.sleep(0.005)
    pid = os.fork()
    if pid == 0:  # the child: no sender thread came along
        try:
            log.client = redis.Redis.from_url(REDIS_URL)
            log.write([rec("v", 2)])
            os._exit(0 if log.flush(timeout=WAIT) else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    log.close()
    assert os.waitstatus_to_exitcode(status) == 0
    assert read_all(client, stream, 0) == [rec("v", 1), rec("v", 2)]


def test_a_resend_that_fails_midway_goes_on_from_the_last_chunk_redis_took(
    client, stream, fallback, monkeypatch
):
    monkeypatch.setattr(fb, "RESEND_CHUNK", 2)
    with open(fallback, "wb") as file:
        file.write(b"".join(encode_record(rec(v, n)) for n, v in enumerate("abcabcab")))
    real_send = RedisStreamLog._send
    calls = []

    def send(self, batch, *, atomic=False):
        calls.append(len(batch))
        if len(calls) == 3:  # the third chunk: Redis goes away
            raise redis.ConnectionError("Connection reset by peer")
        real_send(self, batch, atomic=atomic)

    monkeypatch.setattr(RedisStreamLog, "_send", send)
    log = RedisStreamLog(REDIS_URL, stream, 3, fallback=fallback)
    log.write([rec("c", 99)])  # the backlog goes first: this waits in the fallback
    assert log.flush(timeout=WAIT)
    log.close()

    assert calls == [2, 2, 2, 2, 2, 1]  # the third chunk twice, nothing else again
    written = [rec(v, n) for n, v in enumerate("abcabcab")] + [rec("c", 99)]
    for p in range(3):
        assert read_all(client, stream, p) == [r for r in written if partition_of(r[3], 3) == p]
    assert leftovers(fallback) == []


def test_a_crash_mid_resend_resumes_at_the_noted_offset(client, stream, fallback):
    left = f"{fallback}.sending-{0:020d}-1-dddd"
    lines = [encode_record(rec("v", n)) for n in range(4)]
    with open(left, "wb") as file:
        file.write(b"".join(lines))
    with open(left + fb.SENT_SUFFIX, "wb") as file:  # the first two reached Redis
        file.write(str(len(lines[0]) + len(lines[1])).encode())
    log = RedisStreamLog(REDIS_URL, stream, fallback=fallback)
    log.write([rec("v", 9)])
    assert log.flush(timeout=WAIT)
    log.close()
    assert read_all(client, stream, 0) == [rec("v", 2), rec("v", 3), rec("v", 9)]
    assert leftovers(fallback) == []


def test_an_empty_leftover_file_is_removed(client, stream, fallback):
    left = f"{fallback}.sending-{0:020d}-1-ffff"
    open(left, "wb").close()
    log = RedisStreamLog(REDIS_URL, stream, fallback=fallback)
    assert log.flush(timeout=WAIT)
    log.close()
    assert leftovers(fallback) == []
    assert read_all(client, stream, 0) == []


def test_an_unreadable_offset_sends_the_whole_file_again(client, stream, fallback):
    left = f"{fallback}.sending-{0:020d}-1-eeee"
    with open(left, "wb") as file:
        file.write(encode_record(rec("v", 1)))
    with open(left + fb.SENT_SUFFIX, "wb") as file:
        file.write(b"torn")
    log = RedisStreamLog(REDIS_URL, stream, fallback=fallback)
    assert log.flush(timeout=WAIT)
    log.close()
    assert read_all(client, stream, 0) == [rec("v", 1)]


@pytest.mark.parametrize(
    ("data", "start", "count", "expected"),
    [
        pytest.param(b"a\nb\nc\n", 0, 2, ([b"a\n", b"b\n"], 4), id="first-two"),
        pytest.param(b"a\nb\nc\n", 4, 2, ([b"c\n"], 2), id="the-rest"),
        pytest.param(b"a\n\n\nb\n", 0, 2, ([b"a\n", b"b\n"], 6), id="empty-lines-skipped"),
        pytest.param(b"a\ntorn", 0, 5, ([b"a\n", b"torn\n"], 6), id="torn-last-line"),
        pytest.param(b"a\n", 2, 5, ([], 0), id="at-the-end"),
    ],
)
def test_next_lines(data, start, count, expected):
    assert fb.next_lines(data, start, count) == expected


def test_a_file_another_process_is_sending_is_left_to_it(client, stream, fallback):
    busy = f"{fallback}.sending-{0:020d}-1-aaaa"
    with open(busy, "wb") as file:
        file.write(encode_record(rec("old", 1)))
    holder = os.open(busy, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        log = RedisStreamLog(REDIS_URL, stream, fallback=fallback)
        log.write([rec("new", 2)])
        assert log.flush(timeout=WAIT)
        log.close()
    finally:
        os.close(holder)

    assert read_all(client, stream, 0) == [rec("new", 2)]
    assert os.path.exists(busy)


def test_a_file_that_vanished_before_it_was_opened_is_skipped(
    client, stream, fallback, monkeypatch
):
    gone = f"{fallback}.sending-{0:020d}-1-abcd"
    monkeypatch.setattr(fb.glob, "glob", lambda pattern: [gone])
    log = RedisStreamLog(REDIS_URL, stream, fallback=fallback)
    log.write([rec("v", 1)])
    assert log.flush(timeout=WAIT)
    log.close()
    assert read_all(client, stream, 0) == [rec("v", 1)]


def test_a_file_deleted_while_waiting_for_its_lock_is_skipped(
    client, stream, fallback, monkeypatch
):
    done = f"{fallback}.sending-{0:020d}-1-bbbb"
    with open(done, "wb") as file:
        file.write(encode_record(rec("old", 1)))
    real_flock = fcntl.flock

    def flock(fd, operation):
        # The process that held the lock sent the file and deleted it.
        if operation & fcntl.LOCK_EX and os.path.exists(done):
            os.unlink(done)
        real_flock(fd, operation)

    monkeypatch.setattr(fb.fcntl, "flock", flock)
    log = RedisStreamLog(REDIS_URL, stream, fallback=fallback)
    log.write([rec("new", 2)])
    assert log.flush(timeout=WAIT)
    log.close()
    assert read_all(client, stream, 0) == [rec("new", 2)]


def test_a_spill_into_a_file_renamed_meanwhile_goes_to_the_new_file(fallback, monkeypatch):
    renamed = f"{fallback}.taken"
    real_flock = fcntl.flock
    calls = []

    def flock(fd, operation):
        real_flock(fd, operation)
        calls.append(operation)
        if operation == fcntl.LOCK_SH and len(calls) == 1:
            os.rename(fallback, renamed)  # a resender took the file after our open

    monkeypatch.setattr(fb.fcntl, "flock", flock)
    log = RedisStreamLog(CLOSED_URL, "s", fallback=fallback)
    log.write([rec("v", 1)])
    log.close()

    with open(renamed, "rb") as file:
        assert file.read() == b""
    assert fallback_content(fallback) == b"1\tpage\t1.0000\tv\t0\n"


def test_a_short_write_to_the_fallback_is_completed(fallback, monkeypatch):
    real_write = os.write

    def write(fd, data):
        return real_write(fd, data[:3])  # as on a full disk or an interrupting signal

    monkeypatch.setattr(fb.os, "write", write)
    log = RedisStreamLog(CLOSED_URL, "s", fallback=os.path.join(fallback, "sub", "fb"))
    log.write([rec("v", 1), rec("w", 2)])
    log.close()
    monkeypatch.undo()

    assert fallback_content(log.fallback) == b"1\tpage\t1.0000\tv\t0\n1\tpage\t2.0000\tw\t0\n"
