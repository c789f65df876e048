"""``manhattan-server``: count a Manhattan log into a SQL database and
answer queries about it.

    manhattan-server --path /var/log/manhattan/log --url sqlite:///manhattan.db

or, one of several workers sharing the partitions of a Redis stream log
(each owns whole partitions; without --partition it owns all of them):

    manhattan-server --redis redis://127.0.0.1:6379/0 --stream manhattan \
        --partitions 4 --partition 0 --partition 1 --url postgresql+psycopg://...

Bad flags, an unreachable database or an unreadable log end it with one
line on stderr and exit status 2; SIGTERM and SIGINT flush and exit 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import Any, TextIO

import redis

from manhattan.backend import rollups as builtin_rollups
from manhattan.backend.aggregate import Aggregator
from manhattan.backend.complexgoals import parse_complex_goal
from manhattan.backend.persistence import SQLStore, StoreError
from manhattan.log.streamreader import StreamReader, StreamStore
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.server.config import WEEK_STARTS, ConfigError, Settings, load_config, merge
from manhattan.server.service import QueryService
from manhattan.server.status import StatusLine
from manhattan.server.worker import Worker

logger = logging.getLogger("manhattan.server")

QUERY_SWITCH_INTERVAL = 0.0005
"""Seconds a thread may hold the GIL while the query service runs."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _partition_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a partition number, not {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"partitions are numbered from 0, not {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, not {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (0.3's flags, and new ones)."""
    parser = argparse.ArgumentParser(
        prog="manhattan-server",
        description="Count a Manhattan log into a SQL database and answer queries about it.",
    )
    add = parser.add_argument
    add("-p", "--path", help="the log to read: TimeRotatingLog base path (files PATH.<hour>)")
    add("--redis", metavar="URL", help="read a Redis stream log (RedisStreamLog) instead")
    add("--stream", help="the stream's name, with --redis (default manhattan)")
    add(
        "--partitions", type=_positive_int, metavar="N", help="the stream's partitions (default 1)"
    )
    add(
        "--partition",
        type=_partition_number,
        action="append",
        metavar="I",
        help="a partition this worker owns (repeatable; default all)",
    )
    add(
        "--keep-stream",
        action="store_true",
        default=None,
        help="don't trim committed entries from the stream (other consumers read it too)",
    )
    add("-u", "--url", help="database URL (default sqlite:///manhattan.db)")
    add(
        "-c",
        "--complex",
        action="append",
        metavar="NAME|INCLUDE,...|EXCLUDE,...",
        help="a complex goal (repeatable), e.g. 'Abandoned Cart|Added To Cart|Began Checkout'",
    )
    add("--bind", help="ZeroMQ endpoint of the query service (default tcp://127.0.0.1:5555)")
    add("--config", help="dotted path of a Python dict of these settings (flags win)")
    add("--log", help="write the server's own log (errors, and with -v progress) to this file")
    add("-v", "--verbose", action="store_true", default=None, help="log progress periodically")
    add(
        "--once",
        action="store_true",
        default=None,
        help="process what the log holds, flush and exit (backfills, rebuilds)",
    )
    add(
        "--query-only",
        action="store_true",
        default=None,
        help="count nothing: only answer queries from the database (beside workers)",
    )
    add("--timezone", help="IANA time zone of the day/week/month rollups (default UTC)")
    add("--week-start", choices=sorted(WEEK_STARTS), help="first day of a week (default sunday)")
    add("--flush-every", type=_positive_int, metavar="EVENTS", help="commit every N events")
    add(
        "--flush-seconds",
        type=_positive_float,
        metavar="SECONDS",
        help="commit at least this often",
    )
    add("--capacity", type=_positive_int, metavar="VISITORS", help="visitor states kept in memory")
    return parser


def settings_from(argv: Sequence[str] | None) -> Settings:
    """Parse ``argv`` (argparse exits on bad flags); ``ConfigError`` on bad settings."""
    args = build_parser().parse_args(argv)
    flags = vars(args)
    config = load_config(flags.pop("config")) if args.config else {}
    return merge(config, flags)


def _setup_logging(settings: Settings, stream: TextIO) -> None:
    level = logging.INFO if settings.verbose else logging.WARNING
    handler: logging.Handler = (
        logging.FileHandler(settings.log) if settings.log else logging.StreamHandler(stream)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("manhattan")
    root.handlers[:] = [handler]
    root.setLevel(level)


def _open_log(path: str) -> TimeRotatingLog:
    try:
        log = TimeRotatingLog(path)
    except ValueError as exc:  # a directory, not a file name
        raise ConfigError(f"--path: {exc}") from None
    if not os.path.isdir(log.directory):
        raise ConfigError(f"log directory {log.directory} does not exist (from --path {path})")
    if not os.access(log.directory, os.R_OK | os.X_OK):
        raise ConfigError(f"log directory {log.directory} is not readable")
    for _, name in log.files():
        if not os.access(os.path.join(log.directory, name), os.R_OK):
            raise ConfigError(f"log file {name} in {log.directory} is not readable")
    return log


def _open_stream(settings: Settings) -> StreamReader:
    try:
        client: redis.Redis = redis.Redis.from_url(
            settings.redis, socket_timeout=30.0, socket_connect_timeout=5.0
        )
    except ValueError as exc:
        raise ConfigError(f"--redis: {exc}") from None
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        raise ConfigError(f"cannot reach Redis at {settings.redis}: {exc}") from None
    owned = settings.partition or list(range(settings.partitions))
    return StreamReader(client, settings.stream, owned, trim=not settings.keep_stream)


def _check_pointer(log: TimeRotatingLog, store: SQLStore, path: str) -> None:
    """``ConfigError`` when the store's log pointer cannot be in this log."""
    pointer = store.load_pointer()
    if pointer is None:
        return
    try:
        hour, offset = log.parse_pointer(pointer)
    except ValueError:
        raise ConfigError(
            f"the database at {store.url} has counted another log (up to {pointer}), "
            f"not --path {path}: use a fresh database for this log"
        ) from None
    try:
        size = os.path.getsize(f"{log.path}.{hour}")
    except FileNotFoundError:
        return  # deleted since: reading resumes at the next file
    if size < offset:
        raise ConfigError(
            f"the database at {store.url} has counted {pointer}, but that log file "
            f"now holds only {size} bytes: it was replaced; use a fresh database"
        )


def serve_queries(settings: Settings, stop: threading.Event) -> int:
    """Answer queries from the database at ``settings.url`` until ``stop``.

    For partitioned deployments: the workers count and commit; this only
    reads what they committed (at most ``--flush-seconds`` old).
    """
    store = SQLStore(settings.url)
    try:
        with QueryService(store, settings.bind):
            logger.info("answering queries on %s from %s", settings.bind, store.url)
            stop.wait()
    finally:
        store.close()
    return 0


def run(settings: Settings, stop: threading.Event, stderr: TextIO | None = None) -> int:
    """Run the server with ``settings`` until ``stop`` (or the log's end with
    ``once``); status lines go to ``stderr`` (default ``sys.stderr``)."""
    stderr = sys.stderr if stderr is None else stderr
    if settings.query_only:
        return serve_queries(settings, stop)
    try:
        rollups = builtin_rollups.build_rollups(
            settings.rollups,
            tz=settings.timezone,
            first_weekday=WEEK_STARTS[settings.week_start],
            networks=settings.networks,
        )
        complex_goals = [parse_complex_goal(spec) for spec in settings.complex]
        aggregator = Aggregator(
            rollups,
            complex_goals,
            is_crawler=builtin_rollups.is_crawler,
            capacity=settings.capacity,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    reader: TimeRotatingLog | StreamReader
    if settings.redis:
        reader = _open_stream(settings)
        source = f"{settings.redis} stream {settings.stream} partitions {reader.partitions}"
    else:
        reader = _open_log(settings.path)
        source = settings.path
    try:
        store = SQLStore(settings.url)
    except BaseException:
        _close_reader(reader)
        raise
    service = None
    status = None
    switch = sys.getswitchinterval()
    try:
        if isinstance(reader, StreamReader):
            # The worker's pointer goes to one row per owned partition.
            counted: StreamStore | SQLStore = StreamStore(store, reader)
        else:
            _check_pointer(reader, store, settings.path)
            counted = store
        if not settings.once:
            service = QueryService(store, settings.bind)
            service.start()
            # The counting thread holds the GIL for up to the switch interval
            # (5 ms by default) at a time: queries answer faster with less.
            sys.setswitchinterval(QUERY_SWITCH_INTERVAL)
        worker = Worker(
            reader,
            counted,
            aggregator,
            flush_every=settings.flush_every,
            flush_seconds=settings.flush_seconds,
            # Transient: Redis or the database going away and coming back.
            retry_on=(redis.RedisError, StoreError),
        )
        if settings.verbose or (settings.once and stderr.isatty()):
            status = StatusLine(worker, reader, stderr, bar=settings.once and stderr.isatty())
            status.start()
        logger.info("counting %s into %s", source, store.url)
        worker.run(stop, once=settings.once)
    finally:
        sys.setswitchinterval(switch)
        if status is not None:
            status.stop()
        if service is not None:
            # A query still running holds the store: give it time to finish.
            service.stop(timeout=10.0)
        store.close()
        _close_reader(reader)
    logger.info("stopped after %d events", worker.progress.events)
    return 0


def _close_reader(reader: TimeRotatingLog | StreamReader) -> None:
    if isinstance(reader, StreamReader):
        reader.client.close()


def main(argv: Sequence[str] | None = None, stderr: TextIO | None = None) -> int:
    """Entry point of ``manhattan-server``; returns the exit status. Errors
    and status lines go to ``stderr`` (default ``sys.stderr``)."""
    stderr = sys.stderr if stderr is None else stderr
    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        stop.set()

    try:
        settings = settings_from(argv)
        _setup_logging(settings, stderr)
        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                previous[signum] = signal.signal(signum, on_signal)
        try:
            return run(settings, stop, stderr)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    except (ConfigError, StoreError, OSError, redis.RedisError) as exc:
        print(f"manhattan-server: error: {exc}", file=stderr)
        return 2
