"""The one bounded cache of the rollups: a dict that starts over when full.

Rollups cache what they parse (user agents, referrers, addresses) because
the same strings come back on a visitor's every event. Starting over when
the cache is full is cheaper than LRU bookkeeping on every hit, and the
common strings are back after a few parses.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(cache: dict[K, V], key: K, value: V, size: int) -> V:
    """Store ``value`` under ``key`` in ``cache``, emptying it first when it
    holds ``size`` entries already; returns ``value``."""
    if len(cache) >= size:
        cache.clear()
    cache[key] = value
    return value
