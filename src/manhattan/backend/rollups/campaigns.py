"""Campaign rollups: ``utm_source``, ``utm_medium`` and ``utm_campaign``.

Their buckets come from the query string of the visitor's first page (the
landing URL); see :mod:`manhattan.backend.rollups` for the attribution rule
and how values are normalised.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple
from urllib.parse import unquote_plus

from manhattan.backend.model import Visit
from manhattan.records.limits import MAX_NAME_LENGTH

__all__ = [
    "NO_CAMPAIGN",
    "UtmCampaignRollup",
    "UtmMediumRollup",
    "UtmSourceRollup",
    "UtmValues",
    "utm_values",
]

NO_CAMPAIGN: Final = "(none)"
"""The bucket of a visitor whose landing URL lacks the parameter (or left it empty)."""


class UtmValues(NamedTuple):
    """The campaign parameters of a landing URL, normalised."""

    source: str
    medium: str
    campaign: str


_NONE = UtmValues(NO_CAMPAIGN, NO_CAMPAIGN, NO_CAMPAIGN)
_FIELDS = {"utm_source": 0, "utm_medium": 1, "utm_campaign": 2}
_LONGEST_NAME = 40  # room for percent-encoded parameter names, no more
# C0 and C1 controls, DEL: no use in a readable bucket, and NUL is unstorable.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _normalise(raw: str) -> str:
    """A decoded parameter value as a bucket: whitespace runs (and control
    characters) made one space, trimmed, lowercase, at most
    :data:`MAX_NAME_LENGTH` bytes of UTF-8. Empty when nothing is left."""
    value = unquote_plus(raw, errors="replace")
    if not value.isascii() or not value.isprintable():
        value = _CONTROLS.sub(" ", value)
        # A lone surrogate (a log line may escape one) cannot be stored.
        value = value.encode("utf-8", "replace").decode("utf-8")
    value = " ".join(value.split()).lower()
    encoded = value.encode("utf-8")
    if len(encoded) > MAX_NAME_LENGTH:
        # Bytes, not characters: the visitor picks this text, and an index
        # row of 512 four-byte characters beside long names is more than
        # PostgreSQL takes; cut at a character boundary.
        value = encoded[:MAX_NAME_LENGTH].decode("utf-8", "ignore").rstrip()
    return value


def _parse(url: str) -> UtmValues:
    # Read the query by hand rather than with urlsplit(), which refuses a
    # whole URL for a malformed host (a bad Host header) whose query is fine.
    query = url.partition("?")[2].partition("#")[0]
    if not query or ("utm" not in query.lower() and "%" not in query):
        return _NONE
    found: list[str | None] = [None, None, None]
    for pair in query.split("&"):
        name, _, raw = pair.partition("=")
        if len(name) > _LONGEST_NAME:
            continue
        index = _FIELDS.get(unquote_plus(name).strip().lower())
        # The first non-empty value of a repeated parameter wins.
        if index is None or found[index] is not None:
            continue
        found[index] = _normalise(raw) or None
    return UtmValues(*(value or NO_CAMPAIGN for value in found))


_last: tuple[str, UtmValues] = ("", _NONE)


def utm_values(url: str) -> UtmValues:
    """The ``utm_source``, ``utm_medium`` and ``utm_campaign`` buckets of a
    landing URL (see :mod:`manhattan.backend.rollups`)."""
    global _last
    # The three rollups ask in turn about the same visit: one URL is all
    # worth remembering (landing URLs carry per-click ids, rarely repeat).
    last_url, values = _last
    if url != last_url:
        values = _parse(url)
        _last = (url, values)
    return values


class _UtmRollup:
    """A rollup by one campaign parameter of the landing URL."""

    name: str
    per_visitor = True
    _index: int

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """The parameter's normalised value, or ``"(none)"``."""
        return utm_values(visit.url)[self._index]


class UtmSourceRollup(_UtmRollup):
    """Who sent the visitor: ``utm_source`` (``"newsletter"``, ``"google"``)."""

    name = "utm_source"
    _index = 0


class UtmMediumRollup(_UtmRollup):
    """How: ``utm_medium`` (``"email"``, ``"cpc"``)."""

    name = "utm_medium"
    _index = 1


class UtmCampaignRollup(_UtmRollup):
    """Which campaign: ``utm_campaign`` (``"spring-sale"``)."""

    name = "utm_campaign"
    _index = 2
