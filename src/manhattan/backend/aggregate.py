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
from manhattan.backend.state import BOT, HUMAN, MULTIPLE_SITES, Buckets, ComplexMark, VisitorState
from manhattan.log.text import decode_line, encode_record

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
UNREADABLE_STATE = "unreadable visitor state"

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
        capacity: int = 50_000,
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
        self._periodic = all(
            callable(getattr(self.rollups[i], "period", None)) for i in self._timed
        )
        # (start, end, buckets): the timed buckets hold for every time in [start, end).
        self._clock: tuple[float, float, tuple[str, ...]] = (0.0, 0.0, ())
        self.visitors: dict[str, VisitorState] = {}
        # Fetched ahead of use: a state's JSON, or None for a visitor not stored.
        self._stored: dict[str, str | None] = {}
        self._dirty: set[str] = set()
        self._counts: dict[tuple[str, str, int, str, str, str], list[float]] = {}
        self._goals: dict[str, GoalInfo] = {}
        self._tests: dict[str, TestInfo] = {}
        self.filtered: Counter[str] = Counter()
        self.events = 0
        self._site_ids: dict[str, int] = {}
        self._one_site: dict[int, tuple[tuple[int, tuple[int, ...]], ...]] = {}
        self._many_sites: dict[int, tuple[tuple[int, tuple[int, ...]], ...]] = {}

    # Visitor states

    def unknown(self, visitor_ids: Iterable[str]) -> list[str]:
        """Those of ``visitor_ids`` whose state is not in memory (to prefetch)."""
        cached, stored = self.visitors, self._stored
        return list({vid for vid in visitor_ids if vid not in cached and vid not in stored})

    def adopt(self, states: dict[str, str], looked_up: Iterable[str] = ()) -> None:
        """Take serialized states fetched from the store (decoded on first use).

        ``looked_up`` are the ids that were asked for: those without a state
        are new visitors, so meeting them costs no second look-up.
        """
        stored = self._stored
        for vid in looked_up:
            stored.setdefault(vid, None)
        stored.update(states)

    def _state(self, visitor_id: str) -> VisitorState:
        visitors = self.visitors
        state = visitors.pop(visitor_id, None)
        if state is None:
            stored = self._stored
            if visitor_id in stored:
                text = stored.pop(visitor_id)
            else:
                text = self.loader([visitor_id]).get(visitor_id)
            state = VisitorState() if text is None else self._decode(text)
        visitors[visitor_id] = state  # most recently used last
        self._dirty.add(visitor_id)
        return state

    def _decode(self, text: str) -> VisitorState:
        try:
            return VisitorState.from_json(text)
        except ValueError:
            # A damaged row must not stop counting: the visitor starts afresh.
            self.filtered[UNREADABLE_STATE] += 1
            return VisitorState()

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
        site = self._site_ids.get(record[4])
        try:
            timestamp = float(record[2])
            if site is None:
                site = self._site_id(record[4])
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
            for line in held:
                old = decode_line(line.encode("ascii"))
                self._apply(state, old[1], float(old[2]), int(old[4] or 0), old)
        elif kind == "page" and self.is_crawler(record[8]):
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

    def _site_id(self, text: str) -> int:
        site = int(text) if text else 0
        if site >= 0 and len(self._site_ids) < 10_000:
            self._site_ids[text] = site  # site ids are few: parse each once
        return site

    def _apply(
        self, state: VisitorState, kind: str, timestamp: float, site: int, record: Record
    ) -> None:
        if kind == "page":
            if state.visit is None:
                state.visit = _visit(record)
                state.const = state.timed = state.counted = None
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
        info = self._note_goal(name, timestamp)
        if value_type in VALUE_TYPES:
            info.value_type = value_type
        if value_format in VALUE_FORMATS:
            info.value_format = value_format
        self._convert(state, name, value, timestamp, site)

    def _note_goal(self, name: str, timestamp: float) -> GoalInfo:
        """The goal's info in this batch, its first and last time moved to
        take in ``timestamp``."""
        info = self._goals.get(name)
        if info is None:
            info = self._goals[name] = GoalInfo(first=timestamp, last=timestamp)
        info.first = min(info.first, timestamp)
        info.last = max(info.last, timestamp)
        return info

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
            state.variants = state.counted = None
        elif known != population:
            # Only through a lost cookie or a changed population list: the
            # visitor stays in their first population, and is reported once.
            if test not in state.crossed:
                state.crossed.append(test)
                info.crossovers += 1
            return
        buckets = self._buckets(
            state, timestamp, self._timed_buckets(timestamp, state.visit or NO_VISIT)
        )
        for mark_site, counter_sites in self._sites(state, site):
            self._mark(
                state, IMPRESSION, test, population, mark_site, counter_sites, buckets, None
            )

    # Counting

    def _sites(self, state: VisitorState, site: int) -> tuple[tuple[int, tuple[int, ...]], ...]:
        """Which marks an event updates, and which sites' counters each feeds.

        Most visitors only ever see one site: then their all-sites marks
        stand for that site's too (they always agree), which halves the
        work. A second site splits them for good.
        """
        first = state.site
        if first == site:
            return self._one_site.setdefault(site, ((ALL_SITES, (site, ALL_SITES)),))
        if first is None:
            state.site = site
            return self._sites(state, site)
        if first != MULTIPLE_SITES:
            # Until now the all-sites marks stood for the first site's too.
            for (goal, test, _), buckets in list(state.marks.items()):
                state.marks[(goal, test, first)] = buckets
            for (goal, test, _), totals in list(state.totals.items()):
                state.totals[(goal, test, first)] = totals.copy()
            state.site = MULTIPLE_SITES
        return self._many_sites.setdefault(site, ((site, (site,)), (ALL_SITES, (ALL_SITES,))))

    def _timed_buckets(self, timestamp: float, visit: Visit) -> tuple[str, ...]:
        """The buckets of the rollups that depend on time, in ``_timed`` order.

        Consecutive events mostly fall in the same day, week and month. When
        every timed rollup can say the period its bucket holds for (a
        ``period(timestamp) -> (start, end, bucket)`` method, as the built-in
        ones have), the buckets are reused, as one tuple, for every time in
        all of those periods.
        """
        start, end, cached = self._clock
        if start <= timestamp < end:
            return cached
        rollups = self.rollups
        if not self._periodic:
            return tuple(rollups[i].bucket(timestamp, visit) for i in self._timed)
        start, end = -math.inf, math.inf
        buckets = []
        for i in self._timed:
            low, high, bucket = rollups[i].period(timestamp)  # type: ignore[attr-defined]
            start, end = max(start, low), min(end, high)
            buckets.append(bucket)
        found = tuple(buckets)
        self._clock = (start, end, cached if found == cached else found)
        return self._clock[2]

    def _buckets(self, state: VisitorState, timestamp: float, timed: tuple[str, ...]) -> Buckets:
        """Every rollup's bucket for an event whose timed buckets are ``timed``."""
        if timed is state.timed and state.last is not None:
            return state.last  # nothing changed since this visitor's last event
        const = state.const
        if const is None:
            visit = state.visit or NO_VISIT
            const = state.const = [
                rollup.bucket(timestamp, visit) if rollup.per_visitor else None
                for rollup in self.rollups
            ]
        for i, bucket in zip(self._timed, timed, strict=True):
            const[i] = bucket
        buckets: Buckets = tuple(const)  # type: ignore[arg-type]
        state.timed = timed
        if buckets == state.last:
            return state.last  # the same tuple object: marks share it
        state.last = buckets
        return buckets

    def _convert(
        self, state: VisitorState, goal: str, value: float | None, timestamp: float, site: int
    ) -> None:
        timed = self._timed_buckets(timestamp, state.visit or NO_VISIT)
        counted = state.counted
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
        variants = state.variants
        if variants is None:
            variants = state.variants = ((NO_TEST, NO_TEST), *state.tests.items())
        for mark_site, counter_sites in self._sites(state, site):
            for test, population in variants:
                if value is None:
                    # Already counted in every one of these buckets: the usual case.
                    last = marks.get((goal, test, mark_site))
                    if last is buckets or last == buckets:
                        continue
                mark(state, goal, test, population, mark_site, counter_sites, buckets, value)
        if state.site == site and state.timed is not None:
            if counted is None:
                counted = state.counted = {}
            counted[goal] = state.timed
        complex_goals = self._complex_index.get(goal)
        if complex_goals:
            for complex_goal in complex_goals:
                self._complex(state, complex_goal, goal, site, buckets, timestamp)

    def _mark(
        self,
        state: VisitorState,
        goal: str,
        test: str,
        population: str,
        mark_site: int,
        counter_sites: tuple[int, ...],
        buckets: Buckets,
        value: float | None,
    ) -> None:
        key = (goal, test, mark_site)
        last = state.marks.get(key)
        state.marks[key] = buckets
        totals = state.totals.get(key)
        if totals is None and value is not None:
            totals = state.totals[key] = [0.0] * len(buckets)
        counts = self._counts
        names = self.names
        for i, bucket in enumerate(buckets):
            fresh = last is None or last[i] != bucket
            if fresh:
                if totals is not None:
                    totals[i] = 0.0  # a new bucket: the visitor's total in it starts afresh
            elif value is None:
                continue
            if value is not None and totals is not None:
                before = totals[i]
                totals[i] = before + value
                square = value * (2 * before + value)
            for site in counter_sites:
                counter_key = (names[i], bucket, site, goal, test, population)
                counter = counts.get(counter_key)
                if counter is None:
                    counter = counts[counter_key] = [0, 0.0, 0.0]
                if fresh:
                    counter[0] += 1
                if value is not None:
                    counter[1] += value
                    counter[2] += square

    def _complex(
        self,
        state: VisitorState,
        complex_goal: ComplexGoal,
        goal: str,
        site: int,
        buckets: Buckets,
        timestamp: float,
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
                mark.buckets = list(buckets)
                mark.sites = [site, ALL_SITES]
                mark.variants = [[NO_TEST, NO_TEST], *map(list, state.tests.items())]
                self._count_complex(complex_goal.name, mark, 1)
                # Listed among the goals (goals(), the dashboard) once reached.
                self._note_goal(complex_goal.name, timestamp)

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
