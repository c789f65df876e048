"""The aggregation core: log records in, counter deltas out.

Pure logic over plain values: the only way out is :meth:`Aggregator.drain`,
which hands over a :class:`~manhattan.backend.model.Batch` for a store to
commit, and the only way in for stored state is the ``loader`` callback.
What is counted follows Manhattan 0.3's backend:

- Bot filtering: a visitor's events are held until their browser loads the
  pixel, then counted once; known crawlers never count.
- ``page`` converts on the built-in goal ``"viewed page"``.
- A conversion counts a visitor once per (goal, rollup bucket, site), and
  once more for each (test, population) they were in at that moment.
- Splits count impressions once per visitor per (test, population, bucket).
- A declared experiment's split records carry its plan: the latest plan
  and each distinct plan and population list (with when it was first seen)
  go to the store, which tells a changed one as a warning. A split whose
  plan names a winner is the test's end marker, whatever its visitor: the
  test ended at the earliest such record's time, and from then on nothing
  counts for it (no impression, and a visitor's later conversions are
  credited to it no more), so that its result stays as it was when it
  ended. What has ended is kept with the counts (:attr:`Aggregator.ended`,
  :meth:`Aggregator.adopt_ended`).
- Values add up per goal hit; the sum of squares of per-visitor value
  totals is kept for the experiment statistics.
- Complex goals as :mod:`manhattan.backend.complexgoals` describes.
- Ordered funnels as :mod:`manhattan.backend.funnels` describes: each step
  reached is a conversion of its step goal.
- Pages: each counted page record is told to ``pages``, a
  :class:`~manhattan.backend.pages.PageCounter`, if given.
- Live visitors: each event of a visitor who loaded the pixel (and the
  pixel itself) is told to ``live``, a
  :class:`~manhattan.backend.live.LiveVisitors`, if given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence

from manhattan.backend.complexcount import step
from manhattan.backend.complexgoals import ComplexGoal, index_by_goal
from manhattan.backend.fields import (
    BAD_NAME,
    BAD_VALUE,
    MALFORMED,
    UNKNOWN_KIND,
    UNKNOWN_VERSION,
    check_record,
    user_agent_of,
    visit_of,
    weights_of,
)
from manhattan.backend.funnels import Funnel, advance, funnel_index, standing
from manhattan.backend.live import LiveVisitors
from manhattan.backend.marking import Marking
from manhattan.backend.model import (
    IMPRESSION,
    NO_TEST,
    NO_VISIT,
    VIEWED_PAGE,
    Batch,
    CounterKey,
    GoalInfo,
    Rollup,
    TestInfo,
)
from manhattan.backend.pages import PageCounter
from manhattan.backend.plans import Experiments, plan_of
from manhattan.backend.state import BOT, HUMAN, Buckets, VisitorState
from manhattan.backend.timedbuckets import TimedBuckets
from manhattan.backend.visitors import Loader, VisitorStates
from manhattan.log.text import decode_line, encode_record
from manhattan.records.layout import (
    COMMON_FIELDS,
    GOAL,
    GOAL_NAME,
    GOAL_VALUE_FORMAT,
    GOAL_VALUE_TYPE,
    KIND_FIELD,
    PAGE,
    PAGE_URL,
    PAGE_USER_AGENT,
    PIXEL,
    SPLIT,
    SPLIT_PLAN,
    SPLIT_POPULATION,
    SPLIT_TEST,
    SPLIT_WEIGHTS,
    VALUE_FORMATS,
    VALUE_TYPES,
    VERSION,
    VERSION_FIELD,
    VISITOR_FIELD,
    Record,
)

# The reasons of the "filtered" table are declared at the bottom layer, so
# that readers of the counts need not load this module.
from manhattan.records.vocabulary import (
    AWAITING_PIXEL,
    CRAWLER,
    HELD_OVERFLOW,
    MAX_HELD,
    UNCOUNTABLE,
    UNREADABLE_STATE,
)

__all__ = [
    "AWAITING_PIXEL",
    "BAD_NAME",
    "BAD_VALUE",
    "CRAWLER",
    "HELD_OVERFLOW",
    "MALFORMED",
    "MAX_HELD",
    "UNCOUNTABLE",
    "UNKNOWN_KIND",
    "UNKNOWN_VERSION",
    "UNREADABLE_STATE",
    "Aggregator",
    "is_no_crawler",
]


def _no_stored_state(visitor_ids: Sequence[str]) -> dict[str, str]:
    return {}


def is_no_crawler(user_agent: str) -> bool:
    """A crawler test that knows no crawlers."""
    return False


class Aggregator(VisitorStates, Marking):
    """Counts records into deltas, keeping visitor states in a bounded cache.

    ``rollups`` give the buckets (the first must be ``all``); ``complex_goals``
    the complex goals; ``is_crawler`` tells crawler user agents; ``loader``
    fetches stored states of visitors not in the cache (the caller may also
    :meth:`adopt` them in bulk ahead of time); ``capacity`` bounds the
    number of visitor states kept in memory between flushes; ``live``
    is told of every counted event of a human visitor; ``funnels`` are
    the declared funnels (``ValueError`` for two of one name, or one named
    like a complex goal).
    """

    def __init__(
        self,
        rollups: Sequence[Rollup],
        complex_goals: Iterable[ComplexGoal] = (),
        *,
        is_crawler: Callable[[str], bool] = is_no_crawler,
        loader: Loader = _no_stored_state,
        capacity: int = 50_000,
        live: LiveVisitors | None = None,
        funnels: Iterable[Funnel] = (),
        pages: PageCounter | None = None,
    ) -> None:
        if not rollups:
            raise ValueError("at least one rollup is needed")
        names = [rollup.name for rollup in rollups]
        if len(set(names)) != len(names):
            raise ValueError(f"rollup names must be unique, got {names}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self.rollups = list(rollups)
        self.names = names
        self.complex_goals = tuple(complex_goals)
        self._complex_index = index_by_goal(self.complex_goals)
        self.funnels = tuple(funnels)
        self._funnel_index = funnel_index(self.funnels, (g.name for g in self.complex_goals))
        if self._funnel_index:
            # Only then does a conversion look for funnel steps: without
            # funnels, counting costs not one lookup more.
            self._convert = self._convert_and_advance  # type: ignore[method-assign]
        self.is_crawler = is_crawler
        self.loader = loader
        self.capacity = capacity
        self.live = live
        self.pages = pages
        timed = TimedBuckets(self.rollups)
        self._timed = timed.indexes
        self._timed_buckets = timed.buckets
        self.visitors: dict[str, VisitorState] = {}
        # Fetched ahead of use: a state's JSON, or None for a visitor not stored.
        self._stored: dict[str, str | None] = {}
        self._dirty: set[str] = set()
        self._counts: dict[tuple[str, str, int, str, str, str], list[float]] = {}
        # First marks without a value, (buckets, sites, goal, test, population)
        # -> visitors: added to _counts by drain (see _mark).
        self._fresh: dict[tuple[Buckets, tuple[int, ...], str, str, str], int] = {}
        self._goals: dict[str, GoalInfo] = {}
        self._tests: dict[str, TestInfo] = {}
        self.experiments = Experiments()
        # When each ended test ended: what _count and _split look at.
        self.ended = self.experiments.ended
        self.filtered: Counter[str] = Counter()
        self.events = 0
        # Uncountable records since take_problems(), and the first one's story.
        self.problems = 0
        self.problem: str | None = None
        self._site_ids: dict[str, int] = {}

    def adopt_ended(self, ended: Mapping[str, float]) -> None:
        """Take the end times of tests that ended (from the store: at start,
        and after each commit, for what other workers counted); the
        earliest of two is kept."""
        self.experiments.adopt_ended(ended)

    def refresh_pages(self) -> None:
        """Let the page counter learn the paths the store holds (before
        counting, and after each commit): see
        :meth:`~manhattan.backend.pages.PathCap.refresh`."""
        if self.pages is not None:
            self.pages.refresh()

    # Records

    def add_all(self, records: Iterable[Record]) -> None:
        """Count each of ``records`` in order."""
        for record in records:
            self.add(record)

    def add(self, record: Record) -> None:
        """Count one record (a bad one is skipped and counted by reason).

        A record that raises while being counted (a rollup, the user agent
        parser, a JSON field) is skipped as :data:`UNCOUNTABLE`, leaving the
        visitor's state and the counts as if it had never been seen; see
        :meth:`take_problems`.
        """
        self.events += 1
        if len(record) < COMMON_FIELDS or record[VERSION_FIELD] != VERSION:
            unknown = record and record[VERSION_FIELD] != VERSION
            self.filtered[UNKNOWN_VERSION if unknown else MALFORMED] += 1
            return
        kind = record[KIND_FIELD]
        checked = check_record(record, self._site_ids)
        if isinstance(checked, str):
            self.filtered[checked] += 1
            return
        timestamp, site, value = checked
        if kind == SPLIT and len(record) > SPLIT_PLAN and record[SPLIT_PLAN]:
            plan = plan_of(record[SPLIT_PLAN])
            if plan is not None and plan.winner is not None:
                # An end marker: about the test, not its visitor (who may
                # be a bot, or never load the pixel).
                self.experiments.end(record[SPLIT_TEST], timestamp, plan, record[SPLIT_POPULATION])
                return
        visitor_id = record[VISITOR_FIELD]
        dirty = visitor_id in self._dirty
        state = self._state(visitor_id)
        status = state.status
        try:
            if status == HUMAN:
                self._count(state, kind, timestamp, site, value, record)
                if self.live is not None:
                    self.live.seen(visitor_id, site, timestamp)
            elif status == BOT:
                self.filtered[CRAWLER] += 1
            elif kind == PIXEL:
                state.status = HUMAN
                held, state.held = state.held, []
                self.filtered[AWAITING_PIXEL] -= len(held)
                for line in held:
                    self._release(state, line)
                if self.live is not None:
                    self.live.seen(visitor_id, site, timestamp)
            elif kind == PAGE and self.is_crawler(user_agent_of(record[PAGE_USER_AGENT])):
                state.status = BOT
                self.filtered[CRAWLER] += len(state.held) + 1
                self.filtered[AWAITING_PIXEL] -= len(state.held)
                state.held = []
            else:
                held = state.held
                # Kept as its log line: a third of the memory of a list of fields.
                held.append(encode_record(record)[:-1].decode("ascii"))
                self.filtered[AWAITING_PIXEL] += 1
                if len(held) > MAX_HELD:
                    del held[0]
                    self.filtered[AWAITING_PIXEL] -= 1
                    self.filtered[HELD_OVERFLOW] += 1
        except Exception as exc:  # no record may stop counting
            if not dirty:
                self._dirty.discard(visitor_id)  # unchanged: nothing to store
            self._uncountable(exc, record)

    def _release(self, state: VisitorState, line: str) -> None:
        """Count a held line (its visitor loaded the pixel); one that cannot
        be counted is skipped on its own."""
        record: Record = [line]
        try:
            record = decode_line(line.encode("ascii"))
            checked = check_record(record, self._site_ids)
            if isinstance(checked, str):
                self.filtered[checked] += 1
                return
            timestamp, site, value = checked
            self._count(state, record[KIND_FIELD], timestamp, site, value, record)
        except Exception as exc:  # no record may stop counting
            self._uncountable(exc, record)

    def _uncountable(self, exc: Exception, record: Record) -> None:
        self.filtered[UNCOUNTABLE] += 1
        self.problems += 1
        if self.problem is None:
            what = " ".join(field[:40] for field in record[KIND_FIELD : VISITOR_FIELD + 1])
            self.problem = f"{type(exc).__name__}: {str(exc)[:200]} (record {what!r})"

    def take_problems(self) -> tuple[int, str | None]:
        """How many records were :data:`UNCOUNTABLE` since the last call,
        and what was wrong with the first of them (for the log)."""
        taken = self.problems, self.problem
        self.problems, self.problem = 0, None
        return taken

    def _count(
        self,
        state: VisitorState,
        kind: str,
        timestamp: float,
        site: int,
        value: float | None,
        record: Record,
    ) -> None:
        """Count a checked record of a visitor who loaded the pixel."""
        if kind == PIXEL:
            return  # a pixel of a visitor already counted adds nothing
        # First what may raise (rollups, ua-parser, JSON fields), changing nothing...
        visit = state.visit
        new_visit = None
        if visit is None:
            visit = new_visit = visit_of(record) if kind == PAGE else None
        timed = self._timed_buckets(timestamp, visit or NO_VISIT)
        memo = state.memo
        const = None
        if new_visit is not None or memo.const is None:
            const = [
                rollup.bucket(timestamp, visit or NO_VISIT) if rollup.per_visitor else None
                for rollup in self.rollups
            ]
        weights = None
        if kind == SPLIT and len(record) > SPLIT_WEIGHTS and record[SPLIT_WEIGHTS]:
            weights = weights_of(record[SPLIT_WEIGHTS])
        # ...then the changes, none of which raises.
        if new_visit is not None:
            state.visit = new_visit
            memo.visit_changed()
        if const is not None:
            memo.const = const
        if self.ended and state.tests:
            self.experiments.leave_ended(state, timestamp)
        if kind == PAGE:
            self._convert(state, VIEWED_PAGE, None, timestamp, site, timed)
            if self.pages is not None:
                self.pages.view(state, record[PAGE_URL], timestamp, site, timed)
        elif kind == GOAL:
            goal = record[GOAL_NAME]
            info = self._note_goal(goal, timestamp)
            if record[GOAL_VALUE_TYPE] in VALUE_TYPES:
                info.value_type = record[GOAL_VALUE_TYPE]
            if record[GOAL_VALUE_FORMAT] in VALUE_FORMATS:
                info.value_format = record[GOAL_VALUE_FORMAT]
            self._convert(state, goal, value, timestamp, site, timed)
        else:
            self._split(state, timestamp, site, record, timed, weights)

    def _note_goal(self, name: str, timestamp: float) -> GoalInfo:
        """The goal's info in this batch, its first and last time moved to
        take in ``timestamp``."""
        info = self._goals.get(name)
        if info is None:
            info = self._goals[name] = GoalInfo(first=timestamp, last=timestamp)
        info.first = min(info.first, timestamp)
        info.last = max(info.last, timestamp)
        return info

    def _split(
        self,
        state: VisitorState,
        timestamp: float,
        site: int,
        record: Record,
        timed: tuple[str, ...],
        weights: dict[str, float] | None,
    ) -> None:
        test, population = record[SPLIT_TEST], record[SPLIT_POPULATION]
        end = self.ended.get(test)
        if end is not None and timestamp >= end:
            return  # the test has ended: a process that has not heard yet
        self.experiments.note(test, timestamp, record, weights)
        info = self._tests.get(test)
        if info is None:
            info = self._tests[test] = TestInfo(first=timestamp, last=timestamp)
        info.first = min(info.first, timestamp)
        info.last = max(info.last, timestamp)
        if weights:
            info.weights = weights
        known = state.tests.get(test)
        if known is None:
            state.tests[test] = population
            state.memo.tests_changed()
        elif known != population:
            # Only through a lost cookie or a changed population list: the
            # visitor stays in their first population, and is reported once.
            if test not in state.crossed:
                state.crossed.append(test)
                info.crossovers += 1
            return
        buckets = self._buckets(state, timestamp, timed)
        # Entering a population part-way through funnels: see funnels.standing.
        reached = (
            standing(state.funnels, self.funnels, timestamp)
            if known is None and state.funnels
            else ()
        )
        for mark_site, counter_sites in self._sites(state, site):
            self._mark(
                state, IMPRESSION, test, population, mark_site, counter_sites, buckets, None
            )
            for goal in reached:
                self._mark(state, goal, test, population, mark_site, counter_sites, buckets, None)

    def _convert(
        self,
        state: VisitorState,
        goal: str,
        value: float | None,
        timestamp: float,
        site: int,
        timed: tuple[str, ...],
    ) -> None:
        memo = state.memo
        counted = memo.counted
        if (
            value is None
            and counted is not None
            and site == state.site
            and counted.get(goal) is timed
        ):
            return  # this goal is counted in these buckets for every variant already
        buckets = self._buckets(state, timestamp, timed)
        marks = state.marks
        mark = self._mark
        variants = memo.variants
        if variants is None:
            variants = memo.variants = ((NO_TEST, NO_TEST), *state.tests.items())
        for mark_site, counter_sites in self._sites(state, site):
            for test, population in variants:
                if value is None:
                    # Already counted in every one of these buckets: the usual case.
                    last = marks.get((goal, test, mark_site))
                    if last is buckets or last == buckets:
                        continue
                mark(state, goal, test, population, mark_site, counter_sites, buckets, value)
        if state.site == site and memo.timed is not None:
            if counted is None:
                counted = memo.counted = {}
            counted[goal] = memo.timed
        complex_goals = self._complex_index.get(goal)
        if complex_goals:
            for complex_goal in complex_goals:
                if step(state, complex_goal, goal, site, buckets, self._counts, self.names):
                    # Listed among the goals (goals(), the dashboard) once reached.
                    self._note_goal(complex_goal.name, timestamp)
                    if self._funnel_index:
                        self._convert_and_advance(
                            state, complex_goal.name, None, timestamp, site, timed, False
                        )

    def _convert_and_advance(
        self,
        state: VisitorState,
        goal: str,
        value: float | None,
        timestamp: float,
        site: int,
        timed: tuple[str, ...],
        convert: bool = True,
    ) -> None:
        """:meth:`_convert` (unless ``convert`` is false: a complex goal,
        counted already), then the funnel steps ``goal`` makes the visitor
        reach, each converted in turn (a step may be another funnel's)."""
        if convert:
            Aggregator._convert(self, state, goal, value, timestamp, site, timed)
        steps = self._funnel_index.get(goal)
        if steps:
            for reached in advance(state.funnels, steps, timestamp):
                self._note_goal(reached, timestamp)
                self._convert_and_advance(state, reached, None, timestamp, site, timed)

    # Output

    def drain(self, pointer: str | None = None) -> Batch:
        """Everything counted since the last drain, with the dirty states.

        Commit the batch, then call :meth:`evict`.
        """
        self._spill_fresh()
        batch = Batch(
            counts={CounterKey._make(key): value for key, value in self._counts.items()},
            goals=self._goals,
            tests=self._tests,
            plans=self.experiments.plans,
            versions=self.experiments.versions,
            visitors={vid: self.visitors[vid].to_json() for vid in self._dirty},
            filtered={reason: count for reason, count in self.filtered.items() if count},
            pointer=pointer,
        )
        if self.pages is not None:
            batch.pages, batch.page_paths = self.pages.drain()
        self._counts, self._goals, self._tests = {}, {}, {}
        self.experiments.drained()
        self._dirty = set()
        self.filtered = Counter()
        return batch
