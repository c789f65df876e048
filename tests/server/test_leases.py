"""LeaseKeeper, GuardedStore and take_free on a real SQLite file and the
real PostgreSQL (and a real Redis for the stream reader)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Connection, update

from manhattan.backend.model import Batch
from manhattan.backend.persistence import SQLStore
from manhattan.backend.persistence import lease as sql
from manhattan.backend.persistence.lease import Holder, Lease, LeaseLostError
from manhattan.backend.persistence.schema import leases
from manhattan.log.streamreader import PartitionsRevokedError, StreamReader
from manhattan.server.leases import (
    FILE_LOG,
    GuardedStore,
    LeaseKeeper,
    balance,
    drop_lost,
    member_prefix,
    partition_names,
    refusal,
    take_free,
)
from tests.conftest import RedisURL

WAIT = 10.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'leases.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    with SQLStore(url) as opened:
        yield opened


def stolen(store: SQLStore, name: str, by: Holder) -> None:
    """``by`` takes ``name`` over as if its lease had run out."""

    def steal(conn: Connection) -> None:
        conn.execute(update(leases).where(leases.c.name == name).values(expires=0.0))
        assert sql.acquire(conn, name, by, 60).holder == by.token

    store.commit(Batch(), guard=steal)


OTHER = Holder("elsewhere:7:cafe", "elsewhere", 7)


def test_acquire_then_another_keeper_is_refused_naming_the_holder(store: SQLStore) -> None:
    first, second = LeaseKeeper(store, 30), LeaseKeeper(store, 30)
    assert first.acquire([FILE_LOG]) == {}
    assert first.held == {FILE_LOG}
    refused = second.acquire([FILE_LOG, "other"])
    assert list(refused) == [FILE_LOG]
    assert refused[FILE_LOG].holder == first.holder.token
    assert second.held == {"other"}
    message = refusal(refused, store.url)
    assert message.startswith(
        f"another manhattan-server counts this into {store.url} (lease log is held by "
        f"{first.holder.host} pid {os.getpid()} since "
    )
    assert message.endswith(
        " unless renewed): stop that one, or if it died, start this one again once the "
        "lease has expired"
    )
    first.release()
    assert second.acquire([FILE_LOG]) == {}
    assert first.read([FILE_LOG, "none"])[FILE_LOG].holder == second.holder.token


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(
    ("where", "gone"),
    [
        pytest.param("dead-here", True, id="ended-process-on-this-host"),
        pytest.param("alive-here", False, id="live-process-on-this-host"),
        pytest.param("elsewhere", False, id="other-host"),
        pytest.param("mine", False, id="this-keeper"),
    ],
)
def test_a_holder_gone_from_this_host_is_taken_over_at_once(
    store: SQLStore, where: str, gone: bool
) -> None:
    keeper = LeaseKeeper(store, 30)
    me = keeper.holder
    holder = {
        "dead-here": Holder("x", me.host, dead_pid()),
        "alive-here": Holder("y", me.host, os.getppid()),
        "elsewhere": OTHER,
        "mine": me,
    }[where]
    store.commit(Batch(), guard=lambda conn: sql.acquire(conn, FILE_LOG, holder, 60))
    lease = keeper.read([FILE_LOG])[FILE_LOG]
    assert keeper.gone(lease) is gone
    taken = keeper.acquire([FILE_LOG]) == {}
    assert taken is (gone or where == "mine")


def test_another_users_process_counts_as_alive(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    keeper = LeaseKeeper(store, 30)

    def not_permitted(pid: int, signal: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "kill", not_permitted)
    lease = Lease(FILE_LOG, "z", keeper.holder.host, 1, 0.0, 1.0, True)
    assert not keeper.gone(lease)


def test_a_commit_while_held_renews_and_goes_through(store: SQLStore) -> None:
    keeper = LeaseKeeper(store, 30)
    keeper.acquire([FILE_LOG])
    before = keeper.read([FILE_LOG])[FILE_LOG].expires
    time.sleep(0.01)
    guarded = GuardedStore(store, keeper)
    guarded.commit(Batch(filtered={"crawler": 1}, pointer="events.1:10"))
    assert keeper.read([FILE_LOG])[FILE_LOG].expires > before
    assert (guarded.load_pointer(), guarded.load_visitors(["v"])) == ("events.1:10", {})
    assert guarded.load_pointers(["stream:s:0"]) == {}
    assert store.filtered() == {"crawler": 1}


def test_a_commit_after_the_lease_was_taken_commits_nothing(store: SQLStore) -> None:
    keeper = LeaseKeeper(store, 30)
    keeper.acquire([FILE_LOG, "stream:s:1"])
    stolen(store, FILE_LOG, OTHER)
    guarded = GuardedStore(store, keeper)
    with pytest.raises(LeaseLostError, match="now held by elsewhere pid 7 since ") as info:
        guarded.commit(Batch(filtered={"crawler": 1}, pointer="events.1:10"))
    assert info.value.names == [FILE_LOG]
    assert (store.filtered(), store.load_pointer()) == ({}, None)
    assert (keeper.held, keeper.lost) == ({"stream:s:1"}, {FILE_LOG})
    # Lost stays lost, even without asking the database again.
    with pytest.raises(LeaseLostError, match="lease log was lost"):
        guarded.commit(Batch(filtered={"crawler": 1}))
    keeper.forget([FILE_LOG])
    assert keeper.mine() == {"stream:s:1"}
    guarded.commit(Batch(filtered={"crawler": 1}))
    assert store.filtered() == {"crawler": 1}


def test_renewal_in_the_background_reports_what_was_lost(store: SQLStore) -> None:
    keeper = LeaseKeeper(store, 0.15)
    keeper.acquire([FILE_LOG, "kept"])
    lost: list[LeaseLostError] = []
    ticks = threading.Semaphore(0)
    keeper.start(lost.append, ticks.release)
    try:
        assert ticks.acquire(timeout=WAIT)
        assert ticks.acquire(timeout=WAIT)  # renewed twice: still held past its 0.15 s
        assert keeper.read(["kept"])["kept"].live
        stolen(store, FILE_LOG, OTHER)
        deadline = time.monotonic() + WAIT
        while not lost:
            assert time.monotonic() < deadline, "the loss was not seen"
            ticks.acquire(timeout=WAIT)
    finally:
        keeper.stop()
    assert [error.names for error in lost] == [[FILE_LOG]]
    assert lost[0].current[FILE_LOG].holder == OTHER.token
    assert keeper.held == {"kept"}
    keeper.release()
    assert keeper.read([FILE_LOG, "kept"]).keys() == {FILE_LOG}


def test_a_failing_tick_is_logged_and_renewal_goes_on(
    store: SQLStore, caplog: pytest.LogCaptureFixture
) -> None:
    keeper = LeaseKeeper(store, 0.15)
    keeper.acquire([FILE_LOG])
    ticks = threading.Semaphore(0)

    def tick() -> None:
        ticks.release()
        raise RuntimeError("no luck")

    with caplog.at_level(logging.ERROR, logger="manhattan.server"):
        keeper.start(lambda lost: None, tick)
        try:
            assert ticks.acquire(timeout=WAIT)
            assert ticks.acquire(timeout=WAIT)
        finally:
            keeper.stop()
    assert "renewing leases failed (no luck); trying again" in caplog.messages
    keeper.stop()  # stopping twice is harmless


def test_a_lease_must_last(store: SQLStore) -> None:
    with pytest.raises(ValueError, match="positive number of seconds, not 0"):
        LeaseKeeper(store, 0)
    LeaseKeeper(store, 1).stop()  # never started: nothing to stop


@pytest.fixture
def client(redis_url: RedisURL) -> Iterator[redis.Redis]:
    conn = redis.Redis.from_url(redis_url, socket_timeout=5)
    yield conn
    conn.close()


def test_take_free_takes_what_no_live_worker_holds(
    store: SQLStore, client: redis.Redis, redis_url: RedisURL
) -> None:
    stream = f"{redis_url.prefix}events"
    reader = StreamReader(client, stream, [])
    names = partition_names(reader, range(4))
    assert list(names) == [f"stream:{stream}:{i}" for i in range(4)]
    keeper = LeaseKeeper(store, 30)
    other = LeaseKeeper(store, 30)
    assert other.acquire([f"stream:{stream}:1"]) == {}
    store.commit(Batch(pointers={f"stream:{stream}:2": "5-0", f"stream:{stream}:1": "9-0"}))
    # Partition 3's holder is out of time: free.
    store.commit(Batch(), guard=lambda conn: sql.acquire(conn, f"stream:{stream}:3", OTHER, -1))
    assert take_free(keeper, reader, range(4)) == [0, 2, 3]
    assert list(reader.batches(None)) == []  # the stream is empty; the takes apply
    assert reader.partitions == [0, 2, 3]
    assert take_free(keeper, reader, range(4)) == []  # nothing more is free
    other.release()
    assert take_free(keeper, reader, [0, 1]) == [1]
    assert keeper.held == set(names)
    assert take_free(keeper, reader, range(4)) == []  # all are this one's


def member(store: SQLStore, stream: str, holder: Holder, seconds: float = 60) -> None:
    """``holder`` is a member worker of ``stream`` (``seconds`` < 0: a dead one)."""
    name = f"member:{stream}:{holder.token}"
    store.commit(Batch(), guard=lambda conn: sql.acquire(conn, name, holder, seconds))


def test_balance_alone_takes_every_partition_and_joins(
    store: SQLStore, client: redis.Redis, redis_url: RedisURL
) -> None:
    stream = f"{redis_url.prefix}events"
    reader, keeper = StreamReader(client, stream, []), LeaseKeeper(store, 30)
    member(store, stream, OTHER, seconds=-1)  # died long ago: not counted, and cleared
    assert balance(keeper, reader, 4) == [0, 1, 2, 3]
    assert keeper.read_prefix(member_prefix(reader)).keys() == {
        f"member:{stream}:{keeper.holder.token}"
    }
    assert balance(keeper, reader, 4) == []  # nothing changes


def test_balance_takes_a_fair_share_and_gives_up_what_is_above_it(
    store: SQLStore, client: redis.Redis, redis_url: RedisURL
) -> None:
    stream = f"{redis_url.prefix}events"
    reader, keeper = StreamReader(client, stream, []), LeaseKeeper(store, 30)
    assert balance(keeper, reader, 5) == [0, 1, 2, 3, 4]
    assert list(reader.batches(None)) == []  # the takes apply
    member(store, stream, OTHER)  # a second worker: ceil(5 / 2) = 3 each
    assert balance(keeper, reader, 5) == []
    names = partition_names(reader, range(5))
    assert keeper.lost == {name for name, i in names.items() if i in (3, 4)}
    with pytest.raises(PartitionsRevokedError):
        list(reader.batches(None))
    # The worker forgets what it counted, then lets them go.
    assert drop_lost(keeper, reader, 5) == [3, 4]
    assert (reader.partitions, keeper.lost) == ([0, 1, 2], set())
    assert set(keeper.read(list(names))) == {name for name, i in names.items() if i < 3}
    # The other worker dies; its member lease runs out with its partitions.
    member(store, stream, OTHER, seconds=-1)
    assert balance(keeper, reader, 5) == [3, 4]


def test_drop_lost_gives_up_what_the_reader_revoked(
    store: SQLStore, client: redis.Redis, redis_url: RedisURL
) -> None:
    stream = f"{redis_url.prefix}events"
    reader, keeper = StreamReader(client, stream, []), LeaseKeeper(store, 30)
    assert balance(keeper, reader, 2) == [0, 1]
    assert list(reader.batches(None)) == []
    assert drop_lost(keeper, reader, 2, revoked=[1]) == [1]
    assert reader.partitions == [0]
    assert keeper.read([f"stream:{stream}:1"]) == {}


def test_partitions_that_cannot_be_released_expire_and_are_logged(
    tmp_path: Path, client: redis.Redis, redis_url: RedisURL, caplog: pytest.LogCaptureFixture
) -> None:
    stream = f"{redis_url.prefix}events"
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        reader, keeper = StreamReader(client, stream, []), LeaseKeeper(store, 30)
        assert balance(keeper, reader, 1) == [0]
        keeper.give_up([f"stream:{stream}:0"])
        store.commit(Batch(), guard=lambda conn: conn.exec_driver_sql("DROP TABLE leases"))
        with caplog.at_level(logging.ERROR, logger="manhattan.server"):
            assert drop_lost(keeper, reader, 1) == [0]
    [message] = caplog.messages
    assert message.startswith("could not release partitions [0] (commit failed on ")
