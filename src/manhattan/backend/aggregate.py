"""The aggregation core: log records in, counter deltas out.

Pure logic over plain values: the only way out is :meth:`Aggregator.drain`,
which hands over a :class:`~manhattan.backend.model.Batch` for a store to
commit, and the only way in for stored state is the ``loader`` callback.
What is counted is laid down in ``compat-0.3.md`` ("What the backend
counts") and issue 3:

- Bot filtering: a visitor's events are held until their browser loads the
  pixel, then counted once; known crawlers never count.
- ``page`` converts on the built-in goal ``"viewed page"``.
- A conversion counts a visitor once per (goal, rollup bucket, site), and
  once more for each (test, population) they were in at that moment.
- Splits count impressions once per visitor per (test, population, bucket).
- Values add up per goal hit; the sum of squares of per-visitor value
  totals is kept for the experiment statistics.
- Complex goals as :mod:`manhattan.backend.complexgoals` describes.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from manhattan.backend.complexgoals import ComplexGoal, index_by_goal
from manhattan.backend.model import (
    ALL_SITES,
    IMPRESSION,
    NO_TEST,
    NO_VISIT,
    VIEWED_PAGE,
    Batch,
    CounterKey,
    GoalInfo,
    Rollup,
    TestInfo,
    Visit,
)
from manhattan.backend.state import BOT, HUMAN, ComplexMark, GoalMark, VisitorState

Record = list[str]
Loader = Callable[[Sequence[str]], dict[str, str]]

MAX_HELD = 500
"""Events held per visitor awaiting the pixel (the most recent are kept)."""

VALUE_TYPES = frozenset({"R", "A", "S", "I"})
VALUE_FORMATS = frozenset({"N", "C", "P"})

# Per-reason counts of what was not counted (the "filtered" table).
CRAWLER = "crawler"
AWAITING_PIXEL = "awaiting pixel"
HELD_OVERFLOW = "held overflow"
MALFORMED = "malformed record"
UNKNOWN_VERSION = "unknown version"
UNKNOWN_KIND = "unknown kind"

# Fewest fields of each kind (0.3's layout; later fields are extensions).
MIN_FIELDS = {"page": 10, "pixel": 5, "goal": 9, "split": 7}


def _no_stored_state(visitor_ids: Sequence[str]) -> dict[str, str]:
    return {}


def is_no_crawler(user_agent: str) -> bool:
    """A crawler test that knows no crawlers."""
    return False


class Aggregator:
    """Counts records into deltas, keeping visitor states in a bounded cache.

    ``rollups`` give the buckets (the first must be ``all``); ``complex_goals``
    the complex goals; ``is_crawler`` tells crawler user agents; ``loader``
    fetches stored states of visitors not in the cache (the caller may also
    :meth:`adopt` them in bulk ahead of time); ``capacity`` bounds the
    number of visitor states kept in memory between flushes.
    """

    def __init__(
        self,
        rollups: Sequence[Rollup],
        complex_goals: Iterable[ComplexGoal] = (),
        *,
        is_crawler: Callable[[str], bool] = is_no_crawler,
        loader: Loader = _no_stored_state,
        capacity: int = 100_000,
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
        self.is_crawler = is_crawler
        self.loader = loader
        self.capacity = capacity
        self._timed = [i for i, rollup in enumerate(self.rollups) if not rollup.per_visitor]
        self.visitors: dict[str, VisitorState] = {}
        self._stored: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._counts: dict[tuple[str, str, int, str, str, str], list[float]] = {}
        self._goals: dict[str, GoalInfo] = {}
        self._tests: dict[str, TestInfo] = {}
        self.filtered: Counter[str] = Counter()
        self.events = 0

    # Visitor states

    def unknown(self, visitor_ids: Iterable[str]) -> list[str]:
        """Those of ``visitor_ids`` whose state is not in memory (to prefetch)."""
        cached, stored = self.visitors, self._stored
        return list({vid for vid in visitor_ids if vid not in cached and vid not in stored})

    def adopt(self, states: dict[str, str]) -> None:
        """Take serialized states fetched from the store (decoded on first use)."""
        self._stored.update(states)

    def _state(self, visitor_id: str) -> VisitorState:
        visitors = self.visitors
        state = visitors.pop(visitor_id, None)
        if state is None:
            text = self._stored.pop(visitor_id, None)
            if text is None:
                text = self.loader([visitor_id]).get(visitor_id)
            state = VisitorState() if text is None else VisitorState.from_json(text)
        visitors[visitor_id] = state  # most recently used last
        self._dirty.add(visitor_id)
        return state

    # Records

    def add_all(self, records: Iterable[Record]) -> None:
        """Count each of ``records`` in order."""
        for record in records:
            self.add(record)

    def add(self, record: Record) -> None:
        """Count one record (a bad one is skipped and counted by reason)."""
        self.events += 1
        if len(record) < 5 or record[0] != "1":
            self.filtered[UNKNOWN_VERSION if record and record[0] != "1" else MALFORMED] += 1
            return
        kind = record[1]
        needed = MIN_FIELDS.get(kind)
        if needed is None:
            self.filtered[UNKNOWN_KIND] += 1
            return
        try:
            timestamp = float(record[2])
            site = int(record[4]) if record[4] else 0
        except ValueError:
            timestamp = math.nan
            site = 0
        visitor_id = record[3]
        if len(record) < needed or not visitor_id or not math.isfinite(timestamp) or site < 0:
            self.filtered[MALFORMED] += 1
            return
        state = self._state(visitor_id)
        status = state.status
        if status == HUMAN:
            self._apply(state, kind, timestamp, site, record)
        elif status == BOT:
            self.filtered[CRAWLER] += 1
        elif kind == "pixel":
            state.status = HUMAN
            held, state.held = state.held, []
            self.filtered[AWAITING_PIXEL] -= len(held)
            for old in held:
                self._apply(state, old[1], float(old[2]), int(old[4] or 0), old)
        elif kind == "page" and self.is_crawler(record[8]):
            state.status = BOT
            self.filtered[CRAWLER] += len(state.held) + 1
            self.filtered[AWAITING_PIXEL] -= len(state.held)
            state.held = []
        else:
            held = state.held
            held.append(record)
            self.filtered[AWAITING_PIXEL] += 1
            if len(held) > MAX_HELD:
                del held[0]
                self.filtered[AWAITING_PIXEL] -= 1
                self.filtered[HELD_OVERFLOW] += 1

    def _apply(
        self, state: VisitorState, kind: str, timestamp: float, site: int, record: Record
    ) -> None:
        if kind == "page":
            if state.visit is None:
                state.visit = _visit(record)
                state.const = None
            self._convert(state, VIEWED_PAGE, None, timestamp, site)
        elif kind == "goal":
            self._goal(state, timestamp, site, record)
        elif kind == "split":
            self._split(state, timestamp, site, record)
        # A pixel of a visitor already counted adds nothing.

    def _goal(self, state: VisitorState, timestamp: float, site: int, record: Record) -> None:
        name, value_text, value_type, value_format = record[5:9]
        value = None
        if value_text:
            try:
                value = float(value_text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                self.filtered[MALFORMED] += 1
                return
        if not name:
            self.filtered[MALFORMED] += 1
            return
        info = self._goals.get(name)
        if info is None:
            info = self._goals[name] = GoalInfo(first=timestamp, last=timestamp)
        info.first = min(info.first, timestamp)
        info.last = max(info.last, timestamp)
        if value_type in VALUE_TYPES:
            info.value_type = value_type
        if value_format in VALUE_FORMATS:
            info.value_format = value_format
        self._convert(state, name, value, timestamp, site)

    def _split(self, state: VisitorState, timestamp: float, site: int, record: Record) -> None:
        test, population = record[5], record[6]
        if not test:
            self.filtered[MALFORMED] += 1
            return
        info = self._tests.get(test)
        if info is None:
            info = self._tests[test] = TestInfo(first=timestamp, last=timestamp)
        info.first = min(info.first, timestamp)
        info.last = max(info.last, timestamp)
        if len(record) > 7 and record[7]:
            info.weights = _weights(record[7]) or info.weights
        known = state.tests.get(test)
        if known is None:
            state.tests[test] = population
        elif known != population:
            # Only through a lost cookie or a changed population list: the
            # visitor stays in their first population, and is reported once.
            if test not in state.crossed:
                state.crossed.append(test)
                info.crossovers += 1
            return
        buckets = self._buckets(state, timestamp)
        for site_key in (site, ALL_SITES):
            self._mark(state, IMPRESSION, test, state.tests[test], site_key, buckets, None)

    # Counting

    def _buckets(self, state: VisitorState, timestamp: float) -> list[str]:
        const = state.const
        visit = state.visit or NO_VISIT
        rollups = self.rollups
        if const is None:
            const = state.const = [
                rollup.bucket(timestamp, visit) if rollup.per_visitor else None
                for rollup in rollups
            ]
        buckets: list[str] = const.copy()  # type: ignore[assignment]
        for i in self._timed:
            buckets[i] = rollups[i].bucket(timestamp, visit)
        return buckets

    def _convert(
        self, state: VisitorState, goal: str, value: float | None, timestamp: float, site: int
    ) -> None:
        buckets = self._buckets(state, timestamp)
        tests = state.tests
        for site_key in (site, ALL_SITES):
            self._mark(state, goal, NO_TEST, NO_TEST, site_key, buckets, value)
            for test, population in tests.items():
                self._mark(state, goal, test, population, site_key, buckets, value)
        complex_goals = self._complex_index.get(goal)
        if complex_goals:
            for complex_goal in complex_goals:
                self._complex(state, complex_goal, goal, site, buckets)

    def _mark(
        self,
        state: VisitorState,
        goal: str,
        test: str,
        population: str,
        site: int,
        buckets: list[str],
        value: float | None,
    ) -> None:
        key = (goal, test, site)
        mark = state.marks.get(key)
        if mark is None:
            mark = state.marks[key] = GoalMark([None] * len(buckets))
        last = mark.buckets
        if value is None and last == buckets:
            return  # counted in every one of these buckets already
        totals = mark.totals
        if value is not None and totals is None:
            totals = mark.totals = [0.0] * len(buckets)
        counts = self._counts
        names = self.names
        for i, bucket in enumerate(buckets):
            fresh = last[i] != bucket
            if fresh:
                last[i] = bucket
            elif value is None:
                continue
            counter_key = (names[i], bucket, site, goal, test, population)
            counter = counts.get(counter_key)
            if counter is None:
                counter = counts[counter_key] = [0, 0.0, 0.0]
            if fresh:
                counter[0] += 1
            if value is not None and totals is not None:
                before = 0.0 if fresh else totals[i]
                totals[i] = before + value
                counter[1] += value
                counter[2] += value * (2 * before + value)

    def _complex(
        self,
        state: VisitorState,
        complex_goal: ComplexGoal,
        goal: str,
        site: int,
        buckets: list[str],
    ) -> None:
        mark = state.complex.get(complex_goal.name)
        if mark is None:
            mark = state.complex[complex_goal.name] = ComplexMark()
        if mark.flag == "x":
            return
        if goal in complex_goal.exclude:
            if mark.flag == "c":
                self._count_complex(complex_goal.name, mark, -1)
            mark.flag, mark.reached = "x", []
            mark.buckets, mark.sites, mark.variants = [], [], []
            return
        if mark.flag == "p" and goal not in mark.reached:
            mark.reached.append(goal)
            if len(mark.reached) == len(complex_goal.include):
                mark.flag, mark.reached = "c", []
                mark.buckets = buckets
                mark.sites = [site, ALL_SITES]
                mark.variants = [[NO_TEST, NO_TEST], *map(list, state.tests.items())]
                self._count_complex(complex_goal.name, mark, 1)

    def _count_complex(self, name: str, mark: ComplexMark, change: int) -> None:
        counts = self._counts
        for site in mark.sites:
            for test, population in mark.variants:
                for rollup, bucket in zip(self.names, mark.buckets, strict=True):
                    key = (rollup, bucket, site, name, test, population)
                    counter = counts.get(key)
                    if counter is None:
                        counter = counts[key] = [0, 0.0, 0.0]
                    counter[0] += change

    # Output

    def drain(self, pointer: str | None = None) -> Batch:
        """Everything counted since the last drain, with the dirty states.

        Commit the batch, then call :meth:`evict`.
        """
        batch = Batch(
            counts={CounterKey._make(key): value for key, value in self._counts.items()},
            goals=self._goals,
            tests=self._tests,
            visitors={vid: self.visitors[vid].to_json() for vid in self._dirty},
            filtered={reason: count for reason, count in self.filtered.items() if count},
            pointer=pointer,
        )
        self._counts, self._goals, self._tests = {}, {}, {}
        self._dirty = set()
        self.filtered = Counter()
        return batch

    def evict(self) -> None:
        """Drop the least recently used states beyond ``capacity`` (committed ones only)."""
        visitors = self.visitors
        excess = len(visitors) - self.capacity
        if excess > 0:
            for vid in list(visitors)[:excess]:
                if vid not in self._dirty:
                    del visitors[vid]
        self._stored.clear()


def _visit(record: Record) -> Visit:
    headers: dict[str, str] = {}
    if len(record) > 10 and record[10]:
        try:
            parsed = json.loads(record[10])
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            headers = {str(key): str(value) for key, value in parsed.items()}
    return Visit(record[7], record[9], record[8], record[5], headers)


def _weights(text: str) -> dict[str, float]:
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    weights: dict[str, float] = {}
    for name, weight in parsed.items():
        if isinstance(weight, int | float) and not isinstance(weight, bool) and weight >= 0:
            weights[str(name)] = float(weight)
    return weights
