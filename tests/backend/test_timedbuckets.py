"""TimedBuckets: periodic rollups are asked once per period, others once per event."""

from __future__ import annotations

from manhattan.backend.model import NO_VISIT, PeriodicRollup, Visit
from manhattan.backend.rollups import AllRollup, BrowserRollup, DayRollup, MonthRollup
from manhattan.backend.timedbuckets import TimedBuckets

DAY = 86400.0
T = 1_700_006_400.0  # 2023-11-15 00:00 UTC


class CountingDay(DayRollup):
    """The day rollup, counting how often it is asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def period(self, timestamp: float) -> tuple[float, float, str]:
        self.asked += 1
        return super().period(timestamp)


class Hourly:
    """A timed rollup without periods."""

    name = "hour"
    per_visitor = False

    def __init__(self) -> None:
        self.asked = 0

    def bucket(self, timestamp: float, visit: Visit) -> str:
        self.asked += 1
        return str(int(timestamp // 3600))


class HourlyWithAPeriodSetting(Hourly):
    """A rollup whose "period" is a setting, not the protocol's method."""

    period = "hourly"


def test_the_built_in_time_rollups_are_periodic_and_the_others_not() -> None:
    assert isinstance(DayRollup(), PeriodicRollup)
    assert isinstance(MonthRollup(), PeriodicRollup)
    assert not isinstance(BrowserRollup(), PeriodicRollup)
    assert not isinstance(Hourly(), PeriodicRollup)


def test_periodic_rollups_are_asked_once_per_period_and_give_one_tuple() -> None:
    day = CountingDay()
    timed = TimedBuckets([AllRollup(), day, BrowserRollup()])
    first = timed.buckets(T + 10, NO_VISIT)
    later = timed.buckets(T + DAY - 1, NO_VISIT)
    assert first is later
    assert first == ("2023-11-15",)
    assert timed.indexes == [1]  # all and browser are per visitor
    assert day.asked == 1
    assert timed.buckets(T + DAY, NO_VISIT) == ("2023-11-16",)
    assert day.asked == 2


def test_one_rollup_without_periods_has_every_rollup_asked_each_event() -> None:
    day, hourly = CountingDay(), Hourly()
    timed = TimedBuckets([day, hourly])
    buckets = [timed.buckets(T + seconds, NO_VISIT) for seconds in (1, 2, 3)]
    assert buckets == [("2023-11-15", str(int(T // 3600)))] * 3
    assert hourly.asked == 3
    assert day.asked == 3  # through bucket(), which a DayRollup answers by period()


def test_a_period_attribute_that_is_no_method_is_not_taken_for_one() -> None:
    hourly = HourlyWithAPeriodSetting()
    timed = TimedBuckets([hourly])
    assert timed.buckets(T, NO_VISIT) == timed.buckets(T + 1, NO_VISIT)
    assert hourly.asked == 2
