"""A log on Redis Streams, partitioned by visitor.

``RedisStreamLog(url, stream, partitions)`` appends each record to the stream
``f"{stream}:{i}"`` where ``i = partition_of(visitor id, partitions)``: every
record of a visitor goes to the same partition, in write order, so workers
that own whole partitions see each visitor's events in order.

Entry format: one field, ``r``, holding the record as one line of the text
log format (:func:`manhattan.log.text.encode_record`, trailing newline
included). It is plain ASCII, round-trips every string (tabs, newlines,
non-ASCII characters, lone surrogates) and is byte for byte what a
``TimeRotatingLog`` would write, so payloads can be concatenated into a file.

Writes never wait long on Redis: the client has a short socket timeout and
no retries, and a batch Redis did not take goes to a local fallback file
(:mod:`manhattan.log.fallback`): from then on the process's writes go to
that file too, and a background thread sends it, oldest first, once Redis
is back. Delivery is therefore at least once: a batch whose reply timed out
after Redis applied it is sent again. Consumers cannot recognise a resent
record by id, since a resent copy gets a new one; we accept that rare
duplicate rather than a loss.

Readers use :func:`read_partition` and, once every consumer of a partition
has committed past an id, :func:`trim_partition` to free what is below it.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from manhattan.log.fallback import Fallback, default_path
from manhattan.log.text import MalformedLineError, decode_line, encode_record
from manhattan.records.layout import VISITOR_FIELD, Record

logger = logging.getLogger(__name__)

FIELD = b"r"
"""The entry field holding the encoded record."""


def partition_of(visitor_id: str, partitions: int) -> int:
    """The partition of ``visitor_id``: CRC-32 of its UTF-8 bytes modulo ``partitions``.

    Stable across processes, machines and Python versions (unlike ``hash()``);
    lone surrogates are encoded with ``surrogatepass`` so every string has one.
    """
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    return zlib.crc32(visitor_id.encode("utf-8", "surrogatepass")) % partitions


def stream_key(stream: str, partition: int) -> str:
    """The Redis key of a partition: ``f"{stream}:{partition}"``."""
    return f"{stream}:{partition}"


def default_fallback(stream: str) -> str:
    """``manhattan-<stream>.fallback`` in the system temp directory (characters
    other than letters, digits, ``.``, ``_`` and ``-`` become ``_``)."""
    return default_path(stream)


class RedisStreamLog:
    """Writes records to ``partitions`` Redis streams ``f"{stream}:{i}"``.

    ``fallback`` is the file that holds batches while Redis is unreachable
    (default :func:`default_fallback`; temp directories may be wiped at boot,
    so production should name a durable path). Processes may share one.
    ``socket_timeout`` bounds each wait on Redis (connecting included).
    ``maxlen``, if given, caps each stream approximately at every write: a
    safety net that can drop entries no consumer has read yet, so prefer
    :func:`trim_partition` after commits.

    While a fallback file exists, writes append to it and a daemon thread of
    this process sends it (:meth:`flush` waits for that; see
    :mod:`manhattan.log.fallback`).

    Redis errors never reach the caller (the batch goes to the fallback file);
    a record that is a string, has no visitor id (fewer than 4 fields) or
    has non-string fields raises before anything is sent, and a fallback file that cannot be
    written raises ``OSError``.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        stream: str = "manhattan",
        partitions: int = 1,
        *,
        fallback: str | os.PathLike[str] | None = None,
        socket_timeout: float = 0.05,
        maxlen: int | None = None,
    ) -> None:
        partition_of("", partitions)  # validates partitions
        self.stream = stream
        self.partitions = partitions
        self.keys = [stream_key(stream, i) for i in range(partitions)]
        self.fallback = os.path.abspath(
            os.fspath(fallback) if fallback is not None else default_fallback(stream)
        )
        self.maxlen = maxlen
        # No retries: a retry with backoff is exactly the long wait we avoid.
        self.client: redis.Redis = redis.Redis.from_url(
            url,
            socket_timeout=socket_timeout,
            socket_connect_timeout=socket_timeout,
            retry=Retry(NoBackoff(), 0),
        )
        self._fallback = Fallback(self.fallback, self._send_lines, (RedisError, OSError))

    def write(self, records: Sequence[Sequence[str]]) -> None:
        """Append ``records``, each to its visitor's partition, in one round
        trip (or, while Redis is down or a backlog is being sent, one append
        to the fallback file)."""
        batch = [(self._partition(record), encode_record(record)) for record in records]
        if not batch:
            return
        if not self._fallback.backlog:
            try:
                self._send(batch)
                return
            except (RedisError, OSError) as exc:
                logger.warning(
                    "manhattan: Redis unavailable (%s), %d records to fallback", exc, len(batch)
                )
        self._fallback.spill([line for _, line in batch])

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the fallback records are sent (at most ``timeout``
        seconds); whether they all were. Call it before a planned shutdown."""
        return self._fallback.flush(timeout)

    def close(self) -> None:
        """Stop the fallback sender (unsent records stay in the file for the
        next process) and close the connections to Redis; a later write
        reconnects and starts a new sender if it needs one."""
        self._fallback.close()
        self.client.close()

    def _partition(self, record: Sequence[str]) -> int:
        if isinstance(record, str | bytes):  # a sequence, but of characters
            raise TypeError(f"a record is a list of fields, not {type(record).__name__}")
        if len(record) <= VISITOR_FIELD:
            raise ValueError(f"a record needs a visitor id (field {VISITOR_FIELD}): {record!r}")
        return partition_of(record[VISITOR_FIELD], self.partitions)

    def _send(self, batch: Sequence[tuple[int, bytes]], *, atomic: bool = False) -> None:
        """One round trip: an entry per partition, holding its records' lines.

        A request's records are one visitor's, so one partition's: then a
        single XADD does, which costs half of a pipeline of one per record.
        """
        entries: dict[int, list[bytes]] = {}
        for partition, line in batch:
            entries.setdefault(partition, []).append(line)
        if len(entries) == 1:
            [(partition, lines)] = entries.items()
            self.client.xadd(
                self.keys[partition],
                {FIELD: b"".join(lines)},
                maxlen=self.maxlen,
                approximate=True,
            )
            return
        # MULTI/EXEC only where a partial success would be resent whole.
        pipe = self.client.pipeline(transaction=atomic)
        for partition, lines in entries.items():
            pipe.xadd(
                self.keys[partition],
                {FIELD: b"".join(lines)},
                maxlen=self.maxlen,
                approximate=True,
            )
        pipe.execute()

    def _send_lines(self, lines: list[bytes]) -> None:
        """Send fallback lines, all or none (the fallback resumes after them)."""
        self._send([(self._line_partition(line), line) for line in lines], atomic=True)

    def _line_partition(self, line: bytes) -> int:
        """A fallback line's partition; 0 for a malformed one (a torn write),
        which is sent as it is for the consumer to count."""
        try:
            return self._partition(decode_line(line))
        except MalformedLineError:
            return 0


def read_partition(
    client: redis.Redis,
    stream: str,
    partition: int,
    after_id: str = "0-0",
    count: int = 1000,
    block_ms: int | None = None,
) -> list[tuple[str, list[Record | None]]]:
    """Up to ``count`` entries of partition ``partition`` with ids after ``after_id``.

    Returns ``(entry id, records)`` pairs in stream order: an entry holds the
    records of one write (one request) to that partition. A line that is not
    a valid record gives ``None`` in its place (an entry without one gives
    ``[None]``), so the consumer can skip it, count it and still move its
    pointer past the entry. With ``block_ms``
    waits up to that long when there is nothing yet (the client's socket
    timeout must be longer). Works with or without ``decode_responses``.
    """
    reply: Any = client.xread(
        {stream_key(stream, partition): after_id}, count=count, block=block_ms
    )
    if not reply:
        return []
    if isinstance(reply, dict):  # RESP3 clients: {key: [entries]}
        [[entries]] = reply.values()
    else:  # RESP2: [[key, entries]]
        [[_, entries]] = reply
    return [(_text(entry_id), _records(fields)) for entry_id, fields in entries]


def trim_partition(
    client: redis.Redis, stream: str, partition: int, up_to_id: str, *, approximate: bool = False
) -> int:
    """Delete the entries of a partition whose ids are below ``up_to_id``
    (``XTRIM MINID``); returns how many went.

    Call it with the lowest id every consumer of the partition has committed
    past, to bound the stream's memory. ``approximate`` lets Redis trim only
    whole internal nodes (cheaper, may keep a few entries longer).
    """
    return int(
        client.xtrim(stream_key(stream, partition), minid=up_to_id, approximate=approximate)
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _records(fields: dict[bytes | str, bytes | str]) -> list[Record | None]:
    payload = fields.get(FIELD, fields.get(FIELD.decode()))
    if not payload:
        return [None]
    if isinstance(payload, str):
        payload = payload.encode("utf-8", "surrogateescape")
    return [_decoded(line) for line in payload.split(b"\n") if line] or [None]


def _decoded(line: bytes) -> Record | None:
    try:
        return decode_line(line)
    except MalformedLineError:
        return None


__all__ = [
    "RedisStreamLog",
    "default_fallback",
    "partition_of",
    "read_partition",
    "stream_key",
    "trim_partition",
]
