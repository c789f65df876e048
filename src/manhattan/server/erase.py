"""``manhattan-erase``: erase visitors from a file log and its database
(GDPR art. 17, the right to erasure).

    manhattan-erase VISITOR_ID ... --path /var/log/manhattan/log \\
        --url sqlite:///manhattan.db [--config mysite.analytics.CONFIG]

Give it the ``--path``, ``--url`` (or ``--db``) and ``--config`` (and
``--complex``, ``--funnel``, ``--within``, ``--page-rollups``,
``--max-paths-per-day``, ``--keep-query-params``, ``--timezone``,
``--week-start``) the server counts with:
the visitors' counts are taken out by counting them again the same way.

What it does
------------

Every count is a distinct-visitor count, a sum of values or a sum of
squares of per-visitor value totals, per (rollup, bucket, site, goal,
test, population): one visitor's share of each is separable. So for the
visitors erased:

1. It takes the log's lease, as a second server would, and exits 2 naming
   the holder while a server counts this log into this database. It exits
   2 too unless it was given the funnels the server declared (the store
   lists them), as it declared them: a replay without them would leave the
   visitor's funnel steps counted. Complex goals are not stored: give the
   server's ``--complex`` flags (or its ``--config``).
2. It reads their lines from the log files still kept (log order), and
   tells which ones the database has counted: those before its committed
   log pointer (see :mod:`manhattan.log.timerotating`).
3. It counts those again, alone, through a fresh aggregator configured as
   the server's (rollups, complex goals, funnels, pages, crawler list),
   meeting every counted test end marker where the server met it (and the
   ends stored from files no longer kept at the start): the deltas are
   exactly what they added to the counts (the funnels' steps are goals
   among them), the pages (views, visitors, entries), the ``crossovers``
   of tests and the ``filtered`` table.
4. It writes each log file that holds their lines again without them (a
   temporary file in the same directory, synced), moves the pointer's
   offsets to the same logical place (the bytes of the lines kept before
   them), and in one transaction subtracts the deltas, deletes their
   stored states and sets the new pointer. A counter left with no visitor
   and a page left with no view are deleted (with the bucket or path name
   that may be all that is left of the visitor), and so is the path cap's
   admission of a path nobody else viewed that day (known when ``day`` is
   a page rollup, as by default). Lines after the pointer, not counted
   yet, just go.

A split line that ends a test stays, with ``erased`` for its visitor id:
it is about the test (see :mod:`manhattan.server.erasefiles`). Lines that
do not decode stay as they are (the server counted them as malformed).
Goals' and tests' first and last times, plans and weights are not taken
back (they are not sums), nor are goal and test names. Live visitors
(``Client.live``) are in the server's memory only, and go within the
minutes they count.

What it guarantees: afterwards the counts and pages (every column), the
tests' crossovers, the filtered table, the other visitors' states and the
log pointer equal those of a database that counted the kept log files
without these visitors' lines, and no kept log file holds their ids.
(Value sums are floats: subtracting may differ from never adding in the
last bits. A counter at zero, which a visitor counted and then excluded
by a complex goal leaves, may be in one and not the other. On a day the
page cap was reached, which paths it admitted depends on who came first:
the visitors' views are taken from where the server counted them, a path
or ``(other)``, so the day's totals are exact, but a log without them
might have admitted another path.)

What it does not reach: log files already deleted (``--retain-days``) or
copied elsewhere, database backups, Redis stream entries, and counts from
records in files no longer kept: those are aggregates without
identifiers, and cannot be separated any more. It then says so for the
visitor (their stored state is not what the kept
files account for), and still deletes their state and subtracts what the
kept files hold.

A visitor whose lines are in a file that writers may still append to (the
current hour, and :data:`~manhattan.log.timerotating.LATE_WRITE_GRACE`
after it) is not erased yet: writing that file again would lose what
they append. It is named, with the time after which to run again.

Exit status: 0 when every visitor given was erased; 1 when one was
found in no kept log file and the database holds no state of theirs, or
when one must wait for a file to close (the others are erased); 2 for bad
flags, an unreadable log, an unreachable database, or a held lease.

Crash safety
------------

The steps, and what a crash between them leaves:

1. temporary files written and synced: nothing changed; the next run
   deletes them (``.<file>.erase-tmp``);
2. one transaction stores the intent (the deltas, the pointers before and
   after, the renames) and replaces the log pointer with one no server
   accepts (``manhattan-erase unfinished ...``): a server refuses to
   start until the erasure is finished;
3. each temporary file renamed over its log file, the directory synced;
4. one transaction subtracts, deletes the states, sets the new pointer
   and drops the intent.

A run that finds an intent finishes it first: renames what is still to
rename, then step 4 (which checks the intent is still there: never
twice). Running erase again on a visitor erased finds none of their lines
and subtracts nothing.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from manhattan import _cli
from manhattan.log.timerotating import HOUR, LATE_WRITE_GRACE, TimeRotatingLog
from manhattan.server.config import WEEK_STARTS, ConfigError, Settings, load_config, merge

if TYPE_CHECKING:
    from manhattan.backend.aggregate import Aggregator
    from manhattan.backend.funnels import Funnel
    from manhattan.backend.pages import PathLoader
    from manhattan.backend.persistence import SQLStore
    from manhattan.server.erasefiles import Found
    from manhattan.server.erasestore import Intent
    from manhattan.server.leases import LeaseKeeper

logger = logging.getLogger("manhattan.server")

PROGRAM = "manhattan-erase"

NOT_ERASED = 1
"""The exit status when a visitor given was not found, or must wait."""

Step = Callable[[str], None]
"""Called with the name of each step done (``"written"``, ``"prepared"``,
``"renamed"``, ``"applied"``): where a test makes the process die."""


def _names(text: str) -> list[str]:
    """A comma-separated list of names (``''``: none), as the server takes them."""
    return [name.strip() for name in text.split(",") if name.strip()]


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface: the server's flags for the log, the
    database and the counting."""
    parser = _cli.Parser(
        prog=PROGRAM,
        description="Erase visitors from a file log and take their share out of its "
        "database's counts (GDPR art. 17). Stop the server counting the log first.",
    )
    add = parser.add_argument
    add("visitor_id", nargs="+", metavar="VISITOR_ID", help="a visitor id to erase")
    add("-p", "--path", help="the log: TimeRotatingLog base path (files PATH.<hour>)")
    add("-u", "--url", "--db", dest="url", help="database URL (default sqlite:///manhattan.db)")
    add(
        "-c",
        "--complex",
        action="append",
        metavar="NAME|INCLUDE,...|EXCLUDE,...",
        help="a complex goal (repeatable), as the server has them",
    )
    add(
        "--funnel",
        action="append",
        metavar="NAME|STEP>STEP>...",
        help="an ordered funnel (repeatable), as the server has them",
    )
    add("--within", metavar="WINDOW", help="the window of every --funnel, as the server's")
    add(
        "--page-rollups",
        type=_names,
        metavar="NAMES",
        help="comma-separated rollups pages are counted in, as the server's (default all,day)",
    )
    add(
        "--max-paths-per-day",
        type=_cli.whole_number(1, "paths"),
        metavar="PATHS",
        help="distinct page paths kept per site per day, as the server's (default 1000)",
    )
    add(
        "--keep-query-params",
        type=_names,
        metavar="NAMES",
        help="comma-separated query parameters a page's path keeps, as the server's",
    )
    add("--config", help="dotted path of the server's Python dict of settings (flags win)")
    add("--timezone", help="IANA time zone of the day/week/month rollups (default UTC)")
    add("--week-start", choices=sorted(WEEK_STARTS), help="first day of a week (default sunday)")
    add(
        "--lease-seconds",
        type=_cli.seconds,
        metavar="SECONDS",
        help="how long the log stays this command's if it dies (default 30)",
    )
    _cli.add_logging_flags(parser, verbose="log each step", verbose_default=None)
    return parser


def settings_from(argv: Sequence[str] | None) -> tuple[Settings, list[str]]:
    """The settings and the visitor ids of ``argv``; ``CommandExit`` (status
    2) on bad flags, ``ConfigError`` on bad settings."""
    args = build_parser().parse_args(argv)
    flags = vars(args)
    ids = list(dict.fromkeys(flags.pop("visitor_id")))
    config = load_config(flags.pop("config")) if args.config else {}
    if not args.path:
        raise ConfigError("--path is required: the log the visitors are erased from")
    # Only a file log: a server's Redis settings in the config do not apply.
    settings = merge(config, {**flags, "redis": "", "partition": [], "query_only": False})
    return settings, ids


def _no_step(name: str) -> None:
    pass


def run(
    settings: Settings,
    ids: Sequence[str],
    out: TextIO,
    *,
    clock: Callable[[], float] = time.time,
    step: Step = _no_step,
) -> int:
    """Erase the visitors ``ids`` as ``settings`` say; a line per visitor
    on ``out``; the exit status. ``clock`` is the wall clock that tells
    which files writers may still append to."""
    from manhattan.backend.persistence import SQLStore
    from manhattan.server.counting import counting
    from manhattan.server.leases import FILE_LOG, LeaseKeeper, refusal
    from manhattan.server.sources import open_log

    how = counting(settings)
    log = open_log(settings.path, once=True)
    _check_database_exists(settings.url)
    store = SQLStore(settings.url)
    try:
        keeper = LeaseKeeper(store, settings.lease_seconds)
        refused = keeper.acquire([FILE_LOG])
        if refused:
            raise ConfigError(f"cannot erase: {refusal(refused, store.url)}")
        keeper.start(lambda lost: None)
        try:
            _check_funnels(how.funnels, store.funnels())
            return _erase(log, store, keeper, how.new, ids, out, clock(), step)
        finally:
            keeper.stop()
            keeper.release()
    finally:
        store.close()


def _check_funnels(given: Sequence[Funnel], declared: Sequence[dict[str, Any]]) -> None:
    """``ConfigError`` unless erase counts the funnels the server declared,
    as it declared them: a replay without them would leave the visitor's
    funnel steps in the counts."""
    ours = {funnel.name: funnel.as_dict() for funnel in given}
    missing = [item["name"] for item in declared if ours.get(item["name"]) != item]
    if missing:
        names = ", ".join(map(repr, missing))
        raise ConfigError(
            f"the server counts the funnel(s) {names}, which erase was not given as it "
            "was: pass the server's --funnel and --within flags (or its --config)"
        )


def _check_database_exists(url: str) -> None:
    """``ConfigError`` when ``url`` names an SQLite file that does not exist
    (opening it would create an empty database, with nothing to erase)."""
    from manhattan.server.sources import check_database_exists

    try:
        check_database_exists(url)
    except ConfigError:
        raise ConfigError(
            f"the database {url} does not exist: give the --url the server counts into"
        ) from None


def _erase(
    log: TimeRotatingLog,
    store: SQLStore,
    keeper: LeaseKeeper,
    new_aggregator: Callable[[PathLoader | None], Aggregator],
    ids: Sequence[str],
    out: TextIO,
    now: float,
    step: Step,
) -> int:
    from manhattan.server import erasefiles as files
    from manhattan.server import erasestore as db

    pending = db.load(store)
    finished: set[str] = set()
    if pending is not None:
        finished.update(pending.ids)
        _finish(log, store, keeper, pending, step)
        print(f"finished an interrupted erasure of {', '.join(pending.ids)}", file=out)
    for name in files.stray_temps(log):
        os.remove(os.path.join(log.directory, name))  # of a run that stopped before its intent
    pointer = store.load_pointer()
    try:
        where = files.position(log, pointer)
    except ValueError:
        raise ConfigError(
            f"the database at {store.url} has counted another log (up to {pointer}), "
            f"not {log.path}"
        ) from None
    wanted = set(ids)
    found = files.scan(log, where, wanted)
    status = 0
    for edit in files.open_to_writers(found.edits, now):
        until = time.strftime(
            "%Y-%m-%d %H:%M:%S UTC", time.gmtime(edit.hour + HOUR + LATE_WRITE_GRACE)
        )
        for vid in sorted(edit.ids & wanted):
            print(
                f"{vid}: not erased: writers may append to {edit.name} until {until}; "
                "run manhattan-erase again after then",
                file=out,
            )
            wanted.discard(vid)
            status = NOT_ERASED
    if wanted != set(ids):
        found = files.scan(log, where, wanted)
    states = store.load_visitors(sorted(wanted))
    for vid in ids:
        if vid in wanted and vid not in found.lines and vid not in states:
            wanted.discard(vid)
            if vid not in finished:
                print(f"{vid}: not found in the kept log files nor in the database", file=out)
                status = NOT_ERASED
    if not wanted:
        return status
    aggregator = _replay(found, store, new_aggregator)
    intent = db.Intent.of(
        aggregator.drain(),
        sorted(wanted),
        pointer,
        where.moved({edit.hour: edit.shifts() for edit in found.edits}),
    )
    intent.renames = [[files.write_again(log.directory, edit), edit.name] for edit in found.edits]
    step("written")
    try:
        db.prepare(store, intent, keeper.guard)
    except db.EraseError:
        for temp, _ in intent.renames:  # (else the next run deletes them)
            os.remove(os.path.join(log.directory, temp))
        raise
    step("prepared")
    _finish(log, store, keeper, intent, step)
    for vid in sorted(wanted):
        lines, counted = found.lines.get(vid, 0), found.counted.get(vid, 0)
        in_files = sum(1 for edit in found.edits if vid in edit.ids)
        print(
            f"{vid}: erased {lines} line(s) from {in_files} log file(s) "
            f"({counted} counted: their counts subtracted) and their stored state",
            file=out,
        )
        replayed = aggregator.visitors.get(vid)
        stored = states.get(vid)
        if _parsed(stored) != _parsed(None if replayed is None else replayed.to_json()):
            print(
                f"{vid}: warning: the kept log files do not account for all they were "
                "counted for (records in log files deleted since, or erase given other "
                "--complex or --config settings than the server?): those counts stay",
                file=out,
            )
    return status


def _parsed(state: str | None) -> object:
    return None if state is None else json.loads(state)


def _replay(
    found: Found, store: SQLStore, new_aggregator: Callable[[PathLoader | None], Aggregator]
) -> Aggregator:
    """An aggregator that counted the counted records ``found`` holds as the
    server did: with the end of each test known from where the server knew it."""
    from manhattan.server.erasestore import page_paths

    # The paths the page cap admitted: the replay's pages go where the
    # server's went, in a path or in "(other)".
    admitted = page_paths(store)
    aggregator = new_aggregator(lambda days: admitted)
    aggregator.refresh_pages()
    # An end stored before the first one the kept files hold was met in a
    # file no longer kept: known from the start. The others are met in order.
    aggregator.adopt_ended(
        {
            test: ended
            for test, ended in store.load_ended().items()
            if ended < found.marker_times.get(test, float("inf"))
        }
    )
    aggregator.add_all(found.replay)
    return aggregator


def _finish(
    log: TimeRotatingLog,
    store: SQLStore,
    keeper: LeaseKeeper,
    intent: Intent,
    step: Step,
) -> None:
    """Steps 3 and 4 of ``intent`` (see the module's docstring)."""
    from manhattan.server import erasefiles as files
    from manhattan.server import erasestore as db

    files.replace(log.directory, [(temp, target) for temp, target in intent.renames])
    step("renamed")
    db.apply(store, intent, keeper.guard)
    step("applied")


def main(argv: Sequence[str] | None = None, stdout: TextIO | None = None) -> int:
    """Entry point of ``manhattan-erase``; returns the exit status."""
    out = sys.stdout if stdout is None else stdout
    return _cli.run(PROGRAM, lambda: _main(argv, out))


def _main(argv: Sequence[str] | None, out: TextIO) -> int:
    try:
        settings, ids = settings_from(argv)
    except (ConfigError, OSError) as exc:
        _cli.fail(exc)
    from manhattan.backend.persistence import StoreError
    from manhattan.backend.persistence.lease import LeaseLostError
    from manhattan.server.erasestore import EraseError

    try:
        _cli.setup_logging(verbose=settings.verbose, path=settings.log, stream=sys.stderr)
        return run(settings, ids, out)
    except (ConfigError, StoreError, LeaseLostError, EraseError, OSError) as exc:
        _cli.fail(exc)
