"""How numbers are shown on the pages (pure).

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import math

from manhattan.analysis.wording import moment
from manhattan.records.layout import CURRENCY, PERCENTAGE

NONE = "\N{EN DASH}"
"""What a missing number shows."""


def rate(value: float | None) -> str:
    """A share from 0 to 1 as a percentage: ``"12.35%"``."""
    if value is None or not math.isfinite(value):
        return NONE
    return f"{value:.2%}"


def count(value: int) -> str:
    """A count with thousands separators."""
    return f"{value:,}"


def number(value: float | None, value_format: str = "") -> str:
    """A goal value by its format: currency with two decimals, a
    percentage, else a whole number or two decimals."""
    if value is None or not math.isfinite(value):
        return NONE
    if value_format == CURRENCY:
        return f"{value:,.2f}"
    if value_format == PERCENTAGE:
        return f"{value:.2%}"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:,.2f}"


def p_value(value: float | None) -> str:
    """A p-value, ``"< 0.001"`` when tiny, ``NONE`` when there is none."""
    if value is None:
        return NONE
    if value < 0.001:
        return "< 0.001"
    return f"{value:.3f}"


def timestamp(seconds: float) -> str:
    """Seconds since the epoch as a UTC date and time to the minute (as the
    verdict's words say when a test ended)."""
    return moment(seconds)


def cell(value: str | int | float | None, kind: str) -> str:
    """A table cell by its column's kind (see
    :mod:`manhattan.dashboard.tables`): a count, a rate, a number or text."""
    if value is None:
        return NONE
    if kind == "count" and isinstance(value, int):
        return count(value)
    if kind == "rate" and isinstance(value, float | int):
        return rate(value)
    if kind == "number" and isinstance(value, float | int):
        return number(value)
    return str(value)


_UNITS = (("week", 604_800), ("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


def duration(seconds: float) -> str:
    """A funnel's window in its largest whole unit: ``"1 day"``,
    ``"36 hours"``, ``"90 seconds"``; a fraction of a second as seconds."""
    for unit, size in _UNITS:
        if seconds >= size and seconds % size == 0:
            whole = int(seconds // size)
            return f"{whole} {unit}{'s' if whole != 1 else ''}"
    return f"{seconds:g} seconds"
