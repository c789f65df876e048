"""StreamReader and StreamStore against a real Redis (and an SQLite store)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from manhattan.backend.model import Batch
from manhattan.backend.persistence import SQLStore
from manhattan.log.redisstream import stream_key
from manhattan.log.streamreader import PartitionsRevokedError, StreamReader, StreamStore
from tests.conftest import RedisURL


@pytest.fixture
def client(redis_url: RedisURL) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url, socket_timeout=5)
    yield conn
    conn.close()


@pytest.fixture
def stream(redis_url: RedisURL) -> str:
    return f"{redis_url.prefix}events"


def rec(visitor: str, n: int) -> list[str]:
    return ["1", "page", f"{n}.0000", visitor, "0"]


def add(
    client: redis.Redis, stream: str, partition: int, entries: list[tuple[str, bytes]]
) -> None:
    """Entries with explicit ids, so expected pointers are known by hand."""
    for entry_id, payload in entries:
        client.xadd(stream_key(stream, partition), {b"r": payload}, id=entry_id)


def line(visitor: str, n: int) -> bytes:
    return f"1\tpage\t{n}.0000\t{visitor}\t0\n".encode()


@pytest.fixture
def filled(client: redis.Redis, stream: str) -> str:
    """Partition 0: a, b (ids 1-0, 2-0); partition 1: c, a bad entry, d
    (5-0, 6-0, 7-0); partition 2: e (3-0), which a reader of {0, 1} ignores."""
    add(client, stream, 0, [("1-0", line("a", 1)), ("2-0", line("b", 2))])
    add(client, stream, 1, [("5-0", line("c", 5)), ("6-0", b"no tabs\n"), ("7-0", line("d", 7))])
    add(client, stream, 2, [("3-0", line("e", 3))])
    return stream


def test_batches_take_turns_over_the_owned_partitions(client: redis.Redis, filled: str) -> None:
    reader = StreamReader(client, filled, [1, 0, 1])
    assert reader.partitions == [0, 1]
    assert list(reader.batches(None, None, lambda: 2)) == [
        ([rec("a", 1), rec("b", 2)], 0, "0=2-0"),
        ([rec("c", 5)], 1, "0=2-0;1=6-0"),
        # Partition 0 gave a full read: it is read again, and found drained.
        ([rec("d", 7)], 0, "0=2-0;1=7-0"),
    ]


def test_batches_resume_after_the_pointer(client: redis.Redis, filled: str) -> None:
    reader = StreamReader(client, filled, [0, 1])
    assert list(reader.batches("0=1-0;1=6-0;2=3-0")) == [
        ([rec("b", 2)], 0, "0=2-0;1=6-0"),
        ([rec("d", 7)], 0, "0=2-0;1=7-0"),
    ]
    assert list(reader.batches("0=2-0;1=7-0")) == []


def test_a_set_kill_event_ends_the_batches(client: redis.Redis, filled: str) -> None:
    reader = StreamReader(client, filled, [0, 1])
    killed = threading.Event()
    batches = reader.batches(None, killed, lambda: 1)
    assert next(batches) == ([rec("a", 1)], 0, "0=1-0")
    killed.set()
    assert list(batches) == []
    assert list(reader.batches(None, killed)) == []


@pytest.mark.parametrize(
    ("pointer", "positions"),
    [
        pytest.param(None, {}, id="none"),
        pytest.param("", {}, id="empty"),
        pytest.param("2=9-1", {2: "9-1"}, id="one"),
        pytest.param("0=1-0;2=9-1;3=4-4", {2: "9-1", 3: "4-4"}, id="not-owned-dropped"),
    ],
)
def test_parse_pointer(
    client: redis.Redis, pointer: str | None, positions: dict[int, str]
) -> None:
    assert StreamReader(client, "s", [2, 3]).parse_pointer(pointer) == positions


@pytest.mark.parametrize(
    "pointer",
    [
        pytest.param("events.1400000400:120", id="file-log-pointer"),
        pytest.param("x=1-0", id="not-a-number"),
        pytest.param("1=", id="no-id"),
        pytest.param("1=1-0;;2=1-0", id="empty-part"),
    ],
)
def test_parse_pointer_refuses_other_pointers(client: redis.Redis, pointer: str) -> None:
    with pytest.raises(ValueError, match="not a stream pointer"):
        StreamReader(client, "s", [1, 2]).parse_pointer(pointer)


def test_bad_partitions_are_refused(client: redis.Redis) -> None:
    with pytest.raises(ValueError, match="numbered from 0, not -1"):
        StreamReader(client, "s", [0, -1])
    with pytest.raises(ValueError, match="numbered from 0, not -2"):
        StreamReader(client, "s", []).take(-2, None)


def test_a_reader_without_partitions_reads_nothing_until_it_takes_one(
    client: redis.Redis, filled: str
) -> None:
    reader = StreamReader(client, filled, [])
    assert list(reader.batches(None)) == []
    reader.take(1, "5-0")  # its committed position
    assert list(reader.batches(None)) == [([rec("d", 7)], 1, "1=7-0")]
    assert reader.partitions == [1]


def test_a_partition_taken_between_batches_is_read_from_its_position(
    client: redis.Redis, filled: str
) -> None:
    reader = StreamReader(client, filled, [0])
    batches = reader.batches(None, None, lambda: 1)
    assert next(batches) == ([rec("a", 1)], 0, "0=1-0")
    reader.take(1, None)  # never committed: from the start
    reader.take(0, "0-0")  # owned already: it does not move back
    assert list(batches) == [
        ([rec("b", 2)], 0, "0=2-0"),
        ([rec("c", 5)], 0, "0=2-0;1=5-0"),
        ([], 1, "0=2-0;1=6-0"),
        ([rec("d", 7)], 0, "0=2-0;1=7-0"),
    ]
    assert reader.partitions == [0, 1]


def test_a_revoked_partition_ends_the_batches_until_dropped(
    client: redis.Redis, filled: str
) -> None:
    reader = StreamReader(client, filled, [0, 1])
    batches = reader.batches(None, None, lambda: 1)
    assert next(batches) == ([rec("a", 1)], 0, "0=1-0")
    reader.revoke([1, 2])  # 2 is not owned: nothing to revoke there
    with pytest.raises(PartitionsRevokedError, match=r"partitions \[1\] were taken over") as info:
        next(batches)
    assert info.value.partitions == [1]
    with pytest.raises(PartitionsRevokedError):
        list(reader.batches(None))  # still owned: still revoked
    reader.take(2, None)
    reader.drop([1, 2])
    assert reader.partitions == [0]
    assert list(reader.batches("0=1-0")) == [([rec("b", 2)], 0, "0=2-0")]


def test_stream_store_keeps_one_pointer_per_partition(
    client: redis.Redis, stream: str, tmp_path: Path
) -> None:
    s = stream
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        low = StreamStore(store, StreamReader(client, s, [0, 1]))
        high = StreamStore(store, StreamReader(client, s, [2]))
        everything = StreamStore(store, StreamReader(client, s, [0, 1, 2]))
        assert low.load_pointer() is None
        batch = Batch(filtered={"crawler": 1}, pointer="0=4-0;1=5-1")
        low.commit(batch)
        assert (batch.pointer, batch.pointers) == (
            None,
            {f"stream:{s}:0": "4-0", f"stream:{s}:1": "5-1"},
        )
        high.commit(Batch(filtered={"crawler": 2}, pointer="2=9-0"))
        high.commit(Batch(filtered={"crawler": 4}))  # no pointer: positions unchanged
        assert low.load_pointer() == "0=4-0;1=5-1"
        assert high.load_pointer() == "2=9-0"
        assert everything.load_pointer() == "0=4-0;1=5-1;2=9-0"
        assert store.load_pointer() is None  # the file log's pointer is untouched
        assert store.filtered() == {"crawler": 7}
        store.commit(Batch(visitors={"v": "{}"}))
        assert low.load_visitors(["v", "w"]) == {"v": "{}"}


def entry_ids(client: redis.Redis, stream: str, partition: int) -> list[str]:
    return [entry_id.decode() for entry_id, _ in client.xrange(stream_key(stream, partition))]


@pytest.mark.parametrize(
    ("trim", "left"),
    [
        pytest.param(True, (["2-0"], ["6-0", "7-0"]), id="trimmed-below-the-commit"),
        pytest.param(False, (["1-0", "2-0"], ["5-0", "6-0", "7-0"]), id="kept"),
    ],
)
def test_a_commit_trims_what_it_made_safe(
    client: redis.Redis, filled: str, tmp_path: Path, trim: bool, left: tuple[list[str], ...]
) -> None:
    reader = StreamReader(client, filled, [0, 1], trim=trim)
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        StreamStore(store, reader).commit(Batch(filtered={"crawler": 1}, pointer="0=2-0;1=6-0"))
        assert store.load_pointers([f"stream:{filled}:0"]) == {f"stream:{filled}:0": "2-0"}
    assert (entry_ids(client, filled, 0), entry_ids(client, filled, 1)) == left
    assert entry_ids(client, filled, 2) == ["3-0"]  # not this reader's
    # What is left is exactly what a reader resuming from the commit reads next.
    resumed = list(StreamReader(client, filled, [0, 1]).batches("0=2-0;1=6-0"))
    assert resumed == [([rec("d", 7)], 0, "0=2-0;1=7-0")]


def test_a_trim_that_fails_keeps_the_commit_and_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = redis.Redis(port=port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        stream_store = StreamStore(store, StreamReader(gone, "events", [0]))
        with caplog.at_level(logging.WARNING, logger="manhattan.log.streamreader"):
            stream_store.commit(Batch(filtered={"crawler": 1}, pointer="0=2-0"))
        assert stream_store.load_pointer() == "0=2-0"
        assert store.filtered() == {"crawler": 1}
    [warning] = caplog.records
    assert warning.getMessage().startswith("could not trim stream events (")
    gone.close()
