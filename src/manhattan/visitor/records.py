"""Log records: the constants, the checks on what a caller passes, and the
builders. Pure functions over plain values; nothing here does I/O.

A record is a list of strings ``[version, kind, timestamp, vid, site_id,
*fields]``, laid out by :mod:`manhattan.records.layout` as
``docs/compat-0.3.md`` describes. Page records may carry one extra trailing
field (the recorded request headers, as a JSON object) and split records
two (the populations' weights, a declared experiment's plan) that 0.3
readers ignore. The layout's names
and the limits of :mod:`manhattan.records.limits` are importable from here
too, as they were before they moved there.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from numbers import Real
from typing import TypeAlias

from manhattan.records.layout import (
    AVERAGE,
    CURRENCY,
    GOAL,
    NUMERIC,
    PAGE,
    PER,
    PERCENTAGE,
    PIXEL,
    RATE,
    SPLIT,
    SUM,
    VALUE_FORMAT_NAMES,
    VALUE_FORMATS,
    VALUE_TYPE_NAMES,
    VALUE_TYPES,
    VERSION,
    Record,
)
from manhattan.records.limits import (
    MAX_NAME_LENGTH,
    MAX_SITE_ID,
    MAX_TIMESTAMP,
    MAX_VALUE,
    name_problem,
)

__all__ = [
    "AVERAGE",
    "CURRENCY",
    "GOAL",
    "MAX_NAME_LENGTH",
    "MAX_SITE_ID",
    "MAX_TIMESTAMP",
    "MAX_VALUE",
    "NUMERIC",
    "PAGE",
    "PER",
    "PERCENTAGE",
    "PIXEL",
    "RATE",
    "SPLIT",
    "SUM",
    "VALUE_FORMATS",
    "VALUE_FORMAT_NAMES",
    "VALUE_TYPES",
    "VALUE_TYPE_NAMES",
    "VERSION",
    "Record",
    "Value",
    "check_choice",
    "check_name",
    "check_site_id",
    "check_timestamp",
    "format_timestamp",
    "format_value",
    "goal_record",
    "name_problem",
    "page_record",
    "pixel_record",
    "split_record",
]

Value: TypeAlias = int | float | Decimal

_MAX_INT_VALUE = int(MAX_VALUE)
_MAX_SITE_TEXT = str(MAX_SITE_ID)


def format_timestamp(seconds: float) -> str:
    """Seconds since the epoch as 0.3 wrote them: four decimals.

    ``TypeError`` for what is not a number, ``ValueError`` for a time that
    is not seconds since the epoch (negative, NaN, from the year 10000 on,
    or in milliseconds or microseconds).
    """
    # The common case first, cheaply: a literal is faster than MAX_TIMESTAMP.
    if type(seconds) is float and 0.0 <= seconds < 253402300800.0:
        return "%0.4f" % seconds  # noqa: UP031 - the exact 0.3 format
    return "%0.4f" % check_timestamp(seconds)  # noqa: UP031


def check_timestamp(seconds: object) -> float:
    """``seconds`` as a float if it is a time as seconds since the epoch."""
    if isinstance(seconds, bool) or not isinstance(seconds, Real | Decimal):
        raise TypeError(
            f"timestamp() must return seconds since the epoch as a number, "
            f"not {type(seconds).__name__}"
        )
    try:
        value = float(seconds)
    except OverflowError:
        value = math.inf
    except ValueError:  # a signalling NaN Decimal
        value = math.nan
    if 0.0 <= value < MAX_TIMESTAMP:
        return value
    if MAX_TIMESTAMP <= value < MAX_TIMESTAMP * 1000:
        hint = f"; {value:.2g} looks like milliseconds"
    elif MAX_TIMESTAMP * 1000 <= value < MAX_TIMESTAMP * 1e6:
        hint = f"; {value:.2g} looks like microseconds"
    elif value < 0:
        hint = f", not negative ({value!r})"
    else:
        hint = f", not {value!r}"
    raise ValueError(
        f"timestamp() must return seconds since the epoch before the year 10000{hint}"
    )


def check_name(name: object, argument: str) -> str:
    """``name`` if :func:`name_problem` finds none, else a ``TypeError`` or
    ``ValueError`` naming ``argument``."""
    if (
        type(name) is str
        and 0 < len(name) <= MAX_NAME_LENGTH
        and name.isascii()
        and "\x00" not in name
    ):
        return name  # the common case, kept cheap
    if not isinstance(name, str):
        raise TypeError(f"{argument} must be a str, not {type(name).__name__}")
    problem = name_problem(name)
    if problem is not None:
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise ValueError(f"{argument} {problem}: {shown!r}" if name else f"{argument} {problem}")
    return name


def format_value(value: object) -> str:
    """A goal value as its record field; ``None`` is the empty string.

    Accepts ``int``, ``float``, ``Decimal`` and other real numbers of
    magnitude at most :data:`MAX_VALUE`. Strings, booleans, NaN, infinities
    and larger numbers are refused: a value the backend could not add up is
    a bug at the call site, not data.
    """
    if value is None:
        return ""
    # The common cases first, cheaply (no ABC isinstance checks).
    if type(value) is float and -MAX_VALUE <= value <= MAX_VALUE:
        return repr(value)
    if type(value) is int and -_MAX_INT_VALUE <= value <= _MAX_INT_VALUE:
        return repr(value)
    if isinstance(value, bool) or not isinstance(value, Real | Decimal):
        raise TypeError(f"value must be a number, not {type(value).__name__}")
    if isinstance(value, Decimal) and not value.is_finite():
        as_float = math.nan  # float() of a signalling NaN would raise
    else:
        try:
            as_float = float(value)
        except OverflowError:
            as_float = math.inf
    if not -MAX_VALUE <= as_float <= MAX_VALUE:
        raise ValueError(
            f"value must be a finite number of magnitude at most {MAX_VALUE:.0e}, not {value!r}"
        )
    # Format through the base types: a subclass's own __str__ (say an
    # ``(int, Enum)`` member's "Color.RED") is not a number the backend reads.
    if isinstance(value, Decimal):
        return Decimal.__str__(value)
    if isinstance(value, int):
        return int.__repr__(value)
    return repr(as_float)


def check_choice(code: object, names: Mapping[str, str], argument: str) -> str:
    """``code`` as its field: ``None`` is empty, else it must be one of the
    codes ``names`` maps to their documented names (which messages use)."""
    if code is None:
        return ""
    if not isinstance(code, str) or code not in names:
        shown = ", ".join(names.values())
        raise ValueError(f"{argument} must be one of {shown} or None, not {code!r}")
    return code


def check_site_id(site_id: object) -> str:
    """A site id as its record field: ``''``/``None`` is ``"0"``, else a
    decimal from 0 to :data:`MAX_SITE_ID`."""
    if site_id == "0":
        return "0"  # every request of a site without a host map
    if (
        type(site_id) is str
        and site_id.isdigit()
        and site_id.isascii()
        and site_id[0] != "0"
        and len(site_id) < len(_MAX_SITE_TEXT)
    ):
        return site_id  # already canonical and in range: the common case, kept cheap
    if site_id is None or site_id == "":
        return "0"
    if isinstance(site_id, bool) or not isinstance(site_id, int | str):
        raise TypeError(f"site_id must be an int or a decimal str, not {type(site_id).__name__}")
    text = int.__repr__(site_id) if isinstance(site_id, int) else site_id
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"site_id must be a non-negative decimal number, not {site_id!r}")
    digits = text.lstrip("0") or "0"
    if len(digits) > len(_MAX_SITE_TEXT) or int(digits) > MAX_SITE_ID:
        shown = digits if len(digits) <= 20 else digits[:20] + "..."
        raise ValueError(f"site_id must be at most {MAX_SITE_ID}, not {shown}")
    return digits


def page_record(
    timestamp: str,
    visitor_id: str,
    site_id: str,
    ip: str,
    method: str,
    url: str,
    user_agent: str,
    referer: str,
    headers: Mapping[str, str] | None = None,
) -> Record:
    """A ``page`` record; ``headers`` (if any) become one trailing JSON field."""
    record = [VERSION, PAGE, timestamp, visitor_id, site_id, ip, method, url, user_agent, referer]
    if headers is not None:
        record.append(json.dumps(headers, ensure_ascii=False, separators=(",", ":")))
    return record


def pixel_record(timestamp: str, visitor_id: str, site_id: str) -> Record:
    """A ``pixel`` record: the visitor's browser loaded the tracking pixel."""
    return [VERSION, PIXEL, timestamp, visitor_id, site_id]


def goal_record(
    timestamp: str,
    visitor_id: str,
    site_id: str,
    name: str,
    value: str = "",
    value_type: str = "",
    value_format: str = "",
) -> Record:
    """A ``goal`` record from already-checked fields."""
    return [VERSION, GOAL, timestamp, visitor_id, site_id, name, value, value_type, value_format]


def split_record(
    timestamp: str,
    visitor_id: str,
    site_id: str,
    test_name: str,
    selected: str,
    weights: str = "",
    plan: str = "",
) -> Record:
    """A ``split`` record: the visitor was assigned ``selected`` in ``test_name``.

    ``weights`` (the populations' weights as JSON, see
    :func:`~manhattan.visitor.populations.weights_field`) and ``plan`` (a
    declared experiment's plan as JSON) are trailing fields 0.3 readers
    ignore; left out when empty, as 0.3 wrote it (the weights field stays,
    empty, before a plan).
    """
    record = [VERSION, SPLIT, timestamp, visitor_id, site_id, test_name, selected]
    if weights or plan:
        record.append(weights)
        if plan:
            record.append(plan)
    return record
