"""Live visitors: windows by the wall clock, pruning, the memory bound, and
what the aggregator tells them (human visitors only, per site and all)."""

from __future__ import annotations

import pytest

from manhattan.backend.aggregate import Aggregator
from manhattan.backend.live import (
    FIRST_LIMIT,
    MAX_MINUTES,
    MAX_SKEW,
    LiveVisitors,
    check_minutes,
)
from manhattan.backend.model import QueryError
from tests.backend.test_aggregate import ROLLUPS, goal, page, pixel, split

NOW = 1_800_000_000.0
MINUTE = 60.0


class Clock:
    """A wall clock the test sets."""

    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def brute_force(events: list[tuple[str, int, float]], now: float, minutes: int, site: int | None):
    """The oracle: distinct visitors with an event in the window, straight from the list."""
    cutoff = now - minutes * MINUTE
    return len(
        {
            visitor
            for visitor, at_site, at in events
            if at >= cutoff and (site is None or at_site == site)
        }
    )


def test_counts_distinct_visitors_in_the_window_per_site_and_all() -> None:
    live = LiveVisitors(clock=Clock())
    events = [
        ("a", 1, NOW - 1 * MINUTE),
        ("a", 1, NOW - 2 * MINUTE),  # older than a's latest: kept at the latest
        ("a", 2, NOW - 20 * MINUTE),
        ("b", 1, NOW - 29 * MINUTE),
        ("c", 2, NOW - 31 * MINUTE),
        ("d", 3, NOW - 59 * MINUTE),
        ("e", 1, NOW - 61 * MINUTE),
        ("f", 1, NOW + 5),  # a clock a little ahead: seen now
    ]
    for event in events:
        live.seen(*event)

    for minutes in (1, 5, 20, 30, 31, 45, 60):
        for site in (None, 1, 2, 3, 4):
            assert live.count(minutes, site) == brute_force(events, NOW, minutes, site), (
                minutes,
                site,
            )
    # a is seen on two sites, and counts once for all sites.
    assert (
        live.count() == brute_force(events, NOW, 30, None) < live.count(30, 1) + live.count(30, 2)
    )


def test_the_window_moves_with_the_wall_clock() -> None:
    clock = Clock()
    live = LiveVisitors(clock=clock)
    live.seen("a", 0, NOW)

    assert live.count(30) == 1
    clock.now = NOW + 30 * MINUTE
    assert live.count(30) == 1
    clock.now += 1
    assert live.count(30) == 0
    assert live.count(60) == 1


@pytest.mark.parametrize(
    ("ahead", "live_now"),
    [
        pytest.param(0.0, 1, id="now"),
        pytest.param(MAX_SKEW, 1, id="at-the-skew-allowance"),
        pytest.param(MAX_SKEW + 1, 0, id="just-beyond"),
        pytest.param(86_400.0, 0, id="a-day-ahead"),
    ],
)
def test_an_event_from_the_future_is_no_sign_of_life(ahead: float, live_now: int) -> None:
    clock = Clock()
    live = LiveVisitors(clock=clock)
    live.seen("a", 1, NOW + ahead)

    assert (live.count(30), live.count(30, 1)) == (live_now, live_now)
    # Ignored rather than pinned to its future time: the visitor's real
    # events later keep them live as usual, and the far future never counts.
    live.seen("a", 1, NOW - MINUTE)
    assert live.count(30) == 1
    clock.now = NOW + 31 * MINUTE
    assert live.count(30) == (1 if 0 < ahead <= MAX_SKEW else 0)


def test_the_clock_is_asked_again_once_it_has_caught_up() -> None:
    clock = Clock()
    live = LiveVisitors(clock=clock)
    clock.now = NOW + 3_600
    # An hour on, a time beyond the first horizon is plausible now.
    live.seen("a", 1, NOW + 3_600 + MAX_SKEW / 2)

    assert live.count(30) == 1


def test_a_replay_of_old_events_shows_none() -> None:
    live = LiveVisitors(clock=Clock())
    for number in range(10):
        live.seen(f"v{number}", 0, NOW - 86_400 + number)

    assert live.count(60) == 0


@pytest.mark.parametrize(
    ("minutes", "message"),
    [
        pytest.param(0, "from 1 to 60, not 0", id="zero"),
        pytest.param(61, "from 1 to 60, not 61", id="over-an-hour"),
        pytest.param(-5, "from 1 to 60, not -5", id="negative"),
        pytest.param(2.5, "a whole number, not 2.5", id="float"),
        pytest.param("30", "a whole number, not '30'", id="text"),
        pytest.param(True, "a whole number, not True", id="bool"),
        pytest.param(None, "a whole number, not None", id="none"),
    ],
)
def test_minutes_outside_one_to_sixty_are_refused(minutes: object, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        LiveVisitors().count(minutes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "site_id",
    [pytest.param("1", id="text"), pytest.param(1.0, id="float"), pytest.param(False, id="bool")],
)
def test_a_site_id_that_is_not_a_whole_number_is_refused(site_id: object) -> None:
    with pytest.raises(QueryError, match="site_id as a whole number or None"):
        LiveVisitors().count(30, site_id)  # type: ignore[arg-type]


def test_check_minutes_gives_the_minutes_back() -> None:
    assert [check_minutes(m) for m in (1, 30, MAX_MINUTES)] == [1, 30, 60]


@pytest.mark.parametrize(
    "capacity",
    [pytest.param(0, id="zero"), pytest.param(1.5, id="float"), pytest.param(True, id="bool")],
)
def test_capacity_must_be_a_positive_whole_number(capacity: object) -> None:
    with pytest.raises(ValueError, match="capacity must be a whole number of at least 1"):
        LiveVisitors(capacity=capacity)  # type: ignore[arg-type]


def test_pairs_older_than_the_longest_window_are_pruned() -> None:
    clock = Clock()
    live = LiveVisitors(clock=clock)
    for number in range(FIRST_LIMIT - 1):
        live.seen(f"old{number}", 0, NOW - (MAX_MINUTES + 1) * MINUTE)
    assert len(live) == FIRST_LIMIT - 1

    live.seen("new", 0, NOW)  # reaches the limit: the old ones go

    assert len(live) == 1
    assert live.count(60) == 1


def test_memory_stays_within_capacity_when_everyone_is_recent() -> None:
    capacity = 2000
    live = LiveVisitors(capacity=capacity, clock=Clock())
    seen = 0
    for number in range(10 * capacity):
        live.seen(f"v{number}", number % 3, NOW - 10 * capacity + number)
        seen = max(seen, len(live))

    assert seen <= capacity
    # What is kept is the most recently seen: the last visitor is there.
    assert live.count(60) == len(live) > capacity // 2
    last = 10 * capacity - 1
    assert (f"v{last}", last % 3) in live._seen


def test_a_capacity_of_one_keeps_the_latest_pair() -> None:
    live = LiveVisitors(capacity=1, clock=Clock())
    live.seen("a", 0, NOW - 2)
    live.seen("b", 0, NOW - 1)
    live.seen("c", 0, NOW - 3)  # older than b: b stays the latest

    assert len(live) == 1
    assert live.count(1) == 1


# What the aggregator tells them.


def counted(records: list[list[str]], clock: Clock | None = None) -> LiveVisitors:
    live = LiveVisitors(clock=clock or Clock())
    aggregator = Aggregator(ROLLUPS, is_crawler=lambda agent: "bot" in agent.lower(), live=live)
    aggregator.add_all(records)
    return live


def test_only_visitors_who_loaded_the_pixel_are_live() -> None:
    at = NOW - MINUTE
    live = counted(
        [
            page("human", at),
            pixel("human", at),
            page("no-pixel", at),  # never loads the pixel: a bot
            goal("no-pixel", "Signup", at=at),
            page("crawler", at, ua="Googlebot/2.1"),
            pixel("crawler", at),  # a known crawler: nothing counts, pixel or not
            page("later", at),
            goal("later", "Signup", at=at),
            pixel("later", at + 1),
        ]
    )

    assert live.count() == 2
    assert sorted(visitor for visitor, _ in live._seen) == ["human", "later"]


def test_every_kind_of_event_of_a_human_keeps_them_live() -> None:
    live = counted(
        [
            page("a", NOW - 50 * MINUTE),
            pixel("a", NOW - 50 * MINUTE),
            goal("a", "Signup", at=NOW - 40 * MINUTE),
            split("a", "Button", "red", at=NOW - 20 * MINUTE),
            pixel("a", NOW - 5 * MINUTE),
        ]
    )

    assert live._seen == {("a", 0): NOW - 5 * MINUTE}


def test_live_visitors_per_site_and_all_sites_through_the_aggregator() -> None:
    at = NOW - 10 * MINUTE
    live = counted(
        [
            page("a", at, site="1"),
            pixel("a", at, site="1"),
            page("a", at, site="2"),
            page("b", at, site="2"),
            pixel("b", at, site="2"),
            page("c", NOW - 45 * MINUTE, site="1"),
            pixel("c", NOW - 45 * MINUTE, site="1"),
        ]
    )

    assert [live.count(30, site) for site in (None, 1, 2, 3)] == [2, 1, 2, 0]
    assert [live.count(60, site) for site in (None, 1, 2)] == [3, 2, 2]


def test_an_uncountable_record_does_not_make_its_visitor_live() -> None:
    def failing(timestamp: float, visit: object) -> str:
        raise RuntimeError("rollup broke")

    class Broken:
        name = "broken"
        per_visitor = True
        bucket = staticmethod(failing)

    live = LiveVisitors(clock=Clock())
    aggregator = Aggregator([*ROLLUPS, Broken()], live=live)
    aggregator.add_all([pixel("a", NOW - 5), page("a", NOW)])

    # The pixel made them human (nothing to count); the page could not be counted.
    assert live._seen == {("a", 0): NOW - 5}


def test_an_aggregator_without_live_visitors_counts_as_before() -> None:
    aggregator = Aggregator(ROLLUPS)
    aggregator.add_all([page("a", NOW), pixel("a", NOW)])

    assert aggregator.live is None
    assert aggregator.drain().counts
