"""Opening an SQLAlchemy engine on SQLite or PostgreSQL, and turning
database errors into :class:`StoreError` messages."""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, cast

from sqlalchemy import Connection, Dialect, Engine, create_engine, event, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    DisconnectionError,
    OperationalError,
    TimeoutError,
)
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from manhattan.exceptions import CommitRefusedError as CommitRefusedError
from manhattan.exceptions import StoreError as StoreError
from manhattan.exceptions import TransientStoreError as TransientStoreError

# SQLite's primary result codes worth a retry: BUSY, LOCKED (another
# connection holds the lock), IOERR, FULL (disk), CANTOPEN, PROTOCOL.
_SQLITE_TRANSIENT: Final = frozenset({5, 6, 10, 13, 14, 15})
# PostgreSQL SQLSTATEs worth a retry beyond class 08 (connection exception):
# serialization failure, deadlock, lock not available, insufficient
# resources (disk full, out of memory, too many connections), and the
# server shutting down or starting up.
_POSTGRES_TRANSIENT: Final = frozenset(
    {"40001", "40P01", "55P03", "53000", "53100", "53200", "53300", "57P01", "57P02", "57P03"}
)


def is_transient(exc: BaseException) -> bool:
    """Whether a database error ``exc`` (SQLAlchemy's, or the driver's) may
    pass when tried again; see :class:`TransientStoreError`."""
    if isinstance(exc, DisconnectionError | TimeoutError):
        return True  # the pool lost or could not get a connection
    orig: BaseException | None = exc
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        code = getattr(orig, "sqlite_errorcode", None)
        return isinstance(code, int) and code & 0xFF in _SQLITE_TRANSIENT
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate.startswith("08") or sqlstate in _POSTGRES_TRANSIENT
    # A driver's OperationalError without a SQLSTATE: the server never
    # answered (connection refused, reset or closed).
    return isinstance(exc, OperationalError)


def open_engines(url: str, echo: bool, shown: str) -> tuple[Engine, Engine, bool]:
    """The engines for ``url``: one to write, one to read (the same one on
    SQLite), and whether it is an SQLite memory database. ``shown`` is the
    URL as error messages show it. A ``postgresql://`` URL uses psycopg 3.

    Reading connections are in autocommit mode: a single statement reads a
    snapshot of its own, and a read of several statements opens a
    transaction with :data:`SNAPSHOT`.

    Raises :class:`StoreError` for what is wrong before connecting (a bad
    URL, an unsupported database, an SQLite file in a missing directory),
    and SQLAlchemy's errors or ImportError for a missing driver.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise StoreError(f"cannot open the store at {shown}: bad URL ({exc})") from exc
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"echo": echo}
    memory = False
    if backend == "sqlite":
        database = parsed.database or ""
        memory = database in ("", ":memory:")
        if memory:
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        elif not database.startswith("file:"):  # URI filenames are left to SQLite
            directory = Path(database).absolute().parent
            if not directory.is_dir():
                raise StoreError(
                    f"cannot open the store at {shown}: directory {directory} does not exist"
                )
    elif backend == "postgresql":
        if parsed.drivername == "postgresql":  # SQLAlchemy would take psycopg2
            parsed = parsed.set(drivername="postgresql+psycopg")
        # Positional parameters, as SQLite's: SQLStore.commit passes tuples.
        kwargs["paramstyle"] = "format"
        if "connect_timeout" not in parsed.query:  # libpq would wait forever
            kwargs["connect_args"] = {"connect_timeout": 10}
    else:
        raise StoreError(
            f"cannot open the store at {shown}: unsupported database {backend!r} "
            "(use sqlite or postgresql)"
        )
    engine = create_engine(parsed, **kwargs)
    if backend == "sqlite":
        # Every connection is in autocommit mode for sqlite3 (see below).
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine, engine, memory
    return engine, create_engine(parsed, isolation_level="AUTOCOMMIT", **kwargs), memory


WAL_WAIT = 10.0
"""Seconds an SQLite connection keeps trying to switch its file to WAL
while another process holds a lock on it."""

SNAPSHOT: Final = {
    "sqlite": "BEGIN",  # WAL: the first read takes the snapshot
    "postgresql": "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
}
"""Per dialect, the statement starting a read of several statements that
see one committed state."""


class Prepared:
    """A statement compiled once for a dialect with positional parameters,
    to run with plain DB-API calls: SQLAlchemy's execution machinery costs
    ten times what SQLite takes to answer a query by primary key."""

    def __init__(self, statement: ClauseElement, dialect: Dialect) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
        self.sql = str(compiled)
        self._names = list(compiled.positiontup or ())
        self._defaults = compiled.params

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        """The positional parameters, from named ones (missing: their
        values in the statement)."""
        defaults = self._defaults
        return [params[name] if name in params else defaults[name] for name in self._names]


def _sqlite_connect(dbapi_connection: Any, _record: object) -> None:
    # sqlite3 starts no transaction for a SELECT, so a read of several
    # statements would not be one snapshot: _sqlite_begin emits BEGIN itself
    # instead (SQLAlchemy's documented recipe).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # Switching a new file to WAL fails at once, without waiting, while
    # another process holds a lock on it (say, a server creating its tables
    # as a second process opens the same file): try again for a while.
    deadline = time.monotonic() + WAL_WAIT
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.01)
    # Durable against a killed process; a power loss may undo the last
    # commits, pointer included, which a restart re-counts from the log.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    # Transactions through SQLAlchemy all write (reads use Prepared), and
    # take the write lock up front: a deferred BEGIN that upgrades later
    # fails at once with "database is locked" if another writer got there first.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def safe_url(url: str) -> str:
    """``url`` with its password hidden, parsable or not."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return re.sub(r"(//[^/:@]*:)[^/@]*@", r"\1***@", url)


def cause(exc: BaseException) -> str:
    """An error's message on one line, the driver's own when there is one."""
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    return " ".join(str(exc).split()) or type(exc).__name__
