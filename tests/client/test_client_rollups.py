"""Client.rollups(): the rollups a real store has counts in, over a real service."""

from __future__ import annotations

from pathlib import Path

import pytest

from manhattan.backend.model import ALL_SITES, Batch, CounterKey
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client, ServerError
from manhattan.server.service import QueryService
from tests.client.test_client import LONG_WAIT, client_of, replying


def rollups_of(url: str, rollups: list[str]) -> list[str]:
    """What the client says of a store with one count in each of ``rollups``."""
    with SQLStore(url) as store:
        counts = {CounterKey(r, "b", ALL_SITES, "Buy", "", ""): [1, 0.0, 0.0] for r in rollups}
        if counts:
            store.commit(Batch(counts=counts))
        with (
            QueryService(store, "tcp://127.0.0.1:0") as service,
            Client(service.address, wait=LONG_WAIT) as client,
        ):
            return client.rollups()


@pytest.mark.parametrize(
    "rollups",
    [
        pytest.param([], id="nothing-counted"),
        pytest.param(["all"], id="one"),
        pytest.param(["week", "all", "plan_tier", "day"], id="custom-among-built-in"),
    ],
)
def test_rollups_are_those_with_counts_sorted(tmp_path: Path, rollups: list[str]) -> None:
    assert rollups_of(f"sqlite:///{tmp_path / 'm.db'}", rollups) == sorted(rollups)


def test_rollups_on_postgresql(postgres_url: str) -> None:
    rollups = ["week", "all", "plan_tier", "day"]
    assert rollups_of(postgres_url, rollups) == sorted(rollups)


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(b'{"result": "all"}', id="not-a-list"),
        pytest.param(b'{"result": ["all", 3]}', id="not-a-name"),
    ],
)
def test_a_malformed_reply_is_refused(reply: bytes) -> None:
    with client_of(replying(reply)) as client, pytest.raises(ServerError) as caught:
        client.rollups()
    assert caught.value.type == "MalformedReply"
