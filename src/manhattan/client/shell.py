"""``manhattan-client``: a Python shell with a :class:`~manhattan.client.Client` in it.

``manhattan-client --connect tcp://HOST:PORT ping`` instead checks that the
server answers (exit status 0, or 1 with what to check); ``filtered`` lists
the events the server read and did not count, by reason.
"""

from __future__ import annotations

import argparse
import code
import inspect
import sys
import textwrap
import time
from collections.abc import Sequence
from typing import Any

from manhattan import _cli
from manhattan.backend.model import QUERY_NAMES, Queries
from manhattan.client import Client, ServerError
from manhattan.client.options import add_connection_flags, end_broken_pipe, open_client

PROGRAM = "manhattan-client"


def build_parser() -> argparse.ArgumentParser:
    """The command line (a bad one ends the command with status 2)."""
    parser = _cli.Parser(
        prog=PROGRAM,
        description="Open a Python shell with `client`, connected to a Manhattan server; "
        "or, with `ping`, check that the server answers; with `filtered`, list the "
        "events it did not count, by reason.",
    )
    add_connection_flags(parser)
    parser.add_argument(
        "command",
        nargs="?",
        choices=["ping", "filtered"],
        help="ping: say whether the server answers, and exit; filtered: list the events "
        "not counted, by reason (awaiting pixel, crawler...), and exit",
    )
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


def ping(client: Client) -> int:
    """Say whether the server answers; the exit status."""
    began = time.monotonic()
    try:
        client.ping()
    except (TimeoutError, ServerError) as exc:
        print(f"manhattan-client: {exc}", file=sys.stderr)
        return 1
    print(f"pong from {client.connect} in {(time.monotonic() - began) * 1000:.1f} ms")
    return 0


def filtered(client: Client) -> int:
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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shell until end of input (or ``ping``); the exit status: 2
    for a bad command line, 1 when ``ping`` or ``filtered`` gets no answer,
    141 when the reader of the output went away."""
    return _cli.run(PROGRAM, lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    with open_client(args) as client:
        try:
            if args.command == "ping":
                status = ping(client)
            elif args.command == "filtered":
                status = filtered(client)
            else:
                Console(make_namespace(client)).interact(banner=banner(client), exitmsg="")
                status = 0
            sys.stdout.flush()
        except BrokenPipeError:
            return end_broken_pipe(sys.stdout)
    return status
