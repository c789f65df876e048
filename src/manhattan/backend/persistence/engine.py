"""Opening an SQLAlchemy engine on SQLite or PostgreSQL, and turning
database errors into :class:`StoreError` messages."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, cast

from sqlalchemy import Connection, Dialect, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


class StoreError(RuntimeError):
    """The database cannot be opened or used; the message names its URL
    (password hidden) and the cause."""


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
    cursor.execute("PRAGMA journal_mode=WAL")
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
