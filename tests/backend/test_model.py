"""The query API is declared once, by the Queries protocol: the store, the
client, the service and the shell follow it."""

from __future__ import annotations

import inspect

import pytest

from manhattan.backend.model import QUERY_NAMES, Queries
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client


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
        "filtered",
        "breakdown",
    )


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in QUERY_NAMES])
@pytest.mark.parametrize(
    "implementation",
    [pytest.param(Client, id="client"), pytest.param(SQLStore, id="store")],
)
def test_query_signature_is_the_protocols(name: str, implementation: type) -> None:
    # Annotations compare as written (postponed): one spelling everywhere.
    declared = inspect.signature(getattr(Queries, name))

    assert inspect.signature(getattr(implementation, name)) == declared
