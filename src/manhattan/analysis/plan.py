"""An experiment's declared plan: what it is judged on, and how strictly.

A :class:`Plan` names the primary goal, the guardrail goals (which must not
get worse), the smallest relative lift worth detecting, the power to detect
it and the false positive rate allowed. It travels in the split record as
compact JSON (:meth:`Plan.to_json`), so it is checked both where it is made
and where it is read back (:meth:`Plan.from_json`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from manhattan.analysis.types import PlanFields

_KEYS = ("goal", "guardrails", "minimum_effect", "power", "alpha", "winner")


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


@dataclass(frozen=True)
class Plan:
    """The plan of an experiment.

    ``goal``: the primary goal, on whose conversion rate the test is
    decided. ``guardrails``: goals whose rate must not fall (distinct, not
    the primary goal). ``minimum_effect``: the smallest relative lift worth
    detecting (0.05 is +5% of control's rate). ``power``: the chance of
    detecting that lift at the planned size. ``alpha``: the false positive
    rate allowed, below 0.5. ``winner``: the population served to everyone
    once the test has ended, ``None`` while it runs.

    Bad arguments raise :class:`ValueError` naming the argument; a list of
    guardrails is kept as a tuple.
    """

    goal: str
    guardrails: tuple[str, ...] = ()
    minimum_effect: float = 0.05
    power: float = 0.8
    alpha: float = 0.05
    winner: str | None = None

    def __post_init__(self) -> None:
        _name("goal", self.goal)
        guardrails = self.guardrails
        if isinstance(guardrails, str) or not isinstance(guardrails, tuple | list):
            raise ValueError(f"guardrails must be a list of goal names, not {guardrails!r}")
        for guardrail in guardrails:
            _name("guardrails", guardrail)
        if len(set(guardrails)) != len(guardrails):
            raise ValueError(f"guardrails must be distinct, not {list(guardrails)!r}")
        if self.goal in guardrails:
            raise ValueError(f"guardrails must not include the goal {self.goal!r}")
        # Frozen: normalising the stored values needs object.__setattr__.
        object.__setattr__(self, "guardrails", tuple(guardrails))
        effect = _number("minimum_effect", self.minimum_effect)
        if effect <= 0:
            raise ValueError(f"minimum_effect must be above 0, not {effect!r}")
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

    def fields(self) -> PlanFields:
        """The plan as plain data (the keys of :meth:`to_json`)."""
        return {
            "goal": self.goal,
            "guardrails": list(self.guardrails),
            "minimum_effect": self.minimum_effect,
            "power": self.power,
            "alpha": self.alpha,
            "winner": self.winner,
        }

    def to_json(self) -> str:
        """Compact JSON, keys in a fixed order, ASCII only (it goes in a log line)."""
        return json.dumps(self.fields(), separators=(",", ":"))

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
        guardrails = data.get("guardrails", [])
        if not isinstance(guardrails, list):
            raise ValueError(f"guardrails must be a list of goal names, not {guardrails!r}")
        return cls(
            goal=data["goal"],
            guardrails=tuple(guardrails),
            minimum_effect=data.get("minimum_effect", 0.05),
            power=data.get("power", 0.8),
            alpha=data.get("alpha", 0.05),
            winner=data.get("winner"),
        )
