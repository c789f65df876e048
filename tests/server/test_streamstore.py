"""StreamStore: a store as a worker reading Redis stream partitions sees
it, against a real Redis and an SQLite store."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from manhattan.backend.model import Batch
from manhattan.backend.persistence import SQLStore
from manhattan.log.redisstream import stream_key
from manhattan.log.streamreader import StreamReader
from manhattan.server.streamstore import StreamStore
from tests.log.streams import filled_stream, rec, redis_client, stream_name  # noqa: F401


def test_stream_store_keeps_one_pointer_per_partition(
    client: redis.Redis, stream: str, tmp_path: Path
) -> None:
    s = stream
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        low = StreamStore(store, StreamReader(client, s, [0, 1]))
        high = StreamStore(store, StreamReader(client, s, [2]))
        everything = StreamStore(store, StreamReader(client, s, [0, 1, 2]))
        assert low.load_pointer() is None
        batch = Batch(filtered={"crawler": 1}, pointer="0=4-0;1=5-1")
        low.commit(batch)
        assert (batch.pointer, batch.pointers) == (
            None,
            {f"stream:{s}:0": "4-0", f"stream:{s}:1": "5-1"},
        )
        high.commit(Batch(filtered={"crawler": 2}, pointer="2=9-0"))
        high.commit(Batch(filtered={"crawler": 4}))  # no pointer: positions unchanged
        assert low.load_pointer() == "0=4-0;1=5-1"
        assert high.load_pointer() == "2=9-0"
        assert everything.load_pointer() == "0=4-0;1=5-1;2=9-0"
        assert store.load_pointer() is None  # the file log's pointer is untouched
        assert store.filtered() == {"crawler": 7}
        store.commit(Batch(visitors={"v": "{}"}))
        assert low.load_visitors(["v", "w"]) == {"v": "{}"}


def entry_ids(client: redis.Redis, stream: str, partition: int) -> list[str]:
    return [entry_id.decode() for entry_id, _ in client.xrange(stream_key(stream, partition))]


@pytest.mark.parametrize(
    ("trim", "left"),
    [
        pytest.param(True, (["2-0"], ["6-0", "7-0"]), id="trimmed-below-the-commit"),
        pytest.param(False, (["1-0", "2-0"], ["5-0", "6-0", "7-0"]), id="kept"),
    ],
)
def test_a_commit_trims_what_it_made_safe(
    client: redis.Redis, filled: str, tmp_path: Path, trim: bool, left: tuple[list[str], ...]
) -> None:
    reader = StreamReader(client, filled, [0, 1], trim=trim)
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        StreamStore(store, reader).commit(Batch(filtered={"crawler": 1}, pointer="0=2-0;1=6-0"))
        assert store.load_pointers([f"stream:{filled}:0"]) == {f"stream:{filled}:0": "2-0"}
    assert (entry_ids(client, filled, 0), entry_ids(client, filled, 1)) == left
    assert entry_ids(client, filled, 2) == ["3-0"]  # not this reader's
    # What is left is exactly what a reader resuming from the commit reads next.
    resumed = list(StreamReader(client, filled, [0, 1]).batches("0=2-0;1=6-0"))
    assert resumed == [([rec("d", 7)], 0, "0=2-0;1=7-0")]


def test_a_trim_that_fails_keeps_the_commit_and_is_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = redis.Redis(port=port, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        stream_store = StreamStore(store, StreamReader(gone, "events", [0]))
        with caplog.at_level(logging.WARNING, logger="manhattan.server.streamstore"):
            stream_store.commit(Batch(filtered={"crawler": 1}, pointer="0=2-0"))
        assert stream_store.load_pointer() == "0=2-0"
        assert store.filtered() == {"crawler": 1}
    [warning] = caplog.records
    assert warning.getMessage().startswith("could not trim stream events (")
    gone.close()
