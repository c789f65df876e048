"""The dashboard and value totals that overflowed (stored before values were
bounded): the test page renders, with the value figures left empty."""

from __future__ import annotations

import math
from pathlib import Path

from webtest import TestApp

from manhattan.backend.model import ALL_SITES, Batch, CounterKey, GoalInfo, TestInfo
from manhattan.backend.persistence import SQLStore
from manhattan.dashboard import make_app
from manhattan.server.service import QueryService


def test_a_test_whose_value_totals_overflowed_still_renders(tmp_path: Path) -> None:
    rows = {
        ("", "a"): (400, 0.0, 0.0),
        ("", "b"): (400, 0.0, 0.0),
        ("Bought", "a"): (50, 500.0, 5000.0),
        ("Bought", "b"): (60, math.inf, math.inf),
    }
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.commit(
            Batch(
                counts={
                    CounterKey("all", "0", ALL_SITES, goal, "T", population): list(value)
                    for (goal, population), value in rows.items()
                },
                goals={"Bought": GoalInfo("S", "C", 1.0, 2.0)},
                tests={"T": TestInfo(1.0, 2.0, weights={"a": 1.0, "b": 1.0})},
            )
        )
        with (
            QueryService(store, "tcp://127.0.0.1:0") as service,
            make_app(service.address) as dashboard,
        ):
            page = TestApp(dashboard).get("/test", {"name": "T"}, status=200)
    cells = page.html.select('[data-field="conversions"]')
    assert [cell["data-value"] for cell in cells] == ["50", "60"]
    # b's value figures overflowed: none shown for them, a's stand.
    per_visitor = [cell["data-value"] for cell in page.html.select('[data-field="per_visitor"]')]
    assert per_visitor == ["1.25", "None"]
