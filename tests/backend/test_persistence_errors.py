"""Commit failures, told apart: those worth another try raise
``TransientStoreError``, those the database would refuse again raise
``CommitRefusedError``. On real SQLite files and the real PostgreSQL."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import psycopg
import pytest
import sqlalchemy
from sqlalchemy.exc import DBAPIError, DisconnectionError, IntegrityError, OperationalError

from manhattan.backend.model import Batch, CounterKey
from manhattan.backend.persistence import SQLStore
from manhattan.backend.persistence.engine import (
    CommitRefusedError,
    TransientStoreError,
    is_transient,
)

# 3000 bytes that do not compress: PostgreSQL's b-tree cannot index them.
_RNG = random.Random(1)
RANDOM_CJK = "".join(chr(0x4E00 + _RNG.randrange(20_000)) for _ in range(1000))


def counter(goal: str = "buy", site: int = 1) -> Batch:
    return Batch(counts={CounterKey("all", "0", site, goal, "", ""): [1, 2.0, 4.0]})


def test_a_locked_sqlite_database_is_worth_another_try(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with SQLStore(f"sqlite:///{path}?timeout=0.05") as store:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(TransientStoreError, match="database is locked"):
                store.commit(counter())
        finally:
            other.execute("ROLLBACK")
            other.close()
        store.commit(counter())  # the lock is gone: the same batch passes
        assert store.count("buy", site_id=1) == 1


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        pytest.param(counter("x\udc80"), "surrogates not allowed", id="lone-surrogate"),
        pytest.param(counter(site=2**63), "too large", id="site-beyond-64-bits"),
    ],
)
def test_sqlite_refuses_what_it_cannot_store(tmp_path: Path, batch: Batch, message: str) -> None:
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        with pytest.raises(CommitRefusedError, match=message) as raised:
            store.commit(batch)
        assert str(raised.value).startswith(f"commit failed on sqlite:///{tmp_path / 'm.db'}: ")
        assert str(raised.value).endswith("(refused: trying again cannot help)")
        store.commit(counter())  # nothing else is stuck
        assert store.count("buy", site_id=1) == 1


def test_a_missing_table_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with SQLStore(f"sqlite:///{path}") as store:
        with sqlite3.connect(path) as other:
            other.execute("DROP TABLE counts")
        with pytest.raises(CommitRefusedError, match="no such table: counts"):
            store.commit(counter())


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        pytest.param(counter("x\x00"), "NUL", id="nul"),
        pytest.param(counter("x\udc80"), "surrogates not allowed", id="lone-surrogate"),
        pytest.param(counter(site=2**31), "out of range", id="site-beyond-32-bits"),
        pytest.param(counter(RANDOM_CJK), "btree", id="over-long-key"),
    ],
)
def test_postgresql_refuses_what_it_cannot_store(
    postgres_url: str, batch: Batch, message: str
) -> None:
    with SQLStore(postgres_url) as store:
        with pytest.raises(CommitRefusedError, match=message):
            store.commit(batch)
        store.commit(counter())
        assert store.count("buy", site_id=1) == 1


def test_a_postgresql_lock_timeout_is_worth_another_try(postgres_url: str) -> None:
    SQLStore(postgres_url).close()  # the tables exist
    url = postgres_url.replace("?options=", "?options=-clock_timeout%3D100%20")
    dsn = sqlalchemy.make_url(postgres_url).set(drivername="postgresql", query={})
    search_path = postgres_url.rpartition("search_path%3D")[2]
    with psycopg.connect(dsn.render_as_string(hide_password=False)) as admin:
        admin.execute(f'SET search_path = "{search_path}"')
        admin.execute("LOCK TABLE counts IN ACCESS EXCLUSIVE MODE")  # until rollback
        with SQLStore(url) as store:
            with pytest.raises(TransientStoreError, match="lock timeout"):
                store.commit(counter())
            admin.rollback()
            store.commit(counter())
            assert store.count("buy", site_id=1) == 1


def wrapped(orig: BaseException, kind: type[DBAPIError] = OperationalError) -> DBAPIError:
    return kind("INSERT ...", {}, orig)  # type: ignore[arg-type]


def pg(sqlstate: str) -> BaseException:
    """psycopg's own exception class for a SQLSTATE, as the server sends them."""
    return psycopg.errors.lookup(sqlstate)(sqlstate)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        pytest.param(DisconnectionError("pool"), True, id="pool-disconnect"),
        pytest.param(sqlalchemy.exc.TimeoutError("pool"), True, id="pool-timeout"),
        pytest.param(wrapped(psycopg.OperationalError("closed")), True, id="no-sqlstate"),
        pytest.param(wrapped(pg("08006")), True, id="connection-failure"),
        pytest.param(wrapped(pg("40001")), True, id="serialization"),
        pytest.param(wrapped(pg("40P01")), True, id="deadlock"),
        pytest.param(wrapped(pg("53100")), True, id="disk-full"),
        pytest.param(wrapped(pg("57P01")), True, id="admin-shutdown"),
        pytest.param(wrapped(pg("42P01")), False, id="undefined-table"),
        pytest.param(wrapped(pg("22003"), IntegrityError), False, id="out-of-range"),
        pytest.param(sqlite3.OperationalError("database is locked"), False, id="no-sqlite-code"),
        pytest.param(ValueError("a bad value"), False, id="not-a-database-error"),
    ],
)
def test_which_errors_are_transient(error: BaseException, transient: bool) -> None:
    assert is_transient(error) is transient


def test_an_invalidated_connection_is_transient() -> None:
    error = DBAPIError("INSERT ...", {}, psycopg.Error("gone"), connection_invalidated=True)
    assert is_transient(error)


def test_sqlite_result_codes_decide() -> None:
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorcode = 5  # type: ignore[attr-defined]
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = 13  # type: ignore[attr-defined]
    extended = sqlite3.OperationalError("disk I/O error")
    extended.sqlite_errorcode = 10 | (3 << 8)  # type: ignore[attr-defined]  # IOERR_WRITE
    readonly = sqlite3.OperationalError("attempt to write a readonly database")
    readonly.sqlite_errorcode = 8  # type: ignore[attr-defined]
    assert [is_transient(wrapped(e)) for e in (busy, full, extended, readonly)] == [
        True,
        True,
        True,
        False,
    ]
