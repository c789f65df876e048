"""The query API is declared once, by the Queries protocol: the store (with
the server's analyze), the client, the service and the shell follow it; the
vocabulary and TestStats are importable here as they were."""

from __future__ import annotations

import inspect

import pytest

from manhattan import records
from manhattan.analysis import stats
from manhattan.backend import model
from manhattan.backend.model import QUERY_NAMES, Queries
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client
from manhattan.server.service import StoreQueries


def test_query_names_are_the_protocol_methods_in_order() -> None:
    assert QUERY_NAMES == (
        "count",
        "goal_value",
        "all_tests",
        "results",
        "goals",
        "tests",
        "analyze",
        "sites",
        "rollups",
        "filtered",
        "breakdown",
        "live",
        "pages",
        "entry_pages",
        "page_totals",
        "funnels",
        "funnel",
    )


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in QUERY_NAMES])
@pytest.mark.parametrize(
    "implementation",
    [pytest.param(Client, id="client"), pytest.param(SQLStore, id="store")],
)
def test_query_signature_is_the_protocols(name: str, implementation: type) -> None:
    # Annotations compare as written (postponed): one spelling everywhere.
    declared = inspect.signature(getattr(Queries, name))
    # The store has no analyze nor live: the server composes them (StoreQueries).
    if implementation is SQLStore and name in ("analyze", "live"):
        implementation = StoreQueries

    assert inspect.signature(getattr(implementation, name)) == declared


@pytest.mark.parametrize(
    ("name", "home"),
    [
        pytest.param("ALL_SITES", records.vocabulary, id="ALL_SITES"),
        pytest.param("IMPRESSION", records.vocabulary, id="IMPRESSION"),
        pytest.param("NO_TEST", records.vocabulary, id="NO_TEST"),
        pytest.param("VIEWED_PAGE", records.vocabulary, id="VIEWED_PAGE"),
        pytest.param("TestStats", stats, id="TestStats"),
    ],
)
def test_moved_names_stay_importable_here(name: str, home: object) -> None:
    assert getattr(model, name) is getattr(home, name)
