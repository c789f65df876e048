"""A log on a Redis list, as in Manhattan 0.3: app servers push, one log
server (``manhattan-log-server``) drains the list into a ``TimeRotatingLog``.

Each :meth:`RemoteLog.write` is one ``RPUSH`` of one entry, the batch as a
JSON list of records (a record is a list of strings): 0.3's payload, so 0.3
app servers and this log server can be mixed. The log server takes entries
from the list's left end, so batches are written in the order they were
pushed.

This module holds what both sides share: the key, the payload format and
its validation. The log server and its crash-safety argument are in
:mod:`manhattan.logserver`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from manhattan.log import Record
from manhattan.log.text import MIN_FIELDS

DEFAULT_KEY = "manhattan:log:queue"
"""The Redis list app servers push to (0.3's)."""

SOCKET_TIMEOUT = 0.5
"""Seconds a push may wait on Redis: a request is held up at most this long."""


class RemoteLogError(OSError):
    """A batch could not be pushed to Redis; the message says where and why."""


class PayloadError(ValueError):
    """An entry of the queue that is not a batch of records; the message says why."""


def processing_key(key: str) -> str:
    """The list where the log server keeps the entries of ``key`` it is writing."""
    return f"{key}:processing"


def encode_payload(records: Sequence[Sequence[str]]) -> bytes:
    """One batch as the queue holds it: a JSON list of lists of strings."""
    return json.dumps([list(record) for record in records], separators=(",", ":")).encode()


def parse_payload(entry: bytes) -> list[Record]:
    """The records of one queue entry; ``PayloadError`` unless it is UTF-8
    JSON holding a list of records, each a list of at least
    ``MIN_FIELDS`` strings (shorter ones could only be skipped by readers)."""
    try:
        batch = json.loads(entry.decode("utf-8", "surrogatepass"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    if not isinstance(batch, list):
        raise PayloadError(f"not a list of records but {type(batch).__name__}")
    for index, record in enumerate(batch):
        if not isinstance(record, list):
            raise PayloadError(f"record {index} is {type(record).__name__}, not a list")
        if len(record) < MIN_FIELDS:
            raise PayloadError(f"record {index} has {len(record)} fields, fewer than {MIN_FIELDS}")
        for field in record:
            if not isinstance(field, str):
                raise PayloadError(f"record {index} holds {type(field).__name__}, not str")
    return batch


class RemoteLog:
    """A :class:`~manhattan.log.Log` that pushes each batch to the Redis list ``key``.

    ``redis_kwargs`` are passed to ``redis.Redis`` (host, port, db, password,
    ...); they may override the defaults, which keep a request from waiting
    long on an unreachable Redis: short socket timeouts, and one immediate
    retry on a connection error only (a pooled connection Redis closed when
    it restarted), not on a timeout, after which Redis may have the entry
    already. A failed push raises
    :class:`RemoteLogError` (the middleware logs it and drops the batch).
    """

    def __init__(
        self, key: str = DEFAULT_KEY, redis_kwargs: Mapping[str, Any] | None = None
    ) -> None:
        self.key = key
        options: dict[str, Any] = {
            "socket_timeout": SOCKET_TIMEOUT,
            "socket_connect_timeout": SOCKET_TIMEOUT,
            "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        }
        options.update(redis_kwargs or {})
        self.redis = redis.Redis(**options)

    def write(self, records: Sequence[Sequence[str]]) -> None:
        """Push ``records`` as one entry (nothing for no records)."""
        if not records:
            return
        payload = encode_payload(records)
        try:
            self.redis.rpush(self.key, payload)
        except redis.RedisError as exc:
            raise RemoteLogError(
                f"could not push {len(records)} records to Redis list {self.key!r}: {exc}"
            ) from exc

    def close(self) -> None:
        """Close the connections to Redis (the next write opens one again)."""
        self.redis.close()


__all__ = [
    "DEFAULT_KEY",
    "PayloadError",
    "RemoteLog",
    "RemoteLogError",
    "encode_payload",
    "parse_payload",
    "processing_key",
]
