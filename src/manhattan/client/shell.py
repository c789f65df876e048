"""``manhattan-client``: a Python shell with a :class:`~manhattan.client.Client` in it.

With a command it answers one question and exits instead (status 0, or 1
with what to check when the server does not answer): ``ping`` checks that
the server answers, ``filtered`` lists the events the server read and did
not count, by reason, ``live`` says how many visitors are on the site now,
``pages`` lists the most viewed pages (or, with ``--entry``, entry pages),
``funnel NAME`` shows a funnel's steps (without a name, lists the funnels).
Each command is one entry of :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import code
import inspect
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from manhattan import _cli
from manhattan.backend.live import DEFAULT_MINUTES, MAX_MINUTES, MIN_MINUTES
from manhattan.backend.model import QUERY_NAMES, Queries
from manhattan.client import Client, ServerError
from manhattan.client.funnels import add_funnel_arguments, funnel_command
from manhattan.client.options import add_connection_flags, end_broken_pipe, open_client
from manhattan.exceptions import QueryError

PROGRAM = "manhattan-client"


def build_parser() -> argparse.ArgumentParser:
    """The command line (a bad one ends the command with status 2)."""
    parser = _cli.Parser(
        prog=PROGRAM,
        description="Open a Python shell with `client`, connected to a Manhattan server; "
        "or, with a command, answer one question and exit.",
    )
    add_connection_flags(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        add_connection_flags(sub, again=True)
        command.add_arguments(sub)
    return parser


def make_namespace(client: Client) -> dict[str, Any]:
    """The shell's globals."""
    return {"client": client, "Client": Client, "ServerError": ServerError}


def banner(client: Client) -> str:
    """What the shell says first: every query of
    :class:`~manhattan.backend.model.Queries`, with its parameters."""
    calls = [_call(name) for name in QUERY_NAMES] + ["ping()"]
    methods = textwrap.fill("`client` has: " + ", ".join(calls) + ".", width=88)
    return (
        f"Manhattan client for {client.connect} (each call waits up to {client.wait} ms).\n"
        f"{methods}"
    )


def _call(name: str) -> str:
    """``name(parameter, ...)`` of a query."""
    parameters = list(inspect.signature(getattr(Queries, name)).parameters)[1:]  # not self
    return f"{name}({', '.join(parameters)})"


class Console(code.InteractiveConsole):
    """The shell: an error in a command is shown and the shell goes on,
    except that output nobody reads any more ends it."""

    def showtraceback(self) -> None:
        """Show the error a command raised; a broken pipe (stdout's reader
        went away) goes up to :func:`main` instead."""
        error = sys.exc_info()[1]
        if isinstance(error, BrokenPipeError):
            raise error
        super().showtraceback()


def ping(client: Client, args: argparse.Namespace) -> int:
    """Say whether the server answers; the exit status."""
    began = time.monotonic()
    try:
        client.ping()
    except (TimeoutError, ServerError) as exc:
        print(f"manhattan-client: {exc}", file=sys.stderr)
        return 1
    print(f"pong from {client.connect} in {(time.monotonic() - began) * 1000:.1f} ms")
    return 0


def filtered(client: Client, args: argparse.Namespace) -> int:
    """Print the events not counted, by reason, most first; the exit status."""
    try:
        reasons = client.filtered()
    except (TimeoutError, ServerError) as exc:
        print(f"manhattan-client: {exc}", file=sys.stderr)
        return 1
    rows = sorted(((n, r) for r, n in reasons.items() if n), key=lambda row: (-row[0], row[1]))
    if not rows:
        print("every event read so far was counted")
    for events, reason in rows:
        print(f"{events:>14,}  {reason}")
    return 0


def _add_live_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--minutes",
        type=_cli.whole_number(MIN_MINUTES),
        default=DEFAULT_MINUTES,
        help=f"the window, {MIN_MINUTES} to {MAX_MINUTES} minutes (default {DEFAULT_MINUTES})",
    )
    parser.add_argument(
        "--site", type=_cli.whole_number(0), help="one site's visitors (default: all sites)"
    )


def live(client: Client, args: argparse.Namespace) -> int:
    """Print the visitors seen in the last minutes; the exit status."""
    try:
        visitors = client.live(args.minutes, args.site)
    except (TimeoutError, ServerError, QueryError) as exc:
        print(f"manhattan-client: {exc}", file=sys.stderr)
        return 1
    where = "all sites" if args.site is None else f"site {args.site}"
    noun = "visitor" if visitors == 1 else "visitors"
    print(f"{visitors:,} {noun} in the last {args.minutes} minutes on {where}")
    return 0


def _add_pages_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--site", type=_cli.whole_number(0), help="one site's pages (default: all sites)"
    )
    parser.add_argument("--rollup", default="all", help="a page rollup (default all)")
    parser.add_argument(
        "--bucket", default="0", help="its bucket, e.g. 2026-12-01 for --rollup day (default 0)"
    )
    parser.add_argument(
        "--limit", type=_cli.whole_number(1), default=20, help="rows shown (default 20)"
    )
    parser.add_argument(
        "--entry", action="store_true", help="entry pages (the first page of each visit)"
    )


def pages(client: Client, args: argparse.Namespace) -> int:
    """Print the most viewed pages (or entry pages), most first; the exit status."""
    rows: Sequence[tuple[Any, ...]]
    try:
        if args.entry:
            rows = client.entry_pages(args.site, args.rollup, args.bucket, args.limit)
        else:
            rows = client.pages(args.site, args.rollup, args.bucket, args.limit)
    except (TimeoutError, ServerError, QueryError) as exc:
        print(f"manhattan-client: {exc}", file=sys.stderr)
        return 1
    if not rows:
        print("no page views counted here yet")
    elif args.entry:
        print(f"{'visits':>14}  path")
    else:
        print(f"{'views':>14}  {'visitors':>10}  path")
    for path, *numbers in rows:
        print("  ".join(f"{n:>{14 if i == 0 else 10},}" for i, n in enumerate(numbers)), path)
    return 0


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command that takes no flags of its own."""


class Command(NamedTuple):
    """A command of ``manhattan-client``: its help, its flags, and what it
    does with a connected client (returning the exit status)."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[Client, argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "ping": Command("say whether the server answers, and exit", _no_arguments, ping),
    "filtered": Command(
        "list the events not counted, by reason (awaiting pixel, crawler...), and exit",
        _no_arguments,
        filtered,
    ),
    "live": Command(
        "the visitors seen in the last minutes (30 by default), and exit",
        _add_live_arguments,
        live,
    ),
    "pages": Command(
        "the most viewed pages, with visitors (or entry pages with --entry), and exit",
        _add_pages_arguments,
        pages,
    ),
    "funnel": Command(
        "a funnel's visitors per step, with step-to-step rates (no NAME: the funnels), and exit",
        add_funnel_arguments,
        funnel_command,
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shell until end of input (or one command); the exit status:
    2 for a bad command line, 1 when a command gets no answer, 141 when the
    reader of the output went away."""
    return _cli.run(PROGRAM, lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    with open_client(args) as client:
        try:
            if args.command is not None:
                status = COMMANDS[args.command].run(client, args)
            else:
                Console(make_namespace(client)).interact(banner=banner(client), exitmsg="")
                status = 0
            sys.stdout.flush()
        except BrokenPipeError:
            return end_broken_pipe(sys.stdout)
    return status
