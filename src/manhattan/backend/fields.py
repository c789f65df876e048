"""Reading a record's fields in the backend: the checks it shares with the
source, and the fields it parses (the first page's visit, split weights).

Pure functions over plain values. A log may hold records no frontend of
ours wrote (0.3's, another writer's, a damaged file's), so every field is
checked again here with the very limits :mod:`manhattan.visitor.records`
applies when recording (:mod:`manhattan.records.limits`), and read by the
names of :mod:`manhattan.records.layout`.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import json
import math
from typing import Final

from manhattan.backend.model import Visit
from manhattan.records.layout import (
    GOAL,
    GOAL_NAME,
    GOAL_VALUE,
    KIND_FIELD,
    MIN_FIELDS,
    PAGE_HEADERS,
    PAGE_IP,
    PAGE_REFERER,
    PAGE_URL,
    PAGE_USER_AGENT,
    SITE_FIELD,
    SPLIT,
    SPLIT_POPULATION,
    SPLIT_TEST,
    TIMESTAMP_FIELD,
    VISITOR_FIELD,
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
    "BAD_NAME",
    "BAD_VALUE",
    "MALFORMED",
    "MAX_SITE_ID",
    "MAX_TIMESTAMP",
    "MAX_USER_AGENT",
    "MAX_VALUE",
    "MIN_FIELDS",
    "UNKNOWN_KIND",
    "UNKNOWN_VERSION",
    "check_record",
    "name_problem",
    "user_agent_of",
    "visit_of",
    "weights_of",
]

# Reasons (the "filtered" table) of records refused by their fields.
from manhattan.records.vocabulary import BAD_NAME as BAD_NAME
from manhattan.records.vocabulary import BAD_VALUE as BAD_VALUE
from manhattan.records.vocabulary import MALFORMED as MALFORMED
from manhattan.records.vocabulary import UNKNOWN_KIND as UNKNOWN_KIND
from manhattan.records.vocabulary import UNKNOWN_VERSION as UNKNOWN_VERSION

MAX_USER_AGENT: Final = 512
"""The most characters of a user agent (and of each recorded header value)
the backend reads; the rest is cut off before parsing. No browser sends
more, and ua-parser takes time in proportion to the length (an 8 kB user
agent costs about 10 ms)."""


def check_record(
    record: Record, site_ids: dict[str, int]
) -> str | tuple[float, int, float | None]:
    """The filtered-table reason to skip ``record`` (a version 1 record of at
    least five fields) for, or its timestamp, site id and goal value
    (``None`` without one).

    ``site_ids`` caches parsed site id fields (they are few); this adds to it.
    """
    kind = record[KIND_FIELD]
    needed = MIN_FIELDS.get(kind)
    if needed is None:
        return UNKNOWN_KIND
    if len(record) < needed:
        return MALFORMED
    site = site_ids.get(record[SITE_FIELD])
    try:
        timestamp = float(record[TIMESTAMP_FIELD])
        if site is None:
            text = record[SITE_FIELD]
            site = int(text) if text else 0  # 0.3's own records may hold ""
            if 0 <= site <= MAX_SITE_ID and len(site_ids) < 10_000:
                site_ids[text] = site
    except ValueError:
        return MALFORMED
    if not (0.0 <= timestamp < MAX_TIMESTAMP and 0 <= site <= MAX_SITE_ID):
        return MALFORMED
    vid = record[VISITOR_FIELD]
    if 0 < len(vid) <= MAX_NAME_LENGTH and vid.isascii() and "\x00" not in vid:
        problem = None  # a visitor id as the middleware makes them: the usual case
    else:
        problem = name_problem(vid)
    value = None
    if kind == GOAL:
        problem = problem or name_problem(record[GOAL_NAME])
        if record[GOAL_VALUE] and problem is None:
            try:
                value = float(record[GOAL_VALUE])
            except ValueError:
                return MALFORMED
            if not -MAX_VALUE <= value <= MAX_VALUE:
                return BAD_VALUE
    elif kind == SPLIT:
        problem = (
            problem or name_problem(record[SPLIT_TEST]) or name_problem(record[SPLIT_POPULATION])
        )
    if problem is None:
        return timestamp, site, value
    return MALFORMED if problem == _EMPTY else BAD_NAME


_EMPTY: Final = name_problem("")


def visit_of(record: Record) -> Visit:
    """The :class:`~manhattan.backend.model.Visit` of a page record: user
    agent and header values cut to :data:`MAX_USER_AGENT` characters.

    Headers that are not a JSON object are ignored; a JSON text
    nested too deeply to parse raises ``RecursionError`` (the caller skips
    the record).
    """
    headers: dict[str, str] = {}
    if len(record) > PAGE_HEADERS and record[PAGE_HEADERS]:
        try:
            parsed = json.loads(record[PAGE_HEADERS])
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            headers = {str(key): str(value)[:MAX_USER_AGENT] for key, value in parsed.items()}
    return Visit(
        record[PAGE_URL],
        record[PAGE_REFERER],
        user_agent_of(record[PAGE_USER_AGENT]),
        record[PAGE_IP],
        headers,
    )


def user_agent_of(text: str) -> str:
    """A user agent as the backend parses it: cut to :data:`MAX_USER_AGENT`
    characters, lone surrogates (which no parser takes) replaced by ``?``."""
    text = text[:MAX_USER_AGENT]
    if text.isascii():
        return text
    return text.encode("utf-8", "replace").decode("utf-8")


def weights_of(text: str) -> dict[str, float]:
    """The weights of a split record's weights field: finite, non-negative
    numbers by population; anything else in it is ignored."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    weights: dict[str, float] = {}
    for name, weight in parsed.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            continue
        try:
            value = float(weight)
        except OverflowError:  # an integer beyond a float's range
            continue
        if 0 <= value < math.inf:
            weights[name] = value
    return weights
