"""``manhattan-export``: the server's figures as CSV or JSON Lines on stdout.

    manhattan-export --connect tcp://127.0.0.1:5555 counts --rollup day > days.csv
    manhattan-export tests --site 1 --format jsonl
    manhattan-export analysis --test "Checkout Button" --format jsonl

Each export is an entry of :data:`EXPORTERS`: its flags, its columns and
how it reads its rows through the query API (:class:`~manhattan.client.Client`),
so that a new one (pages, funnels) is one entry more.

- ``counts``: per site (all sites together, where ``site`` is empty, then
  each site), rollup, bucket, test population (none, then each test's) and
  goal: the visitors who converted, their value total and the goal's value
  by its value type (as ``goal_value()`` answers it).
- ``pages``: per site, page rollup, bucket and path: page views, visitors
  and entries (:mod:`manhattan.client.exportpages`).
- ``funnels``: per funnel, site, test population (none, then each of
  every ``--test``'s) and step: the visitors who reached it in order, and
  their share of step 1's and of the previous step's
  (:mod:`manhattan.client.funnels`).
- ``tests``: per test, population and goal (rollup ``all``): the
  population's visitors, conversions, the conversion rate and the values.
- ``analysis``: per test, goal and population, the analysis's figures
  flattened; with ``--format jsonl`` the analysis itself, one per line.

CSV is RFC 4180 (header row, CRLF, quoting as needed), JSON Lines one
object per line; both UTF-8, numbers unrounded, an empty cell (``null``)
where there is no figure, booleans ``true``/``false``. Every row is read
before the first is written: a failed call writes nothing. The calls are
separate reads, so figures counted meanwhile may show in some rows only.

Exit status: 0; 1 when the server cannot answer (down, busy, an error reply
such as an unknown test, rollup or site); 2 for a bad command line; 141
when the reader of the output went away (``manhattan-export ... | head``).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from manhattan import _cli
from manhattan.analysis.types import Analysis, Lift
from manhattan.client import Client, ServerError
from manhattan.client.exportpages import PAGE_COLUMNS, page_flags, page_rows
from manhattan.client.funnels import FUNNEL_COLUMNS, funnel_flags, funnel_rows
from manhattan.client.options import add_connection_flags, end_broken_pipe, open_client
from manhattan.records.vocabulary import (
    IMPRESSION,
    MAX_BREAKDOWN_BUCKETS,
    MAX_BREAKDOWN_GOALS,
    VIEWED_PAGE,
    goal_value_of,
)

PROGRAM = "manhattan-export"
FORMATS = ("csv", "jsonl")
ORDERS = ("bucket", "visitors")

Row = dict[str, Any]
Table = dict[str, dict[str, dict[str, list[float]]]]
"""A breakdown: ``{bucket: {population: {goal: [visitors, value total]}}}``."""


@dataclass(frozen=True)
class Exporter:
    """One export: its ``help``, the ``columns`` of its rows, the flags it
    adds to its subcommand, and ``rows(client, args)``. ``documents``, when
    given, is what ``--format jsonl`` writes instead of the rows."""

    help: str
    columns: tuple[str, ...]
    add_flags: Callable[[argparse.ArgumentParser], None]
    rows: Callable[[Client, argparse.Namespace], list[Row]]
    documents: Callable[[Client, argparse.Namespace], list[Any]] | None = None


# counts


COUNT_COLUMNS = (
    "site",
    "rollup",
    "bucket",
    "test",
    "population",
    "goal",
    "value_type",
    "visitors",
    "conversions",
    "value_total",
    "value",
)


_bucket_limit = _cli.whole_number(1, maximum=MAX_BREAKDOWN_BUCKETS)
"""An argparse ``type``: a number of buckets a breakdown may return."""


def _count_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rollup",
        action="append",
        dest="rollups",
        metavar="KEY",
        help="a rollup to export (repeatable; default: all, the totals): "
        "day, week, month, hour, browser, referrer, utm_campaign...",
    )
    parser.add_argument(
        "--site", type=_cli.index, help="one site id (default: all sites together, then each)"
    )
    parser.add_argument(
        "--limit",
        type=_bucket_limit,
        default=MAX_BREAKDOWN_BUCKETS,
        help=f"buckets per rollup, at most {MAX_BREAKDOWN_BUCKETS} "
        f"(default {MAX_BREAKDOWN_BUCKETS})",
    )
    parser.add_argument(
        "--order",
        choices=ORDERS,
        default="bucket",
        help="which buckets when a rollup has more than --limit: bucket, the last ids "
        "(the newest days); visitors, those with the most visitors (default bucket)",
    )


def goal_types(client: Client) -> dict[str, str]:
    """Every goal's value type (``""`` without), ``viewed page`` first."""
    types = {VIEWED_PAGE: ""}
    types.update({goal["name"]: goal["value_type"] for goal in client.goals()})
    return types


def breakdown(
    client: Client,
    rollup: str,
    goals: Sequence[str],
    test: str | None,
    site: int | None,
    limit: int,
    order: str,
) -> Table:
    """One breakdown of any number of ``goals``, merged from queries of at
    most :data:`MAX_BREAKDOWN_GOALS` goals each. Each query names
    ``viewed page`` first: its page viewers give the values by visitor, and
    every query ranks its buckets by the same goal, so they pick the same."""
    others = [goal for goal in goals if goal != VIEWED_PAGE]
    size = MAX_BREAKDOWN_GOALS - 1
    table: Table = {}
    for start in range(0, max(len(others), 1), size):
        chunk = [VIEWED_PAGE, *others[start : start + size]]
        part = client.breakdown(rollup, chunk, test, site, limit, order)
        for bucket, populations in part.items():
            for population, cells in populations.items():
                table.setdefault(bucket, {}).setdefault(population, {}).update(cells)
    # A later query may bring a bucket or population the first had no row in.
    return {
        bucket: dict(sorted(populations.items())) for bucket, populations in sorted(table.items())
    }


def slice_rows(types: Mapping[str, str], cells: Mapping[str, list[float]]) -> Iterator[Row]:
    """One row per goal of ``types`` from a population's ``cells`` in one
    bucket, zeros where nobody converted. ``visitors`` is the population's
    impressions (``None`` outside a test, where there are none)."""
    impressions = cells.get(IMPRESSION)
    page_viewers = int(cells.get(VIEWED_PAGE, (0, 0.0))[0])
    for goal, value_type in types.items():
        conversions, total = cells.get(goal, (0, 0.0))
        yield {
            "goal": goal,
            "value_type": value_type,
            "visitors": None if impressions is None else int(impressions[0]),
            "conversions": int(conversions),
            "value_total": total,
            "value": goal_value_of(value_type, (int(conversions), total), page_viewers),
        }


def count_rows(client: Client, args: argparse.Namespace) -> list[Row]:
    """The ``counts`` rows."""
    types = goal_types(client)
    sites: list[int | None] = [args.site] if args.site is not None else [None, *client.sites()]
    tests: list[str | None] = [None, *(test["name"] for test in client.tests())]
    rows = []
    for site in sites:
        for rollup in dict.fromkeys(args.rollups or ["all"]):
            for test in tests:
                table = breakdown(client, rollup, list(types), test, site, args.limit, args.order)
                for bucket, populations in table.items():
                    for population, cells in populations.items():
                        head = {
                            "site": site,
                            "rollup": rollup,
                            "bucket": bucket,
                            "test": test or "",
                            "population": population,
                        }
                        rows += [head | row for row in slice_rows(types, cells)]
    return rows


# tests


TEST_COLUMNS = (
    "test",
    "population",
    "goal",
    "value_type",
    "visitors",
    "conversions",
    "rate",
    "value_total",
    "value",
)


def _test_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--test",
        action="append",
        dest="tests",
        metavar="NAME",
        help="a split test to export (repeatable; default: every test)",
    )
    parser.add_argument("--site", type=_cli.index, help="one site id (default: all sites)")


def test_rows(client: Client, args: argparse.Namespace) -> list[Row]:
    """The ``tests`` rows: every population the test has (with visitors 0
    at a site where it had none there) and every goal."""
    types = goal_types(client)
    known = {test["name"]: test["populations"] for test in client.tests()}
    rows = []
    for test in dict.fromkeys(args.tests or known):
        table = breakdown(client, "all", list(types), test, args.site, 1, "bucket")
        cells = next(iter(table.values()), {})
        for population in dict.fromkeys([*known.get(test, ()), *cells]):
            for row in slice_rows(types, cells.get(population, {})):
                visitors = row["visitors"] or 0
                rate = row["conversions"] / visitors if visitors else None
                rows.append(
                    {"test": test, "population": population, **row}
                    | {"visitors": visitors, "rate": rate}
                )
    return rows


# analysis


# One group of related figures a line, which the formatter would spread out.
# fmt: off
ANALYSIS_COLUMNS = (
    "test", "control", "goal", "value_type", "population", "visitors", "conversions",
    "rate", "rate_low", "rate_high", "enough_data", "verdict", "test_used",
    "lift", "lift_low", "lift_high", "relative_lift", "relative_lift_low", "relative_lift_high",
    "p_value", "p_value_holm", "chance_to_beat_control",
    "expected_loss_choosing_this", "expected_loss_keeping_control",
    "always_valid_p", "always_valid_low", "always_valid_high",
    "always_valid_relative_low", "always_valid_relative_high",
    "value_total", "value_per_visitor", "value_per_visitor_low", "value_per_visitor_high",
    "value_lift", "value_lift_low", "value_lift_high",
    "value_relative_lift", "value_relative_lift_low", "value_relative_lift_high",
    "value_p_value", "value_p_value_holm", "value_chance_to_beat_control",
    "srm_p_value", "srm_mismatch",
)
# fmt: on


def _analysis_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--test",
        action="append",
        dest="tests",
        metavar="NAME",
        required=True,
        help="the split test to analyse (repeatable: one analysis each)",
    )
    parser.add_argument(
        "--goal", action="append", dest="goals", help="a goal to include (repeatable; default all)"
    )
    parser.add_argument(
        "--control", help="the control population (default: each test's first listed)"
    )
    parser.add_argument("--site", type=_cli.index, help="one site id (default: all sites)")


def analyses(client: Client, args: argparse.Namespace) -> list[Any]:
    """The analysis of each ``--test``, as the server sent it."""
    return [
        client.analyze(test, args.goals, args.control, args.site)
        for test in dict.fromkeys(args.tests)
    ]


def _interval(prefix: str, span: Sequence[float | None] | None) -> Row:
    low, high = span if span is not None else (None, None)
    return {f"{prefix}_low": low, f"{prefix}_high": high}


def _lift(prefix: str, lift: Lift | None) -> Row:
    """A lift's columns: absolute and relative, each with its interval
    (empty without a lift)."""
    if lift is None:
        return {
            f"{prefix}{name}": None
            for name in (
                *("lift", "lift_low", "lift_high"),
                *("relative_lift", "relative_lift_low", "relative_lift_high"),
            )
        }
    return {
        f"{prefix}lift": lift["absolute"],
        **_interval(f"{prefix}lift", lift["absolute_interval"]),
        f"{prefix}relative_lift": lift["relative"],
        **_interval(f"{prefix}relative_lift", lift["relative_interval"]),
    }


def analysis_rows_of(analysis: Analysis) -> list[Row]:
    """One row per goal and population of ``analysis``; empty cells for
    the figures it does not have (control's comparisons, a goal without
    values, the always-valid figures without a plan)."""
    srm = analysis["srm"]
    rows = []
    for goal, result in analysis["goals"].items():
        for population, figures in result["populations"].items():
            loss = figures.get("expected_loss")
            value = figures.get("value")
            row: Row = {
                "test": analysis["test"],
                "control": analysis["control"],
                "goal": goal,
                "value_type": result["value_type"],
                "population": population,
                "visitors": figures["visitors"],
                "conversions": figures["conversions"],
                "rate": figures["rate"],
                **_interval("rate", figures["rate_interval"]),
                "enough_data": figures.get("enough_data"),
                "verdict": figures.get("verdict"),
                "test_used": figures.get("test_used"),
                **_lift("", figures.get("lift")),
                "p_value": figures.get("p_value"),
                "p_value_holm": figures.get("p_value_holm"),
                "chance_to_beat_control": figures.get("chance_to_beat_control"),
                "expected_loss_choosing_this": None if loss is None else loss["choosing_this"],
                "expected_loss_keeping_control": None if loss is None else loss["keeping_control"],
                "always_valid_p": figures.get("always_valid_p"),
                **_interval("always_valid", figures.get("always_valid_interval")),
                **_interval(
                    "always_valid_relative", figures.get("always_valid_relative_interval")
                ),
                "value_total": None if value is None else value["total"],
                "value_per_visitor": None if value is None else value["per_visitor"],
                **_interval(
                    "value_per_visitor", None if value is None else value["per_visitor_interval"]
                ),
                **_lift("value_", None if value is None else value.get("lift")),
                "value_p_value": None if value is None else value.get("p_value"),
                "value_p_value_holm": None if value is None else value.get("p_value_holm"),
                "value_chance_to_beat_control": (
                    None if value is None else value.get("chance_to_beat_control")
                ),
                "srm_p_value": srm["p_value"],
                "srm_mismatch": srm["mismatch"],
            }
            rows.append(row)
    return rows


def analysis_rows(client: Client, args: argparse.Namespace) -> list[Row]:
    """The ``analysis`` rows of every ``--test``."""
    return [row for analysis in analyses(client, args) for row in analysis_rows_of(analysis)]


EXPORTERS: dict[str, Exporter] = {
    "counts": Exporter(
        "conversions and values per site, rollup bucket, test population and goal",
        COUNT_COLUMNS,
        _count_flags,
        count_rows,
    ),
    "pages": Exporter(
        "page views, visitors and entries per site, page rollup bucket and path",
        PAGE_COLUMNS,
        page_flags,
        page_rows,
    ),
    "funnels": Exporter(
        "visitors per funnel step, site and test population, with step-to-step rates",
        FUNNEL_COLUMNS,
        funnel_flags,
        funnel_rows,
    ),
    "tests": Exporter(
        "visitors, conversions, rates and values per test population and goal",
        TEST_COLUMNS,
        _test_flags,
        test_rows,
    ),
    "analysis": Exporter(
        "a split test's analysis per goal and population (jsonl: the analysis itself)",
        ANALYSIS_COLUMNS,
        _analysis_flags,
        analysis_rows,
        analyses,
    ),
}
"""The exports by subcommand name."""


# Output


def plain(value: Any) -> Any:
    """``value`` with every non-finite number (a figure the server could
    not give) as ``None``, so that it is an empty cell or ``null``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def cell(value: Any) -> str:
    """A CSV cell: empty for ``None``, ``true``/``false``, numbers in full."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    return str(value)


def write_csv(out: TextIO, columns: Sequence[str], rows: Sequence[Row]) -> None:
    """``rows`` as RFC 4180 CSV under a header of ``columns``."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([cell(plain(row[column])) for column in columns] for row in rows)


def write_jsonl(out: TextIO, documents: Sequence[Any]) -> None:
    """Each of ``documents`` as JSON on a line of its own."""
    for document in documents:
        out.write(json.dumps(plain(document), ensure_ascii=False, allow_nan=False))
        out.write("\n")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface: one subcommand per :data:`EXPORTERS` entry."""
    parser = _cli.Parser(
        prog=PROGRAM, description="Export the server's figures as CSV or JSON Lines."
    )
    add_connection_flags(parser)
    commands = parser.add_subparsers(dest="export", metavar="EXPORT", required=True)
    for name, exporter in EXPORTERS.items():
        command = commands.add_parser(name, help=exporter.help, description=exporter.help)
        exporter.add_flags(command)
        command.add_argument(
            "--format", choices=FORMATS, default="csv", help="csv (default) or jsonl"
        )
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of ``manhattan-export``; returns the exit status."""
    return _cli.run(PROGRAM, lambda: _main(argv, _utf8(sys.stdout) if out is None else out))


def _utf8(stream: TextIO) -> TextIO:
    """Standard output as UTF-8 whatever the locale, lines as written."""
    if isinstance(stream, io.TextIOWrapper):
        stream.reconfigure(encoding="utf-8", newline="")
    return stream


def _main(argv: Sequence[str] | None, out: TextIO) -> int:
    args = build_parser().parse_args(argv)
    exporter = EXPORTERS[args.export]
    jsonl = args.format == "jsonl"
    try:
        with open_client(args) as client:
            if jsonl and exporter.documents is not None:
                documents = exporter.documents(client, args)
            else:
                columns = exporter.columns
                documents = [
                    {name: row[name] for name in columns} for row in exporter.rows(client, args)
                ]
    except (ServerError, TimeoutError) as exc:
        # Not a usage error: the command line was fine, the server did not answer.
        print(f"{PROGRAM}: error: {exc}", file=sys.stderr)
        return 1
    try:
        if jsonl:
            write_jsonl(out, documents)
        else:
            write_csv(out, exporter.columns, documents)
        out.flush()
    except BrokenPipeError:
        return end_broken_pipe(out)
    return 0
