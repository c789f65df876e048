"""`SQLStore`: the Store of the backend, and its reads, on an SQL database."""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Final

from sqlalchemy import Connection, Select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from manhattan.analysis.plan import Plan
from manhattan.backend.model import Batch, QueryError, TestStats, Variant
from manhattan.backend.persistence import schema as s
from manhattan.backend.persistence.engine import (
    SNAPSHOT,
    CommitRefusedError,
    Prepared,
    StoreError,
    TransientStoreError,
    cause,
    is_transient,
    open_engines,
    safe_url,
)
from manhattan.backend.persistence.funnelreads import FunnelReads
from manhattan.backend.persistence.pagereads import PageReads
from manhattan.backend.persistence.queries import (
    BREAKDOWN_ORDERS,
    Names,
    Rows,
    breakdown_of,
    check_breakdown,
    check_goal_names,
    check_results,
    check_site,
    counter_key,
    names_of,
    refusal,
    results_of,
    slice_value,
    unknown_names,
)
from manhattan.backend.plans import warnings_of
from manhattan.records.vocabulary import AWAITING_PIXEL, IMPRESSION, NO_TEST, VIEWED_PAGE

VISITOR_CHUNK: Final = 500
"""Visitor ids per ``IN (...)`` list: well under every database's limit."""

SETUP_LOCK: Final = 0x6D616E68  # "manh": the advisory lock of table creation
"""PostgreSQL advisory lock key held while a store creates its tables."""

_GOAL_COLUMNS: Final = tuple(s.goals.c.keys())
_EMPTY: Final[Mapping[str, Any]] = {}
# One builder per order, so that _query_in's cache of compiled statements
# (keyed by builder) keeps them apart.
_BREAKDOWN: Final[Mapping[str, Callable[[int], Select[Any]]]] = {
    order: functools.partial(s.breakdown_rows, order=order) for order in BREAKDOWN_ORDERS
}


class SQLStore(FunnelReads, PageReads):
    """A :class:`~manhattan.backend.model.Store` on an SQL database, with
    the reads of :class:`~manhattan.backend.model.Queries` but ``analyze``,
    and :meth:`test_stats` (:class:`~manhattan.backend.model.StatsReader`)
    from which the server composes ``analyze``
    (:class:`~manhattan.server.service.StoreQueries`): the store stores,
    the statistics are not its business.

    ``url`` is an SQLAlchemy URL: ``sqlite:///path/to/file.db`` (the
    directory must exist; ``sqlite://`` is a private in-memory database, for
    tests) or ``postgresql+psycopg://user:password@host/database``. The
    tables are created on first use. Raises :class:`StoreError` when the
    database cannot be opened or has another schema version, and when a
    commit or a query fails in the database; :class:`QueryError` for bad
    query arguments and for names the store has never seen (see
    :class:`~manhattan.backend.model.Queries`). Safe to use from several
    threads.
    """

    def __init__(self, url: str = "sqlite:///manhattan.db", *, echo: bool = False) -> None:
        self.url = safe_url(url)
        """The URL, password hidden."""
        self._store_errors: tuple[type[Exception], ...] = (
            SQLAlchemyError,
            ImportError,
            sqlite3.Error,
        )
        with self._errors("cannot open the store at"):
            self._engine, self._reader, memory = open_engines(url, echo, self.url)
        try:
            dialect = self._reader.dialect
            self._driver_errors: tuple[type[Exception], ...] = (
                sqlite3.Error,
                dialect.loaded_dbapi.Error,
            )
            self._store_errors = (SQLAlchemyError, ImportError, *self._driver_errors)
            # A memory database is one shared connection: take turns on it.
            self._lock: AbstractContextManager[Any] = (
                threading.RLock() if memory else nullcontext()
            )
            self._snapshot = SNAPSHOT[dialect.name]
            insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
            # Upserts run as driver SQL with a tuple per row (table order).
            self._upserts = {
                table: str(statement.compile(dialect=dialect))
                for table, statement in s.upserts(insert).items()
            }
            self._reads = {name: Prepared(read, dialect) for name, read in s.READS.items()}
            self._prepared: dict[Hashable, Prepared] = {}  # reads with an IN list
            with self._errors("cannot open the store at"):
                self._setup()
        except BaseException:
            self.close()
            raise

    def _setup(self) -> None:
        with self._write() as conn:
            if conn.dialect.name == "postgresql":
                # Workers starting together on a fresh database would race
                # to create the same tables: one at a time (until commit).
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SETUP_LOCK})
            s.metadata.create_all(conn)
            found = conn.execute(s.SCHEMA).scalar()
            if found is None:
                conn.execute(
                    s.meta.insert().values(key="schema_version", value=str(s.SCHEMA_VERSION))
                )
            elif found != str(s.SCHEMA_VERSION):
                raise StoreError(
                    f"the database at {self.url} has schema version {found}, but this "
                    f"version of Manhattan uses schema version {s.SCHEMA_VERSION}"
                )

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database connections (a memory database is lost)."""
        self._reader.dispose()
        self._engine.dispose()

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except self._store_errors as exc:
            raise StoreError(f"{what} {self.url}: {cause(exc)}") from exc

    @contextmanager
    def _commit_errors(self) -> Iterator[None]:
        """Database errors of a commit as :class:`TransientStoreError` (worth
        another try) or :class:`CommitRefusedError` (not)."""
        # sqlite3 raises ValueError, TypeError or OverflowError for values
        # it cannot bind.
        failures: tuple[type[Exception], ...] = (
            *self._store_errors,
            ValueError,
            TypeError,
            OverflowError,
        )
        try:
            yield
        except failures as exc:
            message = f"commit failed on {self.url}: {cause(exc)}"
            if is_transient(exc):
                raise TransientStoreError(message) from exc
            raise CommitRefusedError(f"{message} (refused: trying again cannot help)") from exc

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._lock, self._engine.begin() as conn:
            yield conn

    @contextmanager
    def _cursor(self, snapshot: bool = False) -> Iterator[Any]:
        """A DB-API cursor to read with; ``snapshot``: its statements all
        see one committed state."""
        with self._errors("query failed on"), self._lock:
            raw = self._reader.raw_connection()
            try:
                cursor = raw.cursor()
                if snapshot:
                    cursor.execute(self._snapshot)
                yield cursor
                if snapshot:
                    raw.rollback()
            except self._driver_errors:
                raw.invalidate()  # maybe broken: let the pool open a new one
                raise
            finally:
                raw.close()

    def _query(self, cursor: Any, name: str, params: Mapping[str, Any] = _EMPTY) -> list[Any]:
        """The rows (tuples) of the fixed read ``schema.READS[name]``."""
        prepared = self._reads[name]
        cursor.execute(prepared.sql, prepared.args(params))
        return list(cursor.fetchall())

    def _query_in(
        self,
        cursor: Any,
        build: Callable[[int], Select[Any]],
        values: Sequence[Any],
        params: Mapping[str, Any] = _EMPTY,
    ) -> list[Any]:
        """The rows (tuples) of the read ``build`` makes, for an IN list of
        ``values``."""
        # The list is NULL-padded (NULL never matches) to a power of two
        # long: a handful of compiled statements serve every length.
        size = 1 << (len(values) - 1).bit_length()
        prepared = self._prepared.get((build, size))
        if prepared is None:
            prepared = Prepared(build(size), self._reader.dialect)
            self._prepared[build, size] = prepared
        cursor.execute(
            prepared.sql, prepared.args({**params, **{f"in{i}": v for i, v in enumerate(values)}})
        )
        return list(cursor.fetchall())

    # -- Store --------------------------------------------------------------

    def commit(self, batch: Batch, guard: Callable[[Connection], None] | None = None) -> None:
        """Apply ``batch`` in one transaction: all of it or none (see
        :class:`~manhattan.backend.model.Batch` for how each part merges).
        ``guard`` runs first in that transaction (also for an empty batch):
        whatever it raises rolls the transaction back and reaches the caller
        (see :mod:`~manhattan.backend.persistence.lease`). An empty batch
        without a guard is a no-op."""
        if not batch and guard is None:
            return
        # Every row is built before the transaction opens: a bad value fails
        # before anything is written, and the transaction stays short.
        # Shared rows go in key order: workers committing into one database
        # at once then lock them in the same order and never deadlock.
        work: dict[str, list[tuple[Any, ...]]] = {
            "counts": [
                (*key, int(delta[0]), float(delta[1]), float(delta[2]))
                for key, delta in sorted(batch.counts.items())
            ],
            "goals": [
                (name, g.value_type, g.value_format, g.first, g.last)
                for name, g in sorted(batch.goals.items())
            ],
            "tests": [
                (name, t.first, t.last, t.crossovers, json.dumps(t.weights) if t.weights else "")
                for name, t in sorted(batch.tests.items())
            ],
            "test_plans": [
                (name, p.plan, p.at, p.ended, p.winner) for name, p in sorted(batch.plans.items())
            ],
            "test_versions": [
                (test, kind, hashlib.sha256(value.encode()).hexdigest(), value, first)
                for (test, kind, value), first in sorted(batch.versions.items())
            ],
            "pages": [
                (*key, int(delta[0]), int(delta[1]), int(delta[2]))
                for key, delta in sorted(batch.pages.items())
            ],
            "page_paths": [(day, site, path) for site, day, path in sorted(batch.page_paths)],
            "visitors": list(batch.visitors.items()),
            "filtered": sorted(batch.filtered.items()),
            "meta": [
                *([] if batch.pointer is None else [("pointer", batch.pointer)]),
                *batch.pointers.items(),
            ],
        }
        with self._commit_errors(), self._write() as conn:
            if guard is not None:
                guard(conn)
            for table, rows in work.items():
                if rows:
                    # One executemany of precompiled SQL: SQLAlchemy's own
                    # per-row parameter handling costs more than SQLite.
                    conn.exec_driver_sql(self._upserts[table], rows)

    def load_pointer(self) -> str | None:
        """Where the log reader resumes; ``None`` for a fresh store."""
        with self._cursor() as cursor:
            rows = self._query(cursor, "pointer")
        return rows[0][0] if rows else None

    def load_pointers(self, names: Sequence[str]) -> dict[str, str]:
        """The stored :attr:`~manhattan.backend.model.Batch.pointers` among
        ``names`` (absent names have none yet)."""
        keys = list(names)
        found: dict[str, str] = {}
        with self._cursor(snapshot=True) as cursor:
            for start in range(0, len(keys), VISITOR_CHUNK):
                found.update(
                    self._query_in(cursor, s.meta_values, keys[start : start + VISITOR_CHUNK])
                )
        return found

    def load_ended(self) -> dict[str, float]:
        """When each ended test ended (see
        :class:`~manhattan.backend.model.EndedReader`)."""
        with self._cursor() as cursor:
            return {name: float(ended) for name, ended in self._query(cursor, "ended")}

    def load_visitors(self, visitor_ids: Sequence[str]) -> dict[str, str]:
        """Serialized states of those of ``visitor_ids`` that are stored."""
        ids = list(visitor_ids)
        states: dict[str, str] = {}
        with self._cursor(snapshot=True) as cursor:
            for start in range(0, len(ids), VISITOR_CHUNK):
                chunk = ids[start : start + VISITOR_CHUNK]
                states.update(self._query_in(cursor, s.visitor_states, chunk))
        return states

    # -- Queries ------------------------------------------------------------

    def _refuse_unknown(self, cursor: Any, names: Names) -> None:
        """Raise :class:`QueryError` when the store has counted something
        but never saw one of ``names``: an empty answer is then a misspelled
        name, not a zero. The message names each unknown name with the
        closest known ones. Called only once an answer came out empty, so
        that answers with data cost no extra statement."""
        params = names.params()
        known = self._query(cursor, "known", params)[0]
        goals = sorted(set(names.goals))
        found = (
            {goal for (goal,) in self._query_in(cursor, s.known_goals, goals)} if goals else set()
        )
        unknown = unknown_names(names, known, found)
        if unknown:
            candidates = {
                kind: [str(name) for (name,) in self._query(cursor, f"{kind}_names", params)]
                for kind in {kind for kind, _ in unknown}
            }
            waiting = dict(self._query(cursor, "filtered")).get(AWAITING_PIXEL, 0)
            raise QueryError(refusal(unknown, candidates, names, int(waiting)))

    def filtered(self) -> dict[str, int]:
        """Events not counted so far, by reason (see
        :meth:`~manhattan.backend.model.Queries.filtered`)."""
        with self._cursor() as cursor:
            return {reason: int(events) for reason, events in self._query(cursor, "filtered")}

    def count(
        self,
        goal: str | None = None,
        variant: Variant | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        site_id: int | None = None,
    ) -> int:
        """Unique visitors who reached ``goal`` in ``variant``'s population
        (no variant: all visitors; no goal: the population's impressions),
        in bucket ``str(bucket_id)`` of rollup ``rollup_key``, at site
        ``site_id`` (``None``: all sites). 0 where nothing was counted;
        :class:`QueryError` for a name the store never saw (see
        :class:`~manhattan.backend.model.Queries`)."""
        key = counter_key(goal, variant, rollup_key, bucket_id, site_id)
        with self._cursor() as cursor:
            rows = self._query(cursor, "count", key._asdict())
            if not rows:
                self._refuse_unknown(cursor, names_of(key))
        return int(rows[0][0]) if rows else 0

    def goal_value(
        self,
        goal: str,
        variant: Variant | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        site_id: int | None = None,
    ) -> float:
        """The goal's value in that slice by the goal's value type (see
        :func:`~manhattan.backend.persistence.goal_value_of`); arguments as
        in :meth:`count`."""
        if goal is None:
            raise QueryError("goal_value() needs a goal name")
        key = counter_key(goal, variant, rollup_key, bucket_id, site_id)
        with self._cursor(snapshot=True) as cursor:
            types = dict(self._query_in(cursor, s.value_types, [goal]))
            rows = self._slice(cursor, key.rollup, key.bucket, key.site, key.test, [goal])
            if (key.population, goal) not in rows:
                self._refuse_unknown(cursor, names_of(key))
        return slice_value(types, rows, key.population, goal)

    def _slice(
        self, cursor: Any, rollup: str, bucket: str, site: int, test: str, goals: Sequence[str]
    ) -> Rows:
        """The rows of ``goals``, impressions and page views in one slice."""
        params = {"rollup": rollup, "bucket": bucket, "site": site, "test": test}
        names = sorted({IMPRESSION, VIEWED_PAGE, *goals})
        rows = self._query_in(cursor, s.slice_rows, names, params)
        return {(p, g): (n, total) for p, g, n, total in rows}

    def results(
        self, test_name: str, goals: Sequence[str], site_id: int | None = None
    ) -> dict[str, list[float]]:
        """``{population: [goal_value(goal, (test_name, population)) for goal
        in goals]}`` in rollup ``all``, for every population of the test with
        impressions at site ``site_id`` (``None``: all sites), read from one
        snapshot."""
        names = check_results(test_name, goals)
        site = check_site(site_id)
        with self._cursor(snapshot=True) as cursor:
            types = dict(self._query_in(cursor, s.value_types, names))
            rows = self._slice(cursor, s.ALL_ROLLUP, s.ALL_BUCKET, site, test_name, names)
            answer = results_of(types, rows, names)
            seen = {goal for _, goal in rows}
            missing = tuple(goal for goal in names if goal not in seen)
            if missing or not answer:
                self._refuse_unknown(cursor, Names(site=site, test=test_name, goals=missing))
        return answer

    def test_stats(
        self,
        test_name: str,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        site_id: int | None = None,
        goals: Sequence[str] | None = None,
    ) -> TestStats:
        """Everything the analysis of one test needs, from one snapshot: per
        population its visitors (impressions) and, per goal, (conversions,
        value total, sum of squares of per-visitor totals); the weights its
        split() calls recorded; its crossover visitors; goals' value types;
        a declared experiment's latest plan, its first split's time, when it
        ended, and the warnings of what changed while it ran.
        ``goals`` are those the analysis will show: :class:`QueryError`
        for one the store never saw (one nobody in this slice reached is
        simply absent from the stats)."""
        key = counter_key(None, (test_name, ""), rollup_key, bucket_id, site_id)
        params = {"rollup": key.rollup, "bucket": key.bucket, "site": key.site, "test": test_name}
        with self._cursor(snapshot=True) as cursor:
            rows = self._query(cursor, "test_slice", params)
            if not rows:
                self._refuse_unknown(cursor, names_of(key)._replace(population=None))
            info = self._query(cursor, "test_info", {"name": test_name})
            versions = self._query(cursor, "test_versions", {"name": test_name})
            names = sorted({goal for _, goal, *_ in rows if goal != IMPRESSION})
            types = dict(self._query_in(cursor, s.value_types, names)) if names else {}
        stats = TestStats(test_name)
        for population, goal, visitors, total, sumsq in rows:
            if goal == IMPRESSION:
                stats.visitors[population] = int(visitors)
            else:
                stats.goals.setdefault(goal, {})[population] = (int(visitors), total, sumsq)
        if info:
            crossovers, weights, first, plan, ended = info[0]
            stats.crossovers = int(crossovers)
            stats.weights = json.loads(weights) if weights else {}
            stats.started = float(first)
            stats.plan = None if plan is None else Plan.from_json(plan)
            stats.ended = None if ended is None else float(ended)
        stats.warnings = warnings_of(versions, stats.crossovers)
        stats.value_types = {name: value_type for name, value_type in types.items() if value_type}
        if goals is not None:
            missing = tuple(goal for goal in check_goal_names(goals) if goal not in stats.goals)
            if missing:
                with self._cursor() as cursor:
                    self._refuse_unknown(cursor, Names(goals=missing))
        return stats

    def all_tests(self) -> list[tuple[str, float, float]]:
        """``[(name, first timestamp, last timestamp)]``, newest first."""
        with self._cursor() as cursor:
            return [tuple(row) for row in self._query(cursor, "all_tests")]

    def goals(self) -> list[dict[str, Any]]:
        """Every goal as ``{"name", "value_type", "value_format", "first",
        "last"}``, sorted by name."""
        with self._cursor() as cursor:
            return [
                dict(zip(_GOAL_COLUMNS, row, strict=True)) for row in self._query(cursor, "goals")
            ]

    def tests(self) -> list[dict[str, Any]]:
        """Every test as ``{"name", "first", "last", "populations",
        "crossovers", "weights"}``, newest first; ``populations`` (sorted)
        are those with impressions."""
        populations: dict[str, list[str]] = {}
        with self._cursor(snapshot=True) as cursor:
            rows = self._query(cursor, "tests")
            for test, population in self._query(cursor, "populations"):
                populations.setdefault(test, []).append(population)
        return [
            {
                "name": name,
                "first": first,
                "last": last,
                "populations": populations.get(name, []),
                "crossovers": crossovers,
                "weights": json.loads(weights) if weights else {},
            }
            for name, first, last, crossovers, weights in rows
        ]

    def sites(self) -> list[int]:
        """The ids of the sites with counts, in order (not :data:`ALL_SITES`)."""
        with self._cursor() as cursor:
            return [int(site) for (site,) in self._query(cursor, "sites")]

    def rollups(self) -> list[str]:
        """The keys of the rollups with counts, sorted."""
        with self._cursor() as cursor:
            return [str(name) for (name,) in self._query(cursor, "rollup_names")]

    def breakdown(
        self,
        rollup_key: str,
        goals: Sequence[str],
        test_name: str | None = None,
        site_id: int | None = None,
        limit: int = 31,
        order: str = "bucket",
    ) -> dict[str, dict[str, dict[str, list[float]]]]:
        """``{bucket: {population: {goal: [visitors, value total]}}}`` of
        ``goals`` in up to ``limit`` buckets of rollup ``rollup_key``, from
        one read.

        With ``test_name``, per population of that test, and the goal ``""``
        holds the population's impressions (its visitors); without, the
        population is ``""`` (all visitors). ``order`` picks the buckets:
        ``"bucket"`` the last ids (the newest days, weeks, months),
        ``"visitors"`` those where most visitors reached the first goal (with
        a test: had impressions), as the top browsers or referrers. Missing
        rows are zeros.
        """
        query = check_breakdown(rollup_key, goals, test_name, site_id, limit, order)
        names = [IMPRESSION, *query.goals] if query.test != NO_TEST else query.goals
        params = {
            "rollup": query.rollup,
            "site": query.site,
            "test": query.test,
            "limit": query.limit,
            "rank_goal": IMPRESSION if query.test != NO_TEST else query.goals[0],
        }
        with self._cursor() as cursor:
            rows = self._query_in(cursor, _BREAKDOWN[query.order], names, params)
            seen = {goal for _, _, goal, _, _ in rows}
            missing = tuple(goal for goal in query.goals if goal not in seen)
            if missing:
                names_given = Names(query.rollup, None, query.site, query.test, None, missing)
                self._refuse_unknown(cursor, names_given)
        return breakdown_of(rows)
