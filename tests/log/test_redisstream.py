"""RedisStreamLog, read_partition and trim_partition against a real Redis."""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Iterator
from typing import NoReturn

import pytest
import redis

from manhattan.log import Log
from manhattan.log import fallback as fb
from manhattan.log import redisstream as rs
from manhattan.log.redisstream import (
    RedisStreamLog,
    default_fallback,
    partition_of,
    read_partition,
    stream_key,
    trim_partition,
)

REDIS_URL = "redis://127.0.0.1:6379/0"
CLOSED_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1: refused at once
WAIT = 10.0  # seconds; only ever reached by a failing test


def _unavailable(reason: str) -> NoReturn:
    """Skip, except on CI (CI=true), where Redis must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: Redis is required)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    """A client of the test Redis; skips (fails on CI) when it is unreachable."""
    conn = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    try:
        conn.ping()
    except redis.RedisError as exc:
        conn.close()
        _unavailable(f"Redis unreachable at {REDIS_URL}: {exc}")
    yield conn
    conn.close()


@pytest.fixture
def stream(client: redis.Redis) -> Iterator[str]:
    """A stream name of this test's own; its partitions are deleted afterwards."""
    name = f"test-manhattan-{secrets.token_hex(8)}"
    yield name
    keys = list(client.scan_iter(match=f"{name}:*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def fallback(tmp_path) -> str:
    return str(tmp_path / "fallback")


def rec(visitor: str, n: int, *extra: str) -> list[str]:
    return ["1", "page", f"{n}.0000", visitor, "0", *extra]


def read_all(client: redis.Redis, stream: str, partition: int) -> list:
    """Every record of a partition, in order (an entry holds one write's records)."""
    return [
        record for _, records in read_partition(client, stream, partition) for record in records
    ]


def leftovers(fallback: str) -> list[str]:
    directory, name = os.path.split(fallback)
    return sorted(f for f in os.listdir(directory) if f.startswith(name))


# Partitioning


def crc32_reference(data: bytes) -> int:
    """CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) bit by bit."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0xEDB88320 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


@pytest.mark.parametrize(
    ("visitor", "partitions", "expected"),
    [
        # 0xCBF43926 = 3421780262 is CRC-32's published check value of "123456789".
        pytest.param("123456789", 1000, 262, id="check-value-mod-1000"),
        pytest.param("123456789", 7, 3421780262 % 7, id="check-value-mod-7"),
        pytest.param("123456789", 1, 0, id="one-partition"),
        pytest.param("", 5, 0, id="empty-id-crc-is-0"),
    ],
)
def test_partition_of_is_crc32_of_the_utf8_id(visitor, partitions, expected):
    assert partition_of(visitor, partitions) == expected


@pytest.mark.parametrize(
    "visitor",
    [
        pytest.param("0123456789abcdef0123456789abcdef", id="hex"),
        pytest.param("caf\u00e9 \U0001f600", id="non-ascii"),
        pytest.param("lone\udcffsurrogate", id="surrogate"),
    ],
)
def test_partition_of_matches_an_independent_crc32(visitor):
    data = visitor.encode("utf-8", "surrogatepass")
    assert partition_of(visitor, 97) == crc32_reference(data) % 97


def test_partition_of_spreads_visitors_over_every_partition():
    counts = [0] * 4
    for i in range(1000):
        counts[partition_of(f"{i:032x}", 4)] += 1

    assert min(counts) > 150  # an even spread gives 250 each


@pytest.mark.parametrize("partitions", [pytest.param(0, id="zero"), pytest.param(-1, id="neg")])
def test_partitions_must_be_positive(partitions):
    with pytest.raises(ValueError, match="at least 1"):
        partition_of("a", partitions)
    with pytest.raises(ValueError, match="at least 1"):
        RedisStreamLog(CLOSED_URL, partitions=partitions)


def test_stream_key_and_default_fallback():
    assert stream_key("manhattan", 3) == "manhattan:3"
    assert default_fallback("my/str eam:x") == os.path.join(
        tempfile.gettempdir(), "manhattan-my_str_eam_x.fallback"
    )
    log = RedisStreamLog(CLOSED_URL, "site")
    assert log.fallback == os.path.join(tempfile.gettempdir(), "manhattan-site.fallback")
    assert log.keys == ["site:0"]
    assert isinstance(log, Log)


# Writing and reading


def test_round_trip_keeps_every_string_and_each_visitor_in_one_partition(client, stream, fallback):
    odd = ["tab\there", "new\nline", "back\\slash", "caf\u00e9 \U0001f600", "lone\udcff", ""]
    records = [rec(f"visitor-{i % 7}", i, odd[i % len(odd)]) for i in range(60)]
    log = RedisStreamLog(REDIS_URL, stream, 3, fallback=fallback)
    log.write(records[:25])
    log.write(records[25:])

    by_partition = [read_all(client, stream, p) for p in range(3)]
    for p, got in enumerate(by_partition):
        assert got == [r for r in records if partition_of(r[3], 3) == p]
    assert all(by_partition)  # 7 visitors over 3 partitions: none empty here
    assert not os.path.exists(fallback)
    log.close()


def test_a_write_is_one_pipelined_round_trip(client, stream, fallback):
    log = RedisStreamLog(REDIS_URL, stream, 4, fallback=fallback)
    log.write([rec("warm-up", 0)])  # the first write also looks for leftover files
    calls = []
    real_pipeline = log.client.pipeline

    def pipeline(*args, **kwargs):
        pipe = real_pipeline(*args, **kwargs)
        real_execute = pipe.execute
        calls.append(("pipeline", kwargs.get("transaction")))

        def execute(*a, **k):
            calls.append(("execute", len(pipe.command_stack)))
            return real_execute(*a, **k)

        pipe.execute = execute
        return pipe

    log.client.pipeline = pipeline
    records = [rec(f"v{i}", i) for i in range(20)]
    log.write(records)

    # One entry per partition the batch touches, all in one pipeline.
    touched = {partition_of(record[3], 4) for record in records}
    assert calls == [("pipeline", False), ("execute", len(touched))]
    assert sum(len(read_all(client, stream, p)) for p in range(4)) == 21


def test_one_visitors_write_is_one_xadd_without_a_pipeline(client, stream, fallback):
    log = RedisStreamLog(REDIS_URL, stream, 4, fallback=fallback)
    log.write([rec("warm-up", 0)])
    log.client.pipeline = None  # would fail if used
    before = client.xlen(stream_key(stream, partition_of("v", 4)))
    log.write([rec("v", 1), rec("v", 2), rec("v", 3)])
    assert client.xlen(stream_key(stream, partition_of("v", 4))) == before + 1
    [(_, records)] = read_partition(client, stream, partition_of("v", 4), count=10)[-1:]
    assert records == [rec("v", 1), rec("v", 2), rec("v", 3)]


def test_empty_write_sends_nothing(stream, fallback):
    log = RedisStreamLog(CLOSED_URL, stream, fallback=fallback)
    log.write([])
    assert not os.path.exists(fallback)


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        pytest.param(["1", "page", "1.0"], ValueError, id="no-visitor-id"),
        pytest.param(["1", "page", "1.0", "v", 0], TypeError, id="non-string-field"),
        pytest.param("1\tpage\t1.0\tv\t0", TypeError, id="string-not-list"),
    ],
)
def test_bad_records_raise_before_anything_is_sent(client, stream, fallback, bad, error):
    log = RedisStreamLog(REDIS_URL, stream, fallback=fallback)
    with pytest.raises(error):
        log.write([rec("v", 1), bad])
    assert read_all(client, stream, 0) == []
    assert not os.path.exists(fallback)


def test_maxlen_caps_the_streams_approximately(client, stream, fallback):
    log = RedisStreamLog(REDIS_URL, stream, fallback=fallback, maxlen=10)
    for i in range(300):
        log.write([rec("v", i)])  # an entry per write

    # "~" trims whole nodes (100 entries by default): fewer than written, at least maxlen.
    assert 10 <= client.xlen(stream_key(stream, 0)) < 300


def test_close_then_write_reconnects(client, stream, fallback):
    log = RedisStreamLog(REDIS_URL, stream, fallback=fallback)
    log.write([rec("v", 1)])
    log.close()
    log.write([rec("v", 2)])
    assert read_all(client, stream, 0) == [rec("v", 1), rec("v", 2)]


# Outage and fallback


def fallback_content(fallback: str) -> bytes:
    """What the fallback files hold, in the order they would be sent."""
    directory = os.path.dirname(fallback)
    names = sorted(
        f for f in leftovers(fallback) if f != "fallback" and not f.endswith(fb.SENT_SUFFIX)
    )
    if os.path.exists(fallback):
        names.append("fallback")  # the newest records
    data = b""
    for name in names:
        with open(os.path.join(directory, name), "rb") as file:
            data += file.read()
    return data


def test_outage_goes_to_the_fallback_file_and_is_resent_first_in_order(client, stream, fallback):
    down = RedisStreamLog(CLOSED_URL, stream, 2, fallback=fallback)
    first = [rec("a", 1, "x\ty"), rec("v", 2)]
    second = [rec("a", 3), rec("v", 4, "\u00e9")]
    down.write(first)
    down.write(second)  # straight to the file: the sender has a backlog
    assert not down.flush(timeout=0.05)  # Redis is still down
    down.close()
    assert fallback_content(fallback) == (
        b"1\tpage\t1.0000\ta\t0\tx\\ty\n1\tpage\t2.0000\tv\t0\n"
        b"1\tpage\t3.0000\ta\t0\n1\tpage\t4.0000\tv\t0\t\\xe9\n"
    )

    up = RedisStreamLog(REDIS_URL, stream, 2, fallback=fallback)
    third = [rec("a", 5), rec("v", 6)]
    up.write(third)  # after the backlog the new process found
    assert up.flush(timeout=WAIT)

    written = first + second + third
    for p in range(2):
        assert read_all(client, stream, p) == [r for r in written if partition_of(r[3], 2) == p]
    assert partition_of("a", 2) != partition_of("v", 2)  # precondition: both partitions used
    assert leftovers(fallback) == []

    up.write([rec("a", 7)])  # no backlog: straight to Redis
    assert read_all(client, stream, partition_of("a", 2))[-1] == rec("a", 7)
    assert up.flush(timeout=0)
    up.close()


def test_fallback_lines_are_resent_in_chunks_and_malformed_ones_kept(
    client, stream, fallback, monkeypatch
):
    monkeypatch.setattr(fb, "RESEND_CHUNK", 2)
    good = [rec("v", i) for i in range(5)]
    with open(fallback, "wb") as file:
        file.write(b"".join(rs.encode_record(r) for r in good[:3]))
        file.write(b"not a record\n")
        file.write(b"".join(rs.encode_record(r) for r in good[3:]))
        file.write(b"1\tpage\t9.0\ttorn")  # a crash mid-append: no newline, too few fields
    log = RedisStreamLog(REDIS_URL, stream, 3, fallback=fallback)
    log.write([rec("v", 99)])
    assert log.flush(timeout=WAIT)
    log.close()

    v = partition_of("v", 3)
    assert v != 0  # precondition: malformed lines go to partition 0, apart from v's
    assert read_all(client, stream, v) == [*good, rec("v", 99)]
    assert read_all(client, stream, 0) == [None, None]


# read_partition and trim_partition


def add(client: redis.Redis, stream: str, *payloads: dict) -> list[str]:
    return [client.xadd(stream_key(stream, 0), fields).decode() for fields in payloads]


def test_read_partition_resumes_after_an_id_and_honours_count(client, stream):
    records = [rec("v", i) for i in range(5)]
    ids = add(client, stream, *({b"r": rs.encode_record(r)} for r in records))

    assert read_partition(client, stream, 0) == [
        (i, [r]) for i, r in zip(ids, records, strict=True)
    ]
    assert read_partition(client, stream, 0, after_id=ids[1], count=2) == [
        (ids[2], [records[2]]),
        (ids[3], [records[3]]),
    ]
    assert read_partition(client, stream, 0, after_id=ids[4]) == []
    assert read_partition(client, stream, 0, after_id=ids[4], block_ms=10) == []
    assert read_partition(client, stream, 1) == []


def test_read_partition_gives_none_for_malformed_entries(client, stream):
    ids = add(
        client,
        stream,
        {b"r": b"only\ttwo\n"},
        {b"other": b"field"},
        {b"r": b"1\tpage\t1.0\tv\t0\t\\q\n"},
        {b"r": rs.encode_record(rec("v", 1))},
        {b"r": b""},
        {b"r": rs.encode_record(rec("v", 2)) + b"bad line\n" + rs.encode_record(rec("v", 3))},
    )
    assert read_partition(client, stream, 0) == [
        (ids[0], [None]),
        (ids[1], [None]),
        (ids[2], [None]),
        (ids[3], [rec("v", 1)]),
        (ids[4], [None]),
        (ids[5], [rec("v", 2), None, rec("v", 3)]),  # one write's lines, a bad one in place
    ]


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"decode_responses": True}, id="decoded-resp2"),
        pytest.param({"protocol": 3}, id="resp3"),
        pytest.param({"protocol": 3, "decode_responses": True}, id="decoded-resp3"),
    ],
)
def test_read_partition_works_with_other_client_settings(client, stream, options):
    record = rec("v", 1, "caf\u00e9\ttab")
    ids = add(client, stream, {b"r": rs.encode_record(record)}, {b"x": b"y"})
    other = redis.Redis.from_url(REDIS_URL, socket_timeout=5, **options)
    try:
        assert read_partition(other, stream, 0) == [(ids[0], [record]), (ids[1], [None])]
        assert read_partition(other, stream, 0, after_id=ids[1], block_ms=10) == []
    finally:
        other.close()


def test_trim_partition_removes_the_entries_below_an_id(client, stream, fallback):
    log = RedisStreamLog(REDIS_URL, stream, fallback=fallback)
    records = [rec("v", i) for i in range(5)]
    for record in records:
        log.write([record])  # an entry each
    ids = [entry_id for entry_id, _ in read_partition(client, stream, 0)]

    assert trim_partition(client, stream, 0, ids[2]) == 2
    assert read_partition(client, stream, 0) == [
        (i, [r]) for i, r in zip(ids[2:], records[2:], strict=True)
    ]
    assert trim_partition(client, stream, 0, ids[2]) == 0
    assert trim_partition(client, stream, 0, ids[2], approximate=True) == 0
