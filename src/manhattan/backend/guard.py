"""The last check of a :class:`~manhattan.backend.model.Batch` before it is
committed: entries no store can hold are dropped and counted.

The aggregator already refuses records whose names, values, site ids or
timestamps a store could not take; this catches what is left (a rollup of
the user's returning a NUL, an over-long or a non-string bucket, a
non-finite total), so that one bad counter never blocks a commit, and with
it all counting. Pure functions over plain values.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Final, NamedTuple, TypeVar

from manhattan.backend.model import Batch, GoalInfo, TestInfo
from manhattan.records.limits import MAX_SITE_ID
from manhattan.records.vocabulary import ALL_SITES
from manhattan.records.vocabulary import UNSTORABLE as UNSTORABLE

MAX_KEY_BYTES: Final = 2400
"""The most UTF-8 bytes of the text of one key (a counter's rollup, bucket,
goal, test and population together): PostgreSQL's b-tree index rows hold at
most 2704 bytes, headers included."""

_INT64: Final = 2**63
_V = TypeVar("_V")


class Guarded(NamedTuple):
    """The batch :func:`guard` lets through, how many entries it dropped,
    and what was wrong with the first of them (for the log)."""

    batch: Batch
    dropped: int
    problem: str | None


def text_problem(text: object) -> str | None:
    """What keeps a store from holding ``text`` in a key column, or ``None``."""
    if type(text) is str and text.isascii() and "\x00" not in text:
        return None if len(text) <= MAX_KEY_BYTES else f"text of {len(text)} characters"
    if not isinstance(text, str):
        return f"a {type(text).__name__}, not text"
    if "\x00" in text:
        return "text holding a NUL character"
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        return "text holding a lone surrogate"
    return None if size <= MAX_KEY_BYTES else f"text of {size} bytes"


def _float_problem(number: object) -> str | None:
    if type(number) is float and math.isfinite(number):
        return None
    if isinstance(number, int | float) and not isinstance(number, bool):
        try:
            if math.isfinite(number):
                return None
        except OverflowError:  # an int beyond a float's range
            pass
    return f"the number {number!r:.40}"


def _int_problem(number: object, low: int, high: int) -> str | None:
    if type(number) is int and low <= number <= high:
        return None
    return f"the integer {number!r:.40}"


def _counter_problem(key: tuple[object, ...], delta: list[float]) -> str | None:
    rollup, bucket, site, goal, test, population = key
    try:
        text: object = rollup + bucket + goal + test + population  # type: ignore[operator]
    except TypeError:
        text = None
    if type(text) is str and text.isascii() and "\x00" not in text and len(text) <= MAX_KEY_BYTES:
        problem = None  # the common case: one check of the whole key
    else:
        problem = text_problem(text) if type(text) is str else None
        for part in (rollup, bucket, goal, test, population):
            problem = problem or text_problem(part)
    return (
        problem
        or _int_problem(site, ALL_SITES, MAX_SITE_ID)
        or _int_problem(delta[0], -_INT64, _INT64 - 1)
        or _float_problem(delta[1])
        or _float_problem(delta[2])
    )


def guard(batch: Batch) -> Guarded:
    """``batch`` without the entries a store could not hold, those counted
    under :data:`UNSTORABLE` in its ``filtered``: counters with a key that
    is not text, holds NUL or a lone surrogate or is too long
    (:data:`MAX_KEY_BYTES`), a site id beyond 32 bits, or a non-finite
    value; goals and tests with such a name or non-finite times; visitor
    states with such an id or a state text that is not valid Unicode.
    ``batch`` itself is left as it was.
    """
    problems: list[str] = []
    bad_counts = set()
    for key, delta in batch.counts.items():
        problem = _counter_problem(key, delta)
        if problem is not None:
            bad_counts.add(key)
            problems.append(f"counter {tuple(key)!r:.200}: {problem}")
    bad_goals = _bad(batch.goals, _goal_problem, "goal", problems)
    bad_tests = _bad(batch.tests, _test_problem, "test", problems)
    bad_visitors = _bad(batch.visitors, _visitor_problem, "visitor", problems)
    if not problems:
        return Guarded(batch, 0, None)
    filtered = dict(batch.filtered)
    filtered[UNSTORABLE] = filtered.get(UNSTORABLE, 0) + len(problems)
    cleaned = replace(
        batch,
        counts={key: delta for key, delta in batch.counts.items() if key not in bad_counts},
        goals={name: goal for name, goal in batch.goals.items() if name not in bad_goals},
        tests={name: test for name, test in batch.tests.items() if name not in bad_tests},
        visitors={vid: s for vid, s in batch.visitors.items() if vid not in bad_visitors},
        filtered=filtered,
    )
    return Guarded(cleaned, len(problems), problems[0])


def _bad(
    entries: Mapping[str, _V],
    check: Callable[[str, _V], str | None],
    what: str,
    problems: list[str],
) -> set[str]:
    """The names of ``entries`` that ``check`` finds a problem with, each
    problem described in ``problems``."""
    bad = set()
    for name, entry in entries.items():
        problem = check(name, entry)
        if problem is not None:
            bad.add(name)
            problems.append(f"{what} {name!r:.200}: {problem}")
    return bad


def _goal_problem(name: str, goal: GoalInfo) -> str | None:
    return (
        text_problem(name)
        or text_problem(goal.value_type)
        or text_problem(goal.value_format)
        or _float_problem(goal.first)
        or _float_problem(goal.last)
    )


def _test_problem(name: str, test: TestInfo) -> str | None:
    return (
        text_problem(name)
        or _float_problem(test.first)
        or _float_problem(test.last)
        or _int_problem(test.crossovers, 0, _INT64 - 1)
    )


def _visitor_problem(vid: str, state: str) -> str | None:
    return text_problem(vid) or _state_problem(state)


def _state_problem(state: object) -> str | None:
    if type(state) is str and (state.isascii() or _encodable(state)):
        return None
    return "a state that is not valid Unicode text"


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
