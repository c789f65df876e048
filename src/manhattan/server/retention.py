"""``manhattan-server --retain-days N``: delete a file log's hour files once
they are counted and older than N days.

The hour files keep what the middleware wrote, IP addresses, user agents
and full URLs among it, for as long as nothing removes them; the counts in
the database do not need them once they are committed. Only the hour files
of a ``--path`` log are deleted (a Redis stream is trimmed as it is
counted), and only by the server that counts them into its database.

Which files go
--------------

:func:`expired` is the rule. The file of hour ``H`` (``PATH.<H>``) may go
only when both hold:

- its whole hour is older than N days by the server's clock (``H + 3600``
  is at least N days ago), and at least :data:`LATE_WRITE_GRACE` seconds
  ago, so no reader follows it for late writes by the clock either;
- the committed pointer is past it: ``H`` is before the hour of the file
  the pointer is in, and is not one of the older hours the pointer still
  follows for late writes (its ``;HOUR:OFFSET`` parts).

The file the pointer is in and every later one stay, whatever their age:
what they hold is not all counted yet (a server far behind, or stopped,
keeps its backlog). A server deletes nothing before its first commit.

Crash safety
------------

The pointer that decides is read back from the database
(``load_pointer``), never taken from the worker's memory: it is one that a
commit made durable together with the counts of everything before it. A
server restarted after a crash at any moment (in the middle of deleting
too) resumes from that pointer or a later one, and then reads only the
pointer's own file from its offset, the older hours the pointer names, and
the files after it (see :mod:`manhattan.log.timerotating`): none of them is
ever deleted. So no deletion removes a record that the database has not
counted, and a crash between a commit and the deletions after it only
leaves files for the next pass. A pointer read while the worker commits
may be an earlier one, never one not committed; and an earlier pointer
allows only some of the deletions a later one allows (a pointer follows
only hours it reached itself), so reading it at any moment is safe.

What it does not cover: bytes appended to a passed file after its grace
(no reader following the log counts them, see :data:`LATE_WRITE_GRACE`)
go with the file; another database counting the same files is not asked
(deletions follow this database's pointer only); and ``--once`` into a
fresh database can rebuild the counts only from the files still kept.

When
----

At each renewal of the log's lease (every third of ``--lease-seconds``, 10
seconds by default, and only while this server holds the lease), and once
more when the server stops, after its final commit (``--once`` included).
A pass reads one row and lists one directory. Deletions are logged at
INFO, failures at ERROR; neither stops counting.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Collection, Iterable

from manhattan.backend.persistence import StoreError
from manhattan.log import Pointer
from manhattan.log.timerotating import HOUR, LATE_WRITE_GRACE, TimeRotatingLog

logger = logging.getLogger("manhattan.server")

DAY = 86_400


def expired(
    files: Iterable[tuple[int, str]],
    reached: int | None,
    followed: Collection[int],
    *,
    now: float,
    days: int,
    grace: float = LATE_WRITE_GRACE,
) -> list[str]:
    """The names among ``files`` (``(hour start, file name)``) that may be
    deleted, oldest first.

    ``reached`` is the hour of the file the committed pointer is in
    (``None``: nothing committed, nothing goes) and ``followed`` the older
    hours it still follows for late writes; ``now`` is the wall-clock time,
    ``days`` how long files are kept, ``grace`` the reader's late-write
    grace (:data:`LATE_WRITE_GRACE`).
    """
    if reached is None:
        return []
    # A file's hour must be over for the longer of the two spans.
    latest_end = now - max(days * DAY, grace)
    return [
        name
        for hour, name in sorted(files)
        if hour < reached and hour not in followed and hour + HOUR <= latest_end
    ]


def counted_hours(log: TimeRotatingLog, pointer: Pointer) -> tuple[int, set[int]]:
    """The hour of the file ``pointer`` is in, and the older hours it still
    follows for late writes; ``ValueError`` if it is not a pointer of ``log``."""
    hour, _ = log.parse_pointer(pointer)  # checks the whole pointer's form
    followed = {int(part.split(":")[0]) for part in str(pointer).split(";")[1:]}
    return hour, followed


class Retention:
    """Deletes the files of ``log`` that :func:`expired` allows after ``days``,
    by the committed pointer that ``load_pointer`` reads from the database.

    ``clock`` is the wall clock the files' ages are measured by.
    Thread-safe: the lease keeper's thread and the main thread both call it.
    """

    def __init__(
        self,
        log: TimeRotatingLog,
        days: int,
        load_pointer: Callable[[], Pointer | None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if days < 1:
            raise ValueError(f"log files must be kept at least 1 day, not {days}")
        self.log = log
        self.days = days
        self.load_pointer = load_pointer
        self.clock = clock
        self._lock = threading.Lock()

    def tick(self) -> None:
        """:meth:`prune`, for the lease keeper's renewals."""
        self.prune()

    def prune(self) -> list[str]:
        """Delete the files the committed pointer allows; their names.

        A file that cannot be deleted, or a pointer that cannot be read, is
        logged, and left for the next pass: counting goes on.
        """
        with self._lock:
            try:
                pointer = self.load_pointer()
            except StoreError as exc:
                logger.error("log retention: cannot read the committed log pointer (%s)", exc)
                return []
            if pointer is None:
                return []
            try:
                reached, followed = counted_hours(self.log, pointer)
            except ValueError as exc:
                # Checked at start: only a database changed under the server.
                logger.error("log retention: deleting nothing: %s", exc)
                return []
            names = expired(self.log.files(), reached, followed, now=self.clock(), days=self.days)
            deleted = [name for name in names if self._delete(name)]
        if deleted:
            logger.info(
                "log retention: deleted %d counted hour file(s) older than %d day(s) "
                "from %s: %s to %s",
                len(deleted),
                self.days,
                self.log.directory,
                deleted[0],
                deleted[-1],
            )
        return deleted

    def _delete(self, name: str) -> bool:
        """Delete ``name``; whether it is gone now because of this call."""
        try:
            os.remove(os.path.join(self.log.directory, name))
        except FileNotFoundError:
            return False  # deleted by hand meanwhile
        except OSError as exc:
            logger.error("log retention: cannot delete %s: %s", name, exc)
            return False
        return True
