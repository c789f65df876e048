"""The tables, the statements that read them and the upserts that merge a
:class:`~manhattan.backend.model.Batch` into them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Double,
    Integer,
    MetaData,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    union,
)

from manhattan.backend.model import ALL_SITES, IMPRESSION, NO_TEST

SCHEMA_VERSION: Final = 1
"""Version of the table layout below; bump it on any incompatible change."""

ALL_ROLLUP: Final = "all"
ALL_BUCKET: Final = "0"

metadata = MetaData()
meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)
# The key column order serves every query: an exact key (count), and a
# (rollup, bucket, site) prefix with a few goals and one test (results).
counts = Table(
    "counts",
    metadata,
    Column("rollup", Text, primary_key=True),
    Column("bucket", Text, primary_key=True),
    Column("site", Integer, primary_key=True),
    Column("goal", Text, primary_key=True),
    Column("test", Text, primary_key=True),
    Column("population", Text, primary_key=True),
    Column("visitors", BigInteger, nullable=False),
    Column("value_total", Double, nullable=False),
    Column("value_sumsq", Double, nullable=False),
    sqlite_with_rowid=False,  # the key is the row: one b-tree, half the size
)
goals = Table(
    "goals",
    metadata,
    Column("name", Text, primary_key=True),
    Column("value_type", Text, nullable=False),
    Column("value_format", Text, nullable=False),
    Column("first", Double, nullable=False),
    Column("last", Double, nullable=False),
)
tests = Table(
    "tests",
    metadata,
    Column("name", Text, primary_key=True),
    Column("first", Double, nullable=False),
    Column("last", Double, nullable=False),
    Column("crossovers", BigInteger, nullable=False),
    Column("weights", Text, nullable=False),  # a JSON object; "" when unknown
)
visitors = Table(
    "visitors",
    metadata,
    Column("id", Text, primary_key=True),
    Column("state", Text, nullable=False),
    sqlite_with_rowid=False,
)
filtered = Table(
    "filtered",
    metadata,
    Column("reason", Text, primary_key=True),
    Column("events", BigInteger, nullable=False),
)
# Who counts what (see manhattan.backend.persistence.lease). A table added
# after schema version 1 without changing it: create_all adds it to an
# existing database, and a Manhattan that predates it never reads it.
leases = Table(
    "leases",
    metadata,
    Column("name", Text, primary_key=True),
    Column("holder", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("since", Double, nullable=False),  # seconds since the epoch, database clock
    Column("expires", Double, nullable=False),
)

# Declared experiments (see manhattan.backend.plans), added after schema
# version 1 like the leases: the latest plan, and the end, of each test...
test_plans = Table(
    "test_plans",
    metadata,
    Column("name", Text, primary_key=True),
    Column("plan", Text, nullable=False),  # the latest plan's JSON
    Column("at", Double, nullable=False),  # its split record's time
    Column("ended", Double, nullable=True),  # the earliest end marker's time
    Column("winner", Text, nullable=False),  # the population it named
)
# ...and each distinct plan and population list of a test, with the first
# time seen. The JSON is keyed by its digest: a long population list would
# make too long an index row.
test_versions = Table(
    "test_versions",
    metadata,
    Column("test", Text, primary_key=True),
    Column("kind", Text, primary_key=True),  # "plan" or "populations"
    Column("digest", Text, primary_key=True),  # SHA-256 of value, in hex
    Column("value", Text, nullable=False),
    Column("first", Double, nullable=False),
)

# Pages (see manhattan.backend.pages), added after schema version 1 like
# the leases: page views, visitors and entries per (rollup, bucket, site,
# path) of the page rollups...
pages = Table(
    "pages",
    metadata,
    Column("rollup", Text, primary_key=True),
    Column("bucket", Text, primary_key=True),
    Column("site", Integer, primary_key=True),
    Column("path", Text, primary_key=True),
    Column("views", BigInteger, nullable=False),
    Column("visitors", BigInteger, nullable=False),
    Column("entries", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
# ...and the paths the cap of paths per site per day admitted.
page_paths = Table(
    "page_paths",
    metadata,
    Column("day", Text, primary_key=True),
    Column("site", Integer, primary_key=True),
    Column("path", Text, primary_key=True),
    sqlite_with_rowid=False,
)

# Reads, compiled once each (see SQLStore): fixed statements, and builders
# of statements with an IN list of ``size`` parameters ``in0``, ``in1``...
SCHEMA = select(meta.c.value).where(meta.c.key == "schema_version")
POINTER = select(meta.c.value).where(meta.c.key == "pointer")
COUNT = select(counts.c.visitors).where(
    counts.c.rollup == bindparam("rollup"),
    counts.c.bucket == bindparam("bucket"),
    counts.c.site == bindparam("site"),
    counts.c.goal == bindparam("goal"),
    counts.c.test == bindparam("test"),
    counts.c.population == bindparam("population"),
)
POPULATIONS = (
    select(counts.c.test, counts.c.population)
    .where(
        counts.c.rollup == ALL_ROLLUP,
        counts.c.bucket == ALL_BUCKET,
        counts.c.site == ALL_SITES,
        counts.c.goal == IMPRESSION,
        counts.c.test != NO_TEST,
        counts.c.visitors > 0,
    )
    .order_by(counts.c.test, counts.c.population)
)
"""(test, population) of every population with impressions."""
ALL_TESTS = select(tests.c.name, tests.c.first, tests.c.last).order_by(
    tests.c.first.desc(), tests.c.name
)
TESTS = select(tests).order_by(tests.c.first.desc(), tests.c.name)
GOALS = select(goals).order_by(goals.c.name)
FILTERED = select(filtered.c.reason, filtered.c.events)
TEST_SLICE = select(
    counts.c.population,
    counts.c.goal,
    counts.c.visitors,
    counts.c.value_total,
    counts.c.value_sumsq,
).where(
    counts.c.rollup == bindparam("rollup"),
    counts.c.bucket == bindparam("bucket"),
    counts.c.site == bindparam("site"),
    counts.c.test == bindparam("test"),
)
"""Every row of one test in one (rollup, bucket, site) slice."""
TEST_INFO = (
    select(
        tests.c.crossovers, tests.c.weights, tests.c.first, test_plans.c.plan, test_plans.c.ended
    )
    .select_from(tests.outerjoin(test_plans, test_plans.c.name == tests.c.name))
    .where(tests.c.name == bindparam("name"))
)
"""A test's row, with its plan's if it has one (a test with a plan has
had splits: a row of its own)."""
TEST_VERSIONS = select(test_versions.c.kind, test_versions.c.value, test_versions.c.first).where(
    test_versions.c.test == bindparam("name")
)
ENDED = select(test_plans.c.name, test_plans.c.ended).where(test_plans.c.ended.is_not(None))
"""When each ended test ended."""
SITES = (
    select(counts.c.site)
    .where(
        counts.c.rollup == ALL_ROLLUP,
        counts.c.bucket == ALL_BUCKET,
        counts.c.site != ALL_SITES,
    )
    .distinct()
    .order_by(counts.c.site)
)
"""Every site id with counts (every count has a row in rollup ``all``)."""

# What the store has seen, read only when a query's answer came out empty,
# to tell a misspelled name from a true zero (see SQLStore._refuse_unknown).
# Every check is an indexed look-up: real counts have a twin in rollup
# ``all``, bucket ``0``, and one for all sites (ALL_SITES) together.
NAMES_LIMIT: Final = 1000
"""The most known names of one kind that suggestions are picked from."""
_ALL = (counts.c.rollup == ALL_ROLLUP, counts.c.bucket == ALL_BUCKET)
_ALL_SITES = (*_ALL, counts.c.site == ALL_SITES)
_IMPRESSIONS = (*_ALL_SITES, counts.c.goal == IMPRESSION, counts.c.test == bindparam("test"))
KNOWN = select(
    exists().where(counts.c.rollup.is_not(None)),
    exists().where(counts.c.rollup == bindparam("rollup")),
    exists().where(counts.c.rollup == bindparam("rollup"), counts.c.bucket == bindparam("bucket")),
    exists().where(*_ALL, counts.c.site == bindparam("site")),
    or_(exists().where(tests.c.name == bindparam("test")), exists().where(*_IMPRESSIONS)),
    exists().where(*_IMPRESSIONS, counts.c.population == bindparam("population")),
)
"""Whether anything was counted, and whether the rollup, the bucket (in
that rollup), the site, the test and the population (in that test) were."""


def _distinct(column: ColumnElement[Any], *where: ColumnElement[bool]) -> Select[Any]:
    """The first :data:`NAMES_LIMIT` distinct values of ``column`` where
    ``where`` holds, in order, skipping from each value to the next along
    the counts index (a plain DISTINCT would read every row of the scope)."""
    first = select(func.min(column)).where(*where).scalar_subquery()
    seen = select(first.label("value"), literal(1).label("n")).cte("seen", recursive=True)
    after = select(func.min(column)).where(*where, column > seen.c.value).scalar_subquery()
    seen = seen.union_all(
        select(after, seen.c.n + 1).where(seen.c.value.is_not(None), seen.c.n < NAMES_LIMIT)
    )
    return select(seen.c.value).where(seen.c.value.is_not(None))


NAMES: Final = {
    "rollup": _distinct(counts.c.rollup),
    "bucket": _distinct(counts.c.bucket, counts.c.rollup == bindparam("rollup")),
    "site": _distinct(counts.c.site, *_ALL, counts.c.site != ALL_SITES),
    "goal": select(goals.c.name).order_by(goals.c.name).limit(NAMES_LIMIT),
    "test": select(tests.c.name).order_by(tests.c.name).limit(NAMES_LIMIT),
    "population": select(counts.c.population)
    .where(*_IMPRESSIONS)
    .order_by(counts.c.population)
    .limit(NAMES_LIMIT),
}
"""Per kind of name, the known names that suggestions are picked from."""
READS: Final = {
    "known": KNOWN,
    **{f"{kind}_names": read for kind, read in NAMES.items()},
    "test_slice": TEST_SLICE,
    "test_info": TEST_INFO,
    "test_versions": TEST_VERSIONS,
    "ended": ENDED,
    "pointer": POINTER,
    "count": COUNT,
    "populations": POPULATIONS,
    "all_tests": ALL_TESTS,
    "tests": TESTS,
    "goals": GOALS,
    "filtered": FILTERED,
    "sites": SITES,
}
"""The fixed reads, by name."""


def _in(column: ColumnElement[Any], size: int) -> ColumnElement[bool]:
    return column.in_([bindparam(f"in{i}") for i in range(size)])


def slice_rows(size: int) -> Select[Any]:
    """(population, goal, visitors, value total) of one (rollup, bucket,
    site, test) slice, for the goals in the IN list."""
    return select(
        counts.c.population, counts.c.goal, counts.c.visitors, counts.c.value_total
    ).where(
        counts.c.rollup == bindparam("rollup"),
        counts.c.bucket == bindparam("bucket"),
        counts.c.site == bindparam("site"),
        _in(counts.c.goal, size),
        counts.c.test == bindparam("test"),
    )


def value_types(size: int) -> Select[Any]:
    """(name, value type) of the goals in the IN list."""
    return select(goals.c.name, goals.c.value_type).where(_in(goals.c.name, size))


def known_goals(size: int) -> Select[Any]:
    """Those of the goals in the IN list that the store has seen: in the
    goals table, or counted (outside or inside split tests)."""
    seen = union(
        select(goals.c.name.label("goal")).where(_in(goals.c.name, size)),
        select(counts.c.goal).where(
            *_ALL_SITES, _in(counts.c.goal, size), counts.c.goal != IMPRESSION
        ),
    ).subquery()
    return select(seen.c.goal)


def meta_values(size: int) -> Select[Any]:
    """(key, value) of the meta rows whose keys are in the IN list."""
    return select(meta.c.key, meta.c.value).where(_in(meta.c.key, size))


def visitor_states(size: int) -> Select[Any]:
    """(id, state) of the visitors in the IN list."""
    return select(visitors.c.id, visitors.c.state).where(_in(visitors.c.id, size))


def upserts(insert: Callable[[Table], Any]) -> dict[str, Any]:
    """Per table name, the INSERT ... ON CONFLICT DO UPDATE that merges a
    row in as :class:`~manhattan.backend.model.Batch` says, for the
    dialect's ``insert``. Its parameters are the table's columns, in order."""

    def upsert(table: Table, merge: Callable[[Any], Mapping[str, Any]]) -> Any:
        statement = insert(table)
        return statement.on_conflict_do_update(
            index_elements=list(table.primary_key), set_=merge(statement.excluded)
        )

    def earliest(table: Table, new: Any) -> Any:
        return case((new.first < table.c.first, new.first), else_=table.c.first)

    def latest(table: Table, new: Any) -> Any:
        return case((new.last > table.c.last, new.last), else_=table.c.last)

    def unless_empty(table: Table, new: Any, name: str) -> Any:
        # A literal, not a bound parameter: the statement's only parameters
        # are the row's columns, in table order (see SQLStore.commit).
        return case((new[name] != literal_column("''"), new[name]), else_=table.c[name])

    def add(table: Table, new: Any, *names: str) -> dict[str, Any]:
        return {name: table.c[name] + new[name] for name in names}

    return {
        "counts": upsert(
            counts, lambda new: add(counts, new, "visitors", "value_total", "value_sumsq")
        ),
        "goals": upsert(
            goals,
            lambda new: {
                "value_type": unless_empty(goals, new, "value_type"),
                "value_format": unless_empty(goals, new, "value_format"),
                "first": earliest(goals, new),
                "last": latest(goals, new),
            },
        ),
        "tests": upsert(
            tests,
            lambda new: {
                "first": earliest(tests, new),
                "last": latest(tests, new),
                "weights": unless_empty(tests, new, "weights"),
                **add(tests, new, "crossovers"),
            },
        ),
        "test_plans": upsert(test_plans, lambda new: _plan_merge(test_plans, new)),
        "test_versions": upsert(
            test_versions,
            lambda new: {
                "first": case(
                    (new.first < test_versions.c.first, new.first), else_=test_versions.c.first
                )
            },
        ),
        "visitors": upsert(visitors, lambda new: {"state": new.state}),
        "filtered": upsert(filtered, lambda new: add(filtered, new, "events")),
        "pages": upsert(pages, lambda new: add(pages, new, "views", "visitors", "entries")),
        # Kept once: the update sets what the row holds already.
        "page_paths": upsert(page_paths, lambda new: {"path": page_paths.c.path}),
        "meta": upsert(meta, lambda new: {"value": new.value}),
    }


def _plan_merge(table: Table, new: Any) -> dict[str, Any]:
    """A test's plan row merged with ``new``: the later plan, the earlier
    end (and its winner). SET expressions read the row as it was."""
    later = new.at >= table.c.at
    earlier_end = and_(
        new.ended.is_not(None), or_(table.c.ended.is_(None), new.ended < table.c.ended)
    )
    return {
        "plan": case((later, new.plan), else_=table.c.plan),
        "at": case((later, new.at), else_=table.c.at),
        "ended": case((earlier_end, new.ended), else_=table.c.ended),
        "winner": case((earlier_end, new.winner), else_=table.c.winner),
    }


def breakdown_rows(size: int, order: str) -> Select[Any]:
    """(bucket, population, goal, visitors, value total) of the goals in the
    IN list, in one (rollup, site, test) scope, for the ``limit`` buckets
    that ``order`` picks: ``"bucket"``, the last bucket ids (the newest days,
    weeks or months); ``"visitors"``, those where the most visitors reached
    the goal ``rank_goal`` (all populations together)."""
    scope = (
        counts.c.rollup == bindparam("rollup"),
        counts.c.site == bindparam("site"),
        counts.c.test == bindparam("test"),
    )
    if order == "bucket":
        chosen = (
            select(counts.c.bucket)
            .where(*scope)
            .distinct()
            .order_by(counts.c.bucket.desc())
            .limit(bindparam("limit"))
        )
    else:
        chosen = (
            select(counts.c.bucket)
            .where(*scope, counts.c.goal == bindparam("rank_goal"))
            .group_by(counts.c.bucket)
            .order_by(func.sum(counts.c.visitors).desc(), counts.c.bucket)
            .limit(bindparam("limit"))
        )
    return select(
        counts.c.bucket,
        counts.c.population,
        counts.c.goal,
        counts.c.visitors,
        counts.c.value_total,
    ).where(*scope, _in(counts.c.goal, size), counts.c.bucket.in_(chosen))
