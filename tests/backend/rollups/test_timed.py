"""Tests of manhattan.backend.rollups.timed.

Expected buckets are computed by hand from the zones' rules (checked against
``zdump -v``): e.g. Europe/London moved from GMT to BST at 2024-03-31 01:00
UTC, so that local day ran from 00:00 to 23:00 UTC.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from manhattan.backend.model import NO_VISIT, PeriodicRollup, Rollup
from manhattan.backend.rollups.timed import DayRollup, HourRollup, MonthRollup, WeekRollup
from manhattan.backend.timedbuckets import TimedBuckets


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    """The timestamp of a UTC date and time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


# --- time rollups ----------------------------------------------------------

DAY_CASES = [
    pytest.param("UTC", utc(2024, 3, 30, 23, 59, 59), "2024-03-30", id="utc-before-midnight"),
    pytest.param("UTC", utc(2024, 3, 31), "2024-03-31", id="utc-midnight"),
    # London 2024-03-31: GMT until 01:00 UTC, then BST; 23-hour day.
    pytest.param("Europe/London", utc(2024, 3, 30, 23, 59, 59), "2024-03-30", id="lon-spring-0"),
    pytest.param("Europe/London", utc(2024, 3, 31), "2024-03-31", id="lon-spring-start"),
    pytest.param("Europe/London", utc(2024, 3, 31, 1, 30), "2024-03-31", id="lon-0230-bst"),
    pytest.param("Europe/London", utc(2024, 3, 31, 22, 59, 59), "2024-03-31", id="lon-spring-end"),
    pytest.param("Europe/London", utc(2024, 3, 31, 23), "2024-04-01", id="lon-next-day"),
    # London 2024-10-27: 00:00 BST = 10-26 23:00 UTC to 00:00 GMT; 25 hours.
    pytest.param("Europe/London", utc(2024, 10, 26, 22, 59, 59), "2024-10-26", id="lon-fall-0"),
    pytest.param("Europe/London", utc(2024, 10, 26, 23), "2024-10-27", id="lon-fall-start"),
    pytest.param("Europe/London", utc(2024, 10, 27, 1, 30), "2024-10-27", id="lon-0130-twice"),
    pytest.param("Europe/London", utc(2024, 10, 27, 23, 59, 59), "2024-10-27", id="lon-fall-end"),
    pytest.param("Europe/London", utc(2024, 10, 28), "2024-10-28", id="lon-fall-next"),
    # New York 2024-03-10: 00:00 EST = 05:00 UTC to 00:00 EDT = 03-11 04:00.
    pytest.param("America/New_York", utc(2024, 3, 10, 4, 59, 59), "2024-03-09", id="ny-sp-0"),
    pytest.param("America/New_York", utc(2024, 3, 10, 5), "2024-03-10", id="ny-spring-start"),
    pytest.param("America/New_York", utc(2024, 3, 11, 3, 59, 59), "2024-03-10", id="ny-sp-end"),
    pytest.param("America/New_York", utc(2024, 3, 11, 4), "2024-03-11", id="ny-spring-next"),
    # New York 2024-11-03: 00:00 EDT = 04:00 UTC to 00:00 EST = 11-04 05:00.
    pytest.param("America/New_York", utc(2024, 11, 3, 3, 59, 59), "2024-11-02", id="ny-fall-0"),
    pytest.param("America/New_York", utc(2024, 11, 3, 4), "2024-11-03", id="ny-fall-start"),
    pytest.param("America/New_York", utc(2024, 11, 4, 4, 59, 59), "2024-11-03", id="ny-fall-end"),
    pytest.param("America/New_York", utc(2024, 11, 4, 5), "2024-11-04", id="ny-fall-next"),
    # Lord Howe: +11 to +10:30 at 2024-04-06 15:00 UTC (24.5-hour day) and
    # back to +11 at 2024-10-05 15:30 UTC (23.5-hour day).
    pytest.param("Australia/Lord_Howe", utc(2024, 4, 6, 12, 59, 59), "2024-04-06", id="lh-apr-0"),
    pytest.param("Australia/Lord_Howe", utc(2024, 4, 6, 13), "2024-04-07", id="lh-apr-start"),
    pytest.param(
        "Australia/Lord_Howe", utc(2024, 4, 7, 13, 29, 59), "2024-04-07", id="lh-apr-end"
    ),
    pytest.param("Australia/Lord_Howe", utc(2024, 4, 7, 13, 30), "2024-04-08", id="lh-apr-next"),
    pytest.param("Australia/Lord_Howe", utc(2024, 10, 5, 13, 29, 59), "2024-10-05", id="lh-oct-0"),
    pytest.param("Australia/Lord_Howe", utc(2024, 10, 5, 13, 30), "2024-10-06", id="lh-oct-start"),
    pytest.param(
        "Australia/Lord_Howe", utc(2024, 10, 6, 12, 59, 59), "2024-10-06", id="lh-oct-end"
    ),
    pytest.param("Australia/Lord_Howe", utc(2024, 10, 6, 13), "2024-10-07", id="lh-oct-next"),
    # St. John's 2010-11-07: 00:01 NDT (02:31 UTC) went back to 23:01 NST;
    # the repeated hour of the 6th comes after the 7th began (02:30 UTC).
    pytest.param("America/St_Johns", utc(2010, 11, 7, 2, 29, 59), "2010-11-06", id="stj-0"),
    pytest.param("America/St_Johns", utc(2010, 11, 7, 2, 30), "2010-11-07", id="stj-start"),
    pytest.param("America/St_Johns", utc(2010, 11, 7, 3), "2010-11-07", id="stj-repeated-2330"),
    pytest.param("America/St_Johns", utc(2010, 11, 8, 3, 29, 59), "2010-11-07", id="stj-end"),
    pytest.param("America/St_Johns", utc(2010, 11, 8, 3, 30), "2010-11-08", id="stj-next"),
    # Toronto 1919-03-31: 23:30 EST went to 00:30 EDT at 04:30 UTC, skipping
    # midnight: the 31st began at 04:30 UTC, and ended at 00:00 EDT = 04:00.
    pytest.param("America/Toronto", utc(1919, 3, 31, 4, 29, 59), "1919-03-30", id="tor-0"),
    pytest.param("America/Toronto", utc(1919, 3, 31, 4, 30), "1919-03-31", id="tor-start"),
    pytest.param("America/Toronto", utc(1919, 4, 1, 3, 59, 59), "1919-03-31", id="tor-end"),
    pytest.param("America/Toronto", utc(1919, 4, 1, 4), "1919-04-01", id="tor-next"),
    # Casey 2010-03-04 15:00 UTC: 02:00 (+11) of the 5th went to 23:00 (+08)
    # of the 4th; the 5th ran from 03-04 13:00 to 03-05 16:00 UTC (27 hours).
    pytest.param("Antarctica/Casey", utc(2010, 3, 4, 12, 59, 59), "2010-03-04", id="casey-0"),
    pytest.param("Antarctica/Casey", utc(2010, 3, 4, 13), "2010-03-05", id="casey-start"),
    pytest.param("Antarctica/Casey", utc(2010, 3, 4, 15, 30), "2010-03-05", id="casey-repeat"),
    pytest.param("Antarctica/Casey", utc(2010, 3, 5, 15, 59, 59), "2010-03-05", id="casey-end"),
    pytest.param("Antarctica/Casey", utc(2010, 3, 5, 16), "2010-03-06", id="casey-next"),
    # Tokyo (+09, no DST): the local date runs ahead of UTC's.
    pytest.param("Asia/Tokyo", utc(2023, 12, 31, 14, 59, 59), "2023-12-31", id="tokyo-0"),
    pytest.param("Asia/Tokyo", utc(2023, 12, 31, 15), "2024-01-01", id="tokyo-new-year"),
    # The supported range's edges; New York had LMT -4:56:02 then.
    pytest.param("UTC", utc(2, 1, 1), "0002-01-01", id="min-utc"),
    pytest.param("America/New_York", utc(2, 1, 1), "0001-12-31", id="min-ny"),
    pytest.param("UTC", utc(9999, 1, 1) - 1, "9998-12-31", id="max-utc"),
    pytest.param("UTC", 0.5, "1970-01-01", id="fractional"),
]


@pytest.mark.parametrize(("tz", "timestamp", "expected"), DAY_CASES)
def test_day_bucket_is_the_local_date(tz: str, timestamp: float, expected: str) -> None:
    assert DayRollup(tz).bucket(timestamp, NO_VISIT) == expected


# 2024-03-31 and 2024-12-29 are Sundays; 2024-04-01 and 2024-12-30 Mondays.
WEEK_CASES = [
    pytest.param("UTC", 6, utc(2024, 3, 30, 23, 59, 59), "2024-03-24", id="sat-before-sunday"),
    pytest.param("UTC", 6, utc(2024, 3, 31), "2024-03-31", id="sunday-starts"),
    pytest.param("UTC", 6, utc(2024, 4, 6, 23, 59, 59), "2024-03-31", id="saturday-ends"),
    pytest.param("UTC", 0, utc(2024, 3, 31, 23, 59, 59), "2024-03-25", id="monday-start-sun"),
    pytest.param("UTC", 0, utc(2024, 4, 1), "2024-04-01", id="monday-start-mon"),
    pytest.param("UTC", 5, utc(2024, 3, 30), "2024-03-30", id="saturday-start"),
    pytest.param("UTC", 6, utc(2024, 12, 31, 12), "2024-12-29", id="across-new-year"),
    pytest.param("UTC", 6, utc(2025, 1, 4, 23, 59, 59), "2024-12-29", id="new-year-saturday"),
    pytest.param("UTC", 6, utc(2025, 1, 5), "2025-01-05", id="new-year-next"),
    # London's week from Sunday 03-31 00:00 GMT to 04-07 00:00 BST (04-06 23:00 UTC).
    pytest.param("Europe/London", 6, utc(2024, 3, 31), "2024-03-31", id="lon-dst-start"),
    pytest.param("Europe/London", 6, utc(2024, 4, 6, 22, 59, 59), "2024-03-31", id="lon-dst-end"),
    pytest.param("Europe/London", 6, utc(2024, 4, 6, 23), "2024-04-07", id="lon-dst-next"),
    # New York: Saturday 2024-03-30 23:30 EDT is Sunday 03:30 UTC.
    pytest.param("America/New_York", 6, utc(2024, 3, 31, 3, 30), "2024-03-24", id="ny-saturday"),
    pytest.param("America/New_York", 6, utc(2024, 3, 31, 4), "2024-03-31", id="ny-sunday"),
    # 0002-01-01 was a Tuesday (0001-01-01 a Monday, and year 1 had 365 days).
    pytest.param("UTC", 6, utc(2, 1, 1), "0001-12-30", id="min-sunday-start"),
    pytest.param("UTC", 1, utc(2, 1, 1), "0002-01-01", id="min-tuesday-start"),
]


@pytest.mark.parametrize(("tz", "first_weekday", "timestamp", "expected"), WEEK_CASES)
def test_week_bucket_is_the_first_local_day_of_the_week(
    tz: str, first_weekday: int, timestamp: float, expected: str
) -> None:
    assert WeekRollup(tz, first_weekday).bucket(timestamp, NO_VISIT) == expected


MONTH_CASES = [
    pytest.param("UTC", utc(2024, 2, 29, 23, 59, 59), "2024-02", id="leap-day-end"),
    pytest.param("UTC", utc(2024, 3, 1), "2024-03", id="march"),
    pytest.param("UTC", utc(2024, 12, 31, 23, 59, 59), "2024-12", id="december"),
    pytest.param("UTC", utc(2025, 1, 1), "2025-01", id="january"),
    pytest.param("America/New_York", utc(2024, 3, 1, 4, 59, 59), "2024-02", id="ny-feb"),
    pytest.param("America/New_York", utc(2024, 3, 1, 5), "2024-03", id="ny-march"),
    # March 2024 in New York ends at 04-01 00:00 EDT = 04:00 UTC.
    pytest.param("America/New_York", utc(2024, 4, 1, 3, 59, 59), "2024-03", id="ny-march-end"),
    pytest.param("America/New_York", utc(2024, 4, 1, 4), "2024-04", id="ny-april"),
    pytest.param("Asia/Tokyo", utc(2023, 12, 31, 15), "2024-01", id="tokyo-ahead"),
    pytest.param("Asia/Tokyo", utc(9999, 1, 1) - 1, "9999-01", id="max-tokyo"),
    pytest.param("UTC", utc(2, 1, 1), "0002-01", id="min"),
]


@pytest.mark.parametrize(("tz", "timestamp", "expected"), MONTH_CASES)
def test_month_bucket_is_the_local_year_and_month(
    tz: str, timestamp: float, expected: str
) -> None:
    assert MonthRollup(tz).bucket(timestamp, NO_VISIT) == expected


HOUR_CASES = [
    pytest.param("UTC", utc(2024, 3, 31, 14, 59, 59), "2024-03-31T14", id="utc"),
    pytest.param("UTC", utc(2024, 3, 31, 15), "2024-03-31T15", id="utc-next"),
    pytest.param("UTC", 0.5, "1970-01-01T00", id="fractional"),
    # Just under a whole hour: the float would round up to it; the hour is the one before.
    pytest.param("UTC", math.nextafter(utc(2024, 1, 1, 1), 0), "2024-01-01T00", id="under"),
    # Kathmandu is +05:45: its hours start at a quarter past the UTC hour.
    pytest.param("Asia/Kathmandu", utc(2024, 1, 1, 0, 14, 59), "2024-01-01T05", id="ktm"),
    pytest.param("Asia/Kathmandu", utc(2024, 1, 1, 0, 15), "2024-01-01T06", id="ktm-next"),
    # New York 2024-03-10: 02:00 EST became 03:00 EDT at 07:00 UTC; no T02.
    pytest.param("America/New_York", utc(2024, 3, 10, 6), "2024-03-10T01", id="ny-sp-01"),
    pytest.param("America/New_York", utc(2024, 3, 10, 6, 59, 59), "2024-03-10T01", id="ny-sp-end"),
    pytest.param("America/New_York", utc(2024, 3, 10, 7), "2024-03-10T03", id="ny-sp-03"),
    # New York 2024-11-03: 02:00 EDT became 01:00 EST at 06:00 UTC; T01 twice.
    pytest.param("America/New_York", utc(2024, 11, 3, 4, 59, 59), "2024-11-03T00", id="ny-f-00"),
    pytest.param("America/New_York", utc(2024, 11, 3, 5), "2024-11-03T01", id="ny-f-01-edt"),
    pytest.param("America/New_York", utc(2024, 11, 3, 6), "2024-11-03T01", id="ny-f-01-est"),
    pytest.param("America/New_York", utc(2024, 11, 3, 6, 59, 59), "2024-11-03T01", id="ny-f-end"),
    pytest.param("America/New_York", utc(2024, 11, 3, 7), "2024-11-03T02", id="ny-f-02"),
    # Lord Howe 2024-04-06 15:00 UTC: 02:00 (+11) of the 7th became 01:30
    # (+10:30), so T01 lasts 90 minutes.
    pytest.param("Australia/Lord_Howe", utc(2024, 4, 6, 14), "2024-04-07T01", id="lh-apr-01"),
    pytest.param("Australia/Lord_Howe", utc(2024, 4, 6, 15), "2024-04-07T01", id="lh-apr-0130"),
    pytest.param(
        "Australia/Lord_Howe", utc(2024, 4, 6, 15, 29, 59), "2024-04-07T01", id="lh-apr-end"
    ),
    pytest.param("Australia/Lord_Howe", utc(2024, 4, 6, 15, 30), "2024-04-07T02", id="lh-apr-02"),
    # Lord Howe 2024-10-05 15:30 UTC: 02:00 (+10:30) of the 6th became 02:30
    # (+11), so T02 lasts 30 minutes.
    pytest.param(
        "Australia/Lord_Howe", utc(2024, 10, 5, 15, 29, 59), "2024-10-06T01", id="lh-oct-01"
    ),
    pytest.param("Australia/Lord_Howe", utc(2024, 10, 5, 15, 30), "2024-10-06T02", id="lh-oct-02"),
    pytest.param(
        "Australia/Lord_Howe", utc(2024, 10, 5, 15, 59, 59), "2024-10-06T02", id="lh-oct-end"
    ),
    pytest.param("Australia/Lord_Howe", utc(2024, 10, 5, 16), "2024-10-06T03", id="lh-oct-03"),
    # The supported range's edges; New York had LMT -4:56:02 then.
    pytest.param("UTC", utc(2, 1, 1), "0002-01-01T00", id="min-utc"),
    pytest.param("America/New_York", utc(2, 1, 1), "0001-12-31T19", id="min-ny"),
    pytest.param("UTC", utc(9999, 1, 1) - 1, "9998-12-31T23", id="max-utc"),
]


@pytest.mark.parametrize(("tz", "timestamp", "expected"), HOUR_CASES)
def test_hour_bucket_is_the_local_date_and_hour(tz: str, timestamp: float, expected: str) -> None:
    assert HourRollup(tz).bucket(timestamp, NO_VISIT) == expected


def _minutes_per_hour(tz: str, first: float, last: float) -> Counter[str]:
    rollup = HourRollup(tz)
    return Counter(rollup.bucket(first + 60 * n, NO_VISIT) for n in range(int(last - first) // 60))


@pytest.mark.parametrize(
    ("tz", "day", "longer", "missing"),
    [
        pytest.param("America/New_York", (2024, 3, 10), {}, ["T02"], id="ny-spring"),
        pytest.param("America/New_York", (2024, 11, 3), {"T01": 120}, [], id="ny-fall"),
        pytest.param("Australia/Lord_Howe", (2024, 4, 7), {"T01": 90}, [], id="lh-april"),
        pytest.param("Australia/Lord_Howe", (2024, 10, 6), {"T02": 30}, [], id="lh-october"),
        pytest.param("Europe/London", (2024, 7, 1), {}, [], id="no-change"),
    ],
)
def test_hours_of_a_day_with_a_clock_change(
    tz: str, day: tuple[int, int, int], longer: dict[str, int], missing: list[str]
) -> None:
    zone = ZoneInfo(tz)
    first = datetime(*day, tzinfo=zone)
    minutes = _minutes_per_hour(
        tz, first.timestamp(), (first + timedelta(days=1)).replace(tzinfo=zone).timestamp()
    )
    date = first.date().isoformat()
    expected = {f"{date}T{hour:02d}": 60 for hour in range(24)}
    for hour in missing:
        del expected[date + hour]
    expected |= {date + hour: length for hour, length in longer.items()}
    assert minutes == expected


def _reading(timestamp: float, zone: ZoneInfo) -> tuple[str, timedelta | None]:
    local = datetime.fromtimestamp(timestamp, zone)
    return local.strftime("%Y-%m-%dT%H"), local.utcoffset()


@pytest.mark.parametrize(
    ("tz", "around"),
    [
        pytest.param("America/New_York", utc(2024, 3, 10, 7), id="ny-spring"),
        pytest.param("America/New_York", utc(2024, 11, 3, 6), id="ny-fall"),
        pytest.param("Australia/Lord_Howe", utc(2024, 4, 6, 15), id="lh-april"),
        pytest.param("Australia/Lord_Howe", utc(2024, 10, 5, 15, 30), id="lh-october"),
        pytest.param("America/St_Johns", utc(2010, 11, 7, 2, 31), id="stj-back-over-midnight"),
        pytest.param("Antarctica/Casey", utc(2010, 3, 4, 15), id="casey-back-3-hours"),
        pytest.param("America/Toronto", utc(1919, 3, 31, 4, 30), id="toronto-skips-midnight"),
        pytest.param("America/New_York", utc(1883, 11, 18, 17), id="ny-lmt-to-est"),
        pytest.param("Asia/Kathmandu", utc(1986, 1, 1), id="ktm-0530-to-0545"),
    ],
)
def test_hour_periods_agree_with_the_local_clock(tz: str, around: float) -> None:
    # Oracle: datetime's own reading of the local clock, sampled every 61 s.
    zone = ZoneInfo(tz)
    rollup = HourRollup(tz)
    for step in range(-6 * 60, 6 * 60):
        timestamp = around + step * 61 + 0.25
        start, end, bucket = rollup.period(timestamp)
        reading = _reading(timestamp, zone)
        assert bucket == reading[0]
        assert start <= timestamp < end
        assert start == int(start)
        assert end == int(end)
        # The whole period reads this hour at one offset...
        assert _reading(start, zone) == reading == _reading(end - 1, zone)
        # ...and is as long as that lasts.
        assert _reading_begins(start, zone)
        assert _reading_begins(end, zone)


def _reading_begins(timestamp: float, zone: ZoneInfo) -> bool:
    """Whether an hour begins on the local clock at ``timestamp``, or the offset changes."""
    local = datetime.fromtimestamp(timestamp, zone)
    changed = _reading(timestamp - 1, zone)[1] != local.utcoffset()
    return (local.minute, local.second) == (0, 0) or changed


def _by_zone(cases: list[Any]) -> dict[str, list[tuple[float, str]]]:
    zones: dict[str, list[tuple[float, str]]] = {}
    for case in cases:
        tz, timestamp, expected = case.values
        zones.setdefault(tz, []).append((timestamp, expected))
    return zones


@pytest.mark.parametrize("order", ["ascending", "descending", "shuffled", "alternating"])
@pytest.mark.parametrize(
    "make",
    [
        pytest.param(HourRollup, id="hour"),
        pytest.param(DayRollup, id="day"),
        pytest.param(MonthRollup, id="month"),
    ],
)
def test_one_rollup_fed_in_any_order_gives_the_table_buckets(
    order: str, make: Callable[[str], Rollup]
) -> None:
    # One instance per zone sees every case, so the cached periods are
    # crossed in every direction: each answer must still be the table's.
    cases = {DayRollup: DAY_CASES, MonthRollup: MONTH_CASES, HourRollup: HOUR_CASES}[make]
    for tz, expected in _by_zone(cases).items():
        events = sorted(expected)
        if order == "descending":
            events.reverse()
        elif order == "shuffled":
            random.Random(3).shuffle(events)
        elif order == "alternating":
            events = [e for pair in zip(events, events[::-1], strict=True) for e in pair]
        rollup = make(tz)
        assert [rollup.bucket(ts, NO_VISIT) for ts, _ in events] == [b for _, b in events]


def test_week_rollup_fed_in_any_order_gives_the_table_buckets() -> None:
    cases: list[Any] = [case.values for case in WEEK_CASES]
    for first_weekday in (0, 6):
        for tz in ("UTC", "Europe/London", "America/New_York"):
            events = [(ts, b) for z, f, ts, b in cases if (z, f) == (tz, first_weekday)]
            rollup = WeekRollup(tz, first_weekday)
            for sequence in (events, events[::-1], events + events):
                assert [rollup.bucket(ts, NO_VISIT) for ts, _ in sequence] == [
                    b for _, b in sequence
                ]


def test_jitter_across_midnight_keeps_both_days() -> None:
    # Slightly out-of-order events around local midnight (London, BST).
    rollup = DayRollup("Europe/London")
    before, after = utc(2024, 6, 1, 22, 59, 59), utc(2024, 6, 1, 23)
    events = [before, after, before, after, after, before, after + 86400, before]
    expected = ["01", "02", "01", "02", "02", "01", "03", "01"]
    assert [rollup.bucket(ts, NO_VISIT) for ts in events] == [f"2024-06-{d}" for d in expected]


@pytest.mark.parametrize(
    "timestamp",
    [
        pytest.param(math.nan, id="nan"),
        pytest.param(math.inf, id="inf"),
        pytest.param(-math.inf, id="-inf"),
        pytest.param(1e300, id="huge"),
        pytest.param(-1e300, id="-huge"),
        pytest.param(utc(1, 6, 1), id="year-1"),
        pytest.param(utc(2, 1, 1) - 1, id="just-before-min"),
        pytest.param(utc(9999, 1, 1), id="max"),
    ],
)
@pytest.mark.parametrize("make", [HourRollup, DayRollup, WeekRollup, MonthRollup])
def test_out_of_range_timestamps_are_refused(
    timestamp: float, make: Callable[[str], Rollup]
) -> None:
    rollup = make("Europe/London")
    rollup.bucket(utc(2024, 1, 1), NO_VISIT)  # a cached period must not hide the error
    with pytest.raises(ValueError, match="out of range"):
        rollup.bucket(timestamp, NO_VISIT)


@pytest.mark.parametrize(
    "tz",
    [
        pytest.param("Nowhere/Atlantis", id="unknown"),
        pytest.param("utc", id="wrong-case"),
        pytest.param("America", id="directory"),
        pytest.param("", id="empty"),
        pytest.param("../etc/passwd", id="escaping"),
        pytest.param("/etc/localtime", id="absolute"),
        pytest.param(5, id="not-a-string"),
    ],
)
@pytest.mark.parametrize("make", [HourRollup, DayRollup, WeekRollup, MonthRollup])
def test_bad_time_zones_are_refused_by_name(tz: str, make: Callable[[str], Rollup]) -> None:
    with pytest.raises(ValueError, match="unknown time zone") as error:
        make(tz)
    assert repr(tz) in str(error.value)


@pytest.mark.parametrize("first_weekday", [-1, 7, True, 6.0, "6", None])
def test_bad_first_weekdays_are_refused(first_weekday: object) -> None:
    with pytest.raises(ValueError, match="first weekday"):
        WeekRollup("UTC", first_weekday)  # type: ignore[arg-type]


def test_time_rollups_are_rollups_by_the_event_time() -> None:
    week = WeekRollup("Europe/Paris", 0)
    assert (week.name, week.tz, week.first_weekday) == ("week", "Europe/Paris", 0)
    rollups = (
        (HourRollup(), "hour"),
        (DayRollup(), "day"),
        (week, "week"),
        (MonthRollup(), "month"),
    )
    for rollup, name in rollups:
        assert isinstance(rollup, Rollup)
        assert (rollup.name, rollup.per_visitor) == (name, False)
    assert WeekRollup().bucket(utc(2024, 3, 31, 12), NO_VISIT) == "2024-03-31"  # Sunday
    assert DayRollup().tz == "UTC"


class CountingHour(HourRollup):
    """The hour rollup, counting how often its periods are worked out."""

    def __init__(self, tz: str) -> None:
        super().__init__(tz)
        self.worked_out = 0

    def _period(self, timestamp: float) -> tuple[float, float, str]:
        self.worked_out += 1
        return super()._period(timestamp)


def test_the_hour_rollup_costs_one_call_per_hour_in_the_aggregators_machinery() -> None:
    hour = CountingHour("America/New_York")
    assert isinstance(hour, PeriodicRollup)
    timed = TimedBuckets([hour, DayRollup("America/New_York")])
    # Every 10 s over the fall-back night: 00:00 EDT to 03:00 EST, four hours of readings.
    start = utc(2024, 11, 3, 4)
    buckets = [timed.buckets(start + 10 * n, NO_VISIT) for n in range(4 * 360)]
    assert hour.worked_out == 4
    assert sorted(Counter(buckets).items()) == [
        (("2024-11-03T00", "2024-11-03"), 360),
        (("2024-11-03T01", "2024-11-03"), 720),
        (("2024-11-03T02", "2024-11-03"), 360),
    ]
