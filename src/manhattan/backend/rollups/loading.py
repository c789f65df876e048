"""Making rollups from configuration: built-in names, dotted paths, objects.

See :mod:`manhattan.backend.rollups` for the built-in rollups and the forms
a user rollup may take.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeAlias

from manhattan.backend.model import Rollup, Visit
from manhattan.backend.rollups.agents import BrowserRollup, BrowserVersionRollup
from manhattan.backend.rollups.campaigns import (
    UtmCampaignRollup,
    UtmMediumRollup,
    UtmSourceRollup,
)
from manhattan.backend.rollups.timed import (
    DayRollup,
    HourRollup,
    MonthRollup,
    WeekRollup,
    _zone,
)
from manhattan.backend.rollups.visits import (
    AllRollup,
    FunctionRollup,
    NetworkRollup,
    ReferrerRollup,
)

__all__ = [
    "BUILTIN_NAMES",
    "RollupConfig",
    "RollupSpec",
    "build_rollups",
    "default_rollups",
    "load_rollup",
]

RollupSpec: TypeAlias = "str | Rollup | type[Rollup] | Callable[[float, Visit], str]"
"""What names a rollup: a built-in name or dotted path, a Rollup, a function."""

BUILTIN_NAMES = (
    "all",
    "day",
    "week",
    "month",
    "browser",
    "browser_version",
    "referrer",
    "network",
    "hour",
    "utm_source",
    "utm_medium",
    "utm_campaign",
)
"""The built-in rollups, in the order :func:`default_rollups` gives them."""


def _resolve(path: str) -> object:
    path = path.strip()
    module_name, colon, attributes = path.partition(":")
    if not colon:
        module_name, _, attributes = path.rpartition(".")
    if not module_name or not attributes:
        raise ValueError(f"rollup {path!r} is not a dotted path like 'package.module:name'")
    try:
        found: object = importlib.import_module(module_name)
    except Exception as exc:  # anything a user module raises on import
        raise ValueError(f"rollup {path!r}: cannot import {module_name!r}: {exc}") from None
    for attribute in attributes.split("."):
        try:
            found = getattr(found, attribute)
        except AttributeError:
            raise ValueError(
                f"rollup {path!r}: {module_name!r} has no attribute {attributes!r}"
            ) from None
    return found


def load_rollup(spec: RollupSpec, name: str | None = None) -> Rollup:
    """A Rollup from ``spec``: a Rollup (returned as is), a Rollup class
    (instantiated), a function ``func(timestamp, visit) -> str`` (wrapped in
    :class:`FunctionRollup`, ``name`` required), or a dotted path to any of
    these. With ``name``, the rollup must have that name. Raises
    :class:`ValueError` for anything else."""
    what = repr(spec)
    found: object = spec
    if isinstance(spec, str):
        found = _resolve(spec)
    if isinstance(found, type):
        try:
            found = found()
        except Exception as exc:  # a user class failing to instantiate
            raise ValueError(f"rollup {what}: cannot instantiate: {exc}") from None
    if isinstance(found, Rollup):
        if not isinstance(found.name, str) or not found.name:
            raise ValueError(f"rollup {what}: name must be a non-empty string")
        if not isinstance(found.per_visitor, bool):
            raise ValueError(f"rollup {what}: per_visitor must be a bool")
        if name is not None and found.name != name:
            raise ValueError(f"rollup {what} is named {found.name!r}, not {name!r}")
        return found
    if callable(found):
        if name is None:
            raise ValueError(f"rollup function {what} needs a name")
        return FunctionRollup(name, found)
    raise ValueError(f"rollup {what} is neither a Rollup nor a function")


def _builtin(
    name: str, tz: str, first_weekday: int, networks: Mapping[str, str | Sequence[str]] | None
) -> Rollup:
    if name == "hour":
        return HourRollup(tz)
    if name == "day":
        return DayRollup(tz)
    if name == "week":
        return WeekRollup(tz, first_weekday)
    if name == "month":
        return MonthRollup(tz)
    if name == "network":
        return NetworkRollup(networks)
    others: dict[str, Callable[[], Rollup]] = {
        "all": AllRollup,
        "browser": BrowserRollup,
        "browser_version": BrowserVersionRollup,
        "referrer": ReferrerRollup,
        "utm_source": UtmSourceRollup,
        "utm_medium": UtmMediumRollup,
        "utm_campaign": UtmCampaignRollup,
    }
    return others[name]()


def default_rollups(tz: str = "UTC", first_weekday: int = 6) -> list[Rollup]:
    """Every built-in rollup, in :data:`BUILTIN_NAMES` order."""
    return [_builtin(name, tz, first_weekday, None) for name in BUILTIN_NAMES]


RollupConfig: TypeAlias = (
    "Iterable[RollupSpec | Mapping[str, RollupSpec]] | Mapping[str, RollupSpec]"
)
"""How a configuration lists rollups (see :func:`build_rollups`)."""


def _named_specs(specs: RollupConfig) -> Iterator[tuple[str | None, RollupSpec]]:
    if isinstance(specs, Mapping):
        yield from specs.items()
        return
    if isinstance(specs, str) or not isinstance(specs, Iterable):
        raise ValueError(f"rollups must be a list or a mapping, not {specs!r}")
    for spec in specs:
        if isinstance(spec, Mapping):
            yield from spec.items()
        else:
            yield None, spec


def build_rollups(
    specs: RollupConfig | None = None,
    tz: str = "UTC",
    first_weekday: int = 6,
    networks: Mapping[str, str | Sequence[str]] | None = None,
) -> list[Rollup]:
    """The rollups a configuration names, ``all`` first unless listed.

    ``specs`` lists built-in names, :func:`load_rollup` specs and mappings
    of rollup names to such specs (``["day", {"country":
    "myapp.rollups:country"}]``), or is one such mapping; ``None`` means
    every built-in rollup. ``tz`` and ``first_weekday`` configure the time
    rollups, ``networks`` the network rollup. Raises :class:`ValueError` for
    unknown names and duplicates.
    """
    _zone(tz)  # a bad time zone is an error even when no time rollup uses it
    rollups: list[Rollup] = []
    for name, spec in _named_specs(BUILTIN_NAMES if specs is None else specs):
        if isinstance(spec, str) and spec in BUILTIN_NAMES:
            if name is not None and name != spec:
                raise ValueError(f"built-in rollup {spec!r} cannot be named {name!r}")
            rollup = _builtin(spec, tz, first_weekday, networks)
        else:
            rollup = load_rollup(spec, name)
        if any(other.name == rollup.name for other in rollups):
            raise ValueError(f"rollup {rollup.name!r} is configured twice")
        rollups.append(rollup)
    if not any(rollup.name == "all" for rollup in rollups):
        rollups.insert(0, AllRollup())
    return rollups
