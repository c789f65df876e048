"""A local file that holds a remote log's records while the remote is down,
and a background thread that sends them once it is back.

Used by :class:`~manhattan.log.redisstream.RedisStreamLog` and
:class:`~manhattan.log.remote.RemoteLog`, so that an app server never loses
a record to a Redis outage and no request waits for one:

- :meth:`Fallback.spill` appends a batch's text log lines
  (:func:`manhattan.log.text.encode_record`) in one ``O_APPEND`` write and
  wakes the sender. While :attr:`Fallback.backlog` is set, the log spills
  every write, so none overtakes the older records waiting in the file.
- The sender thread renames the file to ``<path>.sending-<time>-<pid>-<rand>``
  and hands its lines to the log's ``send`` in chunks of ``RESEND_CHUNK``;
  ``send`` must deliver a chunk whole or not at all (one command, or
  ``MULTI``/``EXEC``). After each chunk the offset reached is written to
  ``<file>.sent``, so a send that fails halfway, or a crash, resumes where
  the remote stopped taking it. A failing remote is tried again after
  ``RETRY_SECONDS``, doubling up to ``MAX_RETRY_SECONDS``; when the file is
  sent, the backlog is clear and writes go to the remote again.
- Processes may share one path. Appenders take a shared lock on the file,
  a sender an exclusive one (``flock``) on the file it sends, for as long
  as it sends it, so only one process ever sends a given file; a renamed
  file that another process is sending is left to it. Only names of the
  exact form ``<path>.sending-<time>-<pid>-<hex>`` are data: the offset
  files and their temporary files (``<file>.sent``, ``<file>.sent.<pid>.tmp``)
  never are. Files left by a crashed process (its lock is gone with it) are
  adopted: sent by the next process that starts, or by a running sender
  within ``IDLE_CHECK_SECONDS``, resuming at their noted offset; offset
  files whose data file is gone (a crash between the two deletions) are
  removed then too. An unexpected local error (say a full disk) is logged
  and retried like a remote failure: it never ends the sender thread.

Delivery is at least once: a chunk whose reply was lost after the remote
applied it (a timeout, or the remote killed before it answered, rather
than a refused connection) is sent again. Nothing else is sent twice: a
chunk is sent by the one process holding its file's lock, and the offset
noted after it is replaced whole.

Internal: not part of the public API (see :mod:`manhattan`).
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
from collections.abc import Callable, Sequence

from manhattan.log.text import TORN_MARK, append_lines

logger = logging.getLogger("manhattan.log")

RESEND_CHUNK = 1000
"""Fallback lines handed to ``send`` at a time."""

RETRY_SECONDS = 0.5
"""First wait of the sender after the remote failed it (doubled each time)."""

MAX_RETRY_SECONDS = 30.0
"""Longest wait of the sender between tries."""

IDLE_CHECK_SECONDS = 10.0
"""How often an idle sender looks for files other processes left."""

SENT_SUFFIX = ".sent"
"""Suffix of the file noting how much of a file being sent the remote took."""

Send = Callable[[list[bytes]], None]
"""Delivers lines (each ending in a newline) whole, or raises one of ``errors``."""


def _sending_names(path: str) -> re.Pattern[str]:
    """The names of ``path``'s files being sent: group 1 is the data
    file's suffix, group 2 (if any) that of its offset file or temporary."""
    data = r"(\.sending-\d+-\d+-[0-9a-f]+)"
    return re.compile(re.escape(path) + data + r"(\.sent(?:\.\d+)?(?:\.tmp)?)?")


def default_path(name: str) -> str:
    """``manhattan-<name>.fallback`` in the system temp directory (characters
    other than letters, digits, ``.``, ``_`` and ``-`` become ``_``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return os.path.join(tempfile.gettempdir(), f"manhattan-{safe}.fallback")


class Fallback:
    """The fallback file at ``path`` of a log whose ``send`` delivers lines;
    ``errors`` are the exceptions of a remote that is down (kept for later),
    ``what`` names the remote in log messages."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        send: Send,
        errors: tuple[type[Exception], ...],
        what: str = "Redis",
    ) -> None:
        self.path = os.path.abspath(os.fspath(path))
        self._names = _sending_names(self.path)
        self.send = send
        self.errors = errors
        self.what = what
        self._lock = threading.Lock()
        self._sender: threading.Thread | None = None
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._drained = threading.Event()
        # True while records may wait in the file: the log spills every write.
        self.backlog = bool(self._leftovers()) or os.path.exists(self.path)

    def spill(self, lines: Sequence[bytes]) -> None:
        """Append ``lines`` to the file in one write and have them sent later
        (``OSError`` if the file cannot be written)."""
        self._drained.clear()
        self.backlog = True
        self._append(b"".join(lines))
        self._wake_sender()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the backlog is sent (at most ``timeout`` seconds);
        whether it all was."""
        if not self.backlog:
            return True
        self._wake_sender()
        return self._drained.wait(timeout) or not self.backlog

    def close(self) -> None:
        """Stop the sender; what is unsent stays in the file for later (a
        later spill or flush starts a new sender)."""
        with self._lock:
            sender, self._sender = self._sender, None
            if sender is not None:
                self._closing.set()
                self._wake.set()
        if sender is not None:
            sender.join()
            self._closing.clear()

    def _wake_sender(self) -> None:
        """Make the sender look at the file now, starting it if needed (also
        in a forked child, which inherits no thread)."""
        with self._lock:  # only taken while there is a backlog: not on the fast path
            if self._sender is None or not self._sender.is_alive():
                self._sender = threading.Thread(
                    target=self._send_backlog, name="manhattan-fallback", daemon=True
                )
                self._sender.start()
        self._wake.set()

    def _send_backlog(self) -> None:
        """The sender thread: send the files whenever woken, backing off while
        the remote fails, and every ``IDLE_CHECK_SECONDS`` otherwise."""
        wait = RETRY_SECONDS
        while not self._closing.is_set():
            self._wake.clear()
            try:
                sent = self._resend()
            except OSError as exc:
                # Local trouble (a full disk, a file another process removed):
                # what is unsent stays in its file, so trying later loses nothing.
                logger.warning(
                    "manhattan: fallback %s not sent (%s), trying again", self.path, exc
                )
                sent = False
            if not sent:
                # Not woken by writes: they come at request rate, and the remote is down.
                self._closing.wait(wait)
                wait = min(wait * 2, MAX_RETRY_SECONDS)
                continue
            wait = RETRY_SECONDS
            if os.path.exists(self.path):
                continue  # spilled while we sent: send that too
            self.backlog = False
            self._drained.set()
            # Until the next spill, or a look for files other processes left.
            self._wake.wait(IDLE_CHECK_SECONDS)

    def _append(self, data: bytes) -> None:
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                # Shared: appenders run together, a sender waits for them.
                fcntl.flock(fd, fcntl.LOCK_SH)
                if self._is_current(fd):
                    append_lines(fd, data)
                    return
            finally:
                os.close(fd)
            # Renamed for sending between our open and lock: append to the new one.

    def _is_current(self, fd: int) -> bool:
        """Whether ``fd`` is still the file named :attr:`path`."""
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return False
        opened = os.fstat(fd)
        return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)

    def _resend(self) -> bool:
        """Send the files' lines, oldest first; False if the remote failed.

        The file is first renamed to ``<path>.sending-<time>-...`` and deleted
        only once all of it was sent, so a failure or crash at any point
        leaves it to be sent again.
        """
        paths = self._leftovers()
        mine = f"{self.path}.sending-{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.rename(self.path, mine)
        except FileNotFoundError:
            pass  # nothing new, or another process took it
        else:
            paths.append(mine)
        return all(self._send_file(path, wait=path == mine) for path in paths)

    def _leftovers(self) -> list[str]:
        """Files renamed for sending and not deleted, oldest first; offset
        files left without their data file are removed."""
        files = []
        for path in glob.glob(glob.escape(self.path) + ".sending-*"):
            name = self._names.fullmatch(path)
            if name is None:
                continue  # not ours
            if name[2] is None:
                files.append(path)
            elif not os.path.exists(self.path + name[1]):
                _remove(path)  # its file was sent and deleted by a process that then died
        return sorted(files)

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
            while sent < len(data):
                chunk, size = next_lines(data, sent, RESEND_CHUNK)
                try:
                    self.send(chunk)
                except self.errors as exc:
                    logger.warning("manhattan: %s unavailable (%s), fallback kept", self.what, exc)
                    return False
                sent += size
                _save_offset(path, sent)
            os.unlink(path)
            _remove(path + SENT_SUFFIX)
            return True
        finally:
            os.close(fd)


def _sent_offset(path: str) -> int:
    """How many bytes of the file ``path`` are known sent (0 if none, or if
    its offset file is unreadable: sent again, never lost)."""
    try:
        with open(path + SENT_SUFFIX, "rb") as file:
            return int(file.read())
    except (OSError, ValueError):
        return 0


def _save_offset(path: str, sent: int) -> None:
    """Note that ``sent`` bytes of ``path`` were delivered (replaced whole,
    so a crash leaves the old offset or the new one)."""
    temporary = f"{path}{SENT_SUFFIX}.{os.getpid()}.tmp"
    with open(temporary, "wb") as file:
        file.write(str(sent).encode())
    os.replace(temporary, path + SENT_SUFFIX)


def _remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def next_lines(data: bytes, start: int, count: int) -> tuple[list[bytes], int]:
    """Up to ``count`` lines of ``data`` from byte ``start`` (each ending in a
    newline; empty lines and lines of a lone :data:`~manhattan.log.text.TORN_MARK`
    skipped), and how many bytes they span."""
    lines: list[bytes] = []
    position = start
    while position < len(data) and len(lines) < count:
        end = data.find(b"\n", position)
        end = len(data) if end < 0 else end
        if end > position and data[position:end] != TORN_MARK:
            lines.append(data[position:end] + b"\n")
        position = end + 1
    return lines, min(position, len(data)) - start


__all__ = ["Fallback", "default_path", "next_lines"]
