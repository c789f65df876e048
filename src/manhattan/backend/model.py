"""The backend's shared vocabulary: what flows between its parts.

The aggregation core turns records into a :class:`Batch` of counter deltas
and visitor states; a :class:`Store` commits batches and answers
:class:`Queries`. Every type here is plain data, so each part can be tested
(and replaced) on its own.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeAlias, runtime_checkable

from manhattan.analysis.stats import TestStats as TestStats
from manhattan.analysis.types import Analysis
from manhattan.exceptions import QueryError as QueryError

# Declared at the bottom layer, where the client and the dashboard read
# them without loading the backend; importable from here as they were.
from manhattan.records.vocabulary import ALL_SITES as ALL_SITES
from manhattan.records.vocabulary import IMPRESSION as IMPRESSION
from manhattan.records.vocabulary import NO_TEST as NO_TEST
from manhattan.records.vocabulary import VIEWED_PAGE as VIEWED_PAGE


class Visit(NamedTuple):
    """A visitor's first page, from which visitor rollups take their bucket.

    Empty strings where unknown (a visitor whose first event was not a page).
    ``headers`` are the request headers the middleware was told to record.
    """

    url: str = ""
    referrer: str = ""
    user_agent: str = ""
    ip: str = ""
    headers: Mapping[str, str] = {}


NO_VISIT = Visit()


@runtime_checkable
class Rollup(Protocol):
    """Maps an event to a bucket: a day, a browser, a referring site...

    ``name`` is the rollup key queries use. ``per_visitor`` says the bucket
    depends on the visit only, never on the time, so it may be computed once
    per visitor. Buckets are short readable strings (an ISO date, a browser
    name); every count is kept per (rollup, bucket, site).

    Implement it to slice counts your own way and name it in the server
    config's ``rollups`` (see :mod:`manhattan.backend.rollups`); the
    aggregator calls :meth:`bucket` for each counted event (once per
    visitor when ``per_visitor``).
    """

    name: str
    per_visitor: bool

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """The bucket of an event at ``timestamp`` by a visitor whose first page was ``visit``."""
        ...


@runtime_checkable
class PeriodicRollup(Rollup, Protocol):
    """A :class:`Rollup` of time periods (days, weeks, months) that can tell
    how long its bucket holds.

    Implement :meth:`period` beside ``bucket`` in a rollup whose bucket
    depends on the time only: when every rollup that is not ``per_visitor``
    has it, the aggregator (through
    :class:`~manhattan.backend.timedbuckets.TimedBuckets`) asks them once
    per period instead of once per event. The built-in ``day``, ``week`` and
    ``month`` rollups have it.
    """

    def period(self, timestamp: float) -> tuple[float, float, str]:
        """``(start, end, bucket)``: the bucket of ``timestamp``, which holds
        for every time from ``start`` up to, not including, ``end``."""
        ...


class CounterKey(NamedTuple):
    """One counted slice. ``goal`` is :data:`IMPRESSION` for impressions;
    ``test``/``population`` are :data:`NO_TEST` outside split tests; ``site``
    is :data:`ALL_SITES` for all sites together."""

    rollup: str
    bucket: str
    site: int
    goal: str
    test: str
    population: str


class PageKey(NamedTuple):
    """One counted slice of the page dimension (see :mod:`manhattan.backend.pages`):
    ``site`` is :data:`ALL_SITES` for all sites together."""

    rollup: str
    bucket: str
    site: int
    path: str


@dataclass
class GoalInfo:
    """What is known of a goal: its value type and format (last non-empty
    seen), and the first and last time it was reached."""

    value_type: str = ""
    value_format: str = ""
    first: float = 0.0
    last: float = 0.0


@dataclass
class TestInfo:
    """A split test: first and last assignment time; how many visitors were
    seen in more than one of its populations; the weights its last split()
    call gave (empty when unknown)."""

    __test__ = False  # not a pytest test class

    first: float = 0.0
    last: float = 0.0
    crossovers: int = 0
    weights: dict[str, float] = field(default_factory=dict)


@dataclass
class TestPlan:
    """A declared experiment's plan, as the split records carried it:
    ``plan`` the latest plan's JSON and ``at`` its record's time; ``ended``
    the time of the test's earliest end marker (``None`` while it runs) and
    ``winner`` the population that marker named."""

    __test__ = False  # not a pytest test class

    plan: str
    at: float
    ended: float | None = None
    winner: str = ""


VersionKey: TypeAlias = tuple[str, str, str]
"""(test, kind, JSON) of one version of a test's plan (kind ``"plan"``) or
population list (kind ``"populations"``, its weights)."""


@dataclass
class Batch:
    """Everything one flush commits, in one transaction.

    ``counts`` are deltas to add; ``goals``/``tests`` are merged (types
    replaced when non-empty, first = min, last = max, crossovers added,
    weights replaced when non-empty); ``plans`` are merged (the latest
    plan by time, the earliest end); ``versions`` (each distinct plan and
    population list of a test, with the first time seen) keep the earliest
    time; ``visitors`` are serialized visitor
    states to upsert; ``filtered`` are per-reason counts to add; ``pointer``
    is where the log reader resumes (``None``: unchanged); ``pointers`` are
    further reader positions by name (one per stream partition), stored in
    the same transaction so that workers owning different partitions of one
    database each keep their own. ``pages`` are deltas to add of ``[page
    views, visitors, entries]``; ``page_paths`` the ``(site, day, path)``
    the cap of paths per site per day admitted (kept once each).
    """

    counts: dict[CounterKey, list[float]] = field(default_factory=dict)
    goals: dict[str, GoalInfo] = field(default_factory=dict)
    tests: dict[str, TestInfo] = field(default_factory=dict)
    plans: dict[str, TestPlan] = field(default_factory=dict)
    versions: dict[VersionKey, float] = field(default_factory=dict)
    visitors: dict[str, str] = field(default_factory=dict)
    filtered: dict[str, int] = field(default_factory=dict)
    pointer: str | None = None
    pointers: dict[str, str] = field(default_factory=dict)
    pages: dict[PageKey, list[int]] = field(default_factory=dict)
    page_paths: set[tuple[int, str, str]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(
            self.counts
            or self.goals
            or self.tests
            or self.plans
            or self.versions
            or self.visitors
            or self.filtered
            or self.pointer is not None
            or self.pointers
            or self.pages
            or self.page_paths
        )


Variant: TypeAlias = tuple[str, str] | Sequence[str]
"""A ``(test name, population)`` pair, as queries name them."""


@runtime_checkable
class Queries(Protocol):
    """The read-only query API of the server, as Manhattan 0.3 had it.

    A query that names a test, goal, population, rollup, bucket or site the
    store has never seen raises :class:`QueryError` naming it, with the
    closest known names (``no goal named 'Purchsed' (did you mean
    'Purchased'?)``), instead of answering zeros. "Seen" means:

    - goal: listed by :meth:`goals`, or counted; ``"viewed page"`` always;
    - test: listed by :meth:`tests`, or with impressions;
    - population: had impressions in its test;
    - rollup: has any count; bucket: has any count in its rollup;
    - site: has any count (see :meth:`sites`).

    Each is checked on its own: a known goal in a bucket, site or
    population where nobody reached it is a plain 0, as is a known test in a
    site where it did not run. A store that has counted nothing at all (a
    server that just started) has seen no name and answers zeros and empty
    tables. The check runs only when an answer comes out empty or zero.
    """

    def count(
        self,
        goal: str | None = None,
        variant: Variant | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        site_id: int | None = None,
    ) -> int:
        """Unique visitors who reached ``goal`` (with ``variant``: in that
        population); with only a variant, the population's impressions."""
        ...

    def goal_value(
        self,
        goal: str,
        variant: Variant | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        site_id: int | None = None,
    ) -> float:
        """The goal's value by its value type (SUM, AVERAGE, PER, RATE;
        without one, its count)."""
        ...

    def all_tests(self) -> list[tuple[str, float, float]]:
        """``[(name, first timestamp, last timestamp)]``, newest first."""
        ...

    def results(
        self, test_name: str, goals: Sequence[str], site_id: int | None = None
    ) -> dict[str, list[float]]:
        """``{population: [goal_value(goal, (test, population)) ...]}``."""
        ...

    def goals(self) -> list[dict[str, Any]]:
        """Every goal: name, value type and format, first and last time."""
        ...

    def tests(self) -> list[dict[str, Any]]:
        """Every test: name, first and last time, populations, crossovers, weights."""
        ...

    def analyze(
        self,
        test_name: str,
        goals: Sequence[str] | None = None,
        control: str | None = None,
        site_id: int | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        weights: Mapping[str, float] | None = None,
    ) -> Analysis:
        """The statistics of a split test, per population and goal (see
        :mod:`manhattan.analysis.types`); ``weights`` replace the recorded
        ones (for logs that lack them). A declared experiment is judged by
        the plan its split records carried; the answer also says what
        changed while it ran (``warnings``) and, once it has ended, when
        and with which winner (``ended``). The server computes it from the
        store's :meth:`StatsReader.test_stats`."""
        ...

    def sites(self) -> list[int]:
        """The ids of the sites with counts, in order."""
        ...

    def rollups(self) -> list[str]:
        """The keys of the rollups with counts, sorted: the built-in ones the
        server keeps and any custom ones (what ``rollup_key`` may name)."""
        ...

    def filtered(self) -> dict[str, int]:
        """Events not counted so far, by reason: ``"awaiting pixel"`` (held
        until the visitor's browser loads the tracking pixel; a visitor who
        never does is a bot, and stays here), ``"crawler"`` (a known crawler's
        user agent), ``"held overflow"`` (beyond the events held per visitor
        awaiting the pixel), ``"malformed record"`` / ``"malformed line"``
        (unreadable log entries), ``"unknown version"`` / ``"unknown kind"``
        (records of a newer format), ``"unreadable visitor state"`` (a
        damaged stored state: the visitor started afresh), ``"uncountable
        record"`` (counting it raised), ``"unstorable entry"`` (a counter no
        database can hold). Other reasons may appear; all counts are events."""
        ...

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
        ``goals`` in up to ``limit`` buckets of a rollup (with a test, goal
        ``""`` holds each population's impressions); ``order`` ``"bucket"``
        takes the last bucket ids, ``"visitors"`` those with most visitors."""
        ...

    def live(self, minutes: int = 30, site_id: int | None = None) -> int:
        """Distinct visitors (bots left out) seen in the last ``minutes``
        (1 to 60) by the wall clock, on ``site_id`` or on any site. The
        counting server answers it from memory
        (:mod:`manhattan.backend.live`), not the store: a ``--query-only``
        server refuses it, and a replay of old logs shows 0."""
        ...

    def pages(
        self,
        site_id: int | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        limit: int = 50,
    ) -> list[tuple[str, int, int]]:
        """``[(path, page views, visitors), ...]`` in one bucket of a page
        rollup, most viewed first (ties by path); ``"(other)"`` holds the
        paths beyond the cap per site per day (see
        :mod:`manhattan.backend.pages`). A rollup pages are not kept for
        is a :class:`QueryError` naming those they are."""
        ...

    def entry_pages(
        self,
        site_id: int | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        limit: int = 50,
    ) -> list[tuple[str, int]]:
        """``[(path, visits that began on it), ...]``, most first (ties by path)."""
        ...

    def page_totals(
        self, site_id: int | None = None, rollup_key: str = "day"
    ) -> list[tuple[str, int]]:
        """``[(bucket, page views), ...]`` of every bucket of a page rollup,
        oldest first."""
        ...

    def funnels(self) -> list[dict[str, Any]]:
        """Every declared funnel (``manhattan-server --funnel``) as
        ``{"name": str, "steps": [str, ...], "within": float | None}``
        (the window in seconds), in declaration order."""
        ...

    def funnel(
        self,
        name: str,
        variant: Variant | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        site_id: int | None = None,
    ) -> list[tuple[str, int]]:
        """``[(step, visitors who reached it in order), ...]`` of the funnel
        ``name`` (see :mod:`manhattan.backend.funnels`); each step is also
        the goal ``f"{name}: {step}"``. An unknown funnel is a
        :class:`QueryError` with the closest declared names."""
        ...


QUERY_NAMES: tuple[str, ...] = tuple(
    name
    for name, member in vars(Queries).items()
    if not name.startswith("_") and inspect.isfunction(member)
)
"""The names of the queries, in the order :class:`Queries` declares them:
the query service allows these, the client and the shell offer them."""


@runtime_checkable
class Store(Protocol):
    """Durable state of the backend: commits batches atomically."""

    def load_pointer(self) -> str | None:
        """Where the log reader resumes; ``None`` for a fresh store."""
        ...

    def load_visitors(self, visitor_ids: Sequence[str]) -> dict[str, str]:
        """Serialized states of those of ``visitor_ids`` that are stored."""
        ...

    def commit(self, batch: Batch) -> None:
        """Apply ``batch`` in one transaction: all of it or none."""
        ...


@runtime_checkable
class EndedReader(Protocol):
    """A store that tells which tests have ended: a worker's aggregator
    adopts these when it starts and after each commit (so that workers
    sharing a database learn of each other's end markers)."""

    def load_ended(self) -> dict[str, float]:
        """When each ended test ended (its earliest end marker)."""
        ...


@runtime_checkable
class StatsReader(Protocol):
    """A store's read of one split test's aggregates: the server composes
    the ``analyze`` query from it and :mod:`manhattan.analysis`
    (:class:`~manhattan.server.service.StoreQueries`), so that a store
    answers the other queries and never runs the statistics."""

    def test_stats(
        self,
        test_name: str,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        site_id: int | None = None,
        goals: Sequence[str] | None = None,
    ) -> TestStats:
        """The aggregates of ``test_name`` in one (rollup, bucket, site)
        slice; :class:`QueryError` for a name the store never saw, ``goals``
        (those the analysis will show) included."""
        ...
