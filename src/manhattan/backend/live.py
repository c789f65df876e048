"""Live visitors: the distinct human visitors seen in the last minutes.

The counting server's aggregator tells a :class:`LiveVisitors` of every
event it counts for a visitor who loaded the pixel (bots and visitors still
awaiting the pixel are never seen here), with the event's site and time;
the query service answers ``live(minutes, site_id)`` from it. Nothing of it
is stored: a server that restarts starts from none, and a server that only
answers queries (``--query-only``) has none.

"Now" is the wall clock, not the newest event counted: the figure is about
the people on the site at this moment, so a server replaying old logs
answers 0 (and one that lags behind its log answers fewer than are there).
A visitor's time is that of their latest event, whatever order the log
held the events in. An event stamped more than :data:`MAX_SKEW` seconds
ahead of the wall clock (a web server whose clock runs fast, or a forged
record) is not taken as a sign of life: it would otherwise keep its visitor
"live" until that future time came.

Memory is bounded: at most ``capacity`` (visitor, site) pairs are kept
(:data:`DEFAULT_CAPACITY`, some 25 MB). Pairs older than
:data:`MAX_MINUTES` go whenever the table reaches its current limit; if it
is still full of recent pairs then, the least recently seen quarter goes
too, so a site with more distinct visitors an hour than that sees its
figure level off below ``capacity``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from manhattan.exceptions import QueryError

MIN_MINUTES = 1
MAX_MINUTES = 60
"""The longest window ``live()`` answers for: pairs older go."""

DEFAULT_MINUTES = 30

DEFAULT_CAPACITY = 100_000
"""(visitor, site) pairs kept at most (about 250 bytes each)."""

MAX_SKEW = 300.0
"""How far ahead of the wall clock (seconds) an event's time may be and
still count: web servers' clocks drift a little, not by hours."""

FIRST_LIMIT = 1024
"""The table's size that first triggers a pruning pass."""


def check_minutes(minutes: object) -> int:
    """``minutes`` if it is a whole number from :data:`MIN_MINUTES` to
    :data:`MAX_MINUTES`, else :class:`QueryError` saying so."""
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise QueryError(f"live() takes minutes as a whole number, not {minutes!r}")
    if not MIN_MINUTES <= minutes <= MAX_MINUTES:
        raise QueryError(
            f"live() takes minutes from {MIN_MINUTES} to {MAX_MINUTES}, not {minutes}"
        )
    return minutes


class LiveVisitors:
    """When each human visitor was last seen on each site.

    :meth:`seen` is called by one thread (the counting one), :meth:`count`
    by any number of others: a reader works on a copy of the table
    (``dict.copy`` holds the interpreter's lock, or the dict's own lock on
    a free-threaded build, for its whole run), and the writer replaces
    the table when pruning rather than change it in a reader's hands.
    ``clock`` gives the wall-clock time in seconds.
    """

    def __init__(
        self, *, capacity: int = DEFAULT_CAPACITY, clock: Callable[[], float] = time.time
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a whole number of at least 1, not {capacity!r}")
        self.capacity = capacity
        self.clock = clock
        self._seen: dict[tuple[str, int], float] = {}
        self._limit = min(FIRST_LIMIT, capacity)
        # Times up to here are plausible without asking the clock (which is
        # asked again only for a time beyond it).
        self._horizon = clock() + MAX_SKEW

    def __len__(self) -> int:
        """The (visitor, site) pairs kept now."""
        return len(self._seen)

    def seen(self, visitor_id: str, site: int, timestamp: float) -> None:
        """Note an event of ``visitor_id`` on ``site`` at ``timestamp``."""
        if timestamp > self._horizon:
            self._horizon = self.clock() + MAX_SKEW
            if timestamp > self._horizon:
                return  # from the future: see the module's docstring
        seen = self._seen
        key = (visitor_id, site)
        # Logs of several processes interleave: keep the latest time.
        if seen.get(key, timestamp) <= timestamp:
            seen[key] = timestamp
            if len(seen) >= self._limit:
                self._prune()

    def _prune(self) -> None:
        cutoff = self.clock() - MAX_MINUTES * 60
        kept = {key: at for key, at in self._seen.items() if at >= cutoff}
        if len(kept) >= self.capacity:
            # Full of recent pairs: keep the most recently seen three quarters.
            keep = max(1, self.capacity * 3 // 4)
            kept = dict(sorted(kept.items(), key=lambda item: item[1])[-keep:])
        self._seen = kept
        # Twice what is left, so that pruning costs little per event.
        self._limit = min(self.capacity, max(FIRST_LIMIT, 2 * len(kept)))

    def count(self, minutes: int = DEFAULT_MINUTES, site_id: int | None = None) -> int:
        """Distinct visitors seen in the last ``minutes`` (1 to 60; else
        :class:`QueryError`) on ``site_id``, or on any site with ``None``."""
        minutes = check_minutes(minutes)
        if site_id is not None and (isinstance(site_id, bool) or not isinstance(site_id, int)):
            raise QueryError(f"live() takes site_id as a whole number or None, not {site_id!r}")
        now = self.clock()
        cutoff, ahead = now - minutes * 60, now + MAX_SKEW
        table = self._seen.copy()
        if site_id is None:
            return len({visitor for (visitor, _), at in table.items() if cutoff <= at <= ahead})
        return sum(
            1 for (_, site), at in table.items() if site == site_id and cutoff <= at <= ahead
        )
