"""Declared experiments on the dashboard: the plan, the progress, the verdict
in words, warnings and the end, against a real query service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from webtest import TestApp

from manhattan.analysis.plan import Plan
from manhattan.analysis.wording import (
    PLAN_NOTE,
    WINNER,
    always_valid_span,
    plan_items,
    verdict,
)
from manhattan.backend.model import ALL_SITES, Batch, CounterKey, TestInfo, TestPlan
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client
from manhattan.dashboard import make_app
from manhattan.server.service import QueryService
from tests.dashboard.conftest import ENDED, ENDED_AT, EVIL_GOAL, PLANNED, Backend


@pytest.fixture
def app(backend: Backend) -> Iterator[TestApp]:
    with make_app(backend.address, wait=5000) as dashboard:
        yield TestApp(dashboard)


def texts(html: Any, selector: str) -> list[str]:
    """The text of each element ``selector`` finds in parsed HTML."""
    return [element.text.strip() for element in html.select(selector)]


def test_a_test_page_leads_with_plan_progress_and_verdict(app: TestApp, backend: Backend) -> None:
    page = app.get("/test", {"name": PLANNED})
    analysis = backend.client.analyze(PLANNED)
    said = verdict(analysis)
    main = page.html.select_one("main")
    order = [child.name for child in main.find_all(recursive=False)]
    # The heading, the warning of the changed plan, the plan, the verdict, then the rest.
    assert order[:4] == ["h1", "p", "section", "section"]
    assert order.index("table") > 3
    plan = main.select_one("section.plan")
    shown = [(dt.text, dd.text) for dt, dd in zip(plan("dt"), plan("dd"), strict=True)]
    assert shown == list(plan_items(analysis["plan"]))
    assert ("minimum effect", "+20% of control's rate") in shown  # the latest plan
    progress = said.progress
    assert progress is not None
    bar = plan.select_one('progress[data-field="progress"]')
    assert (int(bar["max"]), int(bar["value"])) == (progress.required, progress.visitors)
    assert float(bar["data-value"]) == analysis["plan"]["progress"]
    text = plan.select_one('[data-field="progress-text"]')
    assert text.text == f"{progress.visitors:,} of {progress.required:,} visitors per population"
    headline = main.select_one('section.verdict [data-field="verdict"]')
    assert (headline["data-value"], headline.text) == (said.status, said.headline)
    assert headline.text.startswith("keep running: about ")
    assert texts(page.html, 'section.verdict [data-field="figure"]') == list(said.figures)
    assert texts(page.html, '[data-field="note"]') == [PLAN_NOTE]
    assert texts(page.html, '[data-field="warning"]') == list(said.warnings)
    assert "the plan changed: minimum_effect 0.1 -> 0.2" in said.warnings[0]
    assert not page.html.select('[data-field="ended"]')


def test_the_table_has_the_always_valid_figures_of_the_plan_goals(
    app: TestApp, backend: Backend
) -> None:
    page = app.get("/test", {"name": PLANNED})
    analysis = backend.client.analyze(PLANNED)
    header = texts(page.html, "table.analysis thead th")
    assert "95% always-valid interval" in header
    checked = 0
    for goal in ("Purchased", "Added To Cart"):
        entry = analysis["goals"][goal]["populations"]["orange"]
        cell = page.html.select_one(
            f'tr[data-goal="{goal}"][data-population="orange"] [data-field="always_valid_p"]'
        )
        assert float(cell["data-value"]) == entry["always_valid_p"]
        assert cell.text.startswith(f"{always_valid_span(entry)} (p ")
        checked += 1
    assert checked == 2
    # A goal outside the plan's family: its p-value is shown unadjusted.
    evil = analysis["goals"][EVIL_GOAL]["populations"]["orange"]
    row = next(
        row
        for row in page.html.select("table.analysis tbody tr")
        if row["data-goal"] == EVIL_GOAL and row["data-population"] == "orange"
    )
    cell = row.select_one('[data-field="p_value"]')
    assert float(cell["data-value"]) == evil["p_value"]
    assert "unadjusted" in cell.text
    assert not row.select('[data-field="always_valid_p"]')


def test_an_ended_test_is_shown_ended_with_its_winner(app: TestApp, backend: Backend) -> None:
    analysis = backend.client.analyze(ENDED)
    assert analysis["ended"] == {"at": ENDED_AT, "winner": "banner"}
    said = verdict(analysis)
    page = app.get("/test", {"name": ENDED})
    ended = page.html.select_one('[data-field="ended"]')
    assert float(ended["data-value"]) == ENDED_AT
    assert ended.text == said.ended
    assert "serving banner to everyone" in ended.text
    headline = page.html.select_one('section.verdict [data-field="verdict"]')
    assert headline["data-value"] == said.status == WINNER
    assert headline.text == f"When it ended: {said.headline}"
    assert said.headline.startswith("banner beats none on Added To Cart: +")
    listed = app.get("/").html.select_one(f'tr[data-test="{ENDED}"]')
    assert listed.select_one('[data-field="ended"]').text == said.ended
    assert listed.select_one('[data-field="headline"]').text == f"When it ended: {said.headline}"


GUARDED_PLAN = Plan("Buy", ("Cart",), minimum_effect=0.1)


def counts(rows: dict[tuple[str, str], int]) -> dict[CounterKey, list[float]]:
    return {
        CounterKey("all", "0", ALL_SITES, goal, "Guarded", population): [visitors, 0.0, 0.0]
        for (goal, population), visitors in rows.items()
    }


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[tuple[TestApp, Client]]:
    """A test whose winner harms its guardrail, with more visitors in one
    population than their weights allow, and a goal with too few conversions."""
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.commit(
            Batch(
                counts=counts(
                    {
                        ("", "green"): 10_000,
                        ("", "orange"): 10_600,
                        ("Buy", "green"): 1000,
                        ("Buy", "orange"): 1400,
                        ("Cart", "green"): 500,
                        ("Cart", "orange"): 200,
                        ("Rare", "green"): 1,
                        ("Rare", "orange"): 2,
                    }
                ),
                tests={"Guarded": TestInfo(1.0, 2.0, weights={"green": 1.0, "orange": 1.0})},
                plans={"Guarded": TestPlan(GUARDED_PLAN.to_json(), 1.0)},
            )
        )
        with (
            QueryService(store, "tcp://127.0.0.1:0") as service,
            make_app(service.address) as dashboard,
            Client(service.address, wait=5000) as client,
        ):
            yield TestApp(dashboard), client


def test_harmed_guardrails_and_mismatches_are_flagged_on_both_pages(
    guarded: tuple[TestApp, Client],
) -> None:
    app, client = guarded
    said = verdict(client.analyze("Guarded"))
    page = app.get("/test", {"name": "Guarded"})
    harmed = texts(page.html, '[data-field="harmed"]')
    assert harmed == list(said.harmed)
    assert harmed[0].startswith("guardrail Cart harmed by orange: -6")
    assert page.html.select_one('[data-field="srm"]')["data-value"] == "mismatch"
    assert texts(page.html, 'section.verdict [data-field="verdict"]')[0].startswith(
        "orange beats green on Buy: +"
    )
    # Rows without enough data show no lift.
    rare = page.html.select_one('tr[data-goal="Rare"][data-population="orange"]')
    assert not rare.select('[data-field="lift"]')
    assert "not enough data" in rare.text
    listed = app.get("/").html.select_one('tr[data-test="Guarded"]')
    assert texts(listed, '[data-field="harmed"]') == harmed
    assert listed.select_one('[data-field="srm"]')["data-value"] == "mismatch"
    progress = listed.select_one('[data-field="progress"]')
    assert progress.text.startswith("10,000 of ")


@pytest.mark.parametrize(
    ("lower", "marked", "harmed"),
    [
        pytest.param((), [], "guardrail Cart harmed by orange: -6", id="all-better-higher"),
        pytest.param(("Cart",), ["Cart"], "", id="guardrail-better-lower"),
        pytest.param(("Buy", "Cart"), ["Buy", "Cart"], "", id="goal-and-guardrail-better-lower"),
    ],
)
def test_goals_better_lower_are_marked_on_the_test_page(
    tmp_path: Path, lower: tuple[str, ...], marked: list[str], harmed: str
) -> None:
    plan = Plan("Buy", ("Cart",), minimum_effect=0.1, lower_is_better=lower)
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.commit(
            Batch(
                counts=counts(
                    {
                        ("", "green"): 10_000,
                        ("", "orange"): 10_000,
                        ("Buy", "green"): 1000,
                        ("Buy", "orange"): 1400,
                        ("Cart", "green"): 500,
                        ("Cart", "orange"): 200,
                    }
                ),
                tests={"Guarded": TestInfo(1.0, 2.0, weights={"green": 1.0, "orange": 1.0})},
                plans={"Guarded": TestPlan(plan.to_json(), 1.0)},
            )
        )
        with (
            QueryService(store, "tcp://127.0.0.1:0") as service,
            make_app(service.address) as dashboard,
            Client(service.address, wait=5000) as client,
        ):
            analysis = client.analyze("Guarded")
            page = TestApp(dashboard).get("/test", {"name": "Guarded"})
    said = verdict(analysis)
    box = page.html.select_one("section.plan")
    shown = [(dt.text, dd.text) for dt, dd in zip(box("dt"), box("dd"), strict=True)]
    assert shown == list(plan_items(analysis["plan"]))
    goal, guardrails = shown[0][1], shown[1][1]
    assert goal.endswith("(lower is better)") is ("Buy" in lower)
    assert guardrails.endswith("(lower is better)") is ("Cart" in lower)
    tagged = [
        row["data-goal"]
        for row in page.html.select("table.analysis tbody tr")
        if row.select('[data-field="lower-is-better"]')
    ]
    assert tagged == marked
    assert texts(page.html, '[data-field="harmed"]') == list(said.harmed)
    assert [text[: len(harmed)] for text in said.harmed] == ([harmed] if harmed else [])
    headline = page.html.select_one('section.verdict [data-field="verdict"]').text
    assert headline == said.headline
    # More buyers: orange wins when buying is better higher, green when lower.
    assert headline.startswith("green (control)" if "Buy" in lower else "orange beats")
