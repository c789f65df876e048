"""RemoteLog pushes 0.3's payload (one JSON list of records per batch) to a
Redis list; parse_payload accepts exactly such entries."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st

from manhattan.log import Log
from manhattan.log.remote import (
    DEFAULT_KEY,
    SOCKET_TIMEOUT,
    PayloadError,
    RemoteLog,
    RemoteLogError,
    encode_payload,
    parse_payload,
    processing_key,
)

RECORD_A = ["1", "page", "1700000000.25", "v1", "0", "/home", "GET"]
RECORD_B = ["1", "goal", "1700000001.5", "v1", "0", "signed up", "", ""]
RECORD_C = ["1", "pixel", "1700000002", "v2", "3", "tab\there", "é\n\\"]


@pytest.fixture
def remote(redis_url: Any) -> Iterator[tuple[RemoteLog, redis.Redis]]:
    """A RemoteLog on the test's own key, and a client to look at the list."""
    key = redis_url.prefix + "queue"
    log = RemoteLog(key, redis_kwargs={"host": "127.0.0.1", "port": 6379})
    reader = redis.Redis.from_url(redis_url)
    yield log, reader
    log.close()
    reader.close()


def test_defaults_are_0_3s_and_the_timeouts_short() -> None:
    log = RemoteLog()
    assert log.key == "manhattan:log:queue" == DEFAULT_KEY
    options = log.redis.connection_pool.connection_kwargs
    assert options["socket_timeout"] == SOCKET_TIMEOUT == 0.5
    assert options["socket_connect_timeout"] == 0.5
    retry = log.redis.get_retry()
    assert retry is not None
    assert retry.get_retries() == 1
    assert isinstance(log, Log)
    log.close()


def test_redis_kwargs_override_the_timeouts() -> None:
    log = RemoteLog("k", redis_kwargs={"socket_timeout": 7, "port": 6380, "db": 2})
    options = log.redis.connection_pool.connection_kwargs
    assert (options["socket_timeout"], options["socket_connect_timeout"]) == (7, 0.5)
    assert (options["port"], options["db"]) == (6380, 2)
    log.close()


def test_each_write_is_one_entry_pushed_on_the_right(
    remote: tuple[RemoteLog, redis.Redis],
) -> None:
    log, reader = remote
    log.write([RECORD_A, RECORD_B])
    log.write([RECORD_C])
    log.write(())  # nothing to push
    entries = reader.lrange(log.key, 0, -1)
    assert [json.loads(entry) for entry in entries] == [[RECORD_A, RECORD_B], [RECORD_C]]
    # The server pops on the left: the first pushed comes out first.
    assert json.loads(reader.lpop(log.key)) == [RECORD_A, RECORD_B]


def test_a_failed_push_waits_in_the_fallback_and_is_pushed_first_later(
    redis_url: Any, tmp_path: Path
) -> None:
    key = redis_url.prefix + "queue"
    fallback = tmp_path / "fallback"
    down = RemoteLog(key, redis_kwargs={"host": "127.0.0.1", "port": 1}, fallback=fallback)
    down.write([RECORD_A, RECORD_B])
    down.write([RECORD_C])  # straight to the file: there is a backlog
    assert not down.flush(timeout=0.05)
    down.close()

    up = RemoteLog(key, redis_kwargs={"host": "127.0.0.1", "port": 6379}, fallback=fallback)
    assert up.fallback == str(fallback)
    up.write([RECORD_B])  # after the backlog this process found
    assert up.flush(timeout=10)
    up.write([RECORD_C])  # no backlog: pushed at once
    up.close()
    reader = redis.Redis.from_url(redis_url)
    entries = [json.loads(entry) for entry in reader.lrange(key, 0, -1)]
    reader.close()
    # The backlog went first, in order, an entry per fallback file it was in.
    assert [record for entry in entries for record in entry] == [
        RECORD_A,
        RECORD_B,
        RECORD_C,
        RECORD_B,
        RECORD_C,
    ]
    assert entries[-1] == [RECORD_C]
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_torn_fallback_line_is_dropped_with_a_warning(
    redis_url: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    key = redis_url.prefix + "queue"
    fallback = tmp_path / "fallback"
    fallback.write_bytes(b"1\tpage\t9.0\ttorn")  # a crash mid-append
    log = RemoteLog(key, redis_kwargs={"host": "127.0.0.1", "port": 6379}, fallback=fallback)
    with caplog.at_level(logging.WARNING, logger="manhattan.log.remote"):
        log.write([RECORD_A])
        assert log.flush(timeout=10)
    log.close()
    reader = redis.Redis.from_url(redis_url)
    assert [json.loads(entry) for entry in reader.lrange(key, 0, -1)] == [[RECORD_A]]
    reader.close()
    assert [r.getMessage() for r in caplog.records] == [
        "manhattan: torn fallback line dropped: b'1\\tpage\\t9.0\\ttorn\\xff\\n'"
    ]


def test_a_fallback_of_torn_lines_only_pushes_nothing(redis_url: Any, tmp_path: Path) -> None:
    key = redis_url.prefix + "queue"
    fallback = tmp_path / "fallback"
    fallback.write_bytes(b"torn")
    log = RemoteLog(key, redis_kwargs={"host": "127.0.0.1", "port": 6379}, fallback=fallback)
    assert log.flush(timeout=10)
    log.close()
    reader = redis.Redis.from_url(redis_url)
    assert reader.llen(key) == 0
    reader.close()
    assert list(tmp_path.iterdir()) == []


def test_a_fallback_that_cannot_be_written_raises_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    log = RemoteLog(
        "some:key",
        redis_kwargs={"host": "127.0.0.1", "port": 1},
        fallback=blocker / "fallback",
    )
    with pytest.raises(
        RemoteLogError,
        match=r"could not push 1 records to Redis list 'some:key' nor write them to .*fallback",
    ):
        log.write([RECORD_A])
    log.close()


def test_the_default_fallback_is_named_after_the_key() -> None:
    log = RemoteLog("my app:queue")
    assert log.fallback == os.path.join(tempfile.gettempdir(), "manhattan-my_app_queue.fallback")
    log.close()


def test_the_processing_key_follows_the_queue_key() -> None:
    assert processing_key("manhattan:log:queue") == "manhattan:log:queue:processing"


def test_the_payload_is_compact_json() -> None:
    assert encode_payload([("a", "b"), ["c"]]) == b'[["a","b"],["c"]]'


@given(
    st.lists(
        st.lists(st.text(), min_size=5, max_size=8).map(tuple),
        max_size=4,
    )
)
def test_payloads_round_trip(records: list[tuple[str, ...]]) -> None:
    assert parse_payload(encode_payload(records)) == [list(record) for record in records]


def test_a_0_3_payload_with_ascii_escapes_parses() -> None:
    # Python 2's json.dumps escapes non-ASCII, as 0.3's app servers pushed it.
    entry = b'[["1", "page", "1.5", "v\\u00e9", "0", "\\ud800"]]'
    assert parse_payload(entry) == [["1", "page", "1.5", "vé", "0", "\ud800"]]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        pytest.param(b"[[", "not JSON", id="truncated"),
        pytest.param(b"\xff[]", "not JSON", id="not-utf8"),
        pytest.param(b'{"a": 1}', "not a list of records but dict", id="object"),
        pytest.param(b'["abcde"]', "record 0 is str, not a list", id="flat-list"),
        pytest.param(b'[["1","2","3","4"]]', "record 0 has 4 fields, fewer than 5", id="short"),
        pytest.param(
            b'[["1","2","3","4","5"],["1","2","3","4",5]]',
            "record 1 holds int, not str",
            id="number-field",
        ),
        pytest.param(b'[["1","2","3","4",null]]', "record 0 holds NoneType", id="null-field"),
    ],
)
def test_bad_payloads_are_refused(entry: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse_payload(entry)


def test_an_empty_batch_is_a_valid_payload() -> None:
    assert parse_payload(b"[]") == []


def test_a_connection_redis_closed_is_replaced_and_the_push_kept(
    remote: tuple[RemoteLog, redis.Redis],
) -> None:
    # As after a Redis restart: the pooled connection is dead; the push is not lost.
    log, reader = remote
    log.write([RECORD_A])
    reader.client_kill_filter(_id=log.redis.client_id())
    log.write([RECORD_B])
    assert [json.loads(entry) for entry in reader.lrange(log.key, 0, -1)] == [
        [RECORD_A],
        [RECORD_B],
    ]
