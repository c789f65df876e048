"""The aggregation core on hand-checked streams.

Every expected count below was worked out by hand from the rules in
``docs/compat-0.3.md`` and the module docstring of
:mod:`manhattan.backend.aggregate`, not by running the code.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Sequence

import pytest

from manhattan.backend.aggregate import (
    AWAITING_PIXEL,
    BAD_NAME,
    BAD_VALUE,
    CRAWLER,
    HELD_OVERFLOW,
    MALFORMED,
    MAX_HELD,
    UNKNOWN_KIND,
    UNKNOWN_VERSION,
    UNREADABLE_STATE,
    Aggregator,
)
from manhattan.backend.complexgoals import parse_complex_goal
from manhattan.backend.model import ALL_SITES, Batch, CounterKey, Rollup, Visit
from manhattan.backend.rollups import (
    AllRollup,
    BrowserRollup,
    DayRollup,
    MonthRollup,
    WeekRollup,
)

DAY1 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
DAY2 = DAY1 + 86_400  # 2023-11-15


class All:
    name = "all"
    per_visitor = True

    def bucket(self, timestamp: float, visit: Visit) -> str:
        return "0"


class UtcDay:
    name = "day"
    per_visitor = False

    def bucket(self, timestamp: float, visit: Visit) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(timestamp))


class Agent:
    name = "agent"
    per_visitor = True

    def bucket(self, timestamp: float, visit: Visit) -> str:
        return visit.user_agent or "unknown"


ROLLUPS = [All(), UtcDay(), Agent()]


def page(vid: str, at: float = DAY1, site: str = "0", ua: str = "Firefox") -> list[str]:
    return ["1", "page", f"{at:0.4f}", vid, site, "1.2.3.4", "GET", "http://x/", ua, ""]


def pixel(vid: str, at: float = DAY1, site: str = "0") -> list[str]:
    return ["1", "pixel", f"{at:0.4f}", vid, site]


def goal(
    vid: str, name: str, value: str = "", at: float = DAY1, site: str = "0", kind: str = ""
) -> list[str]:
    return ["1", "goal", f"{at:0.4f}", vid, site, name, value, kind, ""]


def split(vid: str, test: str, population: str, at: float = DAY1, site: str = "0") -> list[str]:
    return ["1", "split", f"{at:0.4f}", vid, site, test, population]


class Totals:
    """Batches added up, as a store would."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str, int, str, str, str], list[float]] = defaultdict(
            lambda: [0, 0.0, 0.0]
        )
        self.states: dict[str, str] = {}
        self.filtered: dict[str, int] = defaultdict(int)
        self.batches: list[Batch] = []

    def add(self, batch: Batch) -> None:
        self.batches.append(batch)
        for key, (visitors, total, sumsq) in batch.counts.items():
            counter = self.counts[tuple(key)]  # type: ignore[index]
            counter[0] += visitors
            counter[1] += total
            counter[2] += sumsq
        self.states.update(batch.visitors)
        for reason, count in batch.filtered.items():
            self.filtered[reason] += count

    def load(self, ids: Sequence[str]) -> dict[str, str]:
        return {vid: self.states[vid] for vid in ids if vid in self.states}

    def visitors(
        self,
        goal: str,
        rollup: str = "all",
        bucket: str = "0",
        site: int = ALL_SITES,
        test: str = "",
        population: str = "",
    ) -> float:
        return self.counts.get((rollup, bucket, site, goal, test, population), [0, 0.0, 0.0])[0]

    def value(self, goal: str, test: str = "", population: str = "") -> tuple[float, float]:
        counter = self.counts.get(("all", "0", ALL_SITES, goal, test, population), [0, 0, 0])
        return counter[1], counter[2]


def run(
    records: list[list[str]], rollups: Sequence[Rollup] = ROLLUPS, **options: object
) -> tuple[Aggregator, Totals]:
    totals = Totals()
    aggregator = Aggregator(rollups, loader=totals.load, **options)  # type: ignore[arg-type]
    aggregator.add_all(records)
    totals.add(aggregator.drain("p"))
    aggregator.evict()
    return aggregator, totals


def test_visitor_without_pixel_never_counts() -> None:
    _, totals = run([page("a"), goal("a", "Signup"), split("a", "T", "True")])
    assert totals.visitors("viewed page") == 0
    assert totals.visitors("Signup") == 0
    assert totals.filtered[AWAITING_PIXEL] == 3


def test_held_events_count_once_however_many_pixels() -> None:
    # 0.3 replayed the held queue at every pixel: three pixels tripled the value.
    records = [page("a"), goal("a", "Buy", "10", kind="S"), pixel("a"), pixel("a"), pixel("a")]
    _, totals = run(records)
    assert totals.visitors("viewed page") == 1
    assert totals.visitors("Buy") == 1
    assert totals.value("Buy") == (10.0, 100.0)
    assert totals.filtered.get(AWAITING_PIXEL, 0) == 0


def test_events_after_the_pixel_count_directly() -> None:
    _, totals = run([pixel("a"), page("a"), page("a"), goal("a", "Buy")])
    assert totals.visitors("viewed page") == 1
    assert totals.visitors("Buy") == 1


def test_conversions_are_unique_per_bucket_values_are_not() -> None:
    # a: Buy 10 twice on day 1, Buy 5 on day 2; b: Buy 5 on day 1.
    records = [
        pixel("a"),
        pixel("b"),
        goal("a", "Buy", "10"),
        goal("a", "Buy", "10"),
        goal("b", "Buy", "5"),
        goal("a", "Buy", "5", at=DAY2),
    ]
    _, totals = run(records)
    assert totals.visitors("Buy") == 2  # a and b, once each
    assert totals.visitors("Buy", "day", "2023-11-14") == 2
    assert totals.visitors("Buy", "day", "2023-11-15") == 1
    # all-time per-visitor totals: a 25, b 5 -> sum 30, sum of squares 625 + 25
    assert totals.value("Buy") == (30.0, 650.0)
    day1 = totals.counts[("day", "2023-11-14", ALL_SITES, "Buy", "", "")]
    assert day1[1:] == [25.0, 400.0 + 25.0]  # a 20, b 5
    day2 = totals.counts[("day", "2023-11-15", ALL_SITES, "Buy", "", "")]
    assert day2[1:] == [5.0, 25.0]


def test_a_hit_without_value_in_a_new_bucket_restarts_the_visitor_total() -> None:
    # day 1: 10; day 2: a hit without value, then 5. Day 2's total is 5, not 15.
    records = [
        pixel("a"),
        goal("a", "Buy", "10"),
        goal("a", "Buy", at=DAY2),
        goal("a", "Buy", "5", at=DAY2 + 60),
    ]
    _, totals = run(records)
    day2 = totals.counts[("day", "2023-11-15", ALL_SITES, "Buy", "", "")]
    assert day2 == [1, 5.0, 25.0]
    assert totals.value("Buy") == (15.0, 225.0)  # all time: 15


def test_variant_conversions_credit_tests_joined_before() -> None:
    records = [
        pixel("a"),
        goal("a", "Buy"),  # not in the test yet: no variant credit
        split("a", "T", "True"),
        split("a", "T", "True"),  # one impression
        goal("a", "Buy"),  # same bucket for the plain goal, first for the variant
        goal("a", "Buy"),
        pixel("b"),
        split("b", "T", "False"),
    ]
    _, totals = run(records)
    assert totals.visitors("", test="T", population="True") == 1
    assert totals.visitors("", test="T", population="False") == 1
    assert totals.visitors("Buy") == 1
    assert totals.visitors("Buy", test="T", population="True") == 1
    assert totals.visitors("Buy", test="T", population="False") == 0


def test_sites_count_apart_and_together() -> None:
    records = [
        pixel("a", site="1"),
        page("a", site="1"),
        page("a", site="2"),
        pixel("b", site="2"),
        page("b", site="2"),
    ]
    _, totals = run(records)
    assert totals.visitors("viewed page", site=1) == 1
    assert totals.visitors("viewed page", site=2) == 2
    assert totals.visitors("viewed page", site=ALL_SITES) == 2  # a once, not twice


def test_a_visitor_on_three_sites() -> None:
    # a: Buy 10 on site 1, Buy 5 on site 2, Buy 1 on site 3, Buy 2 on site 1 again.
    records = [
        pixel("a", site="1"),
        goal("a", "Buy", "10", site="1"),
        goal("a", "Buy", "5", site="2"),
        goal("a", "Buy", "1", site="3"),
        goal("a", "Buy", "2", site="1"),
    ]
    _, totals = run(records)
    assert [totals.visitors("Buy", site=site) for site in (1, 2, 3, ALL_SITES)] == [1, 1, 1, 1]
    site1 = totals.counts[("all", "0", 1, "Buy", "", "")]
    assert site1[1:] == [12.0, 144.0]  # its own total: 10 + 2
    assert totals.value("Buy") == (18.0, 324.0)  # all sites: 18


def test_empty_site_id_is_site_zero() -> None:
    _, totals = run([pixel("a", site=""), page("a", site="")])
    assert totals.visitors("viewed page", site=0) == 1


def test_rollup_buckets_come_from_the_first_page() -> None:
    records = [pixel("a"), page("a", ua="Chrome"), page("a", ua="Firefox"), pixel("b"), page("b")]
    _, totals = run(records)
    assert totals.visitors("viewed page", "agent", "Chrome") == 1
    assert totals.visitors("viewed page", "agent", "Firefox") == 1  # b only


ABANDONED = parse_complex_goal("Abandoned Cart|Added To Cart|Began Checkout")


@pytest.mark.parametrize(
    ("goals", "expected"),
    [
        pytest.param(["Added To Cart"], 1, id="added"),
        pytest.param(["Added To Cart", "Began Checkout"], 0, id="added-then-checkout"),
        # 0.3 counted this one as an abandoned cart.
        pytest.param(["Began Checkout", "Added To Cart"], 0, id="checkout-then-added"),
        pytest.param(["Added To Cart", "Added To Cart"], 1, id="added-twice"),
        pytest.param(["Began Checkout"], 0, id="checkout-only"),
        pytest.param(
            ["Added To Cart", "Began Checkout", "Added To Cart"], 0, id="excluded-for-good"
        ),
    ],
)
def test_complex_goal_states(goals: list[str], expected: int) -> None:
    records = [pixel("a"), split("a", "T", "blue")]
    records += [goal("a", name) for name in goals]
    _, totals = run(records, complex_goals=[ABANDONED])
    assert totals.visitors("Abandoned Cart") == expected
    assert totals.visitors("Abandoned Cart", "day", "2023-11-14") == expected
    assert totals.visitors("Abandoned Cart", test="T", population="blue") == expected


def test_complex_goal_needs_every_include() -> None:
    both = parse_complex_goal("Engaged|Read,Shared|")
    _, totals = run(
        [
            pixel("a"),
            goal("a", "Read"),
            pixel("b"),
            goal("b", "Read"),
            goal("b", "Shared", at=DAY2),
        ],
        complex_goals=[both],
    )
    assert totals.visitors("Engaged") == 1
    # counted in the buckets of the hit that completed the set
    assert totals.visitors("Engaged", "day", "2023-11-15") == 1
    assert totals.visitors("Engaged", "day", "2023-11-14") == 0


def test_a_reached_complex_goal_is_listed_among_the_goals() -> None:
    aggregator = Aggregator(ROLLUPS, [ABANDONED, parse_complex_goal("Engaged|Read,Shared|")])
    aggregator.add_all(
        [
            pixel("a"),
            goal("a", "Added To Cart", at=DAY2),  # completes Abandoned Cart
            pixel("b"),
            goal("b", "Added To Cart"),
            goal("b", "Read"),  # Engaged needs Shared too: never reached
        ]
    )
    goals = aggregator.drain().goals
    assert sorted(goals) == ["Abandoned Cart", "Added To Cart", "Read"]
    listed = goals["Abandoned Cart"]
    assert (listed.first, listed.last) == (DAY1, DAY2)
    assert (listed.value_type, listed.value_format) == ("", "")


def test_complex_goal_taken_back_in_a_later_batch() -> None:
    totals = Totals()
    aggregator = Aggregator(ROLLUPS, [ABANDONED], loader=totals.load)
    aggregator.add_all([pixel("a"), goal("a", "Added To Cart")])
    totals.add(aggregator.drain())
    assert totals.visitors("Abandoned Cart") == 1
    aggregator.add(goal("a", "Began Checkout", at=DAY2))
    totals.add(aggregator.drain())
    assert totals.visitors("Abandoned Cart") == 0
    assert totals.visitors("Abandoned Cart", "day", "2023-11-14") == 0


def test_crawler_is_dropped_with_its_held_events() -> None:
    records = [goal("bot", "Buy"), page("bot", ua="Googlebot"), pixel("bot"), page("bot")]
    _, totals = run(records, is_crawler=lambda ua: "bot" in ua.lower())
    assert totals.visitors("viewed page") == 0
    assert totals.visitors("Buy") == 0
    assert totals.filtered[CRAWLER] == 4  # the held goal, the page, the pixel, the page
    assert totals.filtered.get(AWAITING_PIXEL, 0) == 0


def test_held_events_are_bounded() -> None:
    records = [goal("a", f"g{i}") for i in range(MAX_HELD + 3)] + [pixel("a")]
    _, totals = run(records)
    assert totals.filtered[HELD_OVERFLOW] == 3
    assert totals.visitors("g0") == 0  # the oldest were dropped
    assert totals.visitors("g3") == 1
    assert totals.visitors(f"g{MAX_HELD + 2}") == 1


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        pytest.param(["2", "page", "1.0", "a", "0"], UNKNOWN_VERSION, id="version-2"),
        pytest.param([], MALFORMED, id="empty"),
        pytest.param(["1", "page"], MALFORMED, id="short"),
        pytest.param(["1", "hover", "1.0", "a", "0"], UNKNOWN_KIND, id="kind"),
        pytest.param(["1", "pixel", "yesterday", "a", "0"], MALFORMED, id="timestamp"),
        pytest.param(["1", "pixel", "nan", "a", "0"], MALFORMED, id="nan-timestamp"),
        pytest.param(["1", "pixel", "1.0", "", "0"], MALFORMED, id="no-visitor"),
        pytest.param(["1", "pixel", "1.0", "a", "x"], MALFORMED, id="site"),
        pytest.param(["1", "pixel", "1.0", "a", "-1"], MALFORMED, id="negative-site"),
        pytest.param(["1", "goal", "1.0", "a", "0", "Buy"], MALFORMED, id="short-goal"),
        pytest.param(["1", "split", "1.0", "a", "0", "T"], MALFORMED, id="short-split"),
        pytest.param(["1", "goal", "1.0", "h", "0", "Buy", "ten", "", ""], MALFORMED, id="value"),
        pytest.param(["1", "goal", "1.0", "h", "0", "Buy", "inf", "", ""], BAD_VALUE, id="inf"),
        pytest.param(["1", "goal", "1.0", "h", "0", "", "", "", ""], MALFORMED, id="no-goal"),
        pytest.param(["1", "split", "1.0", "h", "0", "", "x"], MALFORMED, id="no-test"),
        pytest.param(split("h", "T", ""), MALFORMED, id="no-population"),
        pytest.param(goal("h", "Buy\x00"), BAD_NAME, id="nul-goal"),
        pytest.param(goal("h", "Buy\udc80"), BAD_NAME, id="surrogate-goal"),
        pytest.param(goal("h", "B" * 10_000), BAD_NAME, id="10kb-goal"),
        pytest.param(split("h", "T\x00", "x"), BAD_NAME, id="nul-test"),
        pytest.param(split("h", "T" * 2800, "x"), BAD_NAME, id="long-test"),
        pytest.param(split("h", "T", "\ud800"), BAD_NAME, id="surrogate-population"),
        pytest.param(split("h", "T", "p" * 513), BAD_NAME, id="long-population"),
        pytest.param(pixel("h\x00"), BAD_NAME, id="nul-visitor"),
        pytest.param(pixel("h" * 600), BAD_NAME, id="long-visitor"),
        pytest.param(pixel("h", site=str(2**31)), MALFORMED, id="site-beyond-32-bits"),
        pytest.param(pixel("h", site=str(2**63)), MALFORMED, id="site-beyond-64-bits"),
        pytest.param(pixel("h", site="9" * 5000), MALFORMED, id="site-of-5000-digits"),
        pytest.param(goal("h", "Buy", "1e200"), BAD_VALUE, id="huge-value"),
        pytest.param(goal("h", "Buy", "-1e200"), BAD_VALUE, id="huge-negative-value"),
        pytest.param(goal("h", "Buy", "1e16"), BAD_VALUE, id="value-beyond-bound"),
        pytest.param(goal("h", "Buy", "nan"), BAD_VALUE, id="nan-value"),
        pytest.param(goal("h", "Buy", at=1.7e12), MALFORMED, id="milliseconds"),
        pytest.param(goal("h", "Buy", at=-5.0), MALFORMED, id="negative-timestamp"),
        pytest.param(goal("h", "Buy", at=253402300800.0), MALFORMED, id="year-10000"),
    ],
)
def test_bad_records_are_skipped_and_counted(record: list[str], reason: str) -> None:
    aggregator, totals = run([pixel("h"), record, page("h")])
    assert totals.filtered[reason] == 1
    assert totals.visitors("viewed page") == 1  # the next record still counts
    assert aggregator.events == 3


def test_crossover_visitors_are_counted_once_and_stay_put() -> None:
    records = [pixel("a"), split("a", "T", "x"), split("a", "T", "y"), split("a", "T", "y")]
    _, totals = run(records)
    batch = totals.batches[0]
    assert batch.tests["T"].crossovers == 1
    assert totals.visitors("", test="T", population="x") == 1
    assert totals.visitors("", test="T", population="y") == 0


def test_split_weights_are_recorded() -> None:
    record = [
        *split("a", "T", "x"),
        '{"x": 1, "y": 3, "bad": "w", "neg": -1, "inf": 1e999, "big": 1%s, "no": true}'
        % ("0" * 400),
    ]
    _, totals = run([pixel("a"), record])
    assert totals.batches[0].tests["T"].weights == {"x": 1.0, "y": 3.0}


def test_goal_info_keeps_types_and_times() -> None:
    records = [
        pixel("a"),
        goal("a", "Buy", "5", at=DAY2, kind="S"),
        ["1", "goal", f"{DAY1:0.4f}", "a", "0", "Buy", "", "", "C"],
        ["1", "goal", f"{DAY1:0.4f}", "a", "0", "Buy", "", "Q", "?"],
    ]
    _, totals = run(records)
    info = totals.batches[0].goals["Buy"]
    assert (info.value_type, info.value_format, info.first, info.last) == ("S", "C", DAY1, DAY2)


STREAM = [
    page("a"),
    split("a", "T", "True"),
    pixel("a"),
    goal("a", "Added To Cart", "3"),
    page("b", ua="Chrome", site="2"),
    pixel("b", site="2"),
    goal("b", "Added To Cart", "4", site="2"),
    split("b", "T", "False", site="2"),
    goal("a", "Began Checkout", "8", at=DAY2),
    goal("b", "Added To Cart", "1", at=DAY2, site="2"),
    page("c"),
    goal("c", "Buy"),
    page("a", at=DAY2),
]


@pytest.mark.parametrize(
    "cut", [pytest.param(cut, id=f"cut-{cut}") for cut in range(len(STREAM) + 1)]
)
def test_stopping_anywhere_and_resuming_from_stored_states_counts_the_same(cut: int) -> None:
    _, whole = run(STREAM, complex_goals=[ABANDONED])
    resumed = Totals()
    first = Aggregator(ROLLUPS, [ABANDONED], loader=resumed.load)
    first.add_all(STREAM[:cut])
    resumed.add(first.drain())
    second = Aggregator(ROLLUPS, [ABANDONED], loader=resumed.load)  # a fresh process
    unknown = second.unknown(record[3] for record in STREAM[cut:])
    second.adopt(resumed.load(unknown), unknown)
    second.add_all(STREAM[cut:])
    resumed.add(second.drain())
    assert {k: v for k, v in resumed.counts.items() if v[0] or v[1]} == {
        k: v for k, v in whole.counts.items() if v[0] or v[1]
    }
    assert resumed.filtered == whole.filtered


def test_visitors_looked_up_ahead_are_not_looked_up_again() -> None:
    asked: list[Sequence[str]] = []

    def loader(ids: Sequence[str]) -> dict[str, str]:
        asked.append(list(ids))
        return {}

    aggregator = Aggregator(ROLLUPS, loader=loader)
    aggregator.adopt({}, aggregator.unknown(["new", "new"]))
    aggregator.add_all([pixel("new"), pixel("other")])
    assert asked == [["other"]]  # "new" was known to be new; "other" was not prefetched


def test_a_damaged_stored_state_starts_the_visitor_afresh() -> None:
    aggregator = Aggregator(ROLLUPS, loader=lambda ids: dict.fromkeys(ids, "{not json"))
    aggregator.add_all([pixel("a"), page("a")])
    batch = aggregator.drain()
    assert batch.filtered[UNREADABLE_STATE] == 1
    assert batch.counts[CounterKey("all", "0", ALL_SITES, "viewed page", "", "")][0] == 1


def test_eviction_keeps_memory_bounded_and_states_reload() -> None:
    totals = Totals()
    aggregator = Aggregator(ROLLUPS, loader=totals.load, capacity=2)
    for vid in "abcd":
        aggregator.add_all([pixel(vid), page(vid)])
    totals.add(aggregator.drain())
    aggregator.evict()
    assert list(aggregator.visitors) == ["c", "d"]
    aggregator.add(page("a"))  # reloaded: a was counted already
    aggregator.add(page("a", at=DAY2))
    totals.add(aggregator.drain())
    assert totals.visitors("viewed page") == 4
    assert totals.visitors("viewed page", "day", "2023-11-15") == 1


def test_construction_errors() -> None:
    with pytest.raises(ValueError, match="at least one rollup"):
        Aggregator([])
    with pytest.raises(ValueError, match="unique"):
        Aggregator([All(), All()])
    with pytest.raises(ValueError, match="capacity"):
        Aggregator(ROLLUPS, capacity=0)


class Country:
    name = "country"
    per_visitor = True

    def bucket(self, timestamp: float, visit: Visit) -> str:
        return visit.headers.get("CF-IPCountry", "??")


@pytest.mark.parametrize(
    ("extra", "bucket"),
    [
        pytest.param(['{"CF-IPCountry": "NZ"}'], "NZ", id="recorded-header"),
        pytest.param(["{}"], "??", id="no-headers"),
        pytest.param(["not json"], "??", id="bad-json"),
        pytest.param(['["NZ"]'], "??", id="not-an-object"),
        pytest.param([""], "??", id="empty-field"),
        pytest.param([], "??", id="0.3-record"),
    ],
)
def test_recorded_headers_reach_rollups(extra: list[str], bucket: str) -> None:
    totals = Totals()
    aggregator = Aggregator([All(), Country()], loader=totals.load)
    aggregator.add_all([pixel("a"), [*page("a"), *extra]])
    totals.add(aggregator.drain())
    assert totals.visitors("viewed page", "country", bucket) == 1


@pytest.mark.parametrize(
    "weights",
    [
        pytest.param("not json", id="bad-json"),
        pytest.param("[1, 3]", id="not-an-object"),
        pytest.param('{"x": true}', id="bool-weight"),
    ],
)
def test_unreadable_split_weights_are_ignored(weights: str) -> None:
    _, totals = run([pixel("a"), [*split("a", "T", "x"), weights]])
    assert totals.batches[0].tests["T"].weights == {}
    assert totals.visitors("", test="T", population="x") == 1


def test_without_a_crawler_test_every_agent_counts() -> None:
    totals = Totals()
    aggregator = Aggregator(ROLLUPS, loader=totals.load)
    aggregator.add_all([page("g", ua="Googlebot/2.1"), pixel("g")])
    totals.add(aggregator.drain())
    assert totals.visitors("viewed page") == 1


def test_eviction_spares_states_changed_since_the_drain() -> None:
    aggregator = Aggregator(ROLLUPS, capacity=1)
    aggregator.add_all([pixel("a"), pixel("b")])
    aggregator.drain()
    aggregator.add(page("a"))  # a is dirty again (and most recent)
    aggregator.add(page("b"))
    aggregator.evict()
    assert sorted(aggregator.visitors) == ["a", "b"]


def test_an_empty_drain_is_an_empty_batch() -> None:
    aggregator = Aggregator(ROLLUPS)
    assert not aggregator.drain()
    assert aggregator.drain("log.1:10")  # a pointer alone is worth committing


class WithoutPeriod:
    """A built-in rollup seen through the bare Rollup protocol (no ``period``)."""

    def __init__(self, rollup: Rollup) -> None:
        self.rollup = rollup
        self.name = rollup.name
        self.per_visitor = rollup.per_visitor

    def bucket(self, timestamp: float, visit: Visit) -> str:
        return self.rollup.bucket(timestamp, visit)


def random_stream(seed: int, events: int) -> list[list[str]]:
    rng = random.Random(seed)
    records = []
    for i in range(events):
        vid = f"v{rng.randrange(40)}"
        at = DAY1 + i * 613.7 + rng.uniform(-3000, 0)  # about 4 days, a little out of order
        site = str(rng.randint(1, 3))
        roll = rng.random()
        if roll < 0.5:
            records.append(page(vid, at=at, site=site, ua=rng.choice(["Firefox", "Chrome"])))
        elif roll < 0.65:
            records.append(pixel(vid, at=at, site=site))
        elif roll < 0.9:
            value = rng.choice(["", "2.5", "4"])
            records.append(goal(vid, rng.choice(["Added To Cart", "Began Checkout"]), value, at))
        else:
            records.append(split(vid, rng.choice(["T", "U"]), rng.choice("ab"), at=at, site=site))
    return records


@pytest.mark.parametrize("seed", [pytest.param(seed, id=f"seed-{seed}") for seed in range(4)])
def test_reusing_time_buckets_by_period_changes_no_count(seed: int) -> None:
    stream = random_stream(seed, 1500)
    tz = "America/New_York"
    fast = [AllRollup(), DayRollup(tz), WeekRollup(tz), MonthRollup(tz), BrowserRollup()]
    plain = [WithoutPeriod(rollup) for rollup in fast]
    _, with_periods = run(stream, rollups=fast, complex_goals=[ABANDONED])
    _, without = run(stream, rollups=plain, complex_goals=[ABANDONED])
    assert with_periods.counts == without.counts
    assert with_periods.counts  # something was counted
