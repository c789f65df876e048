"""``manhattan-report TEST``: a split test's analysis as a table, or JSON.

    manhattan-report "Checkout Button" --goal Purchased --goal "Added To Cart"

Populations are rows: visitors, conversions, rate and its 95% interval,
lift over control, p-value (Holm-adjusted beside it), chance to beat
control. The sample ratio mismatch verdict comes first.

Exit status: 0, 1 when the server cannot answer (down, busy, an error
reply), 2 for a bad command line, 141 when the reader of the output went
away (``manhattan-report ... | head``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import TextIO

from manhattan.analysis.types import Analysis, Lift
from manhattan.client import ServerError
from manhattan.client.options import add_connection_flags, end_broken_pipe, open_client


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="manhattan-report", description="The analysis of a split test."
    )
    parser.add_argument("test", help="the split test's name")
    parser.add_argument(
        "--goal", action="append", dest="goals", help="a goal to report (repeatable; default all)"
    )
    parser.add_argument("--control", help="the control population (default: the first listed)")
    parser.add_argument("--site", type=int, help="one site id (default: all sites)")
    parser.add_argument(
        "--weight",
        action="append",
        metavar="POPULATION=WEIGHT",
        help="the split's weight of a population, for logs that did not record them (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print the analysis as JSON")
    add_connection_flags(parser)
    return parser


def _percent(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def _p(value: float | None) -> str:
    if value is None:
        return "-"
    return "<0.0001" if value < 0.0001 else f"{value:.4f}"


def render(analysis: Analysis) -> str:
    """The analysis as a terminal table."""
    srm = analysis["srm"]
    verdict = "MISMATCH: do not trust this test" if srm["mismatch"] else "ok"
    weights = (
        "given"
        if srm.get("weights_given")
        else "recorded"
        if srm["weights_recorded"]
        else "assumed equal"
    )
    lines = [
        f"{analysis['test']}  (control: {analysis['control']})",
        f"sample ratio: {verdict} (p = {_p(srm['p_value'])}, weights {weights}); "
        f"visitors in more than one population: {analysis['crossovers']}",
    ]
    header = (
        f"  {'population':<16}{'visitors':>10}{'conv.':>8}  {'rate (95% interval)':<22}"
        f"{'lift':>16}{'p':>9}{'Holm p':>9}{'P(beat)':>9}"
    )
    for goal, data in analysis["goals"].items():
        lines += ["", f"goal: {goal}", header]
        for population, row in data["populations"].items():
            low, high = row["rate_interval"]
            rate = f"{row['rate']:.1%} ({low:.1%}-{high:.1%})"
            lift = "control"
            p = holm = beat = ""
            if population != analysis["control"]:
                lift = _lift(row.get("lift"))
                if row.get("p_value") is None:
                    p, holm, beat = "  not enough data", "", ""
                else:
                    p, holm = _p(row["p_value"]), _p(row.get("p_value_holm"))
                    beat = _percent(row.get("chance_to_beat_control"))
            lines.append(
                f"  {population:<16}{row['visitors']:>10,}{row['conversions']:>8,}  {rate:<22}"
                f"{lift:>16}{p:>9}{holm:>9}{beat:>9}"
            )
            value = row.get("value")
            if value is not None and value["per_visitor"] is None:
                lines.append(f"  {'  per visitor':<16}{'overflowed':>18}")
            elif value is not None and population != analysis["control"] and "p_value" in value:
                lines.append(
                    f"  {'  per visitor':<16}{value['per_visitor']:>18,.2f}  {'':<22}"
                    f"{_lift(value.get('lift')):>16}{_p(value['p_value']):>9}"
                    f"{_p(value.get('p_value_holm')):>9}"
                    f"{_percent(value.get('chance_to_beat_control')):>9}"
                )
            elif value is not None:
                lines.append(f"  {'  per visitor':<16}{value['per_visitor']:>18,.2f}")
    return "\n".join(lines)


def _lift(lift: Lift | None) -> str:
    if lift is None:
        return "n/a"
    if lift["relative"] is None:
        return f"{lift['absolute']:+.3g}"
    return _percent(lift["relative"], signed=True)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of ``manhattan-report``; returns the exit status."""
    out = sys.stdout if out is None else out
    parser = build_parser()
    args = parser.parse_args(argv)
    weights = None
    if args.weight:
        weights = {}
        for item in args.weight:
            name, _, number = item.rpartition("=")
            try:
                weights[name] = float(number)
            except ValueError:
                parser.error(f"--weight must be POPULATION=NUMBER, not {item!r}")
            if not name or not math.isfinite(weights[name]):
                parser.error(f"--weight must be POPULATION=NUMBER, not {item!r}")
    try:
        with open_client(parser, args) as client:
            analysis = client.analyze(
                args.test, args.goals, args.control, args.site, weights=weights
            )
    except (ServerError, TimeoutError) as exc:
        print(f"manhattan-report: error: {exc}", file=sys.stderr)
        return 1
    try:
        out.write(json.dumps(analysis, indent=2) if args.json else render(analysis))
        out.write("\n")
        out.flush()
    except BrokenPipeError:
        return end_broken_pipe(out)
    return 0
