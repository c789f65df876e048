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
    0; an interval end ``None`` when unbounded)."""

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
    enough, the test used, the Holm-adjusted p-value, the chance to beat
    control and the expected loss; ``lift`` when both have visitors;
    ``value`` for goals with a value type."""

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


class Analysis(TypedDict):
    """The analysis of one split test: its control, populations (control's
    order: weighted ones first), visitors per population, crossovers, the
    sample ratio check and every goal's results."""

    test: str
    control: str
    populations: list[str]
    visitors: dict[str, int]
    crossovers: int
    srm: SampleRatio
    goals: dict[str, GoalResult]
