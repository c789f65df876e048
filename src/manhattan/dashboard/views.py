"""The pages' contents: what each page asks the server, and the numbers it
shows (plain data for the templates)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from manhattan.analysis.wording import always_valid_span, verdict
from manhattan.backend.model import Queries
from manhattan.client import ServerError
from manhattan.dashboard import charts
from manhattan.dashboard.tables import COUNT, RATE, Cell, Column, Table
from manhattan.records import vocabulary as reasons
from manhattan.records.limits import MAX_VALUE
from manhattan.records.vocabulary import (
    IMPRESSION,
    MAX_BREAKDOWN_GOALS,
    VIEWED_PAGE,
    goal_value_of,
)

MAX_TESTS = 50
"""The newest tests the tests page analyses (one query each)."""

CHART_DAYS = 60
"""The days the test page's daily chart covers."""

ROLLUPS: Mapping[str, tuple[str, int, str]] = {
    "day": ("bucket", 31, "Day"),
    "week": ("bucket", 26, "Week of"),
    "month": ("bucket", 24, "Month"),
    "browser": ("visitors", 20, "Browser"),
    "referrer": ("visitors", 20, "Referrer"),
    "all": ("visitors", 1, "All time"),
}
"""The goals page's rollups: how their buckets are picked, how many, the
column heading. Time rollups show their newest buckets, the others their
largest."""

TIMED = ("hour", "day", "week", "month")

HOURS = 48
"""The newest buckets the goals page shows of the ``hour`` rollup."""

OTHER_ROLLUP = ("visitors", 20, "")
"""How the goals page shows a rollup not in :data:`ROLLUPS` (a custom one,
or a built-in one the server keeps beyond those): its largest buckets,
headed by its name."""

TABLE_GOALS = 8
"""Goals charted on the goals page (the first ones, "viewed page" first)."""


NOT_COUNTED: Mapping[str, str] = {
    reasons.AWAITING_PIXEL: "held until the visitor's browser loads the tracking pixel; "
    "a visitor who never does is taken for a bot",
    reasons.CRAWLER: "a known crawler's user agent",
    reasons.HELD_OVERFLOW: f"beyond the {reasons.MAX_HELD} most recent events held per "
    "visitor awaiting the pixel",
    reasons.MALFORMED: "a log record with missing or unreadable fields",
    reasons.MALFORMED_LINE: "a log line that could not be decoded",
    reasons.UNKNOWN_VERSION: "a record of a newer log format",
    reasons.UNKNOWN_KIND: "a record of a kind this server does not know",
    reasons.BAD_NAME: "a name or visitor id no database can store",
    reasons.BAD_VALUE: f"a goal value that is not finite or beyond {MAX_VALUE:g}",
    reasons.UNREADABLE_STATE: "a damaged stored visitor state: the visitor started afresh",
    reasons.UNCOUNTABLE: "counting it raised an error (see the server's log)",
    reasons.UNSTORABLE: "a counter no database can hold (these count counters, not events)",
}
"""What each reason of ``filtered()`` means, in a phrase."""

_UNKNOWN_NAME = re.compile(
    r"no (goal|test|rollup) named |test .* has no population |rollup .* has no bucket |no site ",
    re.DOTALL,
)


Backend: TypeAlias = Queries
"""What the pages ask: the query API (a :class:`manhattan.client.Client`)."""


def offered_rollups(counted: Sequence[str]) -> list[str]:
    """The rollups the goals page offers: those of :data:`ROLLUPS`, then
    every other one the server has counts in (``hour``, ``utm_campaign``,
    custom rollups...), by name."""
    return [*ROLLUPS, *sorted(set(counted) - set(ROLLUPS))]


def rollup_layout(rollup: str) -> tuple[str, int, str]:
    """How the goals page shows ``rollup``: how its buckets are picked, how
    many, the column heading (see :data:`ROLLUPS`)."""
    if rollup in ROLLUPS:
        return ROLLUPS[rollup]
    if rollup == "hour":
        return ("bucket", HOURS, "Hour")
    order, limit, _ = OTHER_ROLLUP
    return (order, limit, rollup)


def unknown_name(error: ServerError) -> bool:
    """Whether an error reply refuses a name the server never counted (its
    message suggests the closest known ones)."""
    return error.type == "QueryError" and bool(_UNKNOWN_NAME.match(error.message))


def no_data(error: ServerError) -> bool:
    """Whether an error reply only says there is nothing to analyse."""
    return error.type == "QueryError" and not unknown_name(error)


def not_counted(filtered: Mapping[str, int]) -> list[dict[str, Any]]:
    """The rows of the "Not counted" table: each reason with events, most
    first, and what it means."""
    rows = sorted(
        ((reason, events) for reason, events in filtered.items() if events),
        key=lambda row: (-row[1], row[0]),
    )
    return [
        {"reason": reason, "events": events, "meaning": NOT_COUNTED.get(reason, "")}
        for reason, events in rows
    ]


def _breakdown(
    backend: Backend,
    rollup: str,
    goals: list[str],
    test_name: str | None,
    site: int | None,
    *,
    limit: int,
    order: str,
) -> dict[str, dict[str, dict[str, list[float]]]]:
    """The breakdown, or no buckets when the server cannot break down by
    ``rollup`` (it keeps no such rollup): the pages say so where the chart
    or table would be."""
    try:
        return backend.breakdown(rollup, goals, test_name, site, limit=limit, order=order)
    except ServerError as error:
        # The test, goals and site are known by now: only the rollup can be.
        if error.type != "QueryError":
            raise
        return {}


def tests_page(
    backend: Backend, tests: Sequence[Mapping[str, Any]], site: int | None
) -> dict[str, Any]:
    """Each of the newest tests with its verdict in words (and its warnings,
    and when it ended), its visitors and its sample ratio check."""
    rows = []
    for test in tests[:MAX_TESTS]:
        row: dict[str, Any] = {"test": test, "verdict": None, "problem": ""}
        try:
            analysis = backend.analyze(test["name"], site_id=site)
        except ServerError as error:
            if not no_data(error):
                raise
            row["problem"] = error.message
        else:
            row.update(
                verdict=verdict(analysis),
                visitors=sum(analysis["visitors"].values()),
                srm=analysis["srm"],
            )
        rows.append(row)
    return {
        "rows": rows,
        "more": max(len(tests) - MAX_TESTS, 0),
        "not_counted": not_counted(backend.filtered()),
    }


def daily_rates(
    table: Mapping[str, Mapping[str, Mapping[str, Sequence[float]]]],
    populations: Sequence[str],
    goal: str,
) -> dict[str, list[float | None]]:
    """Per population, its conversion rate on ``goal`` each day of a
    breakdown: conversions over visitors, the visitors counted as the
    analysis counts them (impressions, page viewers or converters that day,
    whichever is most). ``None`` on a day without visitors."""
    rates: dict[str, list[float | None]] = {}
    for population in populations:
        row: list[float | None] = []
        for cells in table.values():
            cell = cells.get(population, {})
            conversions = int(cell.get(goal, (0, 0.0))[0])
            visitors = max(
                int(cell.get(IMPRESSION, (0, 0.0))[0]),
                int(cell.get(VIEWED_PAGE, (0, 0.0))[0]),
                conversions,
            )
            row.append(conversions / visitors if visitors else None)
        rates[population] = row
    return rates


def test_page(backend: Backend, name: str, site: int | None) -> dict[str, Any]:
    """One test: its plan, progress and verdict in words, the analysis
    (populations x goals, intervals as bars, always-valid intervals where
    the plan has them) and a daily chart of each population's conversion
    rate per goal."""
    analysis = backend.analyze(name, site_id=site)
    populations: list[str] = analysis["populations"]
    goals = list(analysis["goals"])
    charted = [goal for goal in goals if goal != VIEWED_PAGE][: MAX_BREAKDOWN_GOALS - 1]
    table = _breakdown(
        backend, "day", [VIEWED_PAGE, *charted], name, site, limit=CHART_DAYS, order="bucket"
    )
    days = list(table)
    # Goals the plan says are better lower (none without one, or from an
    # older server).
    lower = analysis.get("plan", {}).get("lower_is_better", [])
    rows = []
    for goal in goals:
        entries = analysis["goals"][goal]["populations"]
        top = max(
            [e["rate_interval"][1] or 0.0 for e in entries.values()]
            + [e["rate"] for e in entries.values()]
        )
        cells = []
        for population in populations:
            entry = entries[population]
            low, high = entry["rate_interval"]
            bar = charts.interval_bar(
                entry["rate"],
                low,
                high,
                top,
                label=f"{population}: {entry['rate']:.2%} (95% interval {low:.2%} to {high:.2%})",
            )
            cells.append(
                {
                    "population": population,
                    "entry": entry,
                    "bar": bar,
                    "always_valid": always_valid_span(entry),
                }
            )
        rows.append(
            {
                "goal": goal,
                "value_type": analysis["goals"][goal]["value_type"],
                "cells": cells,
                "lower": goal in lower,
            }
        )
    charts_by_goal = [
        {
            "goal": goal,
            "svg": charts.line_chart(
                days,
                daily_rates(table, populations, goal),
                title=f"{goal}: conversion rate per day",
                percent=True,
            ),
        }
        for goal in (charted or goals)
    ]
    return {
        "analysis": analysis,
        "verdict": verdict(analysis),
        "rows": rows,
        "days": days,
        "charts": charts_by_goal if days else [],
    }


def goals_page(
    backend: Backend, goals: Sequence[Mapping[str, Any]], rollup: str, site: int | None
) -> dict[str, Any]:
    """Every goal's visitors and value per bucket of one rollup."""
    order, limit, heading = rollup_layout(rollup)
    names = [VIEWED_PAGE] + [g["name"] for g in goals if g["name"] != VIEWED_PAGE]
    shown = names[:MAX_BREAKDOWN_GOALS]
    info = {g["name"]: g for g in goals}
    table = _breakdown(backend, rollup, shown, None, site, limit=limit, order=order)
    buckets = list(table)
    if order == "bucket":
        buckets.reverse()  # newest first
    rows = []
    for bucket in buckets:
        cells = table[bucket].get("", {})
        viewers = int(cells.get(VIEWED_PAGE, (0, 0.0))[0])
        row = []
        for goal in shown:
            visitors, total = cells.get(goal, (0, 0.0))
            value_type = info.get(goal, {}).get("value_type", "")
            value = (
                goal_value_of(value_type, (int(visitors), total), viewers) if value_type else None
            )
            row.append({"goal": goal, "visitors": int(visitors), "value": value})
        rows.append({"bucket": bucket, "cells": row})
    chart = None
    if rollup in TIMED and buckets:
        ordered = list(table)
        chart = charts.line_chart(
            ordered,
            {
                goal: [float(table[b].get("", {}).get(goal, (0, 0.0))[0]) for b in ordered]
                for goal in shown[:TABLE_GOALS]
            },
            title=f"Visitors per {rollup}",
        )
    return {
        "rollup": rollup,
        "heading": heading,
        "goals": [
            info.get(goal, {"name": goal, "value_type": "", "value_format": ""}) for goal in shown
        ],
        "more": len(names) - len(shown),
        "rows": rows,
        "chart": chart,
    }


# -- the pages' tables as data (the CSV downloads) ---------------------------


def tests_tables(page: Mapping[str, Any]) -> dict[str, Table]:
    """The tests page's tables: the tests with their verdicts, and what was
    not counted."""
    rows: list[tuple[Cell, ...]] = []
    for row in page["rows"]:
        said = row["verdict"]
        rows.append(
            (
                row["test"]["name"],
                float(row["test"]["first"]),
                ", ".join(row["test"]["populations"]),
                row.get("visitors"),
                said.status if said else None,
                said.headline if said else row["problem"],
            )
        )
    tests = Table(
        "tests",
        "Split tests",
        (
            Column("Test"),
            Column("Started (seconds since 1970, UTC)"),
            Column("Populations"),
            Column("Visitors", COUNT),
            Column("Verdict"),
            Column("Headline"),
        ),
        rows,
    )
    not_counted = Table(
        "not_counted",
        "Not counted",
        (Column("Reason"), Column("Events", COUNT), Column("Meaning")),
        [(row["reason"], row["events"], row["meaning"]) for row in page["not_counted"]],
    )
    return {table.name: table for table in (tests, not_counted)}


def analysis_table(analysis: Mapping[str, Any]) -> Table:
    """The test page's table: per goal and population, the analysis's
    figures, unrounded."""
    rows: list[tuple[Cell, ...]] = []
    for goal, result in analysis["goals"].items():
        for population in analysis["populations"]:
            entry = result["populations"][population]
            low, high = entry["rate_interval"]
            lift = entry.get("lift") or {}
            value = entry.get("value") or {}
            rows.append(
                (
                    goal,
                    population,
                    entry["visitors"],
                    entry["conversions"],
                    entry["rate"],
                    low,
                    high,
                    lift.get("relative"),
                    entry.get("p_value_holm"),
                    entry.get("p_value"),
                    entry.get("chance_to_beat_control"),
                    value.get("per_visitor"),
                )
            )
    return Table(
        "analysis",
        "Analysis",
        (
            Column("Goal"),
            Column("Population"),
            Column("Visitors", COUNT),
            Column("Conversions", COUNT),
            Column("Rate", RATE),
            Column("95% interval low", RATE),
            Column("95% interval high", RATE),
            Column("Relative lift", RATE),
            Column("p (Holm)"),
            Column("p (unadjusted)"),
            Column("Chance to beat control", RATE),
            Column("Value per visitor"),
        ),
        rows,
    )


def goals_table(page: Mapping[str, Any]) -> Table:
    """The goals page's table: per bucket, each goal's visitors and, for a
    goal with values, its value."""
    goals = page["goals"]
    columns = [Column(page["heading"])]
    for goal in goals:
        columns.append(Column(f"{goal['name']}: visitors", COUNT))
        if goal["value_type"]:
            columns.append(Column(f"{goal['name']}: value"))
    rows: list[tuple[Cell, ...]] = []
    for row in page["rows"]:
        cells: list[Cell] = [row["bucket"]]
        for goal, cell in zip(goals, row["cells"], strict=True):
            cells.append(cell["visitors"])
            if goal["value_type"]:
                cells.append(cell["value"])
        rows.append(tuple(cells))
    return Table("goals", f"Goals by {page['rollup']}", tuple(columns), rows)
