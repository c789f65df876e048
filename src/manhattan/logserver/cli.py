"""``manhattan-log-server``: drain ``RemoteLog``'s Redis list into a ``TimeRotatingLog``.

    manhattan-log-server --path /var/log/manhattan/log --redis redis://127.0.0.1:6379/0

It creates the log's directory if need be, as ``TimeRotatingLog`` does.
Bad flags, an unusable log path or an unreachable Redis at start end it
with one line on stderr and exit status 2; SIGTERM and SIGINT end the
cycle under way and exit 0. Why a kill loses and repeats nothing is told in
:mod:`manhattan.logserver`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from types import FrameType
from typing import Any, Literal, NoReturn, TextIO, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from manhattan.exceptions import StartError as StartError
from manhattan.log import Record
from manhattan.log.remote import DEFAULT_KEY, PayloadError, parse_payload, processing_key
from manhattan.log.text import encode_records
from manhattan.log.timerotating import HOUR, TimeRotatingLog

logger = logging.getLogger("manhattan.logserver")

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
BLOCK_SECONDS = 1.0
"""How long one wait for the queue lasts: a signal is acted on within it."""
POLL_SECONDS = 0.05
"""How often a waiting server looks at the queue (reads only: no command
that Redis refuses when it is out of memory)."""
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0
STATE_SUFFIX = ".logserver-state"


# Pure parts: the state file's content and what to do with a processing list.


@dataclass(frozen=True)
class Intent:
    """A batch about to be appended: its hash, its queue, where it goes, its
    size, how many entries it is (the head of the processing list) and how
    long the processing list was with them (it only shrinks, by the batches
    removed: the length tells whether this batch was)."""

    batch: str
    key: str
    file: str
    offset: int
    length: int
    count: int
    pending: int

    def dumps(self) -> bytes:
        """The state file's content."""
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def loads(cls, data: bytes) -> Intent:
        """Read a state file's content; ``ValueError`` if it is not an intent."""
        fields = json.loads(data)
        if not isinstance(fields, dict) or set(fields) != set(cls.__dataclass_fields__):
            raise ValueError(f"not an intent: {data[:200]!r}")
        intent = cls(**fields)
        types = (
            (intent.batch, str),
            (intent.key, str),
            (intent.file, str),
            (intent.offset, int),
            (intent.length, int),
            (intent.count, int),
            (intent.pending, int),
        )
        if not all(isinstance(value, kind) for value, kind in types):
            raise ValueError(f"not an intent: {data[:200]!r}")
        return intent


def batch_hash(entries: Sequence[bytes]) -> str:
    """One hash of a processing list's entries, in order."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(hashlib.sha256(entry).digest())
    return digest.hexdigest()


Decision = Literal["take", "clear", "resume", "fresh"]


def decide(intent: Intent | None, key: str, entries: Sequence[bytes], pending: int) -> Decision:
    """What to do with ``entries``, the head of a processing list of
    ``pending`` entries, given the state's ``intent``.

    ``take``: nothing pending, take the queue. ``clear``: the intent is
    stale (its batch was removed), clear it before taking any. ``resume``:
    the intent is for these entries, still there: append what is missing.
    ``fresh``: these entries were never written.
    """
    if not entries:
        return "take" if intent is None else "clear"
    if (
        intent is not None
        and intent.key == key
        and intent.pending == pending
        and intent.count == len(entries)
        and intent.batch == batch_hash(entries)
    ):
        return "resume"
    return "fresh"


def missing_part(present: bytes, data: bytes) -> bytes:
    """What to append to complete ``data`` when ``present`` is found where it starts.

    ``present`` is what the file holds at the intent's offset (at most
    ``len(data)`` bytes): a prefix of ``data`` (a short write) leaves the
    rest; anything else means the file was changed by someone else, and
    all of ``data`` is appended rather than lost.
    """
    if data.startswith(present):
        return data[len(present) :]
    return data


def validate(entries: Sequence[bytes]) -> tuple[list[Record], list[str]]:
    """The records of the valid entries, and why each other entry was skipped."""
    records: list[Record] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        try:
            records.extend(parse_payload(entry))
        except PayloadError as exc:
            problems.append(f"entry {index} ({len(entry)} bytes): {exc}")
    return records, problems


# Files


def _fsync(path: str, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class StateFile:
    """``LOGPATH.logserver-state``: absent when idle, else an :class:`Intent`."""

    def __init__(self, log: TimeRotatingLog) -> None:
        self.path = log.path + STATE_SUFFIX
        self.directory = log.directory

    def load(self) -> Intent | None:
        """The intent on disk; ``StartError`` if the file is unreadable."""
        try:
            with open(self.path, "rb") as stream:
                data = stream.read()
        except FileNotFoundError:
            return None
        try:
            return Intent.loads(data)
        except (ValueError, TypeError) as exc:
            raise StartError(f"state file {self.path} is damaged: {exc}") from None

    def save(self, intent: Intent | None) -> None:
        """Make ``intent`` the state, durably (``None``: idle)."""
        if intent is None:
            os.unlink(self.path)
        else:
            temporary = self.path + ".tmp"
            with open(temporary, "wb") as stream:
                stream.write(intent.dumps())
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, self.path)
        _fsync(self.directory)


def _read_at(path: str, offset: int, length: int) -> bytes:
    try:
        with open(path, "rb") as stream:
            stream.seek(offset)
            return stream.read(length)
    except FileNotFoundError:
        return b""


def _append(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        os.fsync(fd)
    finally:
        os.close(fd)


# The server


class LogServer:
    """Drains the Redis list ``key`` (through ``client``) into ``log``, ``batch``
    entries at most per cycle. ``batches``, ``records`` and ``skipped`` count
    the entries taken, the records appended and the bad entries dropped."""

    def __init__(
        self, client: redis.Redis, key: str, log: TimeRotatingLog, batch: int = 100
    ) -> None:
        self.client = client
        self.key = key
        self.processing = processing_key(key)
        self.log = log
        self.batch = batch
        self.state = StateFile(log)
        self.intent = self.state.load()
        if self.intent is not None and self.intent.key != key:
            raise StartError(
                f"{self.state.path} holds an unfinished batch from Redis list "
                f"{self.intent.key!r}: run with --key {self.intent.key} first"
            )
        self.batches = 0
        self.records = 0
        self.skipped = 0
        self._now = time.time()
        # The hour file is chosen from the time the intent was written with.
        log.clock = lambda: self._now

    def _save(self, intent: Intent | None) -> None:
        self.state.save(intent)
        self.intent = intent

    def _head(self, count: int) -> tuple[list[bytes], int]:
        """The first ``count`` entries of the processing list, and its length."""
        entries = cast(list[bytes], self.client.lrange(self.processing, 0, count - 1))
        return entries, int(self.client.llen(self.processing))

    def _take(self, block: float) -> bool:
        """Make the queue the processing list, once it has entries (waiting
        up to ``block`` seconds); whether it had. A rename needs no memory,
        so a Redis that is out of memory is drained too."""
        deadline = time.monotonic() + block
        while not self.client.llen(self.key):
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)
        # Only this server renames, and only onto an empty processing list.
        return bool(self.client.renamenx(self.key, self.processing))

    def cycle(self, block: float = BLOCK_SECONDS) -> bool:
        """Take and write one batch (waiting up to ``block`` seconds for one);
        whether there was one."""
        count = self.batch if self.intent is None else self.intent.count
        entries, pending = self._head(count)
        decision = decide(self.intent, self.key, entries, pending)
        if decision == "clear":
            self._save(None)
        if decision in ("take", "clear"):
            if not self._take(block):
                return False
            entries, pending = self._head(self.batch)
            decision = "fresh"
        records, problems = validate(entries)
        if decision == "resume":
            self._resume(records)
        else:
            self._fresh(entries, pending, records, problems)
        self.client.ltrim(self.processing, len(entries), -1)
        if self.intent is not None:
            self._save(None)
        self.batches += len(entries)
        return True

    def _fresh(
        self, entries: list[bytes], pending: int, records: list[Record], problems: list[str]
    ) -> None:
        for problem in problems:
            logger.warning("skipped a bad entry of Redis list %r: %s", self.key, problem)
        self.skipped += len(problems)
        if not records:
            return
        self._now = time.time()
        name = f"{self.log.prefix}.{int(self._now) // HOUR * HOUR}"
        path = os.path.join(self.log.directory, name)
        try:
            offset = os.path.getsize(path)
        except FileNotFoundError:
            offset = 0
        data = encode_records(records)
        intent = Intent(
            batch_hash(entries), self.key, name, offset, len(data), len(entries), pending
        )
        self._save(intent)
        self.log.write(records)
        _fsync(path)
        if offset == 0:  # a new file: its directory entry must last too
            _fsync(self.log.directory)
        self.records += len(records)

    def _resume(self, records: list[Record]) -> None:
        intent = cast(Intent, self.intent)
        path = os.path.join(self.log.directory, intent.file)
        data = encode_records(records)
        present = _read_at(path, intent.offset, intent.length)
        missing = missing_part(present, data)
        if len(missing) == len(data) and present:
            logger.warning(
                "%s changed at byte %d since this batch was begun: it is written again",
                path,
                intent.offset,
            )
        logger.info("recovered a batch at %s:%d", path, intent.offset)
        if missing:
            _append(path, missing)
            _fsync(self.log.directory)
            self.records += len(records)


# Command line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not the usage: bad flags are told like other errors."""
        self.exit(2, f"{self.prog}: error: {message}\n")


def _positive_int(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (0.3's, with reliable draining)."""
    parser = _Parser(
        prog="manhattan-log-server",
        description="Drain the Redis list RemoteLog pushes to into a TimeRotatingLog.",
    )
    add = parser.add_argument
    add("-p", "--path", required=True, help="the log to write: TimeRotatingLog base path")
    add("--redis", default=DEFAULT_REDIS, help=f"Redis URL (default {DEFAULT_REDIS})")
    add("-k", "--key", default=DEFAULT_KEY, help=f"the Redis list (default {DEFAULT_KEY})")
    add("--batch", type=_positive_int, default=100, help="entries per write (default 100)")
    add("--log", help="write the server's own log (errors, and with -v progress) to this file")
    add("-v", "--verbose", action="store_true", help="log each batch")
    return parser


def _setup_logging(args: argparse.Namespace, stream: TextIO) -> None:
    handler: logging.Handler = (
        logging.FileHandler(args.log) if args.log else logging.StreamHandler(stream)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("manhattan")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if args.verbose else logging.WARNING)


def open_server(args: argparse.Namespace) -> LogServer:
    """A server for the parsed flags; ``StartError`` when it cannot run."""
    try:
        log = TimeRotatingLog(args.path)
    except ValueError as exc:
        raise StartError(f"--path: {exc}") from None
    try:
        os.makedirs(log.directory, exist_ok=True)
    except OSError as exc:
        raise StartError(
            f"cannot create log directory {log.directory} (from --path {args.path}): "
            f"{exc.strerror}"
        ) from None
    try:
        client = redis.Redis.from_url(
            args.redis,
            socket_timeout=BLOCK_SECONDS + 5,
            socket_connect_timeout=2,
            # run() waits and tries again itself, with its own backoff; retrying
            # is safe, as each cycle reads the processing list afresh.
            retry=Retry(NoBackoff(), 1),
        )
        client.ping()
    except (ValueError, redis.RedisError) as exc:
        raise StartError(f"cannot reach Redis at {args.redis}: {exc}") from None
    return LogServer(client, args.key, log, args.batch)


def run(server: LogServer, stop: threading.Event) -> None:
    """Run cycles until ``stop``; wait with growing pauses while Redis is away."""
    backoff = BACKOFF_FIRST
    while not stop.is_set():
        try:
            if server.cycle():
                logger.info("%d entries taken, %d records written", server.batches, server.records)
            backoff = BACKOFF_FIRST
        except redis.RedisError as exc:
            logger.warning("Redis failed (%s): trying again in %.1f s", exc, backoff)
            stop.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)


def main(argv: Sequence[str] | None = None, stderr: TextIO | None = None) -> int:
    """Entry point of ``manhattan-log-server``; returns the exit status."""
    stderr = sys.stderr if stderr is None else stderr
    args = build_parser().parse_args(argv)
    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        _setup_logging(args, stderr)
        server = open_server(args)
    except (StartError, OSError) as exc:
        print(f"manhattan-log-server: error: {exc}", file=stderr)
        return 2
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        logger.info("draining Redis list %r into %s", args.key, server.log.path)
        run(server, stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        server.log.close()
        server.client.close()
    logger.info("stopped after %d entries", server.batches)
    return 0
