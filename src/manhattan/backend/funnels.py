"""Ordered funnels: ``name|step1>step2>...``, optionally within a window.

``Checkout|Viewed Product>Added To Cart>Began Checkout>Purchased`` is a
funnel named ``Checkout`` of four steps, each the name of a goal. A step's
goal may be any goal the aggregator converts on: an ordinary goal,
``"viewed page"``, a complex goal (at the moment it is reached; an exclude
goal taking it back later does not undo the funnel step), or another
funnel's step goal.

Semantics, per visitor and funnel:

- Events are taken in log order (the order the aggregator counts them;
  held events of a visitor are released in order at their pixel), not by
  timestamp.
- The visitor reaches step 1 when they convert on step 1's goal, and step
  k when they convert on step k's goal after having reached step k-1.
  A conversion on any other step's goal is ignored: steps out of order
  neither count nor spoil the attempt (a visitor who buys, then views a
  product, then adds it to the cart has reached steps 1 and 2, not 4).
- Without a window an attempt never ends: a visitor goes through a funnel
  once. With a window (``within`` seconds), each step of an attempt must
  come within ``within`` of that attempt's step 1 (a later step's time
  minus step 1's, which a clock going backwards can make negative: that is
  within); once that time has passed, the attempt is over, later steps of
  it are ignored, and the next conversion on step 1's goal starts a new
  attempt (a step-1 conversion during an attempt is ignored). A completed
  attempt is over the same way, so a visitor can go through again after
  the window.
- Each step reached is an ordinary conversion of the goal
  ``f"{name}: {step}"`` (:func:`step_goal`) where and when it happens: in
  that event's rollup buckets, at its site and all sites, for every test
  population the visitor is in at that moment, once per visitor per
  bucket like every goal, and bot-filtered like every goal. So in a
  bucket of a rollup by time a later step may count more visitors than an
  earlier one (who reached step 1 the day before). A funnel's counts are
  those of its step goals (:func:`manhattan.backend.persistence` reads).
- A visitor who enters a test population part-way through an attempt
  (the usual case: the first page view comes before the page's split) is
  counted in that population, at that moment, for the steps the attempt
  has reached (:func:`standing`), so that each population's funnel starts
  where its visitors stand: step 1 holds at least as many as step 2.
  Assignment is random, so steps before it favour no population.

A visitor's progress is kept in their state by funnel name (see
:class:`~manhattan.backend.state.VisitorState`): changing a funnel's steps
keeps the progress made on the old ones; rename it to start afresh.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any, Final, NamedTuple

from manhattan.records.limits import name_problem

STEP_SEPARATOR: Final = ">"

UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
"""Seconds per unit of a ``--within`` window."""
_WINDOW = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw])")

Progress = dict[str, list[float]]
"""A visitor's progress per funnel name: ``[steps reached, step 1's time]``."""


class Funnel(NamedTuple):
    """A declared funnel: its name, steps (goal names) and window in
    seconds (``None``: no window)."""

    name: str
    steps: tuple[str, ...]
    within: float | None = None

    @property
    def goals(self) -> tuple[str, ...]:
        """The goal each step is counted as, in step order."""
        return tuple(step_goal(self.name, step) for step in self.steps)

    def as_dict(self) -> dict[str, Any]:
        """``{"name", "steps", "within"}``, as ``funnels()`` answers it."""
        return {"name": self.name, "steps": list(self.steps), "within": self.within}


def step_goal(funnel: str, step: str) -> str:
    """The goal name a funnel's step is counted as: ``"Checkout: Purchased"``."""
    return f"{funnel}: {step}"


def parse_window(text: str) -> float:
    """Seconds of a window such as ``90s``, ``30m``, ``12h``, ``1d`` or
    ``2w``; ``ValueError`` naming the problem for anything else, zero and
    negatives included."""
    if not isinstance(text, str):
        raise TypeError(f"a funnel window must be a str such as '1d', not {text!r}")
    match = _WINDOW.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"funnel window {text!r} must be a positive number and a unit: s, m, h, d "
            "or w (seconds, minutes, hours, days, weeks), such as '30m' or '1d'"
        )
    seconds = float(match[1]) * UNITS[match[2]]
    if not 0 < seconds < math.inf:
        raise ValueError(f"funnel window {text!r} must be longer than 0 seconds")
    return seconds


def parse_funnel(spec: str, within: float | None = None) -> Funnel:
    """Parse ``name|step1>step2>...`` (names stripped of surrounding spaces).

    ``ValueError`` naming the problem: no name, fewer than two steps, an
    empty or repeated step, or a name (the funnel's, or a step goal's) that
    no store can hold.
    """
    if not isinstance(spec, str):
        raise TypeError(f"a funnel must be a str 'name|step1>step2>...', not {spec!r}")
    parts = spec.split("|")
    if len(parts) != 2:
        raise ValueError(f"funnel {spec!r} must be 'name|step1>step2>...' (one '|')")
    name = parts[0].strip()
    if not name:
        raise ValueError(f"funnel {spec!r} has no name")
    steps = tuple(step.strip() for step in parts[1].split(STEP_SEPARATOR))
    if len(steps) < 2:
        raise ValueError(f"funnel {name!r} needs at least two steps separated by '>'")
    if "" in steps:
        raise ValueError(f"funnel {name!r} has an empty step in {parts[1].strip()!r}")
    repeated = sorted({step for step in steps if steps.count(step) > 1})
    if repeated:
        raise ValueError(f"funnel {name!r} repeats the step {', '.join(map(repr, repeated))}")
    if within is not None and not 0 < within < math.inf:
        raise ValueError(f"funnel {name!r}: the window must be longer than 0 seconds")
    funnel = Funnel(name, steps, within)
    for what, text in (("name", name), *(("step goal", goal) for goal in funnel.goals)):
        problem = name_problem(text)
        if problem is not None:
            raise ValueError(f"funnel {name!r}: its {what} {text[:60]!r} {problem}")
    return funnel


def funnel_index(
    funnels: Iterable[Funnel], complex_goals: Iterable[str] = ()
) -> dict[str, tuple[tuple[Funnel, int], ...]]:
    """For each goal that is a step of a funnel, the (funnel, step index)
    pairs it is. ``ValueError`` for two funnels of one name, and for a
    funnel or step goal named like one of ``complex_goals``."""
    complex_names = set(complex_goals)
    seen: set[str] = set()
    index: dict[str, list[tuple[Funnel, int]]] = {}
    for funnel in funnels:
        if funnel.name in seen:
            raise ValueError(f"funnel {funnel.name!r} is declared twice")
        seen.add(funnel.name)
        clash = sorted(complex_names.intersection((funnel.name, *funnel.goals)))
        if clash:
            raise ValueError(
                f"funnel {funnel.name!r}: {clash[0]!r} is also the name of a complex goal"
            )
        for i, step in enumerate(funnel.steps):
            index.setdefault(step, []).append((funnel, i))
    return {goal: tuple(steps) for goal, steps in index.items()}


def advance(
    progress: Progress, steps: Sequence[tuple[Funnel, int]], timestamp: float
) -> list[str]:
    """Move a visitor's ``progress`` for a conversion at ``timestamp`` on a
    goal that is each of ``steps`` (from :func:`funnel_index`); the step
    goals reached just now (the module docstring gives the rules)."""
    reached = []
    for funnel, index in steps:
        mark = progress.get(funnel.name)
        within = funnel.within
        if index == 0:
            # No window: an attempt never ends. With one, it ends once the
            # window from its step 1 has passed (completed or not).
            if mark is not None and (within is None or timestamp - mark[1] <= within):
                continue
            progress[funnel.name] = [1, timestamp]
        elif (
            mark is None
            or mark[0] != index
            or (within is not None and timestamp - mark[1] > within)
        ):
            continue
        else:
            mark[0] = index + 1
        reached.append(step_goal(funnel.name, funnel.steps[index]))
    return reached


def standing(progress: Progress, funnels: Iterable[Funnel], timestamp: float) -> list[str]:
    """The step goals a visitor has reached in each of ``funnels``' attempt
    still running at ``timestamp`` (one whose window has passed is over)."""
    reached: list[str] = []
    for funnel in funnels:
        mark = progress.get(funnel.name)
        if mark is None or (funnel.within is not None and timestamp - mark[1] > funnel.within):
            continue
        reached.extend(funnel.goals[: int(mark[0])])
    return reached


# -- The declarations the store keeps --------------------------------------


def funnels_to_json(funnels: Iterable[Funnel]) -> str:
    """The JSON text of declared funnels, in order."""
    return json.dumps([funnel.as_dict() for funnel in funnels], separators=(",", ":"))


def funnels_from_json(text: str | None) -> list[Funnel]:
    """Funnels from :func:`funnels_to_json` text (``None``: none declared);
    ``ValueError`` if it is not such text."""
    if text is None:
        return []
    try:
        return [
            Funnel(
                str(item["name"]),
                tuple(str(step) for step in item["steps"]),
                None if item["within"] is None else float(item["within"]),
            )
            for item in json.loads(text)
        ]
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not stored funnel declarations: {exc}") from None


def merged(known: Sequence[Funnel], declared: Sequence[Funnel]) -> list[Funnel]:
    """What the store lists after a server declares ``declared``: each
    redeclared funnel's new definition in its old place, then the new ones.
    Funnels not declared again stay listed, since their counts stay."""
    by_name = {funnel.name: funnel for funnel in declared}
    kept = [by_name.pop(funnel.name, funnel) for funnel in known]
    return [*kept, *by_name.values()]


def unknown_funnel(name: str, known: Sequence[Funnel]) -> str:
    """Why ``funnel(name)`` is refused: no such funnel; with the closest names."""
    names = [funnel.name for funnel in known]
    close = difflib.get_close_matches(name, names, n=3)
    if close:
        return f"no funnel named {name!r} (did you mean {' or '.join(map(repr, close))}?)"
    if names:
        listed = ", ".join(map(repr, names[:10])) + (" and more" if len(names) > 10 else "")
        return f"no funnel named {name!r} (declared funnels: {listed})"
    return (
        f"no funnel named {name!r}: none is declared (manhattan-server --funnel "
        "'name|step1>step2>...')"
    )
