"""The pure part of the queries: checking their arguments, computing goal
values from counted rows, and telling which names a query gave that the
store has never seen."""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping, Sequence
from typing import NamedTuple

from manhattan.backend.model import CounterKey, QueryError
from manhattan.records.vocabulary import ALL_SITES, IMPRESSION, NO_TEST, VIEWED_PAGE
from manhattan.records.vocabulary import MAX_BREAKDOWN_BUCKETS as MAX_BREAKDOWN_BUCKETS
from manhattan.records.vocabulary import MAX_BREAKDOWN_GOALS as MAX_BREAKDOWN_GOALS
from manhattan.records.vocabulary import goal_value_of as goal_value_of

Rows = Mapping[tuple[str, str], tuple[int, float]]
"""``{(population, goal): (visitors, value total)}`` of one slice."""

NOTHING = (0, 0.0)


def counter_key(
    goal: object, variant: object, rollup_key: object, bucket_id: object, site_id: object
) -> CounterKey:
    """The counter a query names, its arguments checked (:class:`QueryError`).

    No goal with a variant: the population's impressions; a goal without a
    variant: the goal's row outside split tests; ``site_id=None``: all
    sites; ``bucket_id`` as ``str(bucket_id)``. Populations may be given as
    0.3's ``split()`` returned them (``True``, ``2``): they were recorded as
    ``str(population)``.
    """
    if goal is not None and not isinstance(goal, str):
        raise QueryError(f"goal must be a str or None, not {type(goal).__name__}")
    if goal == "":
        raise QueryError("goal must not be empty (goal names never are)")
    if variant is None:
        if goal is None:
            raise QueryError("a query needs a goal, a variant (test, population) or both")
        test = population = NO_TEST
    else:
        test, population = check_variant(variant)
    if not isinstance(rollup_key, str):
        raise QueryError(f"rollup_key must be a str, not {type(rollup_key).__name__}")
    goal = IMPRESSION if goal is None else goal
    return CounterKey(rollup_key, str(bucket_id), check_site(site_id), goal, test, population)


def check_variant(variant: object) -> tuple[str, str]:
    """``(test, str(population))`` of a query's variant argument."""
    if isinstance(variant, str | bytes) or not isinstance(variant, Sequence) or len(variant) != 2:
        raise QueryError(f"variant must be a (test name, population) pair, not {variant!r}")
    test, population = variant
    if not isinstance(test, str):
        raise QueryError(f"a variant's test name must be a str, not {type(test).__name__}")
    if not test:
        raise QueryError("a variant's test name must not be empty")
    if not isinstance(population, str | int | float):
        raise QueryError(
            "a variant's population must be a str (or a bool or number, as split() "
            f"returned it), not {type(population).__name__}"
        )
    return test, str(population)


def check_site(site_id: object) -> int:
    """The site a query's ``site_id`` names: ``None`` is all sites."""
    if site_id is None:
        return ALL_SITES
    if isinstance(site_id, bool) or not isinstance(site_id, int):
        raise QueryError(f"site_id must be an int or None, not {type(site_id).__name__}")
    return site_id


def check_results(test_name: object, goals: object) -> list[str]:
    """The goal names of a ``results()`` query, its arguments checked."""
    if not isinstance(test_name, str):
        raise QueryError(f"test_name must be a str, not {type(test_name).__name__}")
    if not test_name:
        raise QueryError("test_name must not be empty")
    return check_goal_names(goals)


def check_goal_names(goals: object, *, non_empty: bool = False) -> list[str]:
    """A query's list of goal names, checked (:class:`QueryError`)."""
    if (
        isinstance(goals, str | bytes)
        or not isinstance(goals, Sequence)
        or (non_empty and not goals)
    ):
        kind = "a non-empty list" if non_empty else "a list"
        raise QueryError(f"goals must be {kind} of goal names, not {goals!r}")
    for goal in goals:
        if not isinstance(goal, str):
            raise QueryError(f"goal names must be str, not {type(goal).__name__}")
    return list(goals)


def slice_value(value_types: Mapping[str, str], rows: Rows, population: str, goal: str) -> float:
    """:func:`goal_value_of` ``goal`` for ``population`` in a slice's rows."""
    return goal_value_of(
        value_types.get(goal, ""),
        rows.get((population, goal), NOTHING),
        rows.get((population, VIEWED_PAGE), NOTHING)[0],
    )


def results_of(
    value_types: Mapping[str, str], rows: Rows, goals: Sequence[str]
) -> dict[str, list[float]]:
    """``{population: [value of each goal]}`` for every population of a
    slice's rows with impressions, sorted by population."""
    return {
        population: [slice_value(value_types, rows, population, goal) for goal in goals]
        for (population, goal), (impressions, _) in sorted(rows.items())
        if goal == IMPRESSION and impressions > 0
    }


BREAKDOWN_ORDERS = ("bucket", "visitors")


class BreakdownQuery(NamedTuple):
    """The checked arguments of a ``breakdown()`` query."""

    rollup: str
    goals: list[str]
    test: str
    site: int
    limit: int
    order: str


def check_breakdown(
    rollup_key: object,
    goals: object,
    test_name: object,
    site_id: object,
    limit: object,
    order: object,
) -> BreakdownQuery:
    """The arguments of a ``breakdown()`` query, checked (:class:`QueryError`)."""
    if not isinstance(rollup_key, str) or not rollup_key:
        raise QueryError(f"rollup_key must be a non-empty str, not {rollup_key!r}")
    names = check_goal_names(goals, non_empty=True)
    if len(names) > MAX_BREAKDOWN_GOALS:
        raise QueryError(f"at most {MAX_BREAKDOWN_GOALS} goals per breakdown, not {len(names)}")
    if test_name is not None and (not isinstance(test_name, str) or not test_name):
        raise QueryError(f"test_name must be a non-empty str or None, not {test_name!r}")
    if (
        isinstance(limit, bool)
        or not isinstance(limit, int)
        or not 1 <= limit <= MAX_BREAKDOWN_BUCKETS
    ):
        raise QueryError(f"limit must be an int from 1 to {MAX_BREAKDOWN_BUCKETS}, not {limit!r}")
    if order not in BREAKDOWN_ORDERS:
        raise QueryError(f"order must be one of {', '.join(BREAKDOWN_ORDERS)}, not {order!r}")
    return BreakdownQuery(
        rollup_key,
        list(dict.fromkeys(names)),
        NO_TEST if test_name is None else test_name,
        check_site(site_id),
        limit,
        str(order),
    )


def breakdown_of(
    rows: Sequence[tuple[str, str, str, int, float]],
) -> dict[str, dict[str, dict[str, list[float]]]]:
    """``{bucket: {population: {goal: [visitors, value total]}}}`` of
    (bucket, population, goal, visitors, value total) rows, buckets and
    populations in order."""
    table: dict[str, dict[str, dict[str, list[float]]]] = {}
    for bucket, population, goal, visitors, total in sorted(rows):
        table.setdefault(bucket, {}).setdefault(population, {})[goal] = [int(visitors), total]
    return table


class Names(NamedTuple):
    """The names a query gave, checked against what the store has seen when
    its answer came out empty. ``None`` (and :data:`NO_TEST`,
    :data:`ALL_SITES`): not given."""

    rollup: str | None = None
    bucket: str | None = None
    site: int = ALL_SITES
    test: str = NO_TEST
    population: str | None = None
    goals: tuple[str, ...] = ()

    def params(self) -> dict[str, object]:
        """The bound parameters of the reads that check these names."""
        return {
            "rollup": self.rollup or "",
            "bucket": self.bucket or "",
            "site": self.site,
            "test": self.test,
            "population": self.population or "",
        }


def names_of(key: CounterKey) -> Names:
    """The names of the counter a ``count()`` or ``goal_value()`` query reads."""
    return Names(
        key.rollup,
        key.bucket,
        key.site,
        key.test,
        key.population if key.test != NO_TEST else None,
        (key.goal,) if key.goal != IMPRESSION else (),
    )


def unknown_names(
    names: Names, known: Sequence[object], known_goals: Collection[str]
) -> list[tuple[str, str]]:
    """``[(kind, name)]`` of those of ``names`` the store has never seen.

    ``known`` are the flags of ``schema.KNOWN``: whether anything was
    counted, then whether the rollup, bucket, site, test and population
    were; ``known_goals`` the goals among ``names.goals`` that were. A store
    that has counted nothing has seen no name and refuses none: it answers
    zeros. :data:`VIEWED_PAGE` is always known. A bucket is only checked in
    a known rollup, a population in a known test.
    """
    anything, rollup, bucket, site, test, population = (bool(flag) for flag in known)
    if not anything:
        return []
    unknown = []
    if names.test != NO_TEST and not test:
        unknown.append(("test", names.test))
    elif names.population is not None and names.test != NO_TEST and not population:
        unknown.append(("population", names.population))
    unknown += [
        ("goal", goal)
        for goal in dict.fromkeys(names.goals)
        if goal != VIEWED_PAGE and goal not in known_goals
    ]
    if names.rollup is not None and not rollup:
        unknown.append(("rollup", names.rollup))
    elif names.bucket is not None and not bucket:
        unknown.append(("bucket", names.bucket))
    if names.site != ALL_SITES and not site:
        unknown.append(("site", str(names.site)))
    return unknown


LISTED = 10
"""The most known names an error message lists."""


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(map(repr, names[:LISTED]))
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def _closest(name: str, candidates: Sequence[str]) -> str:
    """``did you mean ...?`` with the known names closest to ``name``, or ``""``."""
    close = difflib.get_close_matches(name, candidates, n=3)
    if not close:
        return ""
    quoted = [repr(match) for match in close]
    either = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f"did you mean {either}?"


def unknown_message(kind: str, name: str, candidates: Sequence[str], names: Names) -> str:
    """Why one name of a query is refused: the store never saw it; with the
    closest known names (``candidates``), or where to find the known ones."""
    closest = _closest(name, candidates)
    if kind == "goal":
        return f"no goal named {name!r} ({closest or 'goals() lists the known goals'})"
    if kind == "test":
        return f"no test named {name!r} ({closest or 'tests() lists the known tests'})"
    if kind == "population":
        listed = f"its populations: {_listing(candidates)}" if candidates else "see tests()"
        return f"test {names.test!r} has no population {name!r} ({closest or listed})"
    if kind == "rollup":
        listed = f"known rollups: {_listing(candidates)}"
        return f"no rollup named {name!r} ({closest or listed})"
    if kind == "bucket":
        listed = f"known buckets include {_listing(candidates)}"
        return (
            f"rollup {names.rollup!r} has no bucket {name!r} "
            f"(nothing was counted there; {closest or listed})"
        )
    return f"no site {name} (known sites: {', '.join(candidates[:LISTED]) or 'none'})"


def refusal(
    unknown: Sequence[tuple[str, str]],
    candidates: Mapping[str, Sequence[str]],
    names: Names,
    awaiting_pixel: int,
) -> str:
    """The message of a query refused for naming what the store never saw:
    one part per unknown name; and, while events await their visitors'
    tracking pixel, that those are not counted yet."""
    parts = [unknown_message(kind, name, candidates[kind], names) for kind, name in unknown]
    if awaiting_pixel > 0:
        parts.append(
            f"{awaiting_pixel} events of visitors whose browser has not loaded the "
            "tracking pixel yet are not counted (see filtered())"
        )
    return "; ".join(parts)
