"""A declared experiment: a split test with its plan, made once at import.

``Experiment("Buy button", ["green", "orange"], goal="Purchased")`` is a
split test whose plan (:class:`~manhattan.analysis.plan.Plan`) travels in
its split records, so the server and the dashboard judge it by that plan
with no other setup. ``visitor.split(experiment)`` assigns a visitor exactly
as ``visitor.split(name, populations)`` does. An experiment with a
``winner`` has ended: everyone gets the winner and nothing more is
recorded about the test but its end marker (see
:class:`manhattan.visitor.visitor.EndMarkers`).

Everything is checked and worked out when the experiment is made (a
module-level constant, typically): the request's ``split()`` only reads it.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from decimal import Decimal
from numbers import Real
from typing import Any, NoReturn

from manhattan.analysis.plan import Plan
from manhattan.visitor.populations import Declaration, declare
from manhattan.visitor.records import check_name

__all__ = ["Experiment"]


def _weights(populations: object) -> list[tuple[Any, float]]:
    """``(population, weight)`` in the order given, every weight positive."""
    if isinstance(populations, Mapping):
        pairs = list(populations.items())
        for population, weight in pairs:
            if isinstance(weight, bool) or not isinstance(weight, Real | Decimal):
                raise TypeError(
                    f"weight of population {population!r} must be a number, "
                    f"not {type(weight).__name__}"
                )
            if not 0 < float(weight) < float("inf"):
                raise ValueError(
                    f"weight of population {population!r} must be a positive finite number, "
                    f"not {weight!r}"
                )
        return [(population, float(weight)) for population, weight in pairs]
    if isinstance(populations, list | tuple):
        return [(population, 1.0) for population in populations]
    raise TypeError(
        "populations must be a list or tuple, or a dict of population -> weight, "
        f"not {type(populations).__name__}"
    )


class Experiment:
    """A split test with a declared plan.

    ``name``: the test's name. ``populations``: a non-empty list or tuple,
    or a dict of population -> positive weight; the first is the control
    (as the analysis takes it). Populations are distinct by ``str()``,
    which is what is recorded. ``goal``: the primary goal, on which the test
    is decided; ``guardrails``: goals that must not get worse;
    ``lower_is_better``: those of the goal and guardrails for which a
    decrease is the improvement (``["Refunded"]``: there a variant with
    fewer refunds wins, and one with more harms the guardrail);
    ``minimum_effect`` (a fall, for a goal better lower), ``power``,
    ``alpha``: as in :class:`~manhattan.analysis.plan.Plan`. ``winner``: ``None`` while the
    test runs; to end it, one of the populations (or its ``str()``), or
    ``True`` for the control.

    Names pass the same checks as ``split()``'s (at most 512 characters, no
    NUL...). Bad arguments raise :class:`TypeError` or :class:`ValueError`
    naming the argument. Immutable and hashable: equal experiments declare
    the same test, populations, weights and plan.
    """

    __slots__ = ("control", "declaration", "name", "plan", "populations", "weights", "winner")

    name: str
    populations: tuple[Any, ...]
    """The populations, in the order given."""
    weights: Mapping[str, float]
    """Each population's weight by ``str(population)`` (1 each for a list)."""
    control: Any
    """The first population: the one the others are compared with."""
    winner: Any
    """The population everyone gets once the test has ended, else ``None``."""
    plan: Plan
    declaration: Declaration
    """What ``Visitor.split()`` reads (worked out once, here)."""

    def __init__(
        self,
        name: str,
        populations: Sequence[Any] | Mapping[Any, float],
        *,
        goal: str,
        guardrails: Sequence[str] = (),
        minimum_effect: float = 0.05,
        power: float = 0.8,
        alpha: float = 0.05,
        winner: Any = None,
        lower_is_better: Sequence[str] = (),
    ) -> None:
        check_name(name, "name")
        pairs = _weights(populations)
        if not pairs:
            raise ValueError("populations must not be empty")
        weights: dict[str, float] = {}
        by_text: dict[str, Any] = {}
        for population, weight in pairs:
            text = check_name(str(population), "population")
            if text in weights:
                raise ValueError(f"populations must be distinct, not {text!r} twice")
            weights[text] = weight
            by_text[text] = population
        check_name(goal, "goal")
        if isinstance(guardrails, str) or not isinstance(guardrails, list | tuple):
            raise TypeError(f"guardrails must be a list of goal names, not {guardrails!r}")
        for guardrail in guardrails:
            check_name(guardrail, "guardrails")
        if isinstance(lower_is_better, str) or not isinstance(lower_is_better, list | tuple):
            raise TypeError(
                f"lower_is_better must be a list of goal names, not {lower_is_better!r}"
            )
        control = pairs[0][0]
        chosen: Any = None
        if winner is True:
            chosen = control
        elif winner is not None:
            if str(winner) not in by_text:
                raise ValueError(
                    f"winner must be one of the populations {list(weights)} or True "
                    f"(the control), not {winner!r}"
                )
            chosen = by_text[str(winner)]
        plan = Plan(
            goal=goal,
            guardrails=tuple(guardrails),
            minimum_effect=minimum_effect,
            power=power,
            alpha=alpha,
            winner=None if chosen is None else str(chosen),
            lower_is_better=tuple(lower_is_better),
        )
        given = dict(pairs) if isinstance(populations, Mapping) else [p for p, _ in pairs]
        set_ = object.__setattr__
        set_(self, "name", name)
        set_(self, "populations", tuple(population for population, _ in pairs))
        set_(self, "weights", types.MappingProxyType(weights))
        set_(self, "control", control)
        set_(self, "winner", chosen)
        set_(self, "plan", plan)
        set_(self, "declaration", declare(name, given, plan.to_json(), chosen))

    @property
    def goal(self) -> str:
        """The primary goal."""
        return self.plan.goal

    @property
    def guardrails(self) -> tuple[str, ...]:
        """The guardrail goals."""
        return self.plan.guardrails

    @property
    def lower_is_better(self) -> tuple[str, ...]:
        """The goals for which a decrease is the improvement."""
        return self.plan.lower_is_better

    @property
    def minimum_effect(self) -> float:
        """The smallest relative lift worth detecting."""
        return self.plan.minimum_effect

    @property
    def power(self) -> float:
        """The chance of detecting the minimum effect at the planned size."""
        return self.plan.power

    @property
    def alpha(self) -> float:
        """The false positive rate allowed."""
        return self.plan.alpha

    @property
    def ended(self) -> bool:
        """Whether the test has a winner."""
        return self.winner is not None

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"an Experiment is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"an Experiment is immutable: cannot delete {name!r}")

    def _key(self) -> tuple[object, ...]:
        # A list and a dict of equal weights assign visitors differently.
        mapping = self.declaration.starts is not None
        return (self.name, tuple(self.weights.items()), mapping, self.plan)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Experiment):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        mapping = self.declaration.starts is not None
        populations = dict(self.weights) if mapping else list(self.weights)
        winner = "" if self.winner is None else f", winner={str(self.winner)!r}"
        return f"Experiment({self.name!r}, {populations!r}, goal={self.goal!r}{winner})"
