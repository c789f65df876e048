"""A test's verdict in one line, from its analysis (pure).

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from manhattan.backend.model import VIEWED_PAGE

SIGNIFICANCE = 0.05
"""Holm-adjusted p-values below this are called significant."""


@dataclass(frozen=True)
class Verdict:
    """What the tests list shows of one test.

    ``goal`` is the goal judged (the one most visitors reached, "viewed
    page" only when there is no other); ``leader`` its population with the
    highest conversion rate; ``p_value`` the Holm-adjusted p-value of the
    leader against control (when control leads: of the runner-up against
    control), ``None`` when there is not enough data; ``srm`` whether the
    populations' sizes mismatch their weights.
    """

    visitors: int
    goal: str | None
    leader: str | None
    p_value: float | None
    srm: bool
    srm_p_value: float

    @property
    def significant(self) -> bool:
        """Whether the leader's lead is significant."""
        return self.p_value is not None and self.p_value < SIGNIFICANCE


def primary_goal(analysis: Mapping[str, Any]) -> str | None:
    """The goal a test is judged on: the most conversions, then the name."""
    goals: Mapping[str, Any] = analysis["goals"]

    def conversions(goal: str) -> int:
        return sum(entry["conversions"] for entry in goals[goal]["populations"].values())

    candidates = [goal for goal in goals if goal != VIEWED_PAGE] or list(goals)
    if not candidates:
        return None
    return min(candidates, key=lambda goal: (-conversions(goal), goal))


def verdict(analysis: Mapping[str, Any]) -> Verdict:
    """The :class:`Verdict` of an analysis (``client.analyze``'s result)."""
    visitors = sum(analysis["visitors"].values())
    srm = analysis["srm"]
    goal = primary_goal(analysis)
    leader = p_value = None
    if goal is not None:
        entries: Mapping[str, Any] = analysis["goals"][goal]["populations"]
        ranked = sorted(
            analysis["populations"], key=lambda population: -entries[population]["rate"]
        )
        leader = ranked[0]
        compared = ranked[1] if leader == analysis["control"] and len(ranked) > 1 else leader
        p_value = entries[compared].get("p_value_holm")
    return Verdict(visitors, goal, leader, p_value, bool(srm["mismatch"]), srm["p_value"])
