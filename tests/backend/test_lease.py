"""The lease statements, on SQLite and on the real PostgreSQL.

An expired lease is made by taking it for a negative number of seconds:
it expires before it is read, with no sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import Engine

from manhattan.backend.persistence import SQLStore
from manhattan.backend.persistence import lease as sql
from manhattan.backend.persistence.lease import Holder, Lease, LeaseLostError, format_time

ME = Holder("host-a:10:aaaa", "host-a", 10)
OTHER = Holder("host-b:20:bbbb", "host-b", 20)
HOLDERS = {"me": ME, "other": OTHER}


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An engine on a fresh database holding the store's tables."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'leases.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    SQLStore(url).close()  # creates the tables, leases among them
    engine = sqlalchemy.create_engine(url)
    yield engine
    engine.dispose()


def take(engine: Engine, holder: Holder, seconds: float, name: str = "log") -> Lease:
    with engine.begin() as conn:
        return sql.acquire(conn, name, holder, seconds)


@pytest.mark.parametrize(
    ("before", "holder"),
    [
        pytest.param(None, "me", id="free"),
        pytest.param(("other", 60), "other", id="held-by-another"),
        pytest.param(("other", -1), "me", id="expired-is-taken-over"),
        pytest.param(("me", 60), "me", id="held-by-me"),
        pytest.param(("me", -1), "me", id="expired-mine"),
    ],
)
def test_acquire(engine: Engine, before: tuple[str, float] | None, holder: str) -> None:
    if before is not None:
        take(engine, HOLDERS[before[0]], before[1])
    started = time.time()
    lease = take(engine, ME, 30)
    assert (lease.name, lease.holder, lease.live) == ("log", HOLDERS[holder].token, True)
    assert (lease.host, lease.pid) == (HOLDERS[holder].host, HOLDERS[holder].pid)
    if holder == "me":
        # The database's clock, which here is this machine's.
        assert lease.expires - lease.since == pytest.approx(30, abs=1)
        assert started - 5 < lease.since < time.time() + 5


@pytest.mark.parametrize(
    ("before", "lost"),
    [
        pytest.param(("me", 60), set(), id="held"),
        pytest.param(("me", -1), set(), id="expired-but-not-taken"),
        pytest.param(("other", 60), {"log"}, id="taken-over"),
        pytest.param(None, {"log"}, id="released"),
    ],
)
def test_renew(engine: Engine, before: tuple[str, float] | None, lost: set[str]) -> None:
    take(engine, ME, 60, name="other-lease")
    if before is not None:
        take(engine, HOLDERS[before[0]], before[1])
    with engine.begin() as conn:
        assert sql.renew(conn, ["log", "other-lease"], ME, 120) == lost
        leases = sql.read(conn, ["log", "other-lease"])
    assert leases["other-lease"].expires - leases["other-lease"].since == pytest.approx(120, abs=1)
    if not lost:
        assert leases["log"].live
        assert leases["log"].expires - time.time() == pytest.approx(120, abs=5)


def test_renew_nothing_is_nothing(engine: Engine) -> None:
    with engine.begin() as conn:
        assert sql.renew(conn, [], ME, 10) == set()
        assert sql.read(conn, []) == {}


def test_a_renewal_rolled_back_extends_nothing(engine: Engine) -> None:
    take(engine, ME, -1)
    with engine.connect() as conn:
        transaction = conn.begin()
        assert sql.renew(conn, ["log"], ME, 60) == set()
        transaction.rollback()
    assert take(engine, OTHER, 30).holder == OTHER.token


def test_release_deletes_only_the_holders_own(engine: Engine) -> None:
    take(engine, ME, 60)
    take(engine, OTHER, 60, name="theirs")
    with engine.begin() as conn:
        sql.release(conn, ["log", "theirs"], ME)
        sql.release(conn, [], ME)
        assert list(sql.read(conn, ["log", "theirs"])) == ["theirs"]
    assert take(engine, OTHER, 60).holder == OTHER.token


@pytest.mark.parametrize(
    ("previous", "taken"),
    [
        pytest.param(OTHER.token, True, id="still-the-dead-holders"),
        pytest.param("someone-else", False, id="changed-since"),
    ],
)
def test_take_over_from_a_dead_holder(engine: Engine, previous: str, taken: bool) -> None:
    take(engine, OTHER, 60)
    with engine.begin() as conn:
        assert sql.take_over(conn, "log", ME, 30, previous) is taken
        lease = sql.read(conn, ["log"])["log"]
    assert lease.holder == (ME if taken else OTHER).token


def test_read_tells_live_from_expired(engine: Engine) -> None:
    take(engine, ME, 60, name="live")
    take(engine, ME, -1, name="expired")
    with engine.begin() as conn:
        found = sql.read(conn, ["live", "expired", "absent"])
    assert {name: lease.live for name, lease in found.items()} == {
        "live": True,
        "expired": False,
    }


def test_holder_of_this_process() -> None:
    one, two = Holder.this_process(), Holder.this_process()
    assert one.token != two.token  # each keeper its own
    assert (one.host, one.pid) == (two.host, two.pid)
    assert one.token.startswith(f"{one.host}:{one.pid}:")


@pytest.mark.parametrize(
    ("current", "message"),
    [
        pytest.param(
            {"log": Lease("log", "t", "db-1", 42, 0.0, 30.0, True)},
            "lease log was lost (now held by db-1 pid 42 since 1970-01-01 00:00:00 UTC)",
            id="taken",
        ),
        pytest.param({}, "lease log was lost (released)", id="released"),
    ],
)
def test_lease_lost_names_the_new_holder(current: dict[str, Lease], message: str) -> None:
    lost = LeaseLostError({"log"}, current)
    assert (str(lost), lost.names, lost.current) == (message, ["log"], current)


def test_format_time() -> None:
    assert format_time(1_764_626_113.9) == "2025-12-01 21:55:13 UTC"
