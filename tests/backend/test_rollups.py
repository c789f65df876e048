"""Tests of manhattan.backend.rollups.

Expected buckets are computed by hand from the zones' rules (checked against
``zdump -v``): e.g. Europe/London moved from GMT to BST at 2024-03-31 01:00
UTC, so that local day ran from 00:00 to 23:00 UTC.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from manhattan.backend import rollups
from manhattan.backend.model import NO_VISIT, Rollup, Visit
from manhattan.backend.rollups import (
    AllRollup,
    BrowserRollup,
    BrowserVersionRollup,
    DayRollup,
    FunctionRollup,
    MonthRollup,
    NetworkRollup,
    ReferrerRollup,
    UserAgentInfo,
    WeekRollup,
    build_rollups,
    default_rollups,
    is_crawler,
    load_rollup,
    referrer_host,
    user_agent_info,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    """The timestamp of a UTC date and time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


# --- helpers named by dotted path below ------------------------------------


def country_header(timestamp: float, visit: Visit) -> str:
    """A user rollup: the country a CDN put in a recorded header."""
    return visit.headers.get("CF-IPCountry", "??")


def not_a_string(timestamp: float, visit: Visit) -> str:
    return 42  # type: ignore[return-value]


class PathRollup:
    """A user Rollup class: the first path segment of the landing page."""

    name = "landing"
    per_visitor = True

    def bucket(self, timestamp: float, visit: Visit) -> str:
        return visit.url.split("/")[3] if visit.url.count("/") >= 3 else ""


class Holder:
    country = staticmethod(country_header)


class FailingRollup:
    name = "failing"
    per_visitor = True

    def __init__(self) -> None:
        raise RuntimeError("no config")

    def bucket(self, timestamp: float, visit: Visit) -> str:
        raise NotImplementedError


NOT_A_ROLLUP = 42
HERE = __name__


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


def _by_zone(cases: list[Any]) -> dict[str, list[tuple[float, str]]]:
    zones: dict[str, list[tuple[float, str]]] = {}
    for case in cases:
        tz, timestamp, expected = case.values
        zones.setdefault(tz, []).append((timestamp, expected))
    return zones


@pytest.mark.parametrize("order", ["ascending", "descending", "shuffled", "alternating"])
@pytest.mark.parametrize(
    "make", [pytest.param(DayRollup, id="day"), pytest.param(MonthRollup, id="month")]
)
def test_one_rollup_fed_in_any_order_gives_the_table_buckets(
    order: str, make: Callable[[str], Rollup]
) -> None:
    # One instance per zone sees every case, so the cached periods are
    # crossed in every direction: each answer must still be the table's.
    cases = DAY_CASES if make is DayRollup else MONTH_CASES
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
@pytest.mark.parametrize("make", [DayRollup, WeekRollup, MonthRollup])
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
@pytest.mark.parametrize("make", [DayRollup, WeekRollup, MonthRollup])
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
    for rollup, name in ((DayRollup(), "day"), (week, "week"), (MonthRollup(), "month")):
        assert isinstance(rollup, Rollup)
        assert (rollup.name, rollup.per_visitor) == (name, False)
    assert WeekRollup().bucket(utc(2024, 3, 31, 12), NO_VISIT) == "2024-03-31"  # Sunday
    assert DayRollup().tz == "UTC"


# --- all -------------------------------------------------------------------


def test_all_rollup_has_one_bucket() -> None:
    rollup = AllRollup()
    assert isinstance(rollup, Rollup)
    assert (rollup.name, rollup.per_visitor) == ("all", True)
    assert rollup.bucket(0.0, NO_VISIT) == "0"
    assert rollup.bucket(utc(2024, 5, 5), Visit(url="http://a/", ip="1.2.3.4")) == "0"


# --- user agents -----------------------------------------------------------

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1"
)
USER_AGENTS = [
    pytest.param(CHROME, "Chrome", "Chrome 120", False, id="chrome-desktop"),
    pytest.param(IPHONE, "Mobile Safari", "Mobile Safari 17", False, id="safari-iphone"),
    pytest.param(
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Firefox",
        "Firefox 121",
        False,
        id="firefox-linux",
    ),
    pytest.param(CHROME + " Edg/120.0.2210.91", "Edge", "Edge 120", False, id="edge-not-chrome"),
    pytest.param(
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Googlebot",
        "Googlebot 2",
        True,
        id="googlebot",
    ),
    pytest.param(
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html) Chrome/120.0.6099.216 Safari/537.36",
        "Googlebot",
        "Googlebot 2",
        True,
        id="googlebot-smartphone-chrome",
    ),
    pytest.param(
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "bingbot",
        "bingbot 2",
        True,
        id="bingbot",
    ),
    # Tools, not crawlers: the pixel rule filters them.
    pytest.param("curl/8.5.0", "curl", "curl 8", False, id="curl"),
    pytest.param("", "Other", "Other", False, id="empty"),
    pytest.param("garbage", "Other", "Other", False, id="unknown"),
]


@pytest.mark.parametrize(("user_agent", "browser", "version", "crawler"), USER_AGENTS)
def test_user_agents_are_parsed_by_ua_parser(
    user_agent: str, browser: str, version: str, crawler: bool
) -> None:
    assert user_agent_info(user_agent) == UserAgentInfo(browser, version, crawler)
    assert is_crawler(user_agent) is crawler
    visit = Visit(user_agent=user_agent)
    assert BrowserRollup().bucket(0.0, visit) == browser
    assert BrowserVersionRollup().bucket(0.0, visit) == version


def test_browser_rollups_are_per_visitor_rollups() -> None:
    for rollup, name in (
        (BrowserRollup(), "browser"),
        (BrowserVersionRollup(), "browser_version"),
    ):
        assert isinstance(rollup, Rollup)
        assert (rollup.name, rollup.per_visitor) == (name, True)


def test_user_agent_cache_is_shared_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []
    real = rollups._parse_user_agent

    def counting(user_agent: str) -> UserAgentInfo:
        parsed.append(user_agent)
        return real(user_agent)

    monkeypatch.setattr(rollups, "_parse_user_agent", counting)
    monkeypatch.setattr(rollups, "_ua_cache", {})
    monkeypatch.setattr(rollups, "UA_CACHE_SIZE", 3)
    first = user_agent_info(CHROME)
    assert user_agent_info(CHROME) is first  # cached: the same object
    assert is_crawler(CHROME) is False
    assert BrowserRollup().bucket(0.0, Visit(user_agent=CHROME)) == "Chrome"
    assert parsed == [CHROME]
    user_agent_info("a")
    user_agent_info("b")  # the cache is full now: CHROME, a, b
    assert user_agent_info(CHROME) is first
    user_agent_info("c")  # clears it
    assert len(rollups._ua_cache) == 1
    assert user_agent_info(CHROME) == first
    assert parsed == [CHROME, "a", "b", "c", CHROME]


# --- referrers -------------------------------------------------------------

REFERRERS = [
    pytest.param("", "direct", id="empty"),
    pytest.param("  ", "direct", id="blank"),
    pytest.param("https://www.google.com/search?q=x", "google.com", id="www-stripped"),
    pytest.param("http://News.YCombinator.com/item?id=1", "news.ycombinator.com", id="lower"),
    pytest.param("https://www.com/", "www.com", id="www-is-the-name"),
    pytest.param("http://www./", "www", id="www-dot-only"),
    pytest.param("http://Example.COM./path", "example.com", id="trailing-dot"),
    pytest.param("http://user:pw@www.example.org:8443/x", "example.org", id="userinfo-port"),
    pytest.param("http://[2001:db8::1]:8080/", "2001:db8::1", id="ipv6"),
    pytest.param("http://203.0.113.7/", "203.0.113.7", id="ipv4"),
    pytest.param("android-app://com.google.android.gm/", "com.google.android.gm", id="app"),
    pytest.param("//example.com/x", "example.com", id="scheme-relative"),
    pytest.param(" https://example.com/ ", "example.com", id="spaces-around"),
    pytest.param("http://bücher.de/", "xn--bcher-kva.de", id="idn-to-punycode"),
    pytest.param("http://xn--bcher-kva.de/", "xn--bcher-kva.de", id="punycode"),
    pytest.param("example.com/page", "(invalid)", id="no-scheme"),
    pytest.param("about:blank", "(invalid)", id="no-host"),
    pytest.param("http:///path", "(invalid)", id="empty-host"),
    pytest.param("http://[bad/", "(invalid)", id="bad-ipv6"),
    pytest.param("http://exa mple.com/", "(invalid)", id="space-in-host"),
    pytest.param("http://" + "a" * 250 + ".com/", "(invalid)", id="too-long"),
    pytest.param("http://\u2100.com/", "(invalid)", id="nfkc-slash"),
    pytest.param("http://" + "ü" * 70 + ".de/", "(invalid)", id="idna-label-too-long"),
]


@pytest.mark.parametrize(("referrer", "expected"), REFERRERS)
def test_referrer_bucket_is_the_referring_host(referrer: str, expected: str) -> None:
    assert referrer_host(referrer) == expected
    assert ReferrerRollup().bucket(0.0, Visit(referrer=referrer)) == expected


def test_referrer_rollup_is_per_visitor() -> None:
    rollup = ReferrerRollup()
    assert isinstance(rollup, Rollup)
    assert (rollup.name, rollup.per_visitor) == ("referrer", True)


# --- networks --------------------------------------------------------------

OFFICE_MAP = {
    "office": "198.51.100.0/24",
    "vpn": ["10.8.0.0/16", "2001:db8:8::/48"],
    "lan": ("10.0.0.0/8", "192.168.0.0/16"),
    "office-wide": "198.51.0.0/16",  # after "office": never wins over it
    "copy": "10.8.0.0/16",  # listed again: "vpn" came first
}
NETWORKS = [
    pytest.param(None, "203.0.113.9", "203.0.113.0/24", id="ipv4-24"),
    pytest.param(None, " 203.0.113.9 ", "203.0.113.0/24", id="spaces"),
    pytest.param(None, "203.0.113.255", "203.0.113.0/24", id="ipv4-last"),
    pytest.param(None, "2001:db8:abcd:12::1", "2001:db8:abcd::/48", id="ipv6-48"),
    pytest.param(None, "fe80::1%eth0", "fe80::/48", id="ipv6-scoped"),
    pytest.param(None, "::ffff:203.0.113.9", "203.0.113.0/24", id="ipv4-mapped"),
    pytest.param(None, "", "unknown", id="empty"),
    pytest.param(None, "1.2.3", "unknown", id="short"),
    pytest.param(None, "localhost", "unknown", id="name"),
    pytest.param(OFFICE_MAP, "198.51.100.20", "office", id="named"),
    pytest.param(OFFICE_MAP, "198.51.7.1", "office-wide", id="wider"),
    pytest.param(OFFICE_MAP, "10.8.3.4", "vpn", id="first-of-list"),
    pytest.param(OFFICE_MAP, "10.9.3.4", "lan", id="tuple"),
    pytest.param(OFFICE_MAP, "192.168.1.1", "lan", id="second-of-tuple"),
    pytest.param(OFFICE_MAP, "::ffff:10.8.0.1", "vpn", id="mapped-named"),
    pytest.param(OFFICE_MAP, "2001:db8:8:1::5", "vpn", id="ipv6-named"),
    pytest.param(OFFICE_MAP, "2001:db8:9::5", "2001:db8:9::/48", id="ipv6-unnamed"),
    pytest.param(OFFICE_MAP, "203.0.113.9", "203.0.113.0/24", id="unnamed"),
    pytest.param({"lan": "10.0.0.0/8", "vpn": "10.8.0.0/16"}, "10.8.0.1", "lan", id="order"),
    pytest.param({"all": "0.0.0.0/0"}, "203.0.113.9", "all", id="v4-everything"),
    pytest.param({"all": "0.0.0.0/0"}, "2001:db8::1", "2001:db8::/48", id="v6-not-in-v4"),
    pytest.param({"host": "203.0.113.9/32"}, "203.0.113.9", "host", id="host-route"),
    pytest.param({"host": "203.0.113.9"}, "203.0.113.8", "203.0.113.0/24", id="host-miss"),
    pytest.param({}, "203.0.113.9", "203.0.113.0/24", id="empty-map"),
]


@pytest.mark.parametrize(("networks", "ip", "expected"), NETWORKS)
def test_network_bucket(networks: dict[str, str] | None, ip: str, expected: str) -> None:
    rollup = NetworkRollup(networks)
    assert isinstance(rollup, Rollup)
    assert (rollup.name, rollup.per_visitor) == ("network", True)
    assert rollup.bucket(0.0, Visit(ip=ip)) == expected


@pytest.mark.parametrize(
    ("networks", "message"),
    [
        pytest.param(["10.0.0.0/8"], "must map names", id="not-a-mapping"),
        pytest.param({"": "10.0.0.0/8"}, "non-empty strings", id="empty-name"),
        pytest.param({5: "10.0.0.0/8"}, "non-empty strings", id="int-name"),
        pytest.param({"lan": []}, "'lan': expected a CIDR or a list", id="empty-list"),
        pytest.param({"lan": 5}, "'lan': expected a CIDR or a list", id="int"),
        pytest.param({"lan": "10.0.0.1/8"}, "'lan': bad CIDR '10.0.0.1/8'", id="host-bits"),
        pytest.param({"lan": "10.0.0.0/33"}, "'lan': bad CIDR", id="prefix-too-long"),
        pytest.param({"lan": "nonsense"}, "'lan': bad CIDR 'nonsense'", id="nonsense"),
        pytest.param({"lan": ["10.0.0.0/8", 5]}, "'lan': bad CIDR 5", id="int-in-list"),
        pytest.param({"lan": [None]}, "'lan': bad CIDR None", id="none-in-list"),
    ],
)
def test_bad_network_maps_are_refused(networks: object, message: str) -> None:
    with pytest.raises(ValueError, match="network") as error:
        NetworkRollup(networks)  # type: ignore[arg-type]
    assert message in str(error.value)


# --- user rollups ----------------------------------------------------------


def test_function_rollup_calls_the_function_with_time_and_visit() -> None:
    seen: list[tuple[float, Visit]] = []

    def hour(timestamp: float, visit: Visit) -> str:
        seen.append((timestamp, visit))
        return str(int(timestamp // 3600) % 24)

    rollup = FunctionRollup("hour", hour)
    assert isinstance(rollup, Rollup)
    assert (rollup.name, rollup.per_visitor, rollup.func) == ("hour", False, hour)
    visit = Visit(url="http://shop/", ip="203.0.113.9")
    assert rollup.bucket(utc(2024, 1, 1, 13, 5), visit) == "13"
    assert seen == [(utc(2024, 1, 1, 13, 5), visit)]
    assert FunctionRollup("c", country_header, per_visitor=True).per_visitor is True


def test_function_rollup_refuses_non_string_buckets() -> None:
    rollup = FunctionRollup("answer", not_a_string)
    with pytest.raises(TypeError, match=r"rollup 'answer'.*returned int 42, not a str"):
        rollup.bucket(0.0, NO_VISIT)


@pytest.mark.parametrize(
    ("name", "func", "message"),
    [
        pytest.param("", country_header, "non-empty strings", id="empty-name"),
        pytest.param(None, country_header, "non-empty strings", id="no-name"),
        pytest.param("x", "country_header", "not callable", id="not-callable"),
    ],
)
def test_function_rollup_checks_its_arguments(name: object, func: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FunctionRollup(name, func)  # type: ignore[arg-type]


def test_load_rollup_returns_rollups_as_they_are() -> None:
    rollup = DayRollup("Europe/Paris")
    assert load_rollup(rollup) is rollup
    assert load_rollup(rollup, "day") is rollup
    with pytest.raises(ValueError, match="is named 'day', not 'today'"):
        load_rollup(rollup, "today")


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(f"{HERE}:country_header", id="colon"),
        pytest.param(f"{HERE}.country_header", id="dotted"),
        pytest.param(f"{HERE}:Holder.country", id="nested-attribute"),
        pytest.param(f" {HERE}:country_header ", id="spaces"),
    ],
)
def test_load_rollup_imports_a_function_by_dotted_path(path: str) -> None:
    rollup = load_rollup(path, "country")
    assert isinstance(rollup, FunctionRollup)
    assert (rollup.name, rollup.per_visitor) == ("country", False)
    visit = Visit(url="http://shop/", headers={"CF-IPCountry": "NZ"})
    assert rollup.bucket(0.0, visit) == "NZ"
    assert rollup.bucket(0.0, NO_VISIT) == "??"


def test_load_rollup_wraps_a_callable() -> None:
    rollup = load_rollup(country_header, "country")
    assert isinstance(rollup, FunctionRollup)
    assert rollup.bucket(0.0, Visit(headers={"CF-IPCountry": "FR"})) == "FR"


def test_load_rollup_instantiates_a_rollup_class() -> None:
    for spec in (f"{HERE}:PathRollup", PathRollup):
        rollup = load_rollup(spec)
        assert isinstance(rollup, PathRollup)
        assert rollup.bucket(0.0, Visit(url="http://shop.example/sale/shoes")) == "sale"
    assert isinstance(load_rollup("manhattan.backend.rollups:DayRollup"), DayRollup)
    assert load_rollup(PathRollup, "landing").name == "landing"


@pytest.mark.parametrize(
    ("spec", "name", "message"),
    [
        pytest.param(f"{HERE}:country_header", None, "needs a name", id="function-no-name"),
        pytest.param(country_header, None, "needs a name", id="callable-no-name"),
        pytest.param("nodots", "x", "not a dotted path", id="no-dots"),
        pytest.param(":thing", "x", "not a dotted path", id="no-module"),
        pytest.param(f"{HERE}:", "x", "not a dotted path", id="no-attribute"),
        pytest.param("no_such_module_xyz:thing", "x", "cannot import", id="no-module-found"),
        pytest.param(f"{HERE}:missing", "x", "has no attribute 'missing'", id="no-attr"),
        pytest.param(f"{HERE}:Holder.missing", "x", "no attribute 'Holder.missing'", id="deep"),
        pytest.param(f"{HERE}:NOT_A_ROLLUP", "x", "neither a Rollup nor", id="int"),
        pytest.param(42, "x", "neither a Rollup nor", id="not-a-spec"),
        pytest.param(f"{HERE}:FailingRollup", None, "cannot instantiate: no config", id="init"),
        pytest.param(f"{HERE}:PathRollup", "other", "named 'landing', not 'other'", id="renamed"),
    ],
)
def test_load_rollup_refuses_what_it_cannot_use(
    spec: object, name: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match="rollup") as error:
        load_rollup(spec, name)  # type: ignore[arg-type]
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        pytest.param({"name": ""}, "name must be a non-empty string", id="empty-name"),
        pytest.param({"name": 5}, "name must be a non-empty string", id="int-name"),
        pytest.param({"per_visitor": "yes"}, "per_visitor must be a bool", id="per-visitor"),
    ],
)
def test_load_rollup_checks_rollup_attributes(attributes: dict[str, object], message: str) -> None:
    rollup = PathRollup()
    for key, value in attributes.items():
        setattr(rollup, key, value)
    with pytest.raises(ValueError, match=message):
        load_rollup(rollup)


def test_load_rollup_reports_a_module_failing_on_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_rollup_module.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="cannot import 'broken_rollup_module': boom"):
        load_rollup("broken_rollup_module:rollup", "x")


# --- configuration ---------------------------------------------------------

ALL_NAMES = ["all", "day", "week", "month", "browser", "browser_version", "referrer", "network"]


def test_default_rollups_are_every_built_in_in_order() -> None:
    made = default_rollups("America/New_York", 0)
    assert [rollup.name for rollup in made] == ALL_NAMES
    assert all(isinstance(rollup, Rollup) for rollup in made)
    day, week, month = made[1:4]
    assert isinstance(day, DayRollup)
    assert isinstance(week, WeekRollup)
    assert isinstance(month, MonthRollup)
    assert (day.tz, week.tz, month.tz, week.first_weekday) == (("America/New_York",) * 3 + (0,))
    # 2024-03-31 03:30 UTC is Saturday 23:30 in New York: a Monday-start week.
    assert week.bucket(utc(2024, 3, 31, 3, 30), NO_VISIT) == "2024-03-25"
    assert [r.name for r in default_rollups()] == ALL_NAMES
    assert default_rollups()[2].first_weekday == 6  # type: ignore[attr-defined]


def test_build_rollups_from_built_in_names() -> None:
    made = build_rollups(["day", "week", "browser"], tz="Europe/London", first_weekday=0)
    assert [rollup.name for rollup in made] == ["all", "day", "week", "browser"]
    assert isinstance(made[0], AllRollup)
    assert made[1].bucket(utc(2024, 3, 31, 23), NO_VISIT) == "2024-04-01"  # BST midnight
    assert made[2].bucket(utc(2024, 3, 31, 12), NO_VISIT) == "2024-03-25"  # Monday start
    assert [r.name for r in build_rollups(ALL_NAMES)] == ALL_NAMES
    assert [r.name for r in build_rollups(["day", "all"])] == ["day", "all"]
    assert [r.name for r in build_rollups([])] == ["all"]


def test_build_rollups_from_a_mapping_with_user_rollups() -> None:
    made = build_rollups(
        {
            "day": "day",
            "country": f"{HERE}:country_header",
            "landing": f"{HERE}:PathRollup",
            "hour": lambda ts, visit: "12",
        }
    )
    assert [rollup.name for rollup in made] == ["all", "day", "country", "landing", "hour"]
    assert made[2].bucket(0.0, Visit(headers={"CF-IPCountry": "JP"})) == "JP"
    assert made[3].per_visitor is True


def test_build_rollups_mixes_names_and_objects_in_a_list() -> None:
    mine = PathRollup()
    made = build_rollups(["all", mine, "referrer"])
    assert made[1] is mine
    assert [rollup.name for rollup in made] == ["all", "landing", "referrer"]


def test_a_user_rollup_may_take_the_name_of_an_unused_built_in() -> None:
    (_, browser) = build_rollups({"browser": f"{HERE}:country_header"})
    assert isinstance(browser, FunctionRollup)
    assert browser.bucket(0.0, Visit(user_agent=CHROME, headers={"CF-IPCountry": "DE"})) == "DE"


def test_build_rollups_takes_mappings_in_the_list() -> None:
    made = build_rollups(["day", {"country": f"{HERE}:country_header", "landing": PathRollup}])
    assert [rollup.name for rollup in made] == ["all", "day", "country", "landing"]
    assert made[2].bucket(0.0, Visit(headers={"CF-IPCountry": "BR"})) == "BR"


def test_build_rollups_without_specs_gives_every_built_in() -> None:
    made = build_rollups(tz="Asia/Tokyo", networks={"office": "198.51.100.0/24"})
    assert [rollup.name for rollup in made] == ALL_NAMES
    assert made[1].bucket(utc(2023, 12, 31, 15), NO_VISIT) == "2024-01-01"
    assert made[-1].bucket(0.0, Visit(ip="198.51.100.3")) == "office"


def test_build_rollups_passes_networks_to_the_network_rollup() -> None:
    (_, network) = build_rollups(["network"], networks={"office": "198.51.100.0/24"})
    assert network.bucket(0.0, Visit(ip="198.51.100.3")) == "office"
    assert network.bucket(0.0, Visit(ip="203.0.113.3")) == "203.0.113.0/24"


@pytest.mark.parametrize(
    ("specs", "kwargs", "message"),
    [
        pytest.param(["day", "day"], {}, "'day' is configured twice", id="duplicate"),
        pytest.param(["all", "all"], {}, "'all' is configured twice", id="duplicate-all"),
        pytest.param(
            {"browser": f"{HERE}:country_header", "b": "browser"},
            {},
            "built-in rollup 'browser' cannot be named 'b'",
            id="renamed-built-in",
        ),
        pytest.param(
            ["browser", PathRollup(), PathRollup()],
            {},
            "'landing' is configured twice",
            id="duplicate-user",
        ),
        pytest.param(["daily"], {}, "not a dotted path", id="unknown-name"),
        pytest.param([country_header], {}, "needs a name", id="unnamed-function"),
        pytest.param("day", {}, "must be a list or a mapping, not 'day'", id="string"),
        pytest.param(5, {}, "must be a list or a mapping, not 5", id="int"),
        pytest.param(
            [{"b": "browser"}], {}, "'browser' cannot be named 'b'", id="renamed-in-list"
        ),
        pytest.param(["browser"], {"tz": "Mars/Olympus"}, "'Mars/Olympus'", id="bad-tz"),
        pytest.param(["week"], {"first_weekday": 7}, "first weekday", id="bad-weekday"),
        pytest.param(["network"], {"networks": {"x": "nope"}}, "bad CIDR", id="bad-networks"),
    ],
)
def test_build_rollups_refuses_bad_configurations(
    specs: object, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        build_rollups(specs, **kwargs)  # type: ignore[arg-type]
