"""The names the counts are kept and read under, shared by the backend that
writes them and the client and dashboard that read them back.

Standard library only, and nothing of Manhattan outside
:mod:`manhattan.records`: every layer may import this module, so that a
reader (the dashboard) needs no writer (the backend, SQLAlchemy) to know
what a row or a filtered-table reason means.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from typing import Final

from manhattan.records.layout import AVERAGE, PER, RATE, SUM

ALL_SITES: Final = -1
"""The site id under which counts for all sites together are kept."""

IMPRESSION: Final = ""
"""The goal name of impression rows (goal names are never empty)."""

VIEWED_PAGE: Final = "viewed page"
"""The built-in goal every counted page view converts on."""

NO_TEST: Final = ""
"""The test (and population) of rows that are not about a split test."""

# Reasons of the "filtered" table: what was not counted, and why. Queries
# answer them as they are, so they are part of the wire format.
MALFORMED: Final = "malformed record"
"""A log record with missing or unreadable fields."""

MALFORMED_LINE: Final = "malformed line"
"""A log line the reader could not decode (skipped before it was a record)."""

UNKNOWN_VERSION: Final = "unknown version"
"""A record of a newer log format."""

UNKNOWN_KIND: Final = "unknown kind"
"""A record of a kind this server does not know."""

BAD_NAME: Final = "unstorable name"
"""A goal, test or population name or visitor id no store can hold."""

BAD_VALUE: Final = "value out of range"
"""A goal value that is not finite or of magnitude beyond ``MAX_VALUE``."""

CRAWLER: Final = "crawler"
"""An event of a known crawler's user agent."""

AWAITING_PIXEL: Final = "awaiting pixel"
"""An event held until the visitor's browser loads the tracking pixel (a
visitor who never does is a bot, and its events stay here)."""

HELD_OVERFLOW: Final = "held overflow"
"""An event beyond the :data:`MAX_HELD` held per visitor awaiting the pixel."""

UNREADABLE_STATE: Final = "unreadable visitor state"
"""A damaged stored visitor state: the visitor started afresh."""

UNCOUNTABLE: Final = "uncountable record"
"""Counting the record raised (a rollup, ua-parser, a JSON field...)."""

UNSTORABLE: Final = "unstorable entry"
"""A counter, goal, test or visitor state no store can hold (these count
entries, not events)."""

MAX_HELD: Final = 500
"""Events held per visitor awaiting the pixel (the most recent are kept)."""

MAX_BREAKDOWN_GOALS: Final = 50
"""The most goals one ``breakdown()`` query names."""

MAX_BREAKDOWN_BUCKETS: Final = 400
"""The most buckets a ``breakdown()`` query returns (over a year of days)."""


def goal_value_of(value_type: str, goal: tuple[int, float], page_views: int) -> float:
    """A goal's value in one slice, by its value type.

    ``goal`` is the goal's (visitors, value total) there and ``page_views``
    the number of visitors who viewed a page there. SUM: the total;
    AVERAGE: the mean value per converted visitor; PER: the total per
    page-viewing visitor; RATE: the share of page-viewing visitors who
    converted (a conversion rate from 0 to 1; values play no part). Without a
    known value type: the plain count, an int. Nothing to divide by: 0.0.
    """
    converted, total = goal
    if value_type == SUM:
        return total
    if value_type == AVERAGE:
        return total / converted if converted else 0.0
    if value_type == PER:
        return total / page_views if page_views else 0.0
    if value_type == RATE:
        return converted / page_views if page_views else 0.0
    return converted
