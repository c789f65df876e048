"""What the backend remembers of each visitor, and its compact JSON form.

States are stored as JSON text (never pickle: unpickling database content
runs code). Field names are one letter to keep millions of rows small.
"""

from __future__ import annotations

import json
from typing import Any

from manhattan.backend.model import Visit

PENDING = 0
"""No pixel yet: events are held back (bots never load the pixel)."""
HUMAN = 1
"""Loaded the pixel: events count."""
BOT = 2
"""A known crawler: nothing counts."""

Record = list[str]


class GoalMark:
    """Where a (goal, test, site) was last counted for one visitor.

    ``buckets[i]`` is the last bucket of rollup ``i`` the visitor was
    counted in (``None``: never); ``totals[i]`` the visitor's value total in
    that bucket (``None`` until a value is seen), for sums of squares.
    """

    __slots__ = ("buckets", "totals")

    def __init__(self, buckets: list[str | None], totals: list[float] | None = None) -> None:
        self.buckets = buckets
        self.totals = totals


class ComplexMark:
    """A visitor's progress on one complex goal.

    ``flag`` is ``"p"`` (pending: ``reached`` holds the include goals
    reached), ``"c"`` (counted: ``buckets``, ``sites`` and ``variants``
    say where, so an exclude goal can take it back) or ``"x"`` (excluded
    for good).
    """

    __slots__ = ("buckets", "flag", "reached", "sites", "variants")

    def __init__(self) -> None:
        self.flag = "p"
        self.reached: list[str] = []
        self.buckets: list[str] = []
        self.sites: list[int] = []
        self.variants: list[list[str]] = []


class VisitorState:
    """One visitor as the aggregation core sees them."""

    __slots__ = ("complex", "const", "crossed", "held", "marks", "status", "tests", "visit")

    def __init__(self) -> None:
        self.status = PENDING
        self.held: list[Record] = []
        self.visit: Visit | None = None
        self.tests: dict[str, str] = {}
        # Tests in which this visitor was also assigned another population.
        self.crossed: list[str] = []
        self.marks: dict[tuple[str, str, int], GoalMark] = {}
        self.complex: dict[str, ComplexMark] = {}
        # Buckets of the per-visitor rollups, computed once (not stored).
        self.const: list[str | None] | None = None

    def to_json(self) -> str:
        """The compact JSON text of this state."""
        data: dict[str, Any] = {"s": self.status}
        if self.held:
            data["h"] = self.held
        if self.visit is not None:
            data["v"] = [*self.visit[:4], dict(self.visit.headers)]
        if self.tests:
            data["t"] = self.tests
        if self.crossed:
            data["x"] = self.crossed
        if self.marks:
            data["m"] = [
                [goal, test, site, mark.buckets, mark.totals]
                for (goal, test, site), mark in self.marks.items()
            ]
        if self.complex:
            data["c"] = {
                name: [mark.flag, mark.reached, mark.buckets, mark.sites, mark.variants]
                for name, mark in self.complex.items()
            }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> VisitorState:
        """A state from :meth:`to_json` text; ``ValueError`` if it is not one."""
        try:
            data = json.loads(text)
            state = cls()
            state.status = int(data["s"])
            state.held = [list(map(str, record)) for record in data.get("h", [])]
            if "v" in data:
                url, referrer, user_agent, ip, headers = data["v"]
                state.visit = Visit(url, referrer, user_agent, ip, dict(headers))
            state.crossed = [str(test) for test in data.get("x", [])]
            state.tests = {
                str(test): str(population) for test, population in data.get("t", {}).items()
            }
            for goal, test, site, buckets, totals in data.get("m", []):
                state.marks[(goal, test, int(site))] = GoalMark(list(buckets), totals)
            for name, (flag, reached, buckets, sites, variants) in data.get("c", {}).items():
                mark = ComplexMark()
                mark.flag, mark.reached, mark.buckets = flag, reached, buckets
                mark.sites, mark.variants = sites, variants
                state.complex[name] = mark
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"not a stored visitor state: {exc}") from None
        return state
