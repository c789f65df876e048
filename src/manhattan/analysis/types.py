"""The shape of an analysis, as :func:`manhattan.analysis.report.analyze`
returns it and the query service sends it (JSON: lists where a tuple might
be expected, ``None`` for an unbounded end or a figure that cannot be had).

Plain :class:`~typing.TypedDict`\\ s, no imports from the rest of Manhattan,
so that the query API, the client and the dashboard can name these types
without loading the statistics.
"""

# No postponed annotations: TypedDict reads NotRequired[...] only from real
# annotations (Python 3.11), and the optional keys must be known at run time.
from typing import NotRequired, TypedDict


class Lift(TypedDict):
    """A population against control: the difference and its 95% interval,
    absolute and relative to control (``relative`` ``None`` when control is
    0; ``relative_interval`` also ``None`` for a ratio of mean values that
    are not both positive; an interval end ``None`` when unbounded). Only
    comparisons with enough data have one."""

    absolute: float
    absolute_interval: list[float | None]
    relative: float | None
    relative_interval: list[float | None] | None


class ExpectedLoss(TypedDict):
    """What choosing this population, or keeping control, is expected to
    cost when it is the wrong choice (Bayesian)."""

    choosing_this: float
    keeping_control: float


class ValueResult(TypedDict):
    """A population's goal values (goals with a value type): the total and
    the mean per visitor with its interval; against control, as for
    conversions, with Welch's t-test. ``unusable`` says why there are no
    figures (totals that overflowed)."""

    total: float | None
    per_visitor: float | None
    per_visitor_interval: list[float | None]
    unusable: NotRequired[str]
    lift: NotRequired[Lift]
    p_value: NotRequired[float | None]
    p_value_holm: NotRequired[float | None]
    test_used: NotRequired[str]
    t: NotRequired[float | None]
    df: NotRequired[float | None]
    chance_to_beat_control: NotRequired[float]
    expected_loss: NotRequired[ExpectedLoss]


class PopulationResult(TypedDict):
    """One population on one goal: visitors, conversions, the rate with its
    Wilson interval. Populations other than control have ``enough_data``,
    ``p_value`` (``None`` and ``verdict`` without enough data) and, with
    enough, the test used, the lift, the Holm-adjusted p-value (comparisons
    in the test's family only: the plan's goal and guardrails, else every
    goal but ``viewed page``), the chance to beat control and the expected
    loss; ``value`` for goals with a value type.

    With a plan, comparisons on its goal and guardrails with enough data
    also have the always-valid figures (:mod:`manhattan.analysis.sequential`):
    ``always_valid_p`` (Bonferroni-adjusted over the populations compared
    with control), ``always_valid_interval`` of the difference of rates and
    ``always_valid_relative_interval`` of the relative lift (``None`` when
    control has no conversions)."""

    visitors: int
    conversions: int
    rate: float
    rate_interval: list[float]
    value: NotRequired[ValueResult]
    lift: NotRequired[Lift]
    enough_data: NotRequired[bool]
    verdict: NotRequired[str]
    p_value: NotRequired[float | None]
    p_value_holm: NotRequired[float | None]
    test_used: NotRequired[str]
    chance_to_beat_control: NotRequired[float]
    expected_loss: NotRequired[ExpectedLoss]
    always_valid_p: NotRequired[float]
    always_valid_interval: NotRequired[list[float]]
    always_valid_relative_interval: NotRequired[list[float | None] | None]


class GoalResult(TypedDict):
    """One goal: its value type (``""`` without) and each population's figures."""

    value_type: str
    populations: dict[str, PopulationResult]


class SampleRatio(TypedDict):
    """The sample ratio mismatch check: the chi-square statistic, its
    p-value, whether the populations' sizes mismatch ``weights``, and where
    the weights came from (recorded by split(), or given in the query)."""

    chi2: float | None
    p_value: float
    mismatch: bool
    weights: dict[str, float]
    weights_recorded: bool
    weights_given: bool


class PlanFields(TypedDict):
    """A declared plan (:class:`manhattan.analysis.plan.Plan`) as plain data
    (``lower_is_better``: the goals better lower; absent from plan JSON
    without any, and from an older server's analysis)."""

    goal: str
    guardrails: list[str]
    minimum_effect: float
    power: float
    alpha: float
    winner: str | None
    lower_is_better: NotRequired[list[str]]


class PlanResult(PlanFields):
    """The plan of a test and where the test stands against it: the visitors
    each population needs (``None`` with ``reason`` when they cannot be
    worked out yet), the share of them the smallest population has, and
    the days that will take at the traffic so far (``None`` when unknown)."""

    required_visitors_per_population: int | None
    progress: float | None
    expected_days_remaining: float | None
    reason: NotRequired[str]


class Harm(TypedDict):
    """A guardrail goal on which a population does worse than control (its
    always-valid interval lies entirely below 0, or above 0 for a goal the
    plan says is better lower)."""

    goal: str
    population: str


class Decision(TypedDict):
    """What the always-valid figures on the plan's goal say of the test as a
    whole: ``status`` is ``"winner"`` (``winner`` names the population,
    control when it beats every other), ``"no difference large enough"``
    (the planned size is reached and every relative always-valid interval
    lies within the minimum effect) or ``"keep running"``; harmed
    guardrails are listed whatever the status."""

    status: str
    winner: str | None
    harmed_guardrails: list[Harm]


class Ended(TypedDict):
    """When an ended test ended (its earliest end marker, seconds since the
    epoch) and the winner it serves since."""

    at: float
    winner: str | None


class Analysis(TypedDict):
    """The analysis of one split test: its control, populations (control's
    order: weighted ones first), visitors per population, crossovers, the
    sample ratio check and every goal's results; with a declared plan, the
    plan with the test's progress and the decision. The server adds
    ``warnings`` (always; what changed while the test ran) and, for a test
    that has ended, ``ended``."""

    test: str
    control: str
    populations: list[str]
    visitors: dict[str, int]
    crossovers: int
    srm: SampleRatio
    goals: dict[str, GoalResult]
    plan: NotRequired[PlanResult]
    decision: NotRequired[Decision]
    warnings: NotRequired[list[str]]
    ended: NotRequired[Ended]
