"""``manhattan-client``: a Python shell with a :class:`~manhattan.client.Client` in it."""

from __future__ import annotations

import argparse
import code
from collections.abc import Sequence
from typing import Any

from manhattan.client import DEFAULT_CONNECT, DEFAULT_WAIT, Client, ServerError


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line; argparse exits with status 2 on bad flags."""
    parser = argparse.ArgumentParser(
        prog="manhattan-client",
        description="Open a Python shell with `client`, connected to a Manhattan server.",
    )
    parser.add_argument(
        "--connect",
        default=DEFAULT_CONNECT,
        help=f"the server's query address (default {DEFAULT_CONNECT})",
    )
    parser.add_argument(
        "--wait",
        type=_milliseconds,
        default=DEFAULT_WAIT,
        help=f"how long each call waits for a reply, in ms (default {DEFAULT_WAIT})",
    )
    return parser.parse_args(argv)


def make_namespace(client: Client) -> dict[str, Any]:
    """The shell's globals."""
    return {"client": client, "Client": Client, "ServerError": ServerError}


def banner(client: Client) -> str:
    """What the shell says first."""
    return (
        f"Manhattan client for {client.connect} (each call waits up to {client.wait} ms).\n"
        "`client` has: count(goal, variant, rollup_key, bucket_id, site_id), goal_value(...),\n"
        "all_tests(), results(test_name, goals, site_id), goals(), tests(), ping()."
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the shell until end of input; the exit status."""
    args = parse_args(argv)
    try:
        client = Client(args.connect, args.wait)
    except ValueError as exc:
        # An address ZeroMQ cannot parse: one line, no traceback.
        raise SystemExit(f"manhattan-client: {exc}") from None
    with client:
        code.interact(banner=banner(client), local=make_namespace(client), exitmsg="")
    return 0


def _milliseconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of milliseconds: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value
