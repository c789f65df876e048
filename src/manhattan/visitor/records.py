"""Log records: the constants, the checks on what a caller passes, and the
builders. Pure functions over plain values; nothing here does I/O.

A record is a list of strings ``[version, kind, timestamp, vid, site_id,
*fields]`` as ``compat-0.3.md`` lays down. Page records may carry one extra
trailing field (the recorded request headers, as a JSON object) that 0.3
readers ignore.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from decimal import Decimal
from numbers import Real
from typing import Final, TypeAlias

Record: TypeAlias = list[str]

VERSION: Final = "1"

PAGE: Final = "page"
PIXEL: Final = "pixel"
GOAL: Final = "goal"
SPLIT: Final = "split"

# Goal value types (how the backend reports a goal's values).
RATE: Final = "R"
AVERAGE: Final = "A"
SUM: Final = "S"
PER: Final = "I"
VALUE_TYPES: Final = frozenset({RATE, AVERAGE, SUM, PER})

# Goal value formats (how a report shows them).
NUMERIC: Final = "N"
CURRENCY: Final = "C"
PERCENTAGE: Final = "P"
VALUE_FORMATS: Final = frozenset({NUMERIC, CURRENCY, PERCENTAGE})

Value: TypeAlias = int | float | Decimal

_LARGEST_INT = int(sys.float_info.max)


def format_timestamp(seconds: float) -> str:
    """Seconds since the epoch as 0.3 wrote them: four decimals."""
    return "%0.4f" % seconds  # noqa: UP031 - the exact 0.3 format


def check_name(name: object, argument: str) -> str:
    """``name`` if it is a non-empty string, else a ``TypeError``/``ValueError``."""
    if not isinstance(name, str):
        raise TypeError(f"{argument} must be a str, not {type(name).__name__}")
    if not name:
        raise ValueError(f"{argument} must not be empty")
    if not name.isascii():
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate: no database (nor the split seed) can take it.
            raise ValueError(f"{argument} must be valid Unicode text, not {name!r}") from None
    return name


def format_value(value: object) -> str:
    """A goal value as its record field; ``None`` is the empty string.

    Accepts ``int``, ``float``, ``Decimal`` and other real numbers that are
    finite. Strings, booleans, NaN and infinities are refused: a value the
    backend could not add up is a bug at the call site, not data.
    """
    if value is None:
        return ""
    # The common cases first, cheaply (no ABC isinstance checks).
    if type(value) is float and math.isfinite(value):
        return repr(value)
    if type(value) is int and -_LARGEST_INT <= value <= _LARGEST_INT:
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
    # The backend adds values up as floats: NaN, infinities and values beyond
    # a float's range would spoil every total they touch.
    if not math.isfinite(as_float):
        raise ValueError(f"value must be a finite number within float range, not {value!r}")
    # Format through the base types: a subclass's own __str__ (say an
    # ``(int, Enum)`` member's "Color.RED") is not a number the backend reads.
    if isinstance(value, Decimal):
        return Decimal.__str__(value)
    if isinstance(value, int):
        return int.__repr__(value)
    return repr(as_float)


def check_choice(code: object, allowed: frozenset[str], argument: str) -> str:
    """``code`` as its field: ``None`` is empty, else it must be one of ``allowed``."""
    if code is None:
        return ""
    if not isinstance(code, str) or code not in allowed:
        names = ", ".join(sorted(allowed))
        raise ValueError(f"{argument} must be one of {names} or None, not {code!r}")
    return code


def check_site_id(site_id: object) -> str:
    """A site id as its record field: ``''``/``None`` is ``"0"``, else a decimal."""
    if type(site_id) is str and site_id.isdigit() and site_id.isascii() and site_id[0] != "0":
        return site_id  # already canonical: the common case, kept cheap
    if site_id is None or site_id == "":
        return "0"
    if isinstance(site_id, bool) or not isinstance(site_id, int | str):
        raise TypeError(f"site_id must be an int or a decimal str, not {type(site_id).__name__}")
    text = int.__repr__(site_id) if isinstance(site_id, int) else site_id
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"site_id must be a non-negative decimal number, not {site_id!r}")
    return str(int(text))


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
    timestamp: str, visitor_id: str, site_id: str, test_name: str, selected: str, weights: str = ""
) -> Record:
    """A ``split`` record: the visitor was assigned ``selected`` in ``test_name``.

    ``weights`` (the populations' weights as JSON, see
    :func:`~manhattan.visitor.populations.weights_field`) is a trailing
    field 0.3 readers ignore; left out when empty, as 0.3 wrote it.
    """
    record = [VERSION, SPLIT, timestamp, visitor_id, site_id, test_name, selected]
    if weights:
        record.append(weights)
    return record
