"""What the aggregator keeps of declared experiments: their plans, the
versions of their plans and population lists, and when they ended.

A declared experiment (:class:`manhattan.experiments.Experiment`) records
its plan in each split record (:data:`~manhattan.records.layout.SPLIT_PLAN`).
Per batch, :class:`Experiments` gathers:

- the latest plan of each test (by record time), for the analysis;
- each distinct plan and population list (the weights field) of a test
  with the first time it was seen: the store keeps them all, and a test
  with more than one of either changed while it ran (a warning). Only
  distinct ones count, so that two processes of a deploy, one with the
  old list and one with the new, make one change, not one per request;
- end markers (a split whose plan names a winner): the test ended at the
  earliest one's time.

Pure logic over plain values, like the aggregator that drives it.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import functools
import itertools
import json
import time
from collections.abc import Iterable, Mapping
from typing import Final

from manhattan.analysis.plan import Plan
from manhattan.backend.fields import weights_of
from manhattan.backend.model import TestPlan, VersionKey
from manhattan.backend.state import VisitorState
from manhattan.records.layout import SPLIT_PLAN, SPLIT_WEIGHTS, Record

__all__ = ["PLAN", "POPULATIONS", "Experiments", "plan_of", "warnings_of", "when"]

PLAN: Final = "plan"
"""The kind of a version of a test's plan (its JSON, without a winner)."""
POPULATIONS: Final = "populations"
"""The kind of a version of a test's population list (its weights as JSON)."""


@functools.lru_cache(maxsize=256)
def plan_of(text: str) -> Plan | None:
    """The plan of a split record's plan field; ``None`` for a field that
    holds no plan (the split still counts, as one without a plan). Cached:
    every split of an experiment carries the same text."""
    try:
        return Plan.from_json(text)
    except (ValueError, RecursionError):  # JSON nested deeper than Python goes
        return None


@functools.lru_cache(maxsize=256)
def _plan_text(text: str) -> str | None:
    """The plan of a plan field as the store keeps it (its own JSON)."""
    plan = plan_of(text)
    return None if plan is None else plan.to_json()


@functools.lru_cache(maxsize=256)
def _populations_text(text: str) -> str:
    """A weights field's population list as the store keeps it."""
    return json.dumps(weights_of(text), separators=(",", ":"))


class Experiments:
    """The declared experiments' part of one aggregator.

    ``ended`` (test -> when it ended) outlives batches: it is what stops a
    test's counts. ``plans`` and ``versions`` are this batch's, for
    :class:`~manhattan.backend.model.Batch`.
    """

    def __init__(self) -> None:
        self.ended: dict[str, float] = {}
        self.plans: dict[str, TestPlan] = {}
        self.versions: dict[VersionKey, float] = {}

    def adopt_ended(self, ended: Mapping[str, float]) -> None:
        """Take end times known elsewhere; the earliest of two is kept."""
        known = self.ended
        for test, at in ended.items():
            if test not in known or at < known[test]:
                known[test] = at

    def end(self, test: str, timestamp: float, plan: Plan, winner: str) -> None:
        """Note an end marker of ``test`` at ``timestamp``: ``plan`` names a
        winner, ``winner`` is the record's population (checked like every
        name, where the plan's JSON only escapes what a store cannot hold)."""
        self.adopt_ended({test: timestamp})
        text = plan.to_json()
        entry = self.plans.get(test)
        if entry is None:
            self.plans[test] = TestPlan(text, timestamp, timestamp, winner)
            return
        if timestamp >= entry.at:
            entry.plan, entry.at = text, timestamp
        if entry.ended is None or timestamp < entry.ended:
            entry.ended, entry.winner = timestamp, winner

    def note(
        self, test: str, timestamp: float, record: Record, weights: dict[str, float] | None
    ) -> None:
        """Note a counted split of ``test``: its population list (``weights``,
        parsed from the record) and its plan, if it has them."""
        if weights:
            # Cached by the field's text: every split of a test repeats it.
            text = _populations_text(record[SPLIT_WEIGHTS])
            self._version(test, POPULATIONS, text, timestamp)
        if len(record) <= SPLIT_PLAN or not record[SPLIT_PLAN]:
            return
        plan_text = _plan_text(record[SPLIT_PLAN])
        if plan_text is None:
            return
        self._version(test, PLAN, plan_text, timestamp)
        text = plan_text
        entry = self.plans.get(test)
        if entry is None:
            self.plans[test] = TestPlan(text, timestamp)
        elif timestamp >= entry.at:
            entry.plan, entry.at = text, timestamp

    def _version(self, test: str, kind: str, text: str, timestamp: float) -> None:
        key = (test, kind, text)
        first = self.versions.get(key)
        if first is None or timestamp < first:
            self.versions[key] = timestamp

    def leave_ended(self, state: VisitorState, timestamp: float) -> None:
        """Take the tests that had ended by ``timestamp`` out of the
        visitor's tests: nothing the visitor does from then on is credited
        to them (conversions, complex goals)."""
        ended = self.ended
        gone = [test for test in state.tests if test in ended and timestamp >= ended[test]]
        if gone:
            for test in gone:
                del state.tests[test]
            state.memo.tests_changed()
            # A complex goal counted before the end stays counted for it,
            # whatever the visitor does after (an exclude goal included).
            for mark in state.complex.values():
                if mark.variants:
                    mark.variants = [v for v in mark.variants if v[0] not in gone]

    def drained(self) -> None:
        """Start a new batch (the aggregator handed this one's over)."""
        self.plans, self.versions = {}, {}


def when(timestamp: float) -> str:
    """A record time as warnings show it: UTC, to the second."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(timestamp))


def _populations(text: str) -> str:
    weights: dict[str, float] = json.loads(text)
    if len(set(weights.values())) <= 1:
        return ", ".join(weights)
    return ", ".join(f"{name} ({weight:g})" for name, weight in weights.items())


def _plan_change(old: str, new: str) -> str:
    before, after = Plan.from_json(old).fields(), Plan.from_json(new).fields()
    changed = [
        f"{key} {before[key]!r} -> {after[key]!r}"  # type: ignore[literal-required]
        for key in before
        if before[key] != after[key]  # type: ignore[literal-required]
    ]
    return "the plan changed: " + ", ".join(changed)


def warnings_of(versions: Iterable[tuple[str, str, float]], crossovers: int) -> list[str]:
    """What a test's versions (kind, JSON, first seen) say changed while it
    ran, oldest first; ``crossovers`` (visitors assigned a population after
    their first one) are the visitors a changed population list moved."""
    found: list[tuple[float, str]] = []
    changed_populations = False
    for kind in (POPULATIONS, PLAN):
        seen = sorted((first, text) for each, text, first in versions if each == kind)
        for (_, old), (at, new) in itertools.pairwise(seen):
            if kind == POPULATIONS:
                changed_populations = True
                what = f"the populations changed from {_populations(old)} to {_populations(new)}"
            else:
                what = _plan_change(old, new)
            found.append((at, f"{when(at)}: {what}"))
    warnings = [text for _, text in sorted(found)]
    if changed_populations and crossovers:
        visitors = f"{crossovers} returning visitors were"
        if crossovers == 1:
            visitors = "1 returning visitor was"
        warnings.append(
            f"{visitors} assigned another population than their first, and still "
            "count in their first: compare populations with care"
        )
    return warnings
