"""A log on Redis Streams, partitioned by visitor.

``RedisStreamLog(url, stream, partitions)`` appends each record to the stream
``f"{stream}:{i}"`` where ``i = partition_of(record[3], partitions)``: every
record of a visitor goes to the same partition, in write order, so workers
that own whole partitions see each visitor's events in order.

Entry format: one field, ``r``, holding the record as one line of the text
log format (:func:`manhattan.log.text.encode_record`, trailing newline
included). It is plain ASCII, round-trips every string (tabs, newlines,
non-ASCII characters, lone surrogates) and is byte for byte what a
``TimeRotatingLog`` would write, so payloads can be concatenated into a file.

Writes never wait long on Redis: the client has a short socket timeout and
no retries, and a batch Redis did not take goes to a local *fallback file*
(text log lines, one ``O_APPEND`` write per batch). From then on the
process's writes go straight to that file too (no request waits on a Redis
that is down), and a background thread sends the file, oldest records first,
retrying with backoff until Redis takes it; then writes go to Redis again.
Delivery is therefore at least once: a batch whose reply timed out after Redis applied
it, or a fallback file only partly sent before a failure or crash, is sent
again. Consumers that must not count twice can remember the stream ids they
committed (their pointer) but cannot recognise a resent record by id, since
a resent copy gets a new one; we accept that rare duplicate rather than a
loss.

Readers use :func:`read_partition` and, once every consumer of a partition
has committed past an id, :func:`trim_partition` to free what is below it.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import logging
import os
import re
import secrets
import tempfile
import threading
import time
import zlib
from collections.abc import Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from manhattan.log import Record
from manhattan.log.text import MalformedLineError, decode_line, encode_record

logger = logging.getLogger(__name__)

FIELD = b"r"
"""The entry field holding the encoded record."""

RESEND_CHUNK = 1000
"""Fallback records sent per pipeline round trip when resending."""

RETRY_SECONDS = 0.5
"""First wait of the fallback sender after Redis failed it (doubled each time)."""

MAX_RETRY_SECONDS = 30.0
"""Longest wait of the fallback sender between tries."""

IDLE_CHECK_SECONDS = 10.0
"""How often an idle fallback sender looks for files other processes left."""

SENT_SUFFIX = ".sent"
"""Suffix of the file noting how much of a fallback file being sent Redis took."""

VISITOR_FIELD = 3
"""Index of the visitor id in a record: the partitioning key."""


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
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", stream)
    return os.path.join(tempfile.gettempdir(), f"manhattan-{safe}.fallback")


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
    this process sends it (:meth:`flush` waits for that). A file another
    process left (it crashed, or was stopped while Redis was down) is sent
    by the next process that starts, or by one whose sender is running.

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
        self._lock = threading.Lock()
        self._sender: threading.Thread | None = None
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._drained = threading.Event()
        # True while fallback records may wait to be sent: writes then append
        # to the file, so none overtakes the older records being sent.
        self._backlog = False
        if self._leftovers() or os.path.exists(self.fallback):
            self._backlog = True

    def write(self, records: Sequence[Sequence[str]]) -> None:
        """Append ``records``, each to its visitor's partition, in one round
        trip (or, while Redis is down or a backlog is being sent, one append
        to the fallback file)."""
        batch = [(self._partition(record), encode_record(record)) for record in records]
        if not batch:
            return
        if not self._backlog:
            try:
                self._send(batch)
                return
            except (RedisError, OSError) as exc:
                logger.warning(
                    "manhattan: Redis unavailable (%s), %d records to fallback", exc, len(batch)
                )
                self._drained.clear()
                self._backlog = True
        self._spill(batch)
        self._wake_sender()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the fallback records are sent (at most ``timeout``
        seconds); whether they all were. Call it before a planned shutdown."""
        if not self._backlog:
            return True
        self._wake_sender()
        return self._drained.wait(timeout) or not self._backlog

    def close(self) -> None:
        """Stop the fallback sender (unsent records stay in the file for the
        next process) and close the connections to Redis; a later write
        reconnects and starts a new sender if it needs one."""
        with self._lock:
            sender, self._sender = self._sender, None
            if sender is not None:
                self._closing.set()
                self._wake.set()
        if sender is not None:
            sender.join()
            self._closing.clear()
        self.client.close()

    def _wake_sender(self) -> None:
        """Make the sender look at the fallback now, starting it if needed
        (also in a forked child, which inherits no thread)."""
        with self._lock:  # only taken while there is a backlog: not on the fast path
            if self._sender is None or not self._sender.is_alive():
                self._sender = threading.Thread(
                    target=self._send_backlog, name="manhattan-fallback", daemon=True
                )
                self._sender.start()
        self._wake.set()

    def _send_backlog(self) -> None:
        """The sender thread: send the fallback files whenever woken, backing
        off while Redis fails, and every ``IDLE_CHECK_SECONDS`` otherwise."""
        wait = RETRY_SECONDS
        while not self._closing.is_set():
            self._wake.clear()
            if not self._resend():
                # Not woken by writes: they come at request rate, and Redis is down.
                self._closing.wait(wait)
                wait = min(wait * 2, MAX_RETRY_SECONDS)
                continue
            wait = RETRY_SECONDS
            if os.path.exists(self.fallback):
                continue  # spilled while we sent: send that too
            self._backlog = False
            self._drained.set()
            # Until the next spill, or a look for files other processes left.
            self._wake.wait(IDLE_CHECK_SECONDS)

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

    # Fallback files

    def _spill(self, batch: Sequence[tuple[int, bytes]]) -> None:
        """Append ``batch`` to the fallback file in one write."""
        data = b"".join(line for _, line in batch)
        os.makedirs(os.path.dirname(self.fallback), exist_ok=True)
        while True:
            fd = os.open(self.fallback, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                # Shared: appenders run together, a resender waits for them.
                fcntl.flock(fd, fcntl.LOCK_SH)
                if self._is_current(fd):
                    size = os.fstat(fd).st_size
                    if size and os.pread(fd, 1, size - 1) != b"\n":
                        # A crash tore the last append: end that line, or our
                        # first record would be glued to it and lost with it.
                        data = b"\n" + data
                    written = os.write(fd, data)
                    while written < len(data):  # full disk or signal: keep the rest whole
                        written += os.write(fd, data[written:])
                    return
            finally:
                os.close(fd)
            # Renamed for resending between our open and lock: append to the new one.

    def _is_current(self, fd: int) -> bool:
        """Whether ``fd`` is still the file named :attr:`fallback`."""
        try:
            named = os.stat(self.fallback)
        except FileNotFoundError:
            return False
        opened = os.fstat(fd)
        return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)

    def _resend(self) -> bool:
        """Send the fallback files' records, oldest first; False if Redis failed.

        The fallback file is first renamed to ``<fallback>.sending-<time>-...``
        and deleted only once all of it was sent, so a failure or crash at any
        point leaves it to be sent again (at least once, never lost).
        """
        paths = self._leftovers()
        mine = (
            f"{self.fallback}.sending-{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
        )
        try:
            os.rename(self.fallback, mine)
        except FileNotFoundError:
            pass  # nothing new, or another process took it
        else:
            paths.append(mine)
        return all(self._send_file(path, wait=path == mine) for path in paths)

    def _leftovers(self) -> list[str]:
        """Fallback files renamed for sending and not deleted, oldest first."""
        found = glob.glob(glob.escape(self.fallback) + ".sending-*")
        return sorted(path for path in found if not path.endswith(SENT_SUFFIX))

    def _send_file(self, path: str, *, wait: bool) -> bool:
        """Send and delete one file; True if sent or another process has it."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return True
        try:
            try:
                # A file renamed by another process is locked while it sends it.
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                return True
            if os.fstat(fd).st_nlink == 0:
                return True  # sent and deleted while we waited for the lock
            with os.fdopen(os.dup(fd), "rb") as file:
                data = file.read()
            sent = _sent_offset(path)
            try:
                while sent < len(data):
                    chunk, size = _next_lines(data, sent, RESEND_CHUNK)
                    # All of a chunk or none of it: resending a chunk that
                    # Redis took in part would count that part twice.
                    self._send([(self._line_partition(line), line) for line in chunk], atomic=True)
                    sent += size
                    _save_offset(path, sent)
            except (RedisError, OSError) as exc:
                logger.warning("manhattan: Redis unavailable (%s), fallback kept", exc)
                return False
            os.unlink(path)
            _remove(path + SENT_SUFFIX)
            return True
        finally:
            os.close(fd)

    def _line_partition(self, line: bytes) -> int:
        """A fallback line's partition; 0 for a malformed one (a torn write),
        which is sent as it is for the consumer to count."""
        try:
            return self._partition(decode_line(line))
        except MalformedLineError:
            return 0


def _sent_offset(path: str) -> int:
    """How many bytes of the fallback file ``path`` are known sent (0 if
    none, or if its offset file is unreadable: sent again, never lost)."""
    try:
        with open(path + SENT_SUFFIX, "rb") as file:
            return int(file.read())
    except (OSError, ValueError):
        return 0


def _save_offset(path: str, sent: int) -> None:
    """Note that ``sent`` bytes of ``path`` reached Redis (replaced whole,
    so a crash leaves the old offset or the new one)."""
    temporary = f"{path}{SENT_SUFFIX}.tmp"
    with open(temporary, "wb") as file:
        file.write(str(sent).encode())
    os.replace(temporary, path + SENT_SUFFIX)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _next_lines(data: bytes, start: int, count: int) -> tuple[list[bytes], int]:
    """Up to ``count`` lines of ``data`` from byte ``start`` (each ending in a
    newline; empty lines skipped), and how many bytes they span."""
    lines: list[bytes] = []
    position = start
    while position < len(data) and len(lines) < count:
        end = data.find(b"\n", position)
        end = len(data) if end < 0 else end
        if end > position:
            lines.append(data[position:end] + b"\n")
        position = end + 1
    return lines, min(position, len(data)) - start


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
