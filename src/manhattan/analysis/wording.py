"""An analysis in words: the plan, the progress toward its planned size and
the verdict, said the same way by the dashboard and ``manhattan-report``.

Pure: it reads the analysis as the server sends it
(:class:`~manhattan.analysis.types.Analysis`) and returns text. With a
declared plan, the verdict is the decision's (:mod:`~manhattan.analysis.decision`),
on always-valid figures that hold however often they are looked at:

- "orange beats green on Purchased: +12% (95% always-valid interval +4.1% to +20%)";
- "keep running: about 3,400 more visitors per population, about 5 days";
- "no difference of 10% or more against green on Purchased: orange +1.2% (...)".

A goal the plan says is better lower is named so ("Refunded (lower is
better)"): there a lower rate beats control, and a harmed guardrail's
figure is an increase ("+25%").

Without a plan there is no goal to judge the test on (the goal most
visitors reached is no plan, and picking one after seeing the results
inflates false positives): the verdict says so and lists the fixed-horizon comparisons
that Holm's adjustment leaves significant, with a note that those figures
hold for one look at a size fixed in advance.

The interval's level is that of the decision: alpha is split over the
populations compared with control, so a plan at alpha 5% with three
populations says "97.5%".

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from manhattan.analysis.decision import KEEP_RUNNING, NO_DIFFERENCE, WINNER
from manhattan.analysis.types import Analysis, Decision, Lift, PlanFields, PopulationResult
from manhattan.records.vocabulary import VIEWED_PAGE

__all__ = [
    "KEEP_RUNNING",
    "NO_DIFFERENCE",
    "NO_PLAN",
    "NO_PLAN_NOTE",
    "PLAN_NOTE",
    "SIGNIFICANCE",
    "WINNER",
    "Progress",
    "Verdict",
    "always_valid_span",
    "moment",
    "percent",
    "plan_items",
    "verdict",
]

NO_PLAN = "no plan"
"""The status of a test without a declared plan (the others are the decision's)."""

SIGNIFICANCE = 0.05
"""Without a plan, Holm-adjusted fixed-horizon p-values below this are listed."""

NO_PLAN_HEADLINE = "no declared plan: fixed-horizon figures only"

NO_PLAN_NOTE = (
    "These are fixed-horizon figures: they hold for one look at a number of visitors "
    "fixed in advance. Looked at daily, they name a winner far more often than 5% of the "
    "time when there is none. For verdicts that stay valid when looked at daily, declare "
    "the test with a plan (manhattan.experiments.Experiment: its goal, guardrails and "
    "minimum effect)."
)

PLAN_NOTE = (
    "The verdict rests on always-valid figures, which hold however often they are looked "
    "at. The p-values and chances to beat control in the table are fixed-horizon figures, "
    "valid for one look at the planned size."
)

_UNDECIDED: Decision = {"status": KEEP_RUNNING, "winner": None, "harmed_guardrails": []}


@dataclass(frozen=True)
class Progress:
    """Where a test stands against its planned size: the visitors of its
    smallest population, the visitors each population needs, and the days
    that takes at the traffic so far (``None`` when unknown)."""

    visitors: int
    required: int
    days_remaining: float | None

    @property
    def share(self) -> float:
        """The share of the planned size reached (above 1 past it)."""
        return self.visitors / self.required

    @property
    def text(self) -> str:
        """``"1,204 of 4,610 visitors per population"``."""
        return f"{self.visitors:,} of {self.required:,} visitors per population"


@dataclass(frozen=True)
class Verdict:
    """A test's analysis in words.

    ``status``: the decision's (``"winner"``, ``"no difference large
    enough"``, ``"keep running"``) or :data:`NO_PLAN`. ``headline``: the
    verdict in one sentence. ``figures``: the comparisons behind it, one
    sentence each (with a plan, every population against control on the
    goal; without, the significant ones). ``harmed``: guardrails a
    population makes worse. ``note``: what kind of figures these are.
    ``plan``: (label, value) pairs of the plan, empty without one.
    ``progress``: toward the planned size, ``None`` without one.
    ``ended``: when the test ended and what it serves since, ``None``
    while it runs. ``warnings``: what changed while it ran. ``level``: that
    of the always-valid intervals (``"95%"``), ``None`` without a plan.
    """

    status: str
    headline: str
    figures: tuple[str, ...]
    harmed: tuple[str, ...]
    note: str
    plan: tuple[tuple[str, str], ...]
    progress: Progress | None
    ended: str | None
    warnings: tuple[str, ...]
    level: str | None = None


def verdict(analysis: Analysis) -> Verdict:
    """The :class:`Verdict` of an analysis (``client.analyze``'s result)."""
    ended = _ended(analysis)
    warnings = tuple(analysis.get("warnings", ()))
    plan = analysis.get("plan")
    if plan is None:
        figures = _significant(analysis)
        return Verdict(
            NO_PLAN, NO_PLAN_HEADLINE, figures, (), NO_PLAN_NOTE, (), None, ended, warnings
        )
    decision = analysis.get("decision", _UNDECIDED)
    required = plan["required_visitors_per_population"]
    progress = None
    if required is not None and plan["progress"] is not None:
        # progress is the smallest population's visitors over the required.
        visitors = round(plan["progress"] * required)
        progress = Progress(visitors, required, plan["expected_days_remaining"])
    level = _level(plan["alpha"], len(analysis["populations"]) - 1)
    return Verdict(
        status=decision["status"],
        headline=_headline(analysis, plan, decision, progress, level),
        figures=_plan_figures(analysis, plan["goal"], level),
        harmed=tuple(
            _harm(analysis, plan, harm["goal"], harm["population"], level)
            for harm in decision["harmed_guardrails"]
        ),
        note=PLAN_NOTE,
        plan=plan_items(plan),
        progress=progress,
        ended=ended,
        warnings=warnings,
        level=level,
    )


def plan_items(plan: PlanFields) -> tuple[tuple[str, str], ...]:
    """A plan as (label, value) pairs: goal, guardrails, minimum effect, power,
    alpha; a goal better lower is marked so, and its minimum effect is a fall."""
    goal = plan["goal"]
    sign = "-" if _lower(plan, goal) else "+"
    return (
        ("primary goal", _named(plan, goal)),
        ("guardrails", ", ".join(_named(plan, g) for g in plan["guardrails"]) or "none"),
        ("minimum effect", f"{sign}{_share(plan['minimum_effect'])} of control's rate"),
        ("power", _share(plan["power"])),
        ("alpha", _share(plan["alpha"])),
    )


def moment(seconds: float) -> str:
    """Seconds since the epoch as a UTC date and time to the minute."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M UTC")


def percent(share: float) -> str:
    """A signed relative change: two significant digits, at most one
    decimal (``+12%``, ``+4.1%``, ``-0.3%``), ``0%`` when it rounds to none."""
    value = share * 100
    digits = 0 if abs(value) >= 9.95 else 1
    text = f"{value:+.{digits}f}%"
    return "0%" if float(text[:-1]) == 0 else text


# -- the parts -----------------------------------------------------------------


def _headline(
    analysis: Analysis,
    plan: PlanFields,
    decision: Decision,
    progress: Progress | None,
    level: str,
) -> str:
    control, goal = analysis["control"], plan["goal"]
    entries = _entries(analysis, goal)
    others = [p for p in analysis["populations"] if p != control]
    status, winner = decision["status"], decision["winner"]
    # The decision's winner already follows the goal's direction; naming it
    # keeps "beats" with a negative figure from reading as a mistake.
    named = _named(plan, goal)
    if status == WINNER and winner is not None and winner != control:
        figure = _always_valid(entries.get(winner), level)
        return f"{winner} beats {control} on {named}" + (f": {figure}" if figure else "")
    if status == WINNER:
        return f"{control} (control) beats {_and(others)} on {named}" + _each(
            entries, others, level
        )
    if status == NO_DIFFERENCE:
        effect = _share(plan["minimum_effect"])
        return f"no difference of {effect} or more against {control} on {goal}" + _each(
            entries, others, level
        )
    if "ended" in analysis:
        return "no decision when it ended" + (f": {progress.text}" if progress else "")
    if progress is None:
        reason = plan.get("reason")
        return "keep running: no planned size yet" + (f" ({reason})" if reason else "")
    if progress.visitors < progress.required:
        more = _about(progress.required - progress.visitors)
        days = _days(progress.days_remaining)
        return f"keep running: about {more} more visitors per population" + (
            f", {days}" if days else ""
        )
    return (
        f"keep running: the planned {progress.required:,} visitors per population are "
        "reached without a decision yet; the always-valid figures stay valid as it runs on"
    )


def _plan_figures(analysis: Analysis, goal: str, level: str) -> tuple[str, ...]:
    """Every population against control on the plan's goal."""
    control = analysis["control"]
    entries = _entries(analysis, goal)
    figures = []
    for population in analysis["populations"]:
        entry = entries.get(population)
        if population == control or entry is None:
            continue
        said = f"{population} vs {control} on {goal}: "
        figure = _always_valid(entry, level)
        if figure is not None:
            said += f"{figure}, always-valid p {_p(entry['always_valid_p'])}"
        elif entry.get("enough_data") is False:
            said += "not enough data yet"
        else:
            said += "no always-valid figures until the planned size can be worked out"
        figures.append(said)
    return tuple(figures)


def _harm(analysis: Analysis, plan: PlanFields, goal: str, population: str, level: str) -> str:
    figure = _always_valid(_entries(analysis, goal).get(population), level)
    said = f"guardrail {_named(plan, goal)} harmed by {population}"
    return said + (f": {figure}" if figure else "")


def _lower(plan: PlanFields, goal: str) -> bool:
    """Whether the plan says a decrease is the improvement on ``goal``
    (never, from a server older than ``lower_is_better``)."""
    return goal in plan.get("lower_is_better", ())


def _named(plan: PlanFields, goal: str) -> str:
    """A goal of the plan, marked when it is better lower."""
    return f"{goal} (lower is better)" if _lower(plan, goal) else goal


def _significant(analysis: Analysis) -> tuple[str, ...]:
    """Without a plan: the fixed-horizon comparisons significant after Holm's
    adjustment, over the goals of Holm's family (all but ``viewed page``)."""
    control = analysis["control"]
    goals = [goal for goal in analysis["goals"] if goal != VIEWED_PAGE]
    if not goals:
        return ("no goals yet",)
    tested = False
    figures = []
    for goal in goals:
        entries = analysis["goals"][goal]["populations"]
        for population, entry in entries.items():
            holm = entry.get("p_value_holm")
            if population == control or holm is None:
                continue
            tested = True
            lift = entry.get("lift")
            if holm < SIGNIFICANCE and lift is not None:
                figures.append(
                    f"{population} vs {control} on {goal}: {_fixed(lift)}, p {_p(holm)} (Holm)"
                )
    if figures:
        return tuple(figures)
    if not tested:
        return ("not enough data on any goal yet",)
    return (f"no difference significant at {_share(SIGNIFICANCE)} on any goal (Holm-adjusted)",)


def _ended(analysis: Analysis) -> str | None:
    ended = analysis.get("ended")
    if ended is None:
        return None
    serving = f", serving {ended['winner']} to everyone" if ended["winner"] else ""
    return f"ended {moment(ended['at'])}{serving}: the figures are those of that moment"


# -- figures in words ----------------------------------------------------------


def _entries(analysis: Analysis, goal: str) -> Mapping[str, PopulationResult]:
    """A goal's populations, none when the goal was not asked for."""
    result = analysis["goals"].get(goal)
    return {} if result is None else result["populations"]


def _always_valid(entry: PopulationResult | None, level: str) -> str | None:
    """``"+12% (95% always-valid interval +4.1% to +20%)"``; ``None``
    without always-valid figures."""
    parts = None if entry is None else _always_valid_parts(entry)
    if parts is None:
        return None
    point, span = parts
    said = f"{level} always-valid interval {span}"
    return said if point is None else f"{point} ({said})"


def always_valid_span(entry: PopulationResult) -> str | None:
    """A comparison's always-valid interval alone (``"+4.1% to +20%"``),
    ``None`` without one."""
    parts = _always_valid_parts(entry)
    return None if parts is None else parts[1]


def _always_valid_parts(entry: PopulationResult) -> tuple[str | None, str] | None:
    """The lift (``None`` when the reply has none) and the always-valid
    interval: relative when control has conversions, else the difference
    in percentage points."""
    if "always_valid_interval" not in entry:
        return None
    lift = entry.get("lift")
    relative = entry.get("always_valid_relative_interval")
    if lift is not None and lift["relative"] is not None and relative is not None:
        return percent(lift["relative"]), _span(relative, percent)
    point = None if lift is None else _points(lift["absolute"])
    return point, _span(entry["always_valid_interval"], _points)


def _fixed(lift: Lift) -> str:
    """A fixed-horizon lift with its 95% interval, relative when it can be."""
    relative, interval = lift["relative"], lift["relative_interval"]
    if relative is not None and interval is not None:
        return f"{percent(relative)} (95% interval {_span(interval, percent)})"
    span = _span(lift["absolute_interval"], _points)
    return f"{_points(lift['absolute'])} (95% interval {span})"


def _each(entries: Mapping[str, PopulationResult], others: Sequence[str], level: str) -> str:
    """``": orange +1.2% (...), red -0.4% (...)"``, or nothing when a figure is missing."""
    figures = [_always_valid(entries.get(population), level) for population in others]
    said = [f"{p} {f}" for p, f in zip(others, figures, strict=True) if f is not None]
    return ": " + ", ".join(said) if said and len(said) == len(others) else ""


def _span(interval: Sequence[float | None], say: Callable[[float], str]) -> str:
    """An interval; an unbounded end is an infinity."""
    low, high = interval
    return f"{'-∞' if low is None else say(low)} to {'+∞' if high is None else say(high)}"


def _points(difference: float) -> str:
    """A difference of rates in percentage points: ``"+1.2 points"``."""
    text = f"{difference * 100:+.1f}"
    return ("0" if float(text) == 0 else text) + " points"


def _share(value: float) -> str:
    """A share as a plain percentage: ``0.05`` is ``"5%"``."""
    return f"{value * 100:.4g}%"


def _level(alpha: float, comparisons: int) -> str:
    """The interval's level, alpha split over the comparisons: ``"95%"``, ``"97.5%"``."""
    level = 1 - alpha / max(1, comparisons)
    # One decimal more for each factor of 10 closer to 100%: 99.99% stays so.
    digits = max(1, -math.floor(math.log10(1 - level)) - 1)
    return f"{level * 100:.{digits}f}".rstrip("0").rstrip(".") + "%"


def _p(value: float) -> str:
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def _about(number: int) -> str:
    """A count to two significant digits: ``3,437`` is ``"3,400"``."""
    digits = len(str(number))
    return f"{round(number, 2 - digits) if digits > 2 else number:,}"


def _days(days: float | None) -> str | None:
    if days is None:
        return None
    if days < 1:
        return "less than a day"
    whole = round(days)
    return f"about {_about(whole)} day" + ("s" if whole != 1 else "")


def _and(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(names) < 2:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]
