"""What the backend remembers of each visitor, and its compact JSON form.

States are stored as JSON text (never pickle: unpickling database content
runs code). Field names are one letter to keep millions of rows small.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from manhattan.backend.model import Visit

PENDING = 0
"""No pixel yet: events are held back (bots never load the pixel)."""
HUMAN = 1
"""Loaded the pixel: events count."""
BOT = 2
"""A known crawler: nothing counts."""

MULTIPLE_SITES = -2
"""``VisitorState.site`` of a visitor seen on more than one site."""

Buckets = tuple[str, ...]
"""An event's bucket in each rollup, in the configured rollup order."""
MarkKey = tuple[str, str, int]
"""(goal, test, site) of a visitor's conversion (test "" outside tests)."""


class Stage(StrEnum):
    """Where a visitor stands on one complex goal; the values are what the
    stored JSON holds."""

    PENDING = "p"
    """Not all include goals reached yet: ``reached`` lists those that are."""
    COUNTED = "c"
    """Counted: ``buckets``, ``sites`` and ``variants`` say where, so an
    exclude goal can take it back."""
    EXCLUDED = "x"
    """Reached an exclude goal: never counts again."""


class ComplexMark:
    """A visitor's progress on one complex goal (see :class:`Stage`)."""

    __slots__ = ("buckets", "flag", "reached", "sites", "variants")

    def __init__(self) -> None:
        self.flag = Stage.PENDING
        self.reached: list[str] = []
        self.buckets: list[str] = []
        self.sites: list[int] = []
        self.variants: list[list[str]] = []


class PageMarks:
    """A visitor's page views (see :mod:`manhattan.backend.pages`): when
    the last one was (visits end after a gap), the one site they were on
    or :data:`MULTIPLE_SITES`, and the page-rollup buckets each path was
    last counted in (at most ``pages.MAX_VISITOR_PATHS``, the one counted
    longest ago first)."""

    __slots__ = ("last", "marks", "site")

    def __init__(self) -> None:
        self.last: float | None = None
        self.site: int | None = None
        self.marks: dict[str, tuple[str, ...]] = {}

    def to_data(self) -> list[Any]:
        """``[last, site, [[buckets, [path, ...]], ...]]``: the marks as runs
        of paths with the same buckets, in order (each tuple stored once:
        page states are read and written on every flush)."""
        runs: list[list[Any]] = []
        previous: tuple[str, ...] | None = None
        for path, buckets in self.marks.items():
            if buckets != previous:
                runs.append([buckets, []])
                previous = buckets
            runs[-1][1].append(path)
        return [self.last, self.site, runs]

    @classmethod
    def from_data(cls, data: Any) -> PageMarks:
        """The marks :meth:`to_data` gave (``ValueError``, ``TypeError``...
        for anything else)."""
        last, site, runs = data
        pages = cls()
        pages.last = None if last is None else float(last)
        pages.site = None if site is None else int(site)
        for buckets, paths in runs:
            shared = tuple(map(str, buckets))
            for path in paths:
                pages.marks[str(path)] = shared
        return pages


class Memo:
    """What the aggregator derives from a visitor's state to skip work.

    Invariant: each field is ``None`` or what it would be recomputed as
    from the state's stored fields and the tuples the aggregator's
    :class:`~manhattan.backend.timedbuckets.TimedBuckets` hands out, so a
    fresh memo (a state just loaded or created) is always right, only
    slower. Tuples are compared by identity to skip work, which is why
    the very tuples are kept. Whoever changes the state's ``visit`` calls
    :meth:`visit_changed`, whoever changes its ``tests``
    :meth:`tests_changed`. Never stored.
    """

    __slots__ = ("const", "counted", "last", "timed", "variants")

    def __init__(self) -> None:
        # Every rollup's bucket for this visitor: the per-visitor ones fixed
        # by the visit, the timed ones those of the last event (scratch).
        self.const: list[str | None] | None = None
        # The timed buckets ``last`` was made from, and the last event's buckets
        # (reused while equal, so that marks share the tuple).
        self.timed: tuple[str, ...] | None = None
        self.last: Buckets | None = None
        # Goals known counted, for every variant and the visitor's one site,
        # in the timed buckets given: a repeat needs no further look.
        self.counted: dict[str, tuple[str, ...]] | None = None
        # ((NO_TEST, NO_TEST), *tests.items()): what a conversion is credited to.
        self.variants: tuple[tuple[str, str], ...] | None = None

    def visit_changed(self) -> None:
        """Forget what depends on the visit (the caller sets ``const`` anew)."""
        self.timed = self.counted = None

    def tests_changed(self) -> None:
        """Forget what depends on the visitor's split tests."""
        self.variants = self.counted = None


class VisitorState:
    """One visitor as the aggregation core sees them: what is stored, and a
    :class:`Memo` of what is derived from it."""

    __slots__ = (
        "complex",
        "crossed",
        "funnels",
        "held",
        "marks",
        "memo",
        "pages",
        "site",
        "status",
        "tests",
        "totals",
        "visit",
    )

    def __init__(self) -> None:
        self.status = PENDING
        # Held records as their (escaped, ASCII) log lines, oldest first.
        self.held: list[str] = []
        self.visit: Visit | None = None
        self.tests: dict[str, str] = {}
        # The one site this visitor was seen on, or MULTIPLE_SITES. While it
        # is one site, marks under ALL_SITES stand for that site's as well.
        self.site: int | None = None
        # Tests in which this visitor was also assigned another population.
        self.crossed: list[str] = []
        # The buckets each (goal, test, site) was last counted in. Marks set
        # by one event share its tuple, so they cost little memory.
        self.marks: dict[MarkKey, Buckets] = {}
        # The visitor's value total in each of those buckets, for goals with values.
        self.totals: dict[MarkKey, list[float]] = {}
        self.complex: dict[str, ComplexMark] = {}
        # Per funnel: [steps reached, step 1's time] (see manhattan.backend.funnels).
        self.funnels: dict[str, list[float]] = {}
        self.pages: PageMarks | None = None
        self.memo = Memo()

    def to_json(self) -> str:
        """The compact JSON text of this state."""
        data: dict[str, Any] = {"s": self.status}
        if self.site is not None:
            data["i"] = self.site
        if self.held:
            data["h"] = self.held
        if self.visit is not None:
            data["v"] = [*self.visit[:4], dict(self.visit.headers)]
        if self.tests:
            data["t"] = self.tests
        if self.crossed:
            data["x"] = self.crossed
        if self.marks:
            data["m"] = [[*key, buckets] for key, buckets in self.marks.items()]
        if self.totals:
            data["n"] = [[*key, totals] for key, totals in self.totals.items()]
        if self.complex:
            data["c"] = {
                name: [mark.flag, mark.reached, mark.buckets, mark.sites, mark.variants]
                for name, mark in self.complex.items()
            }
        if self.funnels:
            data["f"] = self.funnels
        if self.pages is not None:
            data["p"] = self.pages.to_data()
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                # A lone surrogate (from a page's URL, say) that no database
                # takes as text: escaped, it reads back the same.
                text = json.dumps(data, separators=(",", ":"))
        return text

    @classmethod
    def from_json(cls, text: str) -> VisitorState:
        """A state from :meth:`to_json` text; ``ValueError`` if it is not one."""
        try:
            data = json.loads(text)
            state = cls()
            state.status = int(data["s"])
            state.site = None if data.get("i") is None else int(data["i"])
            state.held = [str(line) for line in data.get("h", [])]
            if "v" in data:
                url, referrer, user_agent, ip, headers = data["v"]
                state.visit = Visit(url, referrer, user_agent, ip, dict(headers))
            state.crossed = [str(test) for test in data.get("x", [])]
            state.tests = {
                str(test): str(population) for test, population in data.get("t", {}).items()
            }
            for goal, test, site, buckets in data.get("m", []):
                state.marks[(str(goal), str(test), int(site))] = tuple(buckets)
            for goal, test, site, totals in data.get("n", []):
                state.totals[(str(goal), str(test), int(site))] = [float(t) for t in totals]
            for name, (flag, reached, buckets, sites, variants) in data.get("c", {}).items():
                mark = ComplexMark()
                mark.flag, mark.reached, mark.buckets = Stage(flag), reached, buckets
                mark.sites, mark.variants = sites, variants
                state.complex[name] = mark
            for name, (reached, start) in data.get("f", {}).items():
                state.funnels[str(name)] = [int(reached), float(start)]
            if "p" in data:
                state.pages = PageMarks.from_data(data["p"])
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"not a stored visitor state: {exc}") from None
        return state
