"""``manhattan-server``: count a Manhattan log into a SQL database and
answer queries about it.

    manhattan-server --path /var/log/manhattan/log --url sqlite:///manhattan.db

or, one of several workers sharing the partitions of a Redis stream log
(each owns whole partitions; without --partition the workers share them
out, and take over those of workers that die: see
:mod:`manhattan.server.leases`):

    manhattan-server --redis redis://127.0.0.1:6379/0 --stream manhattan \
        --partitions 4 --partition 0 --partition 1 --url postgresql+psycopg://...

Bad flags, an unreachable database, an unreadable log, or another server
holding the lease on what this one would count end it with one line on
stderr and exit status 2; so do a ``--path`` that matches no log files
with ``--once`` (a server following the log warns each minute instead)
and a ``--query-only`` SQLite database that does not exist (see
:mod:`manhattan.server.sources`). ``--once`` ends with one summary line
on stderr (:mod:`manhattan.server.summary`). SIGTERM and SIGINT flush and
exit 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO, TypeAlias

from manhattan import _cli
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.server.config import WEEK_STARTS, ConfigError, Settings, load_config, merge

# The database, Redis, ZeroMQ and the rollups load in the functions that use
# them, after the flags are parsed: --help and bad flags answer at once.
if TYPE_CHECKING:
    from manhattan.backend.aggregate import Aggregator
    from manhattan.backend.live import LiveVisitors
    from manhattan.backend.persistence import SQLStore
    from manhattan.backend.persistence.lease import LeaseLostError
    from manhattan.log.streamreader import StreamReader
    from manhattan.server.leases import GuardedStore, LeaseKeeper
    from manhattan.server.retention import Retention
    from manhattan.server.service import QueryService
    from manhattan.server.streamstore import StreamStore
    from manhattan.server.worker import Progress, Worker

logger = logging.getLogger("manhattan.server")

PROGRAM = "manhattan-server"

QUERY_SWITCH_INTERVAL = 0.0005
"""Seconds a thread may hold the GIL while the query service runs."""


def _names(text: str) -> list[str]:
    """A comma-separated list of names (``''``: none)."""
    return [name.strip() for name in text.split(",") if name.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface (0.3's flags, and new ones)."""
    parser = _cli.Parser(
        prog=PROGRAM,
        description="Count a Manhattan log into a SQL database and answer queries about it.",
    )
    add = parser.add_argument
    add("-p", "--path", help="the log to read: TimeRotatingLog base path (files PATH.<hour>)")
    add("--redis", metavar="URL", help="read a Redis stream log (RedisStreamLog) instead")
    add("--stream", help="the stream's name, with --redis (default manhattan)")
    add(
        "--partitions",
        type=_cli.positive_int,
        metavar="N",
        help="the stream's partitions (default 1)",
    )
    add(
        "--partition",
        type=_cli.index,
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
    add(
        "--funnel",
        action="append",
        metavar="NAME|STEP>STEP>...",
        help="an ordered funnel (repeatable), e.g. 'Checkout|Viewed Product>Added To Cart>"
        "Purchased'; each step reached counts as the goal 'NAME: STEP'",
    )
    add(
        "--within",
        metavar="WINDOW",
        help="the window of every --funnel: all steps within this of step 1, e.g. 30m, 12h, "
        "1d, 2w (default none)",
    )
    add("--bind", help="ZeroMQ endpoint of the query service (default tcp://127.0.0.1:5555)")
    add(
        "--curve-secret-key",
        metavar="FILE",
        help="the query service's secret key file (from manhattan-keys): answer over "
        "CurveZMQ, only to clients with its public key; needed to bind beyond loopback",
    )
    add(
        "--curve-clients",
        metavar="DIR",
        help="with --curve-secret-key: answer only the clients whose public keys "
        "(NAME.key files) are in DIR",
    )
    add("--config", help="dotted path of a Python dict of these settings (flags win)")
    _cli.add_logging_flags(parser, verbose="log progress periodically", verbose_default=None)
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
        help="count nothing: only answer queries from the database, which must exist "
        "(beside workers)",
    )
    add("--timezone", help="IANA time zone of the day/week/month rollups (default UTC)")
    add("--week-start", choices=sorted(WEEK_STARTS), help="first day of a week (default sunday)")
    add("--flush-every", type=_cli.positive_int, metavar="EVENTS", help="commit every N events")
    add(
        "--flush-seconds",
        type=_cli.seconds,
        metavar="SECONDS",
        help="commit at least this often",
    )
    add(
        "--capacity",
        type=_cli.positive_int,
        metavar="VISITORS",
        help="visitor states kept in memory",
    )
    add(
        "--lease-seconds",
        type=_cli.seconds,
        metavar="SECONDS",
        help="how long what this server counts stays its own if it dies (default 30)",
    )
    add(
        "--retain-days",
        type=_cli.whole_number(1, "days"),
        metavar="DAYS",
        help="delete the log's hour files once counted and older than this (--path only)",
    )
    add(
        "--page-rollups",
        type=_names,
        metavar="NAMES",
        help="comma-separated rollups pages are counted in: all and time rollups "
        "(default all,day; '' counts no pages)",
    )
    add(
        "--max-paths-per-day",
        type=_cli.whole_number(1, "paths"),
        metavar="PATHS",
        help="distinct page paths kept per site per day; the rest count as (other) (default 1000)",
    )
    add(
        "--keep-query-params",
        type=_names,
        metavar="NAMES",
        help="comma-separated query parameters a page's path keeps (default none)",
    )
    return parser


def settings_from(argv: Sequence[str] | None) -> Settings:
    """Parse ``argv``; ``CommandExit`` (status 2) on bad flags, ``ConfigError`` on bad settings."""
    args = build_parser().parse_args(argv)
    flags = vars(args)
    config = load_config(flags.pop("config")) if args.config else {}
    return merge(config, flags)


def _open_stream(settings: Settings) -> StreamReader:
    import redis

    from manhattan.log.streamreader import StreamReader

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
    # Without --partition, the partitions come from balance() once leased.
    return StreamReader(client, settings.stream, settings.partition, trim=not settings.keep_stream)


def _check_pointer(log: TimeRotatingLog, store: SQLStore, path: str) -> None:
    """``ConfigError`` when the store's log pointer cannot be in this log."""
    pointer = store.load_pointer()
    if pointer is None:
        return
    try:
        hour, offset = log.parse_pointer(pointer)
    except ValueError:
        from manhattan.server.erasestore import UNFINISHED

        if pointer.startswith(UNFINISHED):
            raise ConfigError(
                f"an erasure of visitors from {path} and {store.url} was interrupted: "
                "run manhattan-erase again (any visitor id) to finish it first"
            ) from None
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


def _query_service(
    store: SQLStore, settings: Settings, tracker: LiveVisitors | None = None
) -> QueryService:
    """The query service of ``settings`` (what stops it starting is an
    OSError: exit 2); ``live()`` answered from ``tracker`` if given."""
    from manhattan.server.service import QueryService, StoreQueries

    return QueryService(
        StoreQueries(store, tracker=tracker),
        settings.bind,
        curve_secret_key=settings.curve_secret_key,
        curve_clients=settings.curve_clients,
    )


def serve_queries(settings: Settings, stop: threading.Event) -> int:
    """Answer queries from the database at ``settings.url`` until ``stop``.

    For partitioned deployments: the workers count and commit; this only
    reads what they committed (at most ``--flush-seconds`` old).
    """
    from manhattan.backend.persistence import SQLStore
    from manhattan.server.sources import check_database_exists

    check_database_exists(settings.url)
    store = SQLStore(settings.url)
    try:
        with _query_service(store, settings):
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
    import redis

    from manhattan.backend.live import LiveVisitors
    from manhattan.backend.model import VIEWED_PAGE
    from manhattan.backend.persistence import SQLStore, StoreError
    from manhattan.backend.persistence.lease import LeaseLostError
    from manhattan.log.streamreader import PartitionsRevokedError, StreamReader
    from manhattan.server.counting import counting
    from manhattan.server.leases import GuardedStore, LeaseKeeper, drop_lost
    from manhattan.server.retention import Retention
    from manhattan.server.sources import open_log, warn_until_files
    from manhattan.server.status import StatusLine
    from manhattan.server.streamstore import StreamStore
    from manhattan.server.summary import summary_line
    from manhattan.server.worker import Worker

    # One for the server's life: a worker started again after a lost lease
    # keeps telling the same one. Fed with --once too, where nothing asks,
    # so that the benchmark's figure is the serving one's.
    tracker = LiveVisitors()
    how = counting(settings, live=tracker)

    def new_aggregator() -> Aggregator:
        # The store opens below; the page counter first reads it once counting starts.
        return how.aggregator(lambda days: store.load_page_paths(days))

    aggregator = new_aggregator()
    reader: TimeRotatingLog | StreamReader
    if settings.redis:
        reader = _open_stream(settings)
        owned = reader.partitions or "without a lease"
        source = f"{settings.redis} stream {settings.stream} partitions {owned}"
    else:
        reader = open_log(settings.path, settings.once)
        source = settings.path
    try:
        store = SQLStore(settings.url)
    except BaseException:
        _close_reader(reader)
        raise
    service = None
    status = None
    watcher = None
    ended = threading.Event()
    summary = ""
    retention: Retention | None = None
    keeper = LeaseKeeper(store, settings.lease_seconds)
    switch = sys.getswitchinterval()
    try:
        # Every commit renews the leases in its own transaction, or fails.
        guarded = GuardedStore(store, keeper)
        if isinstance(reader, StreamReader):
            # The worker's pointer goes to one row per owned partition.
            counted: StreamStore | GuardedStore = StreamStore(guarded, reader)
            on_lost, tick = _claim_partitions(settings, reader, keeper)
        else:
            _check_pointer(reader, store, settings.path)
            counted = guarded
            if settings.retain_days is not None:
                retention = Retention(reader, settings.retain_days, store.load_pointer)
            on_lost, tick = _claim_log(keeper, stop, retention)
            if not settings.once and not reader.files():
                watcher = warn_until_files(reader, settings.path, ended)
        keeper.start(on_lost, tick)
        if how.funnels:
            # So that queries know them; only once this server may count
            # (a refused second server changes nothing).
            store.declare_funnels(how.funnels)
        if not settings.once:
            service = _query_service(store, settings, tracker)
            service.start()
            # The counting thread holds the GIL for up to the switch interval
            # (5 ms by default) at a time: queries answer faster with less.
            sys.setswitchinterval(QUERY_SWITCH_INTERVAL)

        def new_worker(aggregator: Aggregator, progress: Progress | None = None) -> Worker:
            return Worker(
                reader,
                counted,
                aggregator,
                progress=progress,
                flush_every=settings.flush_every,
                flush_seconds=settings.flush_seconds,
                # Transient: Redis or the database going away and coming back.
                retry_on=(redis.RedisError, StoreError),
            )

        worker = new_worker(aggregator)
        if settings.verbose or (settings.once and stderr.isatty()):
            bar = settings.once and stderr.isatty()
            status = StatusLine(worker.progress, reader, stderr, bar=bar)
            status.start()
        logger.info("counting %s into %s", source, store.url)
        while True:
            try:
                worker.run(stop, once=settings.once)
                break
            except (LeaseLostError, PartitionsRevokedError) as exc:
                if not isinstance(reader, StreamReader):
                    raise ConfigError(_log_taken(exc, settings, store.url)) from None
                revoked = exc.partitions if isinstance(exc, PartitionsRevokedError) else []
                dropped = drop_lost(keeper, reader, settings.partitions, revoked)
                logger.warning(
                    "partitions %s were taken over or given up: counting the others "
                    "again from their last commit",
                    dropped,
                )
            # What was counted and not committed is gone with the aggregator:
            # the partitions still held are read again from their last commit.
            # The same progress goes on, for the status line reads it.
            worker = new_worker(new_aggregator(), worker.progress)
        if not isinstance(reader, StreamReader) and keeper.lost:
            lost = LeaseLostError(keeper.lost, keeper.read(sorted(keeper.lost)))
            raise ConfigError(_log_taken(lost, settings, store.url))
        if retention is not None:
            retention.prune()  # after the final commit
        if settings.once:
            summary = summary_line(
                worker.progress.events,
                store.count(VIEWED_PAGE),
                store.filtered(),
                counted_anything=bool(store.sites()),
            )
    finally:
        ended.set()
        if watcher is not None:
            watcher.join()
        sys.setswitchinterval(switch)
        if status is not None:
            status.stop()
        if service is not None:
            # A query still running holds the store: give it time to finish.
            service.stop(timeout=10.0)
        _release(keeper)
        store.close()
        _close_reader(reader)
    logger.info("stopped after %d events", worker.progress.events)
    if summary:
        print(f"manhattan-server: {summary}", file=stderr)
    return 0


LostHandler: TypeAlias = "Callable[[LeaseLostError], None]"


def _claim_log(
    keeper: LeaseKeeper, stop: threading.Event, retention: Retention | None = None
) -> tuple[LostHandler, Callable[[], None]]:
    """Take the file log's lease, or ``ConfigError`` naming its holder; what
    to do when the lease is lost (stop: the last commit fails and says who
    took it) and at each renewal (delete the files ``retention`` allows, if
    given)."""
    from manhattan.server.leases import FILE_LOG, refusal

    refused = keeper.acquire([FILE_LOG])
    if refused:
        raise ConfigError(refusal(refused, keeper.store.url))

    def on_lost(lost: LeaseLostError) -> None:
        stop.set()

    return on_lost, (retention.tick if retention is not None else lambda: None)


def _claim_partitions(
    settings: Settings, reader: StreamReader, keeper: LeaseKeeper
) -> tuple[LostHandler, Callable[[], None]]:
    """Take the pinned partitions' leases (``ConfigError`` naming the
    holders of any that a live worker holds), or else this worker's share
    of the partitions no live worker holds; what to do when leases are lost
    (revoke those partitions) and at each renewal (take back pinned
    partitions that are free again; or balance the shares)."""
    from manhattan.server.leases import balance, partition_names, refusal, take_free

    names = partition_names(reader, range(settings.partitions))
    pinned = settings.partition

    def tick() -> None:
        if pinned:
            take_free(keeper, reader, pinned)
        else:
            balance(keeper, reader, settings.partitions)

    if pinned:
        refused = keeper.acquire([reader.pointer_name(i) for i in pinned])
        if refused:
            raise ConfigError(refusal(refused, keeper.store.url))
    elif not balance(keeper, reader, settings.partitions):
        logger.info("no partition is free for this worker: standing by to take over")

    def on_lost(lost: LeaseLostError) -> None:
        logger.warning("%s", lost)
        reader.revoke(names[name] for name in lost.names if name in names)

    return on_lost, tick


def _log_taken(exc: Exception, settings: Settings, url: str) -> str:
    return (
        f"{exc}: another manhattan-server counts {settings.path} into {url} now; "
        "this one stopped without committing what it counted since its last commit"
    )


def _release(keeper: LeaseKeeper) -> None:
    from manhattan.backend.persistence import StoreError

    keeper.stop()
    try:
        keeper.release()
    except StoreError as exc:
        # They expire on their own: another server waits --lease-seconds.
        logger.error("could not release the leases (%s)", exc)


def _close_reader(reader: TimeRotatingLog | StreamReader) -> None:
    from manhattan.log.streamreader import StreamReader

    if isinstance(reader, StreamReader):
        reader.client.close()


def main(argv: Sequence[str] | None = None, stderr: TextIO | None = None) -> int:
    """Entry point of ``manhattan-server``; returns the exit status. Errors
    and status lines go to ``stderr`` (default ``sys.stderr``)."""
    stream = sys.stderr if stderr is None else stderr
    return _cli.run(PROGRAM, lambda: _serve(argv, stream), stderr=stream)


def _serve(argv: Sequence[str] | None, stderr: TextIO) -> int:
    """``main``: run until a signal; one line and exit status 2 for what
    stops the server starting or running."""
    try:
        settings = settings_from(argv)
    except (ConfigError, OSError) as exc:
        _cli.fail(exc)
    # Loaded once the flags are parsed: --help and bad flags answer at once.
    import redis

    from manhattan.backend.persistence import StoreError

    try:
        _cli.setup_logging(verbose=settings.verbose, path=settings.log, stream=stderr)
        with _cli.stop_on_signals() as stop:
            return run(settings, stop, stderr)
    except (ConfigError, StoreError, OSError, redis.RedisError) as exc:
        _cli.fail(exc)
