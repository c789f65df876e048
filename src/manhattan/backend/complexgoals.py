"""Complex goals: ``name|include1,include2|exclude1,exclude2``.

A visitor counts toward a complex goal while they have reached every
include goal and no exclude goal: "abandoned cart" is
``Abandoned Cart|Added To Cart|Began Checkout``. The conversion lands in the
rollup buckets of the goal hit that completed the include set; an exclude
goal reached later takes it back; an exclude goal reached before the
include set was complete means the visitor never counts.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class ComplexGoal(NamedTuple):
    """A parsed complex goal."""

    name: str
    include: frozenset[str]
    exclude: frozenset[str]


def parse_complex_goal(spec: str) -> ComplexGoal:
    """Parse ``name|inc1,inc2|exc1,exc2`` (the exclude part may be empty or absent).

    Names are stripped of surrounding spaces. Raises ``ValueError`` naming
    the problem: no name, no include goal, a goal both included and
    excluded, or a goal named after the complex goal itself.
    """
    if not isinstance(spec, str):
        raise TypeError(f"complex goal must be a str 'name|include,...|exclude,...', not {spec!r}")
    parts = spec.split("|")
    if len(parts) not in (2, 3):
        raise ValueError(
            f"complex goal {spec!r} must be 'name|include1,include2|exclude1,exclude2'"
        )
    name = parts[0].strip()
    include = _names(parts[1])
    exclude = _names(parts[2]) if len(parts) == 3 else frozenset()
    if not name:
        raise ValueError(f"complex goal {spec!r} has no name")
    if not include:
        raise ValueError(f"complex goal {name!r} needs at least one include goal")
    both = include & exclude
    if both:
        raise ValueError(
            f"complex goal {name!r} both includes and excludes {', '.join(sorted(both))}"
        )
    if name in include or name in exclude:
        raise ValueError(f"complex goal {name!r} cannot include or exclude itself")
    return ComplexGoal(name, include, exclude)


def _names(text: str) -> frozenset[str]:
    return frozenset(name.strip() for name in text.split(",") if name.strip())


def index_by_goal(goals: Iterable[ComplexGoal]) -> dict[str, tuple[ComplexGoal, ...]]:
    """For each plain goal, the complex goals it includes or excludes.

    Two complex goals with one name are a ``ValueError``.
    """
    seen: set[str] = set()
    index: dict[str, list[ComplexGoal]] = {}
    for goal in goals:
        if goal.name in seen:
            raise ValueError(f"complex goal {goal.name!r} is defined twice")
        seen.add(goal.name)
        for plain in goal.include | goal.exclude:
            index.setdefault(plain, []).append(goal)
    return {plain: tuple(found) for plain, found in index.items()}
