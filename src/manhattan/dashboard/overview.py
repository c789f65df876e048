"""The Overview and Funnels pages' contents: what they ask the server, and
their tables and charts (plain data for the templates).

A part the server cannot answer (a ``--query-only`` server has no live
visitors; a server that keeps no ``utm_campaign`` rollup or no ``day`` page
rollup) says so where it would be shown, and the rest of the page is shown.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, TypeVar

from manhattan.client import ServerError
from manhattan.dashboard import charts
from manhattan.dashboard.tables import COUNT, RATE, Column, Table
from manhattan.dashboard.views import Backend
from manhattan.records.vocabulary import VIEWED_PAGE

T = TypeVar("T")

DAYS = 30
"""The days the Overview's chart and daily table cover."""

LIVE_MINUTES = 30
"""The live visitors tile counts visitors seen in this many minutes."""

PAGE_ROWS = 20
"""The rows of the top pages and entry pages tables."""

TOP_ROWS = 10
"""The rows of the sources, campaigns and browsers tables."""

SOURCES: Sequence[tuple[str, str, str]] = (
    ("referrer", "Sources", "Referrer"),
    ("utm_source", "Campaign sources", "utm_source"),
    ("utm_medium", "Campaign media", "utm_medium"),
    ("utm_campaign", "Campaigns", "utm_campaign"),
    ("browser", "Browsers", "Browser"),
)
"""The Overview's tables of a rollup's visitors: rollup, title, heading."""


NOT_MORE = frozenset({"all", "hour", "day", "week", "month"})
"""Rollups the Overview offers no table of: time (its chart and daily
table) and all time (its tiles)."""


def more_rollups(counted: Sequence[str]) -> list[str]:
    """The rollups the server counts that the Overview offers beyond its
    own tables, by name: custom ones, ``browser_version``, ``network``..."""
    shown = NOT_MORE | {rollup for rollup, _, _ in SOURCES}
    return sorted(set(counted) - shown)


def answer(call: Callable[[], T]) -> tuple[T | None, str]:
    """``call``'s answer and ``""``, or ``None`` and why, when the server
    refuses it (it keeps no such rollup, counts no live visitors...): that
    part of the page says so."""
    try:
        return call(), ""
    except ServerError as error:
        if error.type != "QueryError":
            raise
        return None, error.message


def window(newest: str, days: int = DAYS) -> list[str]:
    """The ``days`` dates (ISO, like the ``day`` rollup's buckets) ending on
    ``newest``, oldest first."""
    end = date.fromisoformat(newest)
    return [(end - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]


def rollup_visitors(
    backend: Backend, rollup: str, site: int | None, limit: int
) -> tuple[list[tuple[str, int]], str]:
    """``(bucket, visitors who viewed a page)`` of a rollup's largest
    buckets, most first (ties by bucket), or why there are none."""
    table, why = answer(
        lambda: backend.breakdown(rollup, [VIEWED_PAGE], None, site, limit=limit, order="visitors")
    )
    if table is None:
        return [], why
    rows = [
        (bucket, int(cells.get("", {}).get(VIEWED_PAGE, (0, 0.0))[0]))
        for bucket, cells in table.items()
    ]
    rows.sort(key=lambda row: (-row[1], row[0]))
    return rows, "" if rows else "Nothing counted yet."


def daily(backend: Backend, site: int | None) -> tuple[Table, list[str]]:
    """The table of visitors and page views on each of the last
    :data:`DAYS` days with counts (the newest day counted is the last), and
    those days."""
    visits, why_visits = answer(
        lambda: backend.breakdown("day", [VIEWED_PAGE], None, site, limit=DAYS, order="bucket")
    )
    totals, why_views = answer(lambda: backend.page_totals(site_id=site, rollup_key="day"))
    visitors = {
        day: int(cells.get("", {}).get(VIEWED_PAGE, (0, 0.0))[0])
        for day, cells in (visits or {}).items()
    }
    views = dict(totals or [])
    newest = max([*visitors, *views], default=None)
    days = window(newest) if newest is not None else []
    rows: list[tuple[str | int | float | None, ...]] = [
        (
            day,
            visitors.get(day, 0) if visits is not None else None,
            views.get(day, 0) if totals is not None else None,
        )
        for day in days
    ]
    notes = [why for why in (why_visits, why_views) if why]
    return Table(
        "daily",
        f"Per day, the last {DAYS} days",
        (
            Column("Day", field="day"),
            Column("Visitors", COUNT, "visitors"),
            Column("Page views", COUNT, "page_views"),
        ),
        rows,
        " ".join(notes) or ("" if rows else "Nothing counted per day yet."),
    ), days


def overview_page(backend: Backend, site: int | None, by: str | None = None) -> dict[str, Any]:
    """Visitors and page views per day over the last :data:`DAYS` days, live
    visitors, top pages, entry pages, sources, campaigns and browsers; and
    visitors by the rollup ``by`` when one is chosen."""
    live, live_why = answer(lambda: backend.live(LIVE_MINUTES, site))
    days_table, days = daily(backend, site)
    chart = None
    if days:
        series = {
            "Visitors": [row[1] for row in days_table.rows],
            "Page views": [row[2] for row in days_table.rows],
        }
        chart = charts.line_chart(
            days,
            {
                name: [None if value is None else float(value) for value in values]
                for name, values in series.items()
                if any(value is not None for value in values)
            },
            title=f"Visitors and page views per day, the last {DAYS} days",
        )
    pages, why = answer(lambda: backend.pages(site_id=site, limit=PAGE_ROWS))
    tables = [
        days_table,
        Table(
            "pages",
            "Top pages",
            (
                Column("Path", field="path"),
                Column("Page views", COUNT, "page_views"),
                Column("Visitors", COUNT, "visitors"),
            ),
            list(pages or []),
            why or ("" if pages else "No page views counted yet."),
        ),
    ]
    entries, why = answer(lambda: backend.entry_pages(site_id=site, limit=PAGE_ROWS))
    tables.append(
        Table(
            "entry_pages",
            "Entry pages",
            (Column("Path", field="path"), Column("Visits", COUNT, "visits")),
            list(entries or []),
            why or ("" if entries else "No visits counted yet."),
        )
    )
    parts = [(rollup, rollup, title, heading) for rollup, title, heading in SOURCES]
    if by:
        # Its table is "by": a custom rollup may have any name.
        parts.append(("by", by, f"Visitors by {by}", by))
    for name, rollup, title, heading in parts:
        rows, why = rollup_visitors(backend, rollup, site, TOP_ROWS)
        tables.append(
            Table(
                name,
                title,
                (Column(heading, field="bucket"), Column("Visitors", COUNT, "visitors")),
                list(rows),
                why,
            )
        )
    return {
        "live": live,
        "live_why": live_why,
        "live_minutes": LIVE_MINUTES,
        "days": DAYS,
        "visitors": backend.count(VIEWED_PAGE, site_id=site),
        "page_views": sum(row[2] for row in days_table.rows if isinstance(row[2], int)),
        "chart": chart,
        "tables": {table.name: table for table in tables},
    }


def rates(visitors: Sequence[int]) -> list[tuple[float | None, float | None]]:
    """Per step, its visitors as a share of the previous step's and of the
    first step's (``None`` where that step had none; the first step has no
    previous one)."""
    first = visitors[0] if visitors else 0
    shares: list[tuple[float | None, float | None]] = []
    for index, count in enumerate(visitors):
        previous = visitors[index - 1] if index else 0
        shares.append((count / previous if previous else None, count / first if first else None))
    return shares


def funnels_page(
    backend: Backend,
    funnel: Mapping[str, Any],
    test: Mapping[str, Any] | None,
    site: int | None,
) -> dict[str, Any]:
    """One funnel's steps: the visitors who reached each in order, the
    step-to-step and overall rates, as bars; per population of ``test``
    when one is chosen."""
    name = funnel["name"]
    populations: list[str] = list(test["populations"]) if test else [""]
    sets = []
    rows: list[tuple[str | int | float | None, ...]] = []
    for population in populations:
        variant = (test["name"], population) if test else None
        steps = backend.funnel(name, variant, site_id=site)
        counts = [visitors for _, visitors in steps]
        shares = rates(counts)
        label = f"{name}: {population}" if test else name
        sets.append(
            {
                "population": population,
                "svg": charts.funnel_chart(
                    [step for step, _ in steps], counts, title=f"{label}, visitors per step"
                ),
                "steps": [
                    {"step": step, "visitors": visitors, "previous": previous, "overall": overall}
                    for (step, visitors), (previous, overall) in zip(steps, shares, strict=True)
                ],
            }
        )
        rows.extend(
            ((population,) if test else ()) + (step, visitors, previous, overall)
            for (step, visitors), (previous, overall) in zip(steps, shares, strict=True)
        )
    columns = (
        *((Column("Population", field="population"),) if test else ()),
        Column("Step", field="step"),
        Column("Visitors", COUNT, "visitors"),
        Column("Of the previous step", RATE, "previous"),
        Column("Of the first step", RATE, "overall"),
    )
    return {
        "funnel": funnel,
        "sets": sets,
        "tables": {
            "steps": Table(
                "steps",
                "Steps",
                columns,
                rows,
                "" if rows else "The test has no population with visitors yet.",
            )
        },
    }
