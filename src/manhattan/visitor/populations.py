"""Split-test population choice, exactly as Manhattan 0.3 made it.

The choice depends only on ``visitor_id + test_name``: an upgrade must not
move a single visitor to another population, so every step below restates
0.3's rule (see ``docs/compat-0.3.md``), including its use of the first float of a
Mersenne Twister seeded with the big-endian integer of the seed's UTF-8 bytes.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import json
import math
import random
from bisect import bisect
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from numbers import Real
from typing import Any, Protocol, TypeAlias

from manhattan.visitor.records import check_name

Populations: TypeAlias = Sequence[Any] | Mapping[Any, float] | None
"""What ``split()`` accepts: ``None`` (a 50/50 ``True``/``False`` test), a
non-empty list or tuple of populations, or a mapping of population to weight."""

DEFAULT_POPULATIONS: tuple[bool, bool] = (True, False)


@lru_cache(maxsize=4096)
def draw(visitor_id: str, test_name: str) -> float:
    """The visitor's uniform draw in ``[0, 1)`` for one test.

    Seeding a Mersenne Twister costs microseconds; a returning visitor's
    requests ask for the same draws again, so recent ones are cached.
    """
    seed = int.from_bytes((visitor_id + test_name).encode("utf-8"), "big")
    return random.Random(seed).random()


def check_populations(populations: Populations) -> tuple[list[Any], list[float] | None]:
    """Validate ``populations``; return the choices and their span starts.

    For a sequence the second item is ``None``. For a mapping the choices are
    the names with positive weight, sorted by name, and the starts lay their
    weights end to end from 0 (with the total weight appended last).

    Raises ``TypeError`` or ``ValueError`` naming the problem.
    """
    if populations is None:
        return list(DEFAULT_POPULATIONS), None
    if isinstance(populations, Mapping):
        return _check_weights(populations)
    if isinstance(populations, list | tuple):
        if not populations:
            raise ValueError("populations must not be empty")
        return list(populations), None
    raise TypeError(
        "populations must be None, a list or tuple, or a dict of name -> weight, "
        f"not {type(populations).__name__}"
    )


def _check_weights(weights: Mapping[Any, Any]) -> tuple[list[Any], list[float]]:
    if not weights:
        raise ValueError("populations must not be empty")
    try:
        items = sorted(weights.items())
    except TypeError as exc:
        raise TypeError(f"population names must be comparable to sort them: {exc}") from None
    names: list[Any] = []
    starts: list[float] = []
    total: float = 0.0
    for name, weight in items:
        if isinstance(weight, bool) or not isinstance(weight, Real | Decimal):
            raise TypeError(
                f"weight of population {name!r} must be a number, not {type(weight).__name__}"
            )
        finite = weight.is_finite() if isinstance(weight, Decimal) else math.isfinite(weight)
        if not finite:
            raise ValueError(f"weight of population {name!r} must be finite, not {weight!r}")
        if weight < 0:
            raise ValueError(f"weight of population {name!r} must not be negative, got {weight!r}")
        if weight == 0:
            continue
        names.append(name)
        starts.append(total)
        total += float(weight)
    if not names:
        raise ValueError("populations must have at least one positive weight")
    starts.append(total)
    return names, starts


def pick(r: float, names: Sequence[Any], starts: Sequence[float] | None) -> Any:
    """The population that draw ``r`` lands in, for checked populations."""
    if starts is None:
        return names[int(r * len(names))]
    return names[bisect(starts[:-1], r * starts[-1]) - 1]


def weights_field(populations: Populations) -> str:
    """The weights of ``populations`` as the split record's trailing field.

    A JSON object of ``str(population)`` -> weight, so the analysis knows a
    weighted split's intended ratios without being told again (and sees
    populations nobody landed in yet). Empty for ``None`` (the 50/50
    ``True``/``False`` test 0.3 logs always implied). Readers that know only
    0.3's fields ignore it.

    Every population that can be chosen is checked here (once per list of
    populations: the field is cached), not just the chosen one, so that a
    name no store can hold fails for every visitor: ``ValueError`` (see
    :func:`~manhattan.visitor.records.check_name`).
    """
    if populations is None:
        return ""
    try:
        key: Hashable = (
            tuple(populations.items()) if isinstance(populations, Mapping) else tuple(populations)
        )
        hash(key)
    except TypeError:
        return _weights_json(populations)
    return _cached_weights(key, isinstance(populations, Mapping))


@lru_cache(maxsize=256)
def _cached_weights(key: tuple[Any, ...], mapping: bool) -> str:
    return _weights_json(dict(key) if mapping else list(key))


def _weights_json(populations: Populations) -> str:
    weights: dict[str, float] = {}
    if isinstance(populations, Mapping):
        # The weights as given (already checked by split()), in the order
        # given: the first is the analysis's default control.
        for name, weight in populations.items():
            if weight > 0:
                weights[check_name(str(name), "population")] = float(weight)
    else:
        for name in populations or ():
            text = check_name(str(name), "population")
            weights[text] = weights.get(text, 0.0) + 1.0
    return json.dumps(weights, ensure_ascii=False, separators=(",", ":"))


def choose_population(visitor_id: str, test_name: str, populations: Populations = None) -> Any:
    """The population of ``visitor_id`` in ``test_name``: deterministic, 0.3-compatible."""
    names, starts = check_populations(populations)
    return pick(draw(visitor_id, test_name), names, starts)


@dataclass(frozen=True, eq=False, slots=True)
class Declaration:
    """A split test declared once, with what ``split()`` needs worked out
    once: :class:`manhattan.experiments.Experiment` builds one with
    :func:`declare` (the visitor knows nothing of experiments or plans).

    ``choices`` and ``starts`` are :func:`check_populations`'s, so the
    assignment is the one ``split(test, populations)`` makes; ``texts``
    maps ``str(population)`` to every population (for forced ones);
    ``weights`` and ``plan`` are the split record's trailing fields.
    ``ended``: the test has a winner, served to everyone (``winner``,
    ``winner_text``), and ``split()`` records only the end marker.
    """

    test: str
    choices: tuple[Any, ...]
    starts: tuple[float, ...] | None
    texts: Mapping[str, Any]
    weights: str
    plan: str
    ended: bool = False
    winner: Any = None
    winner_text: str = ""


class Declared(Protocol):
    """What ``Visitor.split()`` takes besides a test name: an object with a
    :class:`Declaration` (a :class:`manhattan.experiments.Experiment`)."""

    @property
    def declaration(self) -> Declaration:
        """The test as ``split()`` uses it."""
        ...


def declare(
    test: str, populations: Sequence[Any] | Mapping[Any, float], plan: str, winner: Any = None
) -> Declaration:
    """The :class:`Declaration` of ``test`` with ``populations`` (checked as
    ``split()`` checks them, every name included) and the plan's JSON;
    ``winner`` (one of ``populations``, or ``None`` while the test runs)
    ends it."""
    check_name(test, "test_name")
    choices, starts = check_populations(populations)
    weights = weights_field(populations)
    texts = {str(population): population for population in populations}
    return Declaration(
        test=test,
        choices=tuple(choices),
        starts=None if starts is None else tuple(starts),
        texts=texts,
        weights=weights,
        plan=plan,
        ended=winner is not None,
        winner=winner,
        winner_text="" if winner is None else str(winner),
    )
