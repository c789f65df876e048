"""Redis stream fixtures shared by the tests of the stream reader and of
the worker's stream store: import the fixtures (by their function names)
into a test module to use them (as ``client``, ``stream``, ``filled``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from manhattan.log.redisstream import stream_key
from tests.conftest import RedisURL


@pytest.fixture(name="client")
def redis_client(redis_url: RedisURL) -> Iterator[redis.Redis]:
    """A client of the test Redis."""
    conn = redis.Redis.from_url(redis_url, socket_timeout=5)
    yield conn
    conn.close()


@pytest.fixture(name="stream")
def stream_name(redis_url: RedisURL) -> str:
    """A stream name of this test's own."""
    return f"{redis_url.prefix}events"


def rec(visitor: str, n: int) -> list[str]:
    """The record :func:`line` encodes."""
    return ["1", "page", f"{n}.0000", visitor, "0"]


def add(
    client: redis.Redis, stream: str, partition: int, entries: list[tuple[str, bytes]]
) -> None:
    """Entries with explicit ids, so expected pointers are known by hand."""
    for entry_id, payload in entries:
        client.xadd(stream_key(stream, partition), {b"r": payload}, id=entry_id)


def line(visitor: str, n: int) -> bytes:
    """A page view's log line, as a stream entry holds it."""
    return f"1\tpage\t{n}.0000\t{visitor}\t0\n".encode()


def fill(client: redis.Redis, stream: str) -> str:
    """Partition 0: a, b (ids 1-0, 2-0); partition 1: c, a bad entry, d
    (5-0, 6-0, 7-0); partition 2: e (3-0), which a reader of {0, 1} ignores."""
    add(client, stream, 0, [("1-0", line("a", 1)), ("2-0", line("b", 2))])
    add(client, stream, 1, [("5-0", line("c", 5)), ("6-0", b"no tabs\n"), ("7-0", line("d", 7))])
    add(client, stream, 2, [("3-0", line("e", 3))])
    return stream


@pytest.fixture(name="filled")
def filled_stream(client: redis.Redis, stream: str) -> str:
    """The stream :func:`fill` fills."""
    return fill(client, stream)
