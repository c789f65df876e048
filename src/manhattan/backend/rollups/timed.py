"""Local time rollups: ``hour``, ``day``, ``week`` and ``month``.

Buckets are local clock hours and calendar periods of one IANA time zone;
see :mod:`manhattan.backend.rollups` for the bucket formats and how they are
bounded across clock changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from manhattan.backend.model import Visit

__all__ = ["DayRollup", "HourRollup", "MonthRollup", "WeekRollup"]

_MIN_TIMESTAMP = datetime(2, 1, 1, tzinfo=UTC).timestamp()
_MAX_TIMESTAMP = datetime(9999, 1, 1, tzinfo=UTC).timestamp()
_ONE_DAY = timedelta(days=1)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (KeyError, OSError, TypeError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None


def _local_date(timestamp: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(timestamp, zone).date()


def _start_of(day: date, zone: ZoneInfo) -> float:
    """The first moment the local clock shows ``day``."""
    midnight = datetime(day.year, day.month, day.day)
    # fold=0 picks the first of two readings of a repeated midnight.
    start = midnight.replace(tzinfo=zone).timestamp()
    if datetime.fromtimestamp(start, zone).replace(tzinfo=None) == midnight:
        return start
    # A clock change skipped midnight (Toronto, 1919-03-31: 23:30 -> 00:30):
    # the date begins at the change, which lies between midnight read with
    # the offset after it (earlier) and with the offset before it (later).
    # Changes happen on whole seconds, so bisect on seconds.
    before = midnight.replace(tzinfo=zone, fold=1).timestamp()
    while start - before > 1:
        middle = (before + start) // 2
        if _local_date(middle, zone) < day:
            before = middle
        else:
            start = middle
    return start


class _CachedPeriodRollup:
    """A rollup by local periods of time, each known as ``(start, end,
    bucket)`` by :meth:`_period`.

    Called for every event, so the period of the last two events is kept;
    most events then cost two comparisons.
    """

    name: str
    per_visitor = False

    def __init__(self, tz: str = "UTC") -> None:
        self.tz = tz
        self._zone = _zone(tz)
        nothing = (0.0, 0.0, "")  # start == end: holds no timestamp
        self._current = nothing
        self._previous = nothing

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """The bucket id of the local period holding ``timestamp``."""
        return self.period(timestamp)[2]

    def period(self, timestamp: float) -> tuple[float, float, str]:
        """``(start, end, bucket)`` of the local period holding ``timestamp``:
        the bucket holds for every time from ``start`` up to, not including,
        ``end``. (The aggregator uses it to skip asking again.)"""
        current = self._current
        if current[0] <= timestamp < current[1]:
            return current
        previous = self._previous
        if not previous[0] <= timestamp < previous[1]:
            # Events come nearly in time order: a new period replaces the
            # older of the two, and the pair absorbs jitter at a boundary.
            previous = self._period(timestamp)
        self._previous, self._current = current, previous
        return previous

    def _period(self, timestamp: float) -> tuple[float, float, str]:
        """The period holding ``timestamp``, which :meth:`period` caches."""
        raise NotImplementedError


def _check_range(timestamp: float) -> None:
    if not _MIN_TIMESTAMP <= timestamp < _MAX_TIMESTAMP:
        raise ValueError(f"timestamp {timestamp!r} is out of range")


class _LocalPeriodRollup(_CachedPeriodRollup):
    """A rollup by local calendar periods: days, weeks, months."""

    def _period(self, timestamp: float) -> tuple[float, float, str]:
        _check_range(timestamp)
        first = self._first_day(_local_date(timestamp, self._zone))
        start = _start_of(first, self._zone)
        after = self._next_first_day(first)
        end = _start_of(after, self._zone)
        # The clock turned back across midnight (St. John's, 2010-11-07,
        # 00:01 -> 23:01): the repeated stretch belongs to the next period.
        while timestamp >= end:
            first, start = after, end
            after = self._next_first_day(first)
            end = _start_of(after, self._zone)
        return (start, end, self._format(first))

    def _first_day(self, day: date) -> date:
        return day

    def _next_first_day(self, first: date) -> date:
        return first + _ONE_DAY

    def _format(self, first: date) -> str:
        return first.isoformat()


class DayRollup(_LocalPeriodRollup):
    """Local days in time zone ``tz``; buckets like ``"2024-03-31"``."""

    name = "day"


class WeekRollup(_LocalPeriodRollup):
    """Local weeks in time zone ``tz``, starting on ``first_weekday``
    (0 Monday ... 6 Sunday, as :meth:`datetime.date.weekday`); the bucket is
    the ISO date of the week's first day."""

    name = "week"

    def __init__(self, tz: str = "UTC", first_weekday: int = 6) -> None:
        if type(first_weekday) is not int or not 0 <= first_weekday <= 6:
            raise ValueError(
                f"first weekday must be 0 (Monday) to 6 (Sunday), got {first_weekday!r}"
            )
        super().__init__(tz)
        self.first_weekday = first_weekday

    def _first_day(self, day: date) -> date:
        return day - timedelta(days=(day.weekday() - self.first_weekday) % 7)

    def _next_first_day(self, first: date) -> date:
        return first + timedelta(days=7)


class MonthRollup(_LocalPeriodRollup):
    """Local months in time zone ``tz``; buckets like ``"2024-03"``."""

    name = "month"

    def _first_day(self, day: date) -> date:
        return day.replace(day=1)

    def _next_first_day(self, first: date) -> date:
        if first.month == 12:
            return date(first.year + 1, 1, 1)
        return date(first.year, first.month + 1, 1)

    def _format(self, first: date) -> str:
        return f"{first.year:04d}-{first.month:02d}"


def _first_second(low: int, high: int, reached: Callable[[int], bool]) -> int:
    """The first second after ``low`` (not reached) up to ``high`` (reached)
    at which ``reached`` holds; it must hold from there on."""
    while high - low > 1:
        middle = (low + high) // 2
        if reached(middle):
            high = middle
        else:
            low = middle
    return high


class HourRollup(_CachedPeriodRollup):
    """Local clock hours in time zone ``tz``; buckets like ``"2024-03-31T14"``.

    When the clock goes back, both readings of the repeated hour share its
    bucket (that bucket then holds two hours, or 90 minutes for Lord Howe's
    half-hour change); an hour the clock skips has no bucket.
    """

    name = "hour"

    def _period(self, timestamp: float) -> tuple[float, float, str]:
        _check_range(timestamp)
        # Clock changes and hour starts fall on whole seconds (zone offsets
        # are whole seconds), so whole seconds bound the period exactly,
        # where the float would round.
        second = math.floor(timestamp)
        zone = self._zone
        local = datetime.fromtimestamp(second, zone)
        offset = local.utcoffset()
        start = second - local.minute * 60 - local.second
        end = start + 3600

        def same_offset(moment: int) -> bool:
            return datetime.fromtimestamp(moment, zone).utcoffset() == offset

        # A clock change within the hour cuts this reading of it short. (No
        # zone changes its offset twice within an hour.)
        if not same_offset(start):
            start = _first_second(start, second, same_offset)
        if not same_offset(end - 1):
            end = _first_second(second, end - 1, lambda moment: not same_offset(moment))
        bucket = f"{local.year:04d}-{local.month:02d}-{local.day:02d}T{local.hour:02d}"
        return (float(start), float(end), bucket)
