"""StreamReader against a real Redis."""

from __future__ import annotations

import threading

import pytest
import redis

from manhattan.log.streamreader import PartitionsRevokedError, StreamReader
from tests.log.streams import filled_stream, rec, redis_client, stream_name  # noqa: F401


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
