"""What the analysis of one split test starts from: its aggregates.

The store reads a :class:`TestStats` (``test_stats()``) and the analysis
(:func:`manhattan.analysis.report.analyze`) reads nothing else, so the
statistics need no store and the store no statistics. Plain data, no
imports from the rest of Manhattan but the plan, from this package.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from manhattan.analysis.plan import Plan


@dataclass
class TestStats:
    """The aggregates of one split test in one (rollup, bucket, site) slice.

    ``visitors`` maps population -> impressions; ``goals`` maps goal ->
    population -> (conversions, value total, sum of squares of per-visitor
    value totals); ``weights`` are those split() recorded (empty when
    unknown); ``crossovers`` counts visitors seen in more than one
    population; ``value_types`` maps goal -> value type where it has one.
    A declared experiment's ``plan`` is the latest its split records
    carried (``None`` without); ``started`` is its first split's time,
    ``ended`` that of its end marker (seconds since the epoch, ``None``
    when unknown, or running); ``warnings`` say what changed while it ran.
    """

    __test__ = False  # not a pytest test class

    name: str
    visitors: dict[str, int] = field(default_factory=dict)
    goals: dict[str, dict[str, tuple[int, float, float]]] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    crossovers: int = 0
    value_types: dict[str, str] = field(default_factory=dict)
    plan: Plan | None = None
    started: float | None = None
    ended: float | None = None
    warnings: list[str] = field(default_factory=list)
