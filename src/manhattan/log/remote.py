"""A log on a Redis list, as in Manhattan 0.3: app servers push, one log
server (``manhattan-log-server``) drains the list into a ``TimeRotatingLog``.

Each :meth:`RemoteLog.write` is one ``RPUSH`` of one entry, the batch as a
JSON list of records (a record is a list of strings): 0.3's payload, so 0.3
app servers and this log server can be mixed. The log server takes entries
from the list's left end, so batches are written in the order they were
pushed.

A push Redis does not take goes to a local fallback file
(:mod:`manhattan.log.fallback`), which a background thread pushes once
Redis is back, a chunk of records per entry: an outage delays records, it
does not lose them, and no request waits for it.

This module holds what both sides share: the key, the payload format and
its validation. The log server and its crash-safety argument are in
:mod:`manhattan.logserver`.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from manhattan.exceptions import PayloadError as PayloadError
from manhattan.exceptions import RemoteLogError as RemoteLogError
from manhattan.log import Record
from manhattan.log.fallback import Fallback, default_path
from manhattan.log.text import MIN_FIELDS, MalformedLineError, decode_line, encode_record

logger = logging.getLogger(__name__)

DEFAULT_KEY = "manhattan:log:queue"
"""The Redis list app servers push to (0.3's)."""

SOCKET_TIMEOUT = 0.5
"""Seconds a push may wait on Redis: a request is held up at most this long."""


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
    already.

    A batch Redis did not take goes to the fallback file ``fallback``
    (default ``manhattan-<key>.fallback`` in the temp directory, which a
    reboot may empty: name a durable path in production); from then on
    writes go there too until a background thread has pushed it
    (:meth:`flush` waits for that). Redis errors never reach the caller; a
    fallback file that cannot be written raises :class:`RemoteLogError`.
    """

    def __init__(
        self,
        key: str = DEFAULT_KEY,
        redis_kwargs: Mapping[str, Any] | None = None,
        *,
        fallback: str | os.PathLike[str] | None = None,
    ) -> None:
        self.key = key
        options: dict[str, Any] = {
            "socket_timeout": SOCKET_TIMEOUT,
            "socket_connect_timeout": SOCKET_TIMEOUT,
            "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        }
        options.update(redis_kwargs or {})
        self.redis = redis.Redis(**options)
        path = fallback if fallback is not None else default_path(key)
        self._fallback = Fallback(path, self._push_lines, (redis.RedisError,))
        self.fallback = self._fallback.path

    def write(self, records: Sequence[Sequence[str]]) -> None:
        """Push ``records`` as one entry (nothing for no records), or, while
        Redis is down or a backlog is being pushed, append them to the
        fallback file."""
        if not records:
            return
        if not self._fallback.backlog:
            try:
                self.redis.rpush(self.key, encode_payload(records))
                return
            except redis.RedisError as exc:
                logger.warning(
                    "manhattan: could not push %d records to Redis list %r (%s): to fallback",
                    len(records),
                    self.key,
                    exc,
                )
        try:
            self._fallback.spill([encode_record(record) for record in records])
        except OSError as exc:
            raise RemoteLogError(
                f"could not push {len(records)} records to Redis list {self.key!r} "
                f"nor write them to {self._fallback.path}: {exc}"
            ) from exc

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the fallback records are pushed (at most ``timeout``
        seconds); whether they all were. Call it before a planned shutdown."""
        return self._fallback.flush(timeout)

    def close(self) -> None:
        """Stop the fallback sender and close the connections to Redis (the
        next write opens one again)."""
        self._fallback.close()
        self.redis.close()

    def _push_lines(self, lines: list[bytes]) -> None:
        """Push fallback lines as one entry (one RPUSH: all or nothing)."""
        records = []
        for line in lines:
            try:
                records.append(decode_line(line))
            except MalformedLineError:
                # Only a crash mid-append leaves one: what it held is gone.
                logger.warning("manhattan: torn fallback line dropped: %r", line[:200])
        if records:
            self.redis.rpush(self.key, encode_payload(records))


__all__ = [
    "DEFAULT_KEY",
    "PayloadError",
    "RemoteLog",
    "RemoteLogError",
    "encode_payload",
    "parse_payload",
    "processing_key",
]
