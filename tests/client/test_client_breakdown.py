"""Client.sites() and Client.breakdown() against a real service over a real store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from manhattan.backend.model import ALL_SITES, Batch, CounterKey
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client, ServerError
from manhattan.server.service import QueryService
from tests.client.test_client import LONG_WAIT, client_of, replying


@pytest.fixture
def client(tmp_path) -> Iterator[Client]:  # type: ignore[no-untyped-def]
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.commit(
            Batch(
                counts={
                    CounterKey("all", "0", 4, "Buy", "", ""): [2, 3.0, 0.0],
                    CounterKey("all", "0", ALL_SITES, "Buy", "", ""): [2, 3.0, 0.0],
                    CounterKey("day", "2026-11-28", ALL_SITES, "", "T", "a"): [9, 0.0, 0.0],
                    CounterKey("day", "2026-11-28", ALL_SITES, "Buy", "T", "a"): [2, 3.5, 0.0],
                }
            )
        )
        with (
            QueryService(store, "tcp://127.0.0.1:0") as service,
            Client(service.address, wait=LONG_WAIT) as client,
        ):
            yield client


def test_sites(client: Client) -> None:
    assert client.sites() == [4]


def test_breakdown_comes_back_as_the_store_answers(client: Client) -> None:
    assert client.breakdown("day", ("Buy",), "T") == {
        "2026-11-28": {"a": {"": [9, 0.0], "Buy": [2, 3.5]}}
    }
    assert client.breakdown("day", ["Buy"], site_id=4, limit=5, order="visitors") == {}


def test_bad_breakdown_is_a_query_error(client: Client) -> None:
    with pytest.raises(ServerError, match="limit must be an int from 1 to 400") as caught:
        client.breakdown("day", ["Buy"], limit=1000)
    assert caught.value.type == "QueryError"


@pytest.mark.parametrize(
    ("method", "reply"),
    [
        pytest.param("sites", b'{"result": [1, "2"]}', id="sites-str"),
        pytest.param("sites", b'{"result": {}}', id="sites-object"),
        pytest.param("breakdown", b'{"result": []}', id="breakdown-list"),
        pytest.param("breakdown", b'{"result": {"d": []}}', id="bucket-list"),
        pytest.param("breakdown", b'{"result": {"d": {"a": [1]}}}', id="population-list"),
        pytest.param("breakdown", b'{"result": {"d": {"a": {"g": [1]}}}}', id="short-cell"),
        pytest.param("breakdown", b'{"result": {"d": {"a": {"g": [1.5, 2]}}}}', id="float-n"),
        pytest.param("breakdown", b'{"result": {"d": {"a": {"g": [1, "x"]}}}}', id="str-total"),
    ],
)
def test_malformed_results_are_refused(method: str, reply: bytes) -> None:
    with client_of(replying(reply)) as client:
        call = client.sites if method == "sites" else lambda: client.breakdown("day", ["g"])
        with pytest.raises(ServerError) as caught:
            call()
    assert caught.value.type == "MalformedReply"


def test_null_totals_are_nan() -> None:
    reply = b'{"result": {"d": {"a": {"g": [1, null]}}}}'
    with client_of(replying(reply)) as client:
        cell = client.breakdown("day", ["g"])["d"]["a"]["g"]
    assert cell[0] == 1
    assert cell[1] != cell[1]  # NaN
