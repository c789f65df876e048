"""One writer per log: the leases a server holds on what it counts.

A server counting a file log holds the lease :data:`FILE_LOG`; a worker
counting a Redis stream holds one lease per partition, named like the
partition's position row (``stream:NAME:I``). :class:`LeaseKeeper` takes
them, renews them every third of their length in a background thread, and
renews them again in the transaction of every commit
(:class:`GuardedStore`), which fails with
:class:`~manhattan.backend.persistence.lease.LeaseLostError` (and commits
nothing) once another server holds one of them: a server that was stalled
past its lease can never count what another has taken over.

Partitions move on their own (:func:`balance`, at start and at every
renewal): a stream worker started without ``--partition`` also holds a
member lease, ``member:NAME:TOKEN``; with N live members, each takes
partitions no live worker holds up to its share, ceil(partitions / N), and
gives up (after forgetting what it has not committed) those above it. As
N * share >= partitions, no partition stays unowned while a live worker
has room. A dead worker's partitions (and its member lease, renewed with
them) expire together; the others take them over from the positions the
dead one last committed.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import Connection

from manhattan.backend.model import Batch
from manhattan.backend.persistence import SQLStore, StoreError
from manhattan.backend.persistence import lease as sql
from manhattan.backend.persistence.lease import Holder, Lease, LeaseLostError
from manhattan.log.streamreader import StreamReader

logger = logging.getLogger("manhattan.server")

FILE_LOG = "log"
"""The lease of the server counting a file log into a database."""

DEFAULT_SECONDS = 30.0
"""How long a lease lasts unless renewed (``--lease-seconds``)."""


class LeaseKeeper:
    """The leases this process holds in ``store``, each lasting ``seconds``
    unless renewed. Thread-safe.

    :meth:`start` renews them every ``seconds / 3`` in a thread of its own,
    then calls ``tick`` (e.g. :func:`take_free`); leases found lost there
    go to ``on_lost`` and stay in :attr:`lost` until :meth:`forget`.
    """

    def __init__(
        self, store: SQLStore, seconds: float = DEFAULT_SECONDS, holder: Holder | None = None
    ) -> None:
        if not seconds > 0:
            raise ValueError(f"a lease must last a positive number of seconds, not {seconds}")
        self.store = store
        self.seconds = seconds
        self.holder = holder if holder is not None else Holder.this_process()
        self.held: set[str] = set()
        self.lost: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def acquire(self, names: Sequence[str]) -> dict[str, Lease]:
        """Take those of ``names`` that no live holder has, each in a
        transaction of its own; the live leases of others that kept the
        rest from being taken.

        A holder on this host whose process is gone (killed, crashed) is
        not live, whatever its lease says: a restart takes over at once.
        """
        refused: dict[str, Lease] = {}
        for name in names:
            found: list[Lease] = []

            def take(conn: Connection, name: str = name, found: list[Lease] = found) -> None:
                lease = sql.acquire(conn, name, self.holder, self.seconds)
                if self.gone(lease) and sql.take_over(
                    conn, name, self.holder, self.seconds, lease.holder
                ):
                    logger.info("took lease %s over from %s, gone", name, lease.describe())
                    lease = sql.read(conn, [name])[name]
                found.append(lease)

            self.store.commit(Batch(), guard=take)
            if found[0].holder == self.holder.token:
                with self._lock:
                    self.held.add(name)
            else:
                refused[name] = found[0]
        return refused

    def gone(self, lease: Lease) -> bool:
        """Whether ``lease``'s holder is a process of this host that has ended
        (a process elsewhere is live until its lease expires)."""
        if lease.holder == self.holder.token or lease.host != self.holder.host:
            return False
        try:
            os.kill(lease.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # another user's process: alive
        return False

    def read(self, names: Sequence[str]) -> dict[str, Lease]:
        """The rows of ``names`` as they stand (live or expired)."""
        found: dict[str, Lease] = {}
        self.store.commit(Batch(), guard=lambda conn: found.update(sql.read(conn, names)))
        return found

    def guard(self, conn: Connection) -> None:
        """Renew every lease held, in ``conn``'s transaction; ``LeaseLostError``
        (rolling it back) if one is lost, now or before."""
        with self._lock:
            held, lost = sorted(self.held), set(self.lost)
        lost |= sql.renew(conn, held, self.holder, self.seconds)
        if lost:
            self._lose(lost)
            raise LeaseLostError(lost, sql.read(conn, sorted(lost)))

    def renew(self) -> LeaseLostError | None:
        """Renew every lease held in a transaction of its own; what was lost."""
        found: list[LeaseLostError] = []

        def renew(conn: Connection) -> None:
            with self._lock:
                held = sorted(self.held)
            lost = sql.renew(conn, held, self.holder, self.seconds)
            if lost:
                self._lose(lost)
                found.append(LeaseLostError(lost, sql.read(conn, sorted(lost))))

        self.store.commit(Batch(), guard=renew)
        return found[0] if found else None

    def _lose(self, names: Iterable[str]) -> None:
        lost = set(names)
        with self._lock:
            self.held -= lost
            self.lost |= lost

    def mine(self) -> set[str]:
        """The leases held, and those lost since the last :meth:`forget`."""
        with self._lock:
            return self.held | self.lost

    def forget(self, names: Iterable[str]) -> None:
        """Forget that ``names`` were lost: what was counted under them is
        gone, so they may be taken again."""
        with self._lock:
            self.lost.difference_update(names)

    def read_prefix(self, prefix: str) -> dict[str, Lease]:
        """The rows whose names start with ``prefix`` (live or expired)."""
        found: dict[str, Lease] = {}
        self.store.commit(Batch(), guard=lambda conn: found.update(sql.read_prefix(conn, prefix)))
        return found

    def clear(self, leases: Iterable[Lease]) -> None:
        """Delete the rows of ``leases`` if they still name the same holders
        (of processes known to be dead)."""
        rows = [(lease.name, Holder(lease.holder, lease.host, lease.pid)) for lease in leases]

        def delete(conn: Connection) -> None:
            for name, holder in rows:
                sql.release(conn, [name], holder)

        if rows:
            self.store.commit(Batch(), guard=delete)

    def give_up(self, names: Iterable[str]) -> None:
        """Count ``names`` as lost at once (commits fail until :meth:`forget`),
        keeping their rows until :meth:`release`: no one else may take them
        before what was counted under them is forgotten."""
        self._lose(names)

    def release(self, names: Iterable[str] | None = None) -> None:
        """Delete the rows of ``names`` this keeper holds in the database
        (``None``: every lease held, at a clean exit)."""
        with self._lock:
            if names is None:
                gone = sorted(self.held)
                self.held.clear()
            else:
                gone = sorted(names)
                self.held.difference_update(gone)
        self.store.commit(Batch(), guard=lambda conn: sql.release(conn, gone, self.holder))

    def start(
        self,
        on_lost: Callable[[LeaseLostError], None],
        tick: Callable[[], None] = lambda: None,
    ) -> None:
        """Renew (then ``tick``) every third of the lease, until :meth:`stop`."""
        self._thread = threading.Thread(
            target=self._run, args=(on_lost, tick), name="manhattan-leases", daemon=True
        )
        self._thread.start()

    def _run(self, on_lost: Callable[[LeaseLostError], None], tick: Callable[[], None]) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                lost = self.renew()
                if lost is not None:
                    on_lost(lost)
                tick()
            except Exception as exc:
                # The database may come back before the lease expires; if it
                # does not, the next commit's guard finds out who holds it.
                logger.error("renewing leases failed (%s); trying again", exc)

    def stop(self) -> None:
        """Stop renewing (the leases stay held until they expire or :meth:`release`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


class GuardedStore:
    """``store`` whose commits all check, in their own transaction, that
    ``keeper`` still holds its leases."""

    def __init__(self, store: SQLStore, keeper: LeaseKeeper) -> None:
        self.store = store
        self.keeper = keeper

    def load_pointer(self) -> str | None:
        """The file log's committed pointer."""
        return self.store.load_pointer()

    def load_pointers(self, names: Sequence[str]) -> dict[str, str]:
        """The committed pointers among ``names``."""
        return self.store.load_pointers(names)

    def load_visitors(self, visitor_ids: Sequence[str]) -> dict[str, str]:
        """The stored states of those of ``visitor_ids`` the store has."""
        return self.store.load_visitors(visitor_ids)

    def load_ended(self) -> dict[str, float]:
        """When each ended test ended."""
        return self.store.load_ended()

    def commit(self, batch: Batch) -> None:
        """Commit ``batch`` if the leases are still held; else ``LeaseLostError``."""
        self.store.commit(batch, guard=self.keeper.guard)


def partition_names(reader: StreamReader, partitions: Iterable[int]) -> dict[str, int]:
    """The lease name of each of ``partitions`` of ``reader``'s stream."""
    return {reader.pointer_name(i): i for i in partitions}


def take_free(
    keeper: LeaseKeeper,
    reader: StreamReader,
    partitions: Iterable[int],
    limit: int | None = None,
) -> list[int]:
    """Take each of ``partitions`` of ``reader``'s stream (the first
    ``limit`` of them at most) that no live worker holds and that this one
    did not lose since its last reset, and hand it to ``reader`` at its
    committed position; the partitions taken."""
    names = partition_names(reader, partitions)
    others = [name for name in names if name not in keeper.mine()]
    if not others:
        return []  # holding them all: nothing to read
    current = keeper.read(others)
    candidates = [
        name
        for name in others
        if name not in current or not current[name].live or keeper.gone(current[name])
    ][:limit]
    if not candidates:
        return []
    refused = keeper.acquire(candidates)
    taken = [name for name in candidates if name not in refused]
    # Read after taking: no one else can commit to these positions now.
    positions = keeper.store.load_pointers(taken)
    for name in taken:
        position = positions.get(name)
        reader.take(names[name], position)
        logger.info("took partition %d, from %s", names[name], position or "its start")
    return sorted(names[name] for name in taken)


def member_prefix(reader: StreamReader) -> str:
    """The start of the member leases of the workers of ``reader``'s stream."""
    return f"member:{reader.stream}:"


def balance(keeper: LeaseKeeper, reader: StreamReader, partitions: int) -> list[int]:
    """One step of the rule in this module's docstring, for a worker of
    ``reader``'s stream of ``partitions``: join as a member, then take free
    partitions up to the fair share or give up those above it (revoked from
    ``reader``: the worker forgets them, then :meth:`LeaseKeeper.release`
    them). The partitions taken."""
    prefix = member_prefix(reader)
    if prefix + keeper.holder.token not in keeper.mine():
        keeper.acquire([prefix + keeper.holder.token])
    members = keeper.read_prefix(prefix).values()
    dead = [lease for lease in members if not lease.live or keeper.gone(lease)]
    keeper.clear(dead)  # members that died: their rows would pile up
    live = len(members) - len(dead)
    share = math.ceil(partitions / max(1, live))
    names = partition_names(reader, range(partitions))
    held = sorted(names[name] for name in keeper.mine() if name in names)
    if len(held) > share:
        extra = held[share:]
        logger.info("giving up partitions %s: %d workers, %d each", extra, live, share)
        keeper.give_up(reader.pointer_name(i) for i in extra)
        reader.revoke(extra)
        return []
    return take_free(keeper, reader, range(partitions), share - len(held))


def drop_lost(
    keeper: LeaseKeeper, reader: StreamReader, partitions: int, revoked: Iterable[int] = ()
) -> list[int]:
    """After the worker forgot what it had not committed: stop reading the
    partitions lost, given up or ``revoked`` (those a
    :class:`~manhattan.log.streamreader.PartitionsRevokedError` named), let
    them be taken again, and delete the rows of those given up; the
    partitions dropped."""
    names = partition_names(reader, range(partitions))
    keeper.give_up(reader.pointer_name(i) for i in revoked)  # lost already, normally
    lost = keeper.mine() - keeper.held
    dropped = sorted(names[name] for name in lost if name in names)
    reader.drop(dropped)
    keeper.forget(lost)
    try:
        keeper.release(lost)  # those taken by others stay theirs
    except StoreError as exc:
        # Not renewed any more, they expire on their own.
        logger.error("could not release partitions %s (%s)", dropped, exc)
    return dropped


def refusal(leases: dict[str, Lease], url: str) -> str:
    """The one line a server that cannot start prints, naming the holders."""
    held = "; ".join(
        f"lease {name} is held by {lease.describe()}, until {sql.format_time(lease.expires)}"
        for name, lease in sorted(leases.items())
    )
    return (
        f"another manhattan-server counts this into {url} ({held} unless renewed): "
        "stop that one, or if it died, start this one again once the lease has expired"
    )


__all__ = [
    "DEFAULT_SECONDS",
    "FILE_LOG",
    "GuardedStore",
    "LeaseKeeper",
    "balance",
    "drop_lost",
    "member_prefix",
    "partition_names",
    "refusal",
    "take_free",
]
