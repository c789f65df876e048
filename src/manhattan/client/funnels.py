"""Funnels on the command line: ``manhattan-client funnel`` (an entry of
:data:`manhattan.client.shell.COMMANDS`) and ``manhattan-export funnels``
(an entry of :data:`manhattan.client.export.EXPORTERS`).

Both read :meth:`~manhattan.client.Client.funnels` and
:meth:`~manhattan.client.Client.funnel`, and give each step's visitors
with the share of step 1's (``of_first``) and of the previous step's
(``of_previous``), which are empty (``None``) where that step had nobody.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from manhattan import _cli
from manhattan.client import Client, ServerError, ServerQueryError
from manhattan.exceptions import QueryError

FUNNEL_COLUMNS = (
    "funnel",
    "within",
    "site",
    "rollup",
    "bucket",
    "test",
    "population",
    "step_number",
    "step",
    "visitors",
    "of_first",
    "of_previous",
)


def variant(text: str) -> tuple[str, str]:
    """An argparse ``type``: ``TEST/POPULATION`` (split at the last ``/``)."""
    test, slash, population = text.rpartition("/")
    if not slash or not test or not population:
        raise argparse.ArgumentTypeError(
            f"must be TEST/POPULATION, such as 'Button/red', not {text!r}"
        )
    return test, population


def rates(visitors: Sequence[int]) -> list[tuple[float | None, float | None]]:
    """(share of step 1, share of the previous step) of each step's visitors."""
    first = visitors[0] if visitors else 0
    shares = []
    for i, count in enumerate(visitors):
        previous = visitors[i - 1] if i else first
        shares.append((count / first if first else None, count / previous if previous else None))
    return shares


def _add_slice_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rollup", default="all", help="a rollup (default all)")
    parser.add_argument(
        "--bucket", default="0", help="its bucket, e.g. 2026-12-01 for --rollup day (default 0)"
    )


# manhattan-client funnel


def add_funnel_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``manhattan-client funnel``."""
    parser.add_argument("name", nargs="?", help="the funnel (default: list the declared ones)")
    parser.add_argument(
        "--variant", type=variant, metavar="TEST/POP", help="one test population's visitors"
    )
    parser.add_argument(
        "--site", type=_cli.whole_number(0), help="one site's visitors (default: all sites)"
    )
    _add_slice_flags(parser)


def _percent(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def funnel_command(client: Client, args: argparse.Namespace) -> int:
    """Print a funnel's steps (or, without a name, the declared funnels);
    the exit status."""
    try:
        if args.name is None:
            declared = client.funnels()
        else:
            steps = client.funnel(args.name, args.variant, args.rollup, args.bucket, args.site)
    except (TimeoutError, ServerError, QueryError) as exc:
        print(f"manhattan-client: {exc}", file=sys.stderr)
        return 1
    if args.name is None:
        if not declared:
            print("no funnel is declared (manhattan-server --funnel 'NAME|STEP>STEP>...')")
        for funnel in declared:
            within = "" if funnel["within"] is None else f" (within {funnel['within']:g} s)"
            print(f"{funnel['name']}: {' > '.join(funnel['steps'])}{within}")
        return 0
    print(f"{'visitors':>14}  {'of first':>8}  {'of previous':>11}  step")
    for (step, visitors), (of_first, of_previous) in zip(
        steps, rates([n for _, n in steps]), strict=True
    ):
        print(f"{visitors:>14,}  {_percent(of_first):>8}  {_percent(of_previous):>11}  {step}")
    return 0


# manhattan-export funnels


def funnel_flags(parser: argparse.ArgumentParser) -> None:
    """The flags of ``manhattan-export funnels``."""
    parser.add_argument(
        "--funnel",
        action="append",
        dest="funnels",
        metavar="NAME",
        help="a funnel to export (repeatable; default: every declared funnel)",
    )
    parser.add_argument(
        "--test",
        action="append",
        dest="tests",
        metavar="NAME",
        help="also each population of this test (repeatable)",
    )
    parser.add_argument(
        "--site", type=_cli.index, help="one site id (default: all sites together, then each)"
    )
    _add_slice_flags(parser)


def funnel_rows(client: Client, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The ``funnels`` rows: per funnel, site, population (none, then each
    of every ``--test``'s) and step."""
    declared = client.funnels()
    names = list(dict.fromkeys(args.funnels or [funnel["name"] for funnel in declared]))
    within = {funnel["name"]: funnel["within"] for funnel in declared}
    sites: list[int | None] = [args.site] if args.site is not None else [None, *client.sites()]
    variants: list[tuple[str, str] | None] = [None]
    if args.tests:
        populations = {test["name"]: test["populations"] for test in client.tests()}
        for test in dict.fromkeys(args.tests):
            if test not in populations:
                # Said as the server says it: the export ends with status 1.
                raise ServerQueryError(
                    "QueryError", f"no test named {test!r} (tests() lists the known tests)"
                )
            variants += [(test, population) for population in populations[test]]
    rows = []
    for name in names:
        for site in sites:
            for chosen in variants:
                steps = client.funnel(name, chosen, args.rollup, args.bucket, site)
                shares = rates([visitors for _, visitors in steps])
                for number, ((step, visitors), (of_first, of_previous)) in enumerate(
                    zip(steps, shares, strict=True), start=1
                ):
                    test, population = chosen or ("", "")
                    rows.append(
                        {
                            "funnel": name,
                            "within": within.get(name),
                            "site": site,
                            "rollup": args.rollup,
                            "bucket": args.bucket,
                            "test": test,
                            "population": population,
                            "step_number": number,
                            "step": step,
                            "visitors": visitors,
                            "of_first": of_first,
                            "of_previous": of_previous,
                        }
                    )
    return rows
