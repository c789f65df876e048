"""The log record layout, declared once: which field of a record holds what.

A record is a list of strings. Every record begins with the same five
fields (version, kind, timestamp, visitor id, site id); what follows depends
on the kind. ``docs/compat-0.3.md`` tells the whole format and its history.
Whoever builds or reads a record (:mod:`manhattan.visitor.records`, the text
codec, the Redis stream log, the aggregator, the worker) names a field with
these constants, never with a bare index.

Fields 0.3 did not have (the page's recorded headers, the split's weights
and plan) come after all of 0.3's, so 0.3's readers and records keep working: a reader
takes a record of at least :data:`MIN_FIELDS` fields for its kind and treats
a missing optional field as empty.

Standard library only, like the rest of :mod:`manhattan.records`: every other
package may import it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

__all__ = [
    "AVERAGE",
    "COMMON_FIELDS",
    "CURRENCY",
    "GOAL",
    "GOAL_NAME",
    "GOAL_VALUE",
    "GOAL_VALUE_FORMAT",
    "GOAL_VALUE_TYPE",
    "KINDS",
    "KIND_FIELD",
    "MIN_FIELDS",
    "NUMERIC",
    "PAGE",
    "PAGE_HEADERS",
    "PAGE_IP",
    "PAGE_METHOD",
    "PAGE_REFERER",
    "PAGE_URL",
    "PAGE_USER_AGENT",
    "PER",
    "PERCENTAGE",
    "PIXEL",
    "RATE",
    "SITE_FIELD",
    "SPLIT",
    "SPLIT_PLAN",
    "SPLIT_POPULATION",
    "SPLIT_TEST",
    "SPLIT_WEIGHTS",
    "SUM",
    "TIMESTAMP_FIELD",
    "VALUE_FORMATS",
    "VALUE_FORMAT_NAMES",
    "VALUE_TYPES",
    "VALUE_TYPE_NAMES",
    "VERSION",
    "VERSION_FIELD",
    "VISITOR_FIELD",
    "Record",
]

Record = list[str]
"""A log record: ``[version, kind, timestamp, visitor id, site id, *fields]``."""

VERSION: Final = "1"
"""The only record version there is (0.3's)."""

# The kinds of record.
PAGE: Final = "page"
"""A page view: written by the middleware for an HTML answer."""
PIXEL: Final = "pixel"
"""The visitor's browser loaded the tracking pixel (so it is no bot)."""
GOAL: Final = "goal"
"""A conversion on a goal, perhaps with a value."""
SPLIT: Final = "split"
"""The visitor's population in a split test."""
KINDS: Final = (PAGE, PIXEL, GOAL, SPLIT)

# The fields every record has, in every kind.
VERSION_FIELD: Final = 0
KIND_FIELD: Final = 1
TIMESTAMP_FIELD: Final = 2
"""Seconds since the epoch, with four decimals (``"%0.4f"``)."""
VISITOR_FIELD: Final = 3
"""The visitor id: it partitions Redis streams and keys the visitor's state."""
SITE_FIELD: Final = 4
"""A decimal site id; ``"0"`` without a host map (an empty field reads as 0)."""
COMMON_FIELDS: Final = 5
"""How many fields every record has: a shorter line is no record at all."""

# page: ip, method, url, user agent, referer[, headers]
PAGE_IP: Final = 5
PAGE_METHOD: Final = 6
PAGE_URL: Final = 7
PAGE_USER_AGENT: Final = 8
PAGE_REFERER: Final = 9
PAGE_HEADERS: Final = 10
"""Optional, not in 0.3: the recorded request headers as a JSON object."""

# goal: name, value, value type, value format (each empty when absent)
GOAL_NAME: Final = 5
GOAL_VALUE: Final = 6
GOAL_VALUE_TYPE: Final = 7
GOAL_VALUE_FORMAT: Final = 8

# split: test, population[, weights[, plan]]
SPLIT_TEST: Final = 5
SPLIT_POPULATION: Final = 6
"""The chosen population as ``str(population)``: ``True`` is ``"True"``."""
SPLIT_WEIGHTS: Final = 7
"""Optional, not in 0.3: the populations' weights as a JSON object."""
SPLIT_PLAN: Final = 8
"""Optional, not in 0.3: a declared experiment's plan as a JSON object
(``manhattan.analysis.plan.Plan.to_json``); empty or absent without one.
A plan that names a ``winner`` makes the record the test's end marker:
the test ended at the record's time, and the record is no impression (the
visitor id is only the one whose request noticed the end)."""

MIN_FIELDS: Final[Mapping[str, int]] = {
    PAGE: PAGE_REFERER + 1,
    PIXEL: COMMON_FIELDS,
    GOAL: GOAL_VALUE_FORMAT + 1,
    SPLIT: SPLIT_POPULATION + 1,
}
"""The fewest fields of a record of each kind: 0.3's layout. Optional
fields follow these; a reader ignores fields it does not know."""

# Goal value types: how the backend reports a goal's values.
RATE: Final = "R"
AVERAGE: Final = "A"
SUM: Final = "S"
PER: Final = "I"
VALUE_TYPES: Final = frozenset({RATE, AVERAGE, SUM, PER})

# Goal value formats: how a report shows them.
NUMERIC: Final = "N"
CURRENCY: Final = "C"
PERCENTAGE: Final = "P"
VALUE_FORMATS: Final = frozenset({NUMERIC, CURRENCY, PERCENTAGE})

# The documented names of the codes, in the documented order (for messages).
VALUE_TYPE_NAMES: Final[Mapping[str, str]] = {
    RATE: "RATE",
    AVERAGE: "AVERAGE",
    SUM: "SUM",
    PER: "PER",
}
VALUE_FORMAT_NAMES: Final[Mapping[str, str]] = {
    NUMERIC: "NUMERIC",
    CURRENCY: "CURRENCY",
    PERCENTAGE: "PERCENTAGE",
}
