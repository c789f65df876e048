"""The log server's loop and files: :class:`LogServer` drains a Redis list
into a ``TimeRotatingLog`` one batch per cycle, keeping its intent in the
state file (:class:`StateFile`); :func:`run` cycles until told to stop.
The steps, and why a kill loses and repeats nothing, are told in
:mod:`manhattan.logserver`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import cast

import redis

from manhattan.exceptions import StartError
from manhattan.log import Record
from manhattan.log.remote import processing_key
from manhattan.log.text import encode_records
from manhattan.log.timerotating import HOUR, TimeRotatingLog
from manhattan.logserver.protocol import (
    STATE_SUFFIX,
    Intent,
    batch_hash,
    decide,
    missing_part,
    validate,
)

logger = logging.getLogger("manhattan.logserver")

BLOCK_SECONDS = 1.0
"""How long one wait for the queue lasts: a signal is acted on within it."""
POLL_SECONDS = 0.05
"""How often a waiting server looks at the queue (reads only: no command
that Redis refuses when it is out of memory)."""
BACKOFF_FIRST = 0.1
BACKOFF_MAX = 5.0


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
        now = time.time()
        name = f"{self.log.prefix}.{int(now) // HOUR * HOUR}"
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
        # The hour file the intent names, whatever the time is now.
        self.log.write(records, at=now)
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
