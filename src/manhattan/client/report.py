"""``manhattan-report TEST``: a split test's analysis as a table, or JSON.

    manhattan-report "Checkout Button" --goal Purchased --goal "Added To Cart"

The sample ratio mismatch check comes first; then, for a test that has
ended, when and what it serves, what changed while it ran, the declared
plan, the progress toward its planned size and the verdict in words (the
same words as the dashboard's, :mod:`manhattan.analysis.wording`). Then
per goal, populations are rows: visitors, conversions, rate and its 95%
interval, lift over control, p-value (Holm-adjusted beside it), chance to
beat control; below a row, its always-valid interval where the plan gives
one, and its value per visitor. ``--json`` prints the analysis as the
server sent it, plan, decision, warnings and end included.

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

from manhattan import _cli
from manhattan.analysis.types import Analysis, Lift
from manhattan.analysis.wording import Verdict, always_valid_span, verdict
from manhattan.client import ServerError
from manhattan.client.options import add_connection_flags, end_broken_pipe, open_client

PROGRAM = "manhattan-report"


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = _cli.Parser(prog=PROGRAM, description="The analysis of a split test.")
    parser.add_argument("test", help="the split test's name")
    parser.add_argument(
        "--goal", action="append", dest="goals", help="a goal to report (repeatable; default all)"
    )
    parser.add_argument("--control", help="the control population (default: the first listed)")
    parser.add_argument("--site", type=_cli.index, help="one site id (default: all sites)")
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
    said = verdict(analysis)
    trust = "MISMATCH: do not trust this test" if srm["mismatch"] else "ok"
    weights = (
        "given"
        if srm.get("weights_given")
        else "recorded"
        if srm["weights_recorded"]
        else "assumed equal"
    )
    lines = [
        f"{analysis['test']}  (control: {analysis['control']})",
        f"sample ratio: {trust} (p = {_p(srm['p_value'])}, weights {weights}); "
        f"visitors in more than one population: {analysis['crossovers']}",
        *_words(said),
    ]
    header = (
        f"  {'population':<16}{'visitors':>10}{'conv.':>8}  {'rate (95% interval)':<22}"
        f"{'lift':>16}{'p':>9}{'Holm p':>9}{'P(beat)':>9}"
    )
    # Goals the plan says are better lower (none without one, or from an older server).
    lower = analysis.get("plan", {}).get("lower_is_better", [])
    for goal, data in analysis["goals"].items():
        marked = " (lower is better)" if goal in lower else ""
        lines += ["", f"goal: {goal}{marked}", header]
        for population, row in data["populations"].items():
            low, high = row["rate_interval"]
            rate = f"{row['rate']:.1%} ({low:.1%}-{high:.1%})"
            lift = "control"
            p = holm = beat = ""
            if population != analysis["control"]:
                # An older server gave a lift without enough data: no lift then.
                lift = _lift(row.get("lift") if row.get("enough_data", True) else None)
                if row.get("p_value") is None:
                    p, holm, beat = "  not enough data", "", ""
                else:
                    p, holm = _p(row["p_value"]), _p(row.get("p_value_holm"))
                    beat = _percent(row.get("chance_to_beat_control"))
            lines.append(
                f"  {population:<16}{row['visitors']:>10,}{row['conversions']:>8,}  {rate:<22}"
                f"{lift:>16}{p:>9}{holm:>9}{beat:>9}"
            )
            span = always_valid_span(row)
            if span is not None:
                lines.append(
                    f"  {'  always-valid':<16}{'':>18}  {f'{said.level} interval':<22}"
                    f"{span:>16}{_p(row['always_valid_p']):>9}"
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


def _words(said: Verdict) -> list[str]:
    """The verdict's lines: the end, the warnings, the plan, the progress,
    the verdict with its figures and harmed guardrails, and what kind of
    figures they are."""
    lines = [] if said.ended is None else [said.ended]
    lines += [f"warning: {warning}" for warning in said.warnings]
    if said.plan:
        lines.append("plan: " + "; ".join(f"{label} {value}" for label, value in said.plan))
    if said.progress is not None:
        lines.append(f"progress: {said.progress.text} ({said.progress.share:.0%})")
    lines.append(("verdict when it ended: " if said.ended else "verdict: ") + said.headline)
    lines += [f"  {figure}" for figure in said.figures]
    lines += [f"  warning: {harm}" for harm in said.harmed]
    lines.append(f"note: {said.note}")
    return lines


def _lift(lift: Lift | None) -> str:
    if lift is None:
        return "n/a"
    if lift["relative"] is None:
        return f"{lift['absolute']:+.3g}"
    return _percent(lift["relative"], signed=True)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Entry point of ``manhattan-report``; returns the exit status."""
    return _cli.run(PROGRAM, lambda: _main(argv, sys.stdout if out is None else out))


def _main(argv: Sequence[str] | None, out: TextIO) -> int:
    args = build_parser().parse_args(argv)
    weights = _weights(args.weight)
    try:
        with open_client(args) as client:
            analysis = client.analyze(
                args.test, args.goals, args.control, args.site, weights=weights
            )
    except (ServerError, TimeoutError) as exc:
        # Not a usage error: the command line was fine, the server did not answer.
        print(f"{PROGRAM}: error: {exc}", file=sys.stderr)
        return 1
    try:
        out.write(json.dumps(analysis, indent=2) if args.json else render(analysis))
        out.write("\n")
        out.flush()
    except BrokenPipeError:
        return end_broken_pipe(out)
    return 0


def _weights(items: list[str] | None) -> dict[str, float] | None:
    """The ``--weight POPULATION=WEIGHT`` flags as a dict; a usage error
    (exit 2) for one that is not a name and a finite number."""
    if not items:
        return None
    weights: dict[str, float] = {}
    for item in items:
        name, _, number = item.rpartition("=")
        try:
            weight = float(number)
        except ValueError:
            weight = math.nan
        if not name or not math.isfinite(weight):
            _cli.fail(f"--weight must be POPULATION=NUMBER, not {item!r}")
        weights[name] = weight
    return weights
