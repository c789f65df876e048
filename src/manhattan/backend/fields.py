"""Reading a record's fields in the backend: the checks it shares with the
source, and the fields it parses (the first page's visit, split weights).

Pure functions over plain values. A log may hold records no frontend of
ours wrote (0.3's, another writer's, a damaged file's), so every field is
checked again here with the very checks :mod:`manhattan.visitor.records`
applies when recording.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import json
import math
from typing import Final

from manhattan.backend.model import Visit
from manhattan.visitor.records import (
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
MALFORMED: Final = "malformed record"
UNKNOWN_VERSION: Final = "unknown version"
UNKNOWN_KIND: Final = "unknown kind"
BAD_NAME: Final = "unstorable name"
"""A goal, test or population name or visitor id no store can hold."""
BAD_VALUE: Final = "value out of range"
"""A goal value that is not finite or of magnitude beyond ``MAX_VALUE``."""

MIN_FIELDS: Final = {"page": 10, "pixel": 5, "goal": 9, "split": 7}
"""The fewest fields of each kind (0.3's layout; later fields are extensions)."""

MAX_USER_AGENT: Final = 512
"""The most characters of a user agent (and of each recorded header value)
the backend reads; the rest is cut off before parsing. No browser sends
more, and ua-parser takes time in proportion to the length (an 8 kB user
agent costs about 10 ms)."""


def check_record(
    record: list[str], site_ids: dict[str, int]
) -> str | tuple[float, int, float | None]:
    """The filtered-table reason to skip ``record`` (a version 1 record of at
    least five fields) for, or its timestamp, site id and goal value
    (``None`` without one).

    ``site_ids`` caches parsed site id fields (they are few); this adds to it.
    """
    needed = MIN_FIELDS.get(record[1])
    if needed is None:
        return UNKNOWN_KIND
    if len(record) < needed:
        return MALFORMED
    site = site_ids.get(record[4])
    try:
        timestamp = float(record[2])
        if site is None:
            text = record[4]
            site = int(text) if text else 0  # 0.3's own records may hold ""
            if 0 <= site <= MAX_SITE_ID and len(site_ids) < 10_000:
                site_ids[text] = site
    except ValueError:
        return MALFORMED
    if not (0.0 <= timestamp < MAX_TIMESTAMP and 0 <= site <= MAX_SITE_ID):
        return MALFORMED
    kind = record[1]
    vid = record[3]
    if 0 < len(vid) <= MAX_NAME_LENGTH and vid.isascii() and "\x00" not in vid:
        problem = None  # a visitor id as the middleware makes them: the usual case
    else:
        problem = name_problem(vid)
    value = None
    if kind == "goal":
        problem = problem or name_problem(record[5])
        if record[6] and problem is None:
            try:
                value = float(record[6])
            except ValueError:
                return MALFORMED
            if not -MAX_VALUE <= value <= MAX_VALUE:
                return BAD_VALUE
    elif kind == "split":
        problem = problem or name_problem(record[5]) or name_problem(record[6])
    if problem is None:
        return timestamp, site, value
    return MALFORMED if problem == _EMPTY else BAD_NAME


_EMPTY: Final = name_problem("")


def visit_of(record: list[str]) -> Visit:
    """The :class:`~manhattan.backend.model.Visit` of a page record: user
    agent and header values cut to :data:`MAX_USER_AGENT` characters.

    Headers that are not a JSON object are ignored; a JSON text
    nested too deeply to parse raises ``RecursionError`` (the caller skips
    the record).
    """
    headers: dict[str, str] = {}
    if len(record) > 10 and record[10]:
        try:
            parsed = json.loads(record[10])
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            headers = {str(key): str(value)[:MAX_USER_AGENT] for key, value in parsed.items()}
    return Visit(record[7], record[9], user_agent_of(record[8]), record[5], headers)


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
