"""An experiment's declared plan: what it is judged on, and how strictly.

A :class:`Plan` names the primary goal, the guardrail goals (which must not
get worse), the goals among them for which a decrease is the improvement
(refunds, unsubscriptions), the smallest relative change worth detecting,
the power to detect it and the false positive rate allowed. It travels in the split record as
compact JSON (:meth:`Plan.to_json`), so it is checked both where it is made
and where it is read back (:meth:`Plan.from_json`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from manhattan.analysis.types import PlanFields

_KEYS = ("goal", "guardrails", "minimum_effect", "power", "alpha", "winner", "lower_is_better")


def _number(name: str, value: object) -> float:
    # bool is an int to Python, never a meaningful probability or effect.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, not {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, not {number!r}")
    return number


def _name(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")
    return value


def _names(name: str, values: object) -> tuple[str, ...]:
    """Distinct goal names, given as a list or tuple."""
    if isinstance(values, str) or not isinstance(values, tuple | list):
        raise ValueError(f"{name} must be a list of goal names, not {values!r}")
    for value in values:
        _name(name, value)
    if len(set(values)) != len(values):
        raise ValueError(f"{name} must be distinct, not {list(values)!r}")
    return tuple(values)


@dataclass(frozen=True)
class Plan:
    """The plan of an experiment.

    ``goal``: the primary goal, on whose conversion rate the test is
    decided. ``guardrails``: goals that must not get worse (distinct, not
    the primary goal). ``minimum_effect``: the smallest relative change
    worth detecting, in the goal's better direction (0.05 is +5% of
    control's rate, or -5% when the goal is lower-is-better; then below 1).
    ``power``: the chance of detecting that change at the planned size.
    ``alpha``: the false positive rate allowed, below 0.5. ``winner``: the
    population served to everyone once the test has ended, ``None`` while
    it runs. ``lower_is_better``: the goal and guardrails (distinct) for
    which fewer visitors converting is the improvement, such as
    ``"Refunded"``; every other goal is better higher.

    Bad arguments raise :class:`ValueError` naming the argument; lists of
    goals are kept as tuples.
    """

    goal: str
    guardrails: tuple[str, ...] = ()
    minimum_effect: float = 0.05
    power: float = 0.8
    alpha: float = 0.05
    winner: str | None = None
    lower_is_better: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _name("goal", self.goal)
        guardrails = _names("guardrails", self.guardrails)
        if self.goal in guardrails:
            raise ValueError(f"guardrails must not include the goal {self.goal!r}")
        lower = _names("lower_is_better", self.lower_is_better)
        for goal in lower:
            if goal != self.goal and goal not in guardrails:
                raise ValueError(f"lower_is_better must name the goal or guardrails, not {goal!r}")
        # Frozen: normalising the stored values needs object.__setattr__.
        object.__setattr__(self, "guardrails", guardrails)
        object.__setattr__(self, "lower_is_better", lower)
        effect = _number("minimum_effect", self.minimum_effect)
        if effect <= 0:
            raise ValueError(f"minimum_effect must be above 0, not {effect!r}")
        if effect >= 1 and self.goal in lower:
            raise ValueError(
                f"minimum_effect must be below 1 for a goal in lower_is_better "
                f"(a rate cannot fall by 100% or more), not {effect!r}"
            )
        power = _number("power", self.power)
        if not 0 < power < 1:
            raise ValueError(f"power must be between 0 and 1, not {power!r}")
        alpha = _number("alpha", self.alpha)
        if not 0 < alpha < 0.5:
            raise ValueError(f"alpha must be between 0 and 0.5, not {alpha!r}")
        object.__setattr__(self, "minimum_effect", effect)
        object.__setattr__(self, "power", power)
        object.__setattr__(self, "alpha", alpha)
        if self.winner is not None:
            _name("winner", self.winner)

    @property
    def goals(self) -> tuple[str, ...]:
        """The primary goal, then the guardrails: the family of the test's
        multiple-comparison adjustment."""
        return (self.goal, *self.guardrails)

    def lower(self, goal: str) -> bool:
        """Whether a decrease is the improvement on ``goal``."""
        return goal in self.lower_is_better

    def fields(self) -> PlanFields:
        """The plan as plain data (the keys of :meth:`to_json`, and
        ``lower_is_better`` even when empty)."""
        return {
            "goal": self.goal,
            "guardrails": list(self.guardrails),
            "minimum_effect": self.minimum_effect,
            "power": self.power,
            "alpha": self.alpha,
            "winner": self.winner,
            "lower_is_better": list(self.lower_is_better),
        }

    def to_json(self) -> str:
        """Compact JSON, keys in a fixed order, ASCII only (it goes in a log
        line). ``lower_is_better`` is left out when empty, so a plan without
        it is written as before it existed."""
        fields = self.fields()
        if not self.lower_is_better:
            del fields["lower_is_better"]
        return json.dumps(fields, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Plan:
        """The plan :meth:`to_json` wrote; :class:`ValueError` naming what is
        wrong for anything else (missing keys take their defaults, except
        ``goal``)."""
        try:
            data: Any = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"a plan must be a JSON object: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError(f"a plan must be a JSON object, not {type(data).__name__}")
        unknown = sorted(set(data) - set(_KEYS))
        if unknown:
            raise ValueError(f"unknown keys in a plan: {unknown}")
        if "goal" not in data:
            raise ValueError("a plan needs a goal")
        lists = {key: data.get(key, []) for key in ("guardrails", "lower_is_better")}
        for key, value in lists.items():
            if not isinstance(value, list):
                raise ValueError(f"{key} must be a list of goal names, not {value!r}")
        return cls(
            goal=data["goal"],
            guardrails=tuple(lists["guardrails"]),
            minimum_effect=data.get("minimum_effect", 0.05),
            power=data.get("power", 0.8),
            alpha=data.get("alpha", 0.05),
            winner=data.get("winner"),
            lower_is_better=tuple(lists["lower_is_better"]),
        )
