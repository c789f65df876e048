"""What the client commands share: their connection flags, and how they end
when their reader goes away.

``manhattan-client``, ``manhattan-report`` and ``manhattan-dashboard`` take
``--connect``, ``--wait``, ``--curve-server-key`` and ``--curve-secret-key``.
Output piped into a reader that stops early (``manhattan-report --json |
head``) ends quietly with status :data:`BROKEN_PIPE_STATUS`, as a command
killed by SIGPIPE would: ``set -o pipefail`` scripts see what they see for
``cat``.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import argparse
import os
from typing import Any, TextIO

from manhattan import _cli
from manhattan.client import DEFAULT_CONNECT, DEFAULT_WAIT, Client

BROKEN_PIPE_STATUS = 141
"""The exit status after the reader of the output went away (128 + SIGPIPE)."""


def add_connection_flags(
    parser: argparse.ArgumentParser, wait: int = DEFAULT_WAIT, *, again: bool = False
) -> None:
    """Add ``--connect``, ``--wait`` (default ``wait`` ms) and the Curve key flags.

    ``again``: the parser is a subcommand's, whose parent has the flags
    already; they are taken here too (``manhattan-client ping --connect
    ...``), without defaults that would undo the parent's.
    """
    # Not set_defaults(): argparse would put its SUPPRESS marker in the namespace.
    unset = argparse.SUPPRESS
    parser.add_argument(
        "--connect",
        default=unset if again else DEFAULT_CONNECT,
        help=f"the server's query address (default {DEFAULT_CONNECT})",
    )
    parser.add_argument(
        "--wait",
        type=_cli.milliseconds,
        default=unset if again else wait,
        help=f"how long each call waits for a reply, in ms (default {wait})",
    )
    parser.add_argument(
        "--curve-server-key",
        default=unset if again else None,
        metavar="FILE",
        help="the server's public key file (NAME.key from manhattan-keys), "
        "for a server started with --curve-secret-key",
    )
    parser.add_argument(
        "--curve-secret-key",
        default=unset if again else None,
        metavar="FILE",
        help="this client's secret key file (NAME.key_secret), "
        "for a server that admits only listed clients (--curve-clients)",
    )


def curve_options(args: argparse.Namespace) -> dict[str, Any]:
    """The Curve keyword arguments of :class:`Client` from the parsed flags."""
    return {"curve_server_key": args.curve_server_key, "curve_secret_key": args.curve_secret_key}


def open_client(args: argparse.Namespace) -> Client:
    """The client the flags describe; a usage error (exit 2) naming what is
    wrong with the address or a key file."""
    try:
        return Client(args.connect, args.wait, **curve_options(args))
    except ValueError as exc:
        _cli.fail(exc)


def end_broken_pipe(stream: TextIO) -> int:
    """After a :class:`BrokenPipeError` writing to ``stream``: point it at
    the null device, so that flushing it at exit raises nothing more, and
    return :data:`BROKEN_PIPE_STATUS`."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)
    return BROKEN_PIPE_STATUS
