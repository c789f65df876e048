"""A real query service over an SQLite store filled by the real aggregator,
for the dashboard's tests."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

import pytest

from manhattan.analysis.plan import Plan
from manhattan.backend.aggregate import Aggregator
from manhattan.backend.funnels import parse_funnel
from manhattan.backend.model import Rollup
from manhattan.backend.pages import PageCounter
from manhattan.backend.persistence import SQLStore
from manhattan.backend.rollups import FunctionRollup, default_rollups
from manhattan.client import Client
from manhattan.server.service import QueryService, StoreQueries
from manhattan.visitor.populations import weights_field
from manhattan.visitor.records import (
    CURRENCY,
    SUM,
    Record,
    format_timestamp,
    goal_record,
    page_record,
    pixel_record,
    split_record,
)

START = 1_764_000_000.0  # 2025-11-24 16:00 UTC
DAY = 86_400.0
BUTTON = "Button color"
EVIL_TEST = "<script>alert(1)</script>"
EVIL_POPULATION = '"><img src=x onerror=alert(2)>'
EVIL_GOAL = "<b>bold</b> & 'quoted'"
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
)
REFERRERS = ("https://www.google.com/search?q=x", "", "https://news.example.org/a")
PLANNED = "Planned checkout"
"""A declared experiment still running, whose plan changed on day 3."""
PLANS = (
    Plan("Purchased", ("Added To Cart",), minimum_effect=0.1).to_json(),
    Plan("Purchased", ("Added To Cart",), minimum_effect=0.2).to_json(),
)
ENDED = "Free shipping"
"""A declared experiment that ended on day 4, serving "banner"."""
ENDED_PLAN = Plan("Added To Cart", minimum_effect=0.5)
ENDED_AT = START + 4 * DAY
NOW = START + 7 * DAY
"""The query service's clock: the tests' age, for the days remaining."""


EVIL_CAMPAIGN = "=1+2"
"""A campaign a spreadsheet would take for a formula."""
CHECKOUT = "Checkout"
FUNNEL = f"{CHECKOUT}|viewed page>Added To Cart>Purchased"
CUSTOM_ROLLUP = "plan"
"""A custom rollup: "tagged" for visitors who came through a campaign."""


def landing(i: int) -> str:
    """The first page of visitor ``i``: the home page for most, a product
    from a newsletter campaign for one in four, one in 25 from a campaign
    named like a formula."""
    if i % 25 == 0:
        return f"/?utm_source=ads&utm_campaign={quote(EVIL_CAMPAIGN)}"
    if i % 4 == 0:
        return f"/products/{i % 7}?utm_source=newsletter&utm_medium=email&utm_campaign=spring"
    return "/"


def rollups() -> list[Rollup]:
    """The built-in rollups and :data:`CUSTOM_ROLLUP`."""
    tagged = FunctionRollup(
        CUSTOM_ROLLUP,
        lambda _, visit: "tagged" if "utm_source" in visit.url else "untagged",
        per_visitor=True,
    )
    return [*default_rollups(), tagged]


def visitors(people: int, days: int, seed: int = 7) -> list[Record]:
    """The records of ``people`` visitors over ``days`` days: each views a
    page, loads the pixel, is split into the button test (4 populations,
    weighted), the evil test (2), the planned test (2, at random, by a plan
    that changes on day 3) and, before it ends on day 4, the ended test
    ("banner" for the gold and green buttons), and may add to cart and
    purchase; site 1 for two in three, site 2 for the rest."""
    rng = random.Random(seed)
    planned_rng = random.Random(seed + 1)  # leaves the button test's draws as they were
    colors = {"red": 1, "green": 1, "blue": 1, "gold": 1}
    evil = [EVIL_POPULATION, "plain"]
    records: list[Record] = []
    for i in range(people):
        vid = f"visitor{i:05}"
        when = START + (i % days) * DAY + i
        site = "1" if i % 3 else "2"

        def at(offset: float, when: float = when) -> str:
            return format_timestamp(when + offset)

        records.append(
            page_record(
                at(0),
                vid,
                site,
                f"203.0.113.{i % 250}",
                "GET",
                landing(i),
                USER_AGENTS[i % 2],
                REFERRERS[i % 3],
            )
        )
        records.append(pixel_record(at(1), vid, site))
        if i % 2 == 0:
            records.append(
                page_record(at(1.5), vid, site, "203.0.113.9", "GET", "/cart", USER_AGENTS[0], "")
            )
        color = list(colors)[rng.randrange(4)]
        records.append(split_record(at(2), vid, site, BUTTON, color, weights_field(colors)))
        records.append(split_record(at(3), vid, site, EVIL_TEST, evil[i % 2]))
        halves = weights_field({"green": 1, "orange": 1})
        planned = "orange" if planned_rng.random() < 0.5 else "green"
        plan = PLANS[i % days >= 3]
        records.append(split_record(at(3.5), vid, site, PLANNED, planned, halves, plan))
        if when < ENDED_AT:
            shipping = "banner" if color in ("gold", "green") else "none"
            both = weights_field({"none": 1, "banner": 1})
            plan = ENDED_PLAN.to_json()
            records.append(split_record(at(3.7), vid, site, ENDED, shipping, both, plan))
        chance = {"red": 0.2, "green": 0.3, "blue": 0.25, "gold": 0.45}[color]
        if rng.random() < chance:
            records.append(goal_record(at(4), vid, site, "Added To Cart"))
            if rng.random() < 0.5:
                value = f"{rng.uniform(5, 80):.2f}"
                records.append(goal_record(at(5), vid, site, "Purchased", value, SUM, CURRENCY))
        if i % 5 == 0:
            records.append(goal_record(at(6), vid, site, EVIL_GOAL))
    # The end marker a process serving the winner records.
    won = replace(ENDED_PLAN, winner="banner").to_json()
    halves = weights_field({"none": 1, "banner": 1})
    records.append(
        split_record(format_timestamp(ENDED_AT), "visitor00000", "1", ENDED, "banner", halves, won)
    )
    return records


def fill(url: str, people: int = 600, days: int = 6) -> None:
    """Count the visitors' records with the real aggregator into the store at ``url``."""
    funnels = [parse_funnel(FUNNEL)]
    kept = rollups()
    aggregator = Aggregator(kept, funnels=funnels, pages=PageCounter(kept))
    aggregator.add_all(visitors(people, days))
    with SQLStore(url) as store:
        store.declare_funnels(funnels)
        store.commit(aggregator.drain())


@dataclass
class Backend:
    """A running query service and a client of it."""

    address: str
    client: Client


@pytest.fixture(scope="session")
def backend(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """A query service over a store with the visitors counted (read-only for tests)."""
    path: Path = tmp_path_factory.mktemp("dashboard") / "manhattan.db"
    fill(f"sqlite:///{path}")
    with (
        SQLStore(f"sqlite:///{path}") as store,
        QueryService(StoreQueries(store, clock=lambda: NOW), "tcp://127.0.0.1:0") as service,
        Client(service.address, wait=5000) as client,
    ):
        yield Backend(service.address, client)


SCREENSHOTS: list[Path] = []
"""Screenshots the browser test wrote in this run, named in the summary."""


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for path in SCREENSHOTS:
        terminalreporter.write_line(f"dashboard screenshot: {path}")
