"""Leases: which server counts what, kept in the ``leases`` table.

A lease is a row ``(name, holder, host, pid, since, expires)``. A server
holds a lease while the row names it as ``holder`` (a token unique to the
process); it renews it before ``expires`` and deletes it on a clean exit.
Another server may take the row over only once it has expired, so a server
that died gives up what it held after at most the lease's length.

Every time is the database's clock, in seconds since the epoch
(``julianday('now')`` on SQLite, ``clock_timestamp()`` on PostgreSQL): the
servers sharing a PostgreSQL database may run on machines whose clocks
disagree, but they all ask the one database. On SQLite the database's clock
is the clock of the machine holding the file, which is the machine all its
servers run on.

Fencing: :func:`renew` in the transaction of a commit is what keeps a server
that was stalled while its lease was taken from counting twice. Taking a
lease over rewrites its row, and the row cannot change under a transaction
that has updated it (PostgreSQL's row lock; SQLite's single writer): a
commit whose renewal matched its rows was still the holder when it committed.

Functions here take an open SQLAlchemy ``Connection`` inside a transaction
and run plain statements; they commit nothing themselves.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import (
    ColumnElement,
    Connection,
    Double,
    case,
    delete,
    literal_column,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from manhattan.backend.persistence.schema import leases
from manhattan.exceptions import ManhattanError

NOW: Final = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)",
}
"""Per dialect, the database's clock in seconds since the epoch."""


@dataclass(frozen=True)
class Holder:
    """A process that holds leases: ``token`` is unique to it, ``host`` and
    ``pid`` tell people which process it is."""

    token: str
    host: str
    pid: int

    @classmethod
    def this_process(cls) -> Holder:
        """This process, with a fresh random token (pids are reused)."""
        host, pid = socket.gethostname(), os.getpid()
        return cls(f"{host}:{pid}:{secrets.token_hex(8)}", host, pid)


@dataclass(frozen=True)
class Lease:
    """A row of the ``leases`` table, and whether it was live when read."""

    name: str
    holder: str
    host: str
    pid: int
    since: float
    expires: float
    live: bool

    def describe(self) -> str:
        """Who holds it, for people: ``host pid N since 2026-12-01 21:55:13 UTC``."""
        return f"{self.host} pid {self.pid} since {format_time(self.since)}"


class LeaseLostError(ManhattanError, RuntimeError):
    """A lease this process held is no longer its own: ``names`` are the
    leases lost, ``current`` the rows that hold them now (absent: released)."""

    def __init__(self, names: Iterable[str], current: dict[str, Lease]) -> None:
        self.names = sorted(names)
        self.current = current
        parts = []
        for name in self.names:
            lease = current.get(name)
            taker = f"now held by {lease.describe()}" if lease is not None else "released"
            parts.append(f"lease {name} was lost ({taker})")
        super().__init__("; ".join(parts))


def format_time(seconds: float) -> str:
    """``seconds`` since the epoch as a UTC time, to the second."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _now(conn: Connection) -> ColumnElement[float]:
    return literal_column(NOW[conn.dialect.name], Double)


def read(conn: Connection, names: Sequence[str]) -> dict[str, Lease]:
    """The rows among ``names`` that exist, live or expired."""
    if not names:
        return {}
    live = case((leases.c.expires > _now(conn), 1), else_=0)
    rows = conn.execute(select(*leases.c, live).where(leases.c.name.in_(list(names)))).all()
    return {
        row[0]: Lease(row[0], row[1], row[2], int(row[3]), row[4], row[5], bool(row[6]))
        for row in rows
    }


def read_prefix(conn: Connection, prefix: str) -> dict[str, Lease]:
    """The rows whose names start with ``prefix``, live or expired."""
    names = select(leases.c.name).where(leases.c.name.startswith(prefix, autoescape=True))
    return read(conn, list(conn.execute(names).scalars()))


def acquire(conn: Connection, name: str, holder: Holder, seconds: float) -> Lease:
    """Take lease ``name`` for ``seconds`` if no one holds it (no row, or an
    expired one) or ``holder`` already does; the row as it stands after:
    ``holder``'s when taken, else the live holder's."""
    now = _now(conn)
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(leases).values(
        name=name,
        holder=holder.token,
        host=holder.host,
        pid=holder.pid,
        since=now,
        expires=now + float(seconds),
    )
    new = statement.excluded
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[leases.c.name],
            set_={column: new[column] for column in ("holder", "host", "pid", "since", "expires")},
            where=or_(leases.c.expires <= new.since, leases.c.holder == new.holder),
        )
    )
    return read(conn, [name])[name]


def take_over(conn: Connection, name: str, holder: Holder, seconds: float, previous: str) -> bool:
    """Take lease ``name`` from holder token ``previous``, live or not (it is
    known to be dead); whether the row still named it and is now ``holder``'s."""
    now = _now(conn)
    result = conn.execute(
        update(leases)
        .where(leases.c.name == name, leases.c.holder == previous)
        .values(
            holder=holder.token,
            host=holder.host,
            pid=holder.pid,
            since=now,
            expires=now + float(seconds),
        )
    )
    return bool(result.rowcount)


def renew(conn: Connection, names: Sequence[str], holder: Holder, seconds: float) -> set[str]:
    """Extend ``holder``'s leases ``names`` to ``seconds`` from now; the
    names it no longer holds (taken over, or deleted).

    A lease of ``holder`` that expired but that no one took is renewed: no
    one else can have counted anything under it in the meantime.
    """
    if not names:
        return set()
    result = conn.execute(
        update(leases)
        .where(leases.c.holder == holder.token, leases.c.name.in_(list(names)))
        .values(expires=_now(conn) + float(seconds))
    )
    if result.rowcount == len(set(names)):
        return set()
    held = {name for name, lease in read(conn, names).items() if lease.holder == holder.token}
    return set(names) - held


def release(conn: Connection, names: Sequence[str], holder: Holder) -> None:
    """Delete those of ``names`` that ``holder`` holds (what others hold stays)."""
    if names:
        conn.execute(
            delete(leases).where(leases.c.holder == holder.token, leases.c.name.in_(list(names)))
        )


__all__ = [
    "Holder",
    "Lease",
    "LeaseLostError",
    "acquire",
    "format_time",
    "read",
    "read_prefix",
    "release",
    "renew",
    "take_over",
]
