"""``manhattan-log-server``: drain ``RemoteLog``'s Redis list into a ``TimeRotatingLog``.

    manhattan-log-server --path /var/log/manhattan/log --redis redis://127.0.0.1:6379/0

It creates the log's directory if need be, as ``TimeRotatingLog`` does.
Bad flags, an unusable log path or an unreachable Redis at start end it
with one line on stderr and exit status 2; SIGTERM and SIGINT end the
cycle under way and exit 0. Why a kill loses and repeats nothing is told in
:mod:`manhattan.logserver`; the loop is in :mod:`manhattan.logserver.server`,
the state file's format in :mod:`manhattan.logserver.protocol`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TextIO

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from manhattan import _cli
from manhattan.exceptions import StartError as StartError
from manhattan.log.remote import DEFAULT_KEY
from manhattan.log.timerotating import TimeRotatingLog

# The names this module held before the protocol and the server had modules
# of their own stay importable from it.
from manhattan.logserver.protocol import Decision as Decision
from manhattan.logserver.protocol import Intent as Intent
from manhattan.logserver.protocol import batch_hash as batch_hash
from manhattan.logserver.protocol import decide as decide
from manhattan.logserver.protocol import missing_part as missing_part
from manhattan.logserver.protocol import validate as validate
from manhattan.logserver.server import BLOCK_SECONDS as BLOCK_SECONDS
from manhattan.logserver.server import LogServer as LogServer
from manhattan.logserver.server import StateFile as StateFile
from manhattan.logserver.server import logger
from manhattan.logserver.server import run as run

PROGRAM = "manhattan-log-server"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (0.3's, with reliable draining)."""
    parser = _cli.Parser(
        prog=PROGRAM,
        description="Drain the Redis list RemoteLog pushes to into a TimeRotatingLog.",
    )
    add = parser.add_argument
    add("-p", "--path", required=True, help="the log to write: TimeRotatingLog base path")
    add("--redis", default=DEFAULT_REDIS, help=f"Redis URL (default {DEFAULT_REDIS})")
    add("-k", "--key", default=DEFAULT_KEY, help=f"the Redis list (default {DEFAULT_KEY})")
    add("--batch", type=_cli.positive_int, default=100, help="entries per write (default 100)")
    _cli.add_logging_flags(parser, verbose="log each batch")
    return parser


def open_server(args: argparse.Namespace) -> LogServer:
    """A server for the parsed flags; ``StartError`` when it cannot run."""
    try:
        log = TimeRotatingLog(args.path)
    except ValueError as exc:
        raise StartError(f"--path: {exc}") from None
    try:
        os.makedirs(log.directory, exist_ok=True)
    except OSError as exc:
        raise StartError(
            f"cannot create log directory {log.directory} (from --path {args.path}): "
            f"{exc.strerror}"
        ) from None
    try:
        client = redis.Redis.from_url(
            args.redis,
            socket_timeout=BLOCK_SECONDS + 5,
            socket_connect_timeout=2,
            # run() waits and tries again itself, with its own backoff; retrying
            # is safe, as each cycle reads the processing list afresh.
            retry=Retry(NoBackoff(), 1),
        )
        client.ping()
    except (ValueError, redis.RedisError) as exc:
        raise StartError(f"cannot reach Redis at {args.redis}: {exc}") from None
    return LogServer(client, args.key, log, args.batch)


def main(argv: Sequence[str] | None = None, stderr: TextIO | None = None) -> int:
    """Entry point of ``manhattan-log-server``; returns the exit status."""
    stream = sys.stderr if stderr is None else stderr
    return _cli.run(PROGRAM, lambda: _main(argv, stream), stderr=stream)


def _main(argv: Sequence[str] | None, stderr: TextIO) -> int:
    args = build_parser().parse_args(argv)
    try:
        _cli.setup_logging(verbose=args.verbose, path=args.log, stream=stderr)
        server = open_server(args)
    except (StartError, OSError) as exc:
        # Only starting ends in one line: a failure while draining (a disk
        # that fails) shows its traceback.
        _cli.fail(exc)
    try:
        with _cli.stop_on_signals() as stop:
            logger.info("draining Redis list %r into %s", args.key, server.log.path)
            run(server, stop)
    finally:
        server.log.close()
        server.client.close()
    logger.info("stopped after %d entries", server.batches)
    return 0
