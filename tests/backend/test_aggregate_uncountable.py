"""Records the aggregator cannot count: whatever raises while counting one
(a rollup, the user agent parser, a JSON field), the record is skipped and
counted as uncountable, and everything else is as if it had never been seen.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import pytest

from manhattan.backend.aggregate import UNCOUNTABLE, Aggregator
from manhattan.backend.complexgoals import parse_complex_goal
from manhattan.backend.fields import MAX_USER_AGENT
from manhattan.backend.model import Rollup, Visit
from manhattan.backend.persistence import SQLStore
from manhattan.backend.rollups import BrowserRollup, is_crawler
from manhattan.backend.state import VisitorState
from tests.backend.test_aggregate import DAY1, DAY2, ROLLUPS, Totals, goal, page, pixel, split

NESTED = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError
ABANDONED = parse_complex_goal("Abandoned|Cart|Buy")


class Touchy:
    """A user rollup that raises for one URL (a per-visitor rollup) or for
    times on DAY2 (a timed one)."""

    def __init__(self, per_visitor: bool) -> None:
        self.name = "touchy" if per_visitor else "touchy_time"
        self.per_visitor = per_visitor

    def bucket(self, timestamp: float, visit: Visit) -> str:
        if self.per_visitor and visit.url == "http://x/boom":
            raise ValueError("the rollup's own bug")
        if not self.per_visitor and timestamp >= DAY2:
            raise OverflowError("timestamp out of range")
        return "b"


TOUCHY = [*ROLLUPS, Touchy(True), Touchy(False)]


def crawler_test(user_agent: str) -> bool:
    if user_agent == "boom":
        raise RuntimeError("ua-parser failed")
    return user_agent == "bot"


def with_headers(record: list[str], headers: str) -> list[str]:
    return [*record, headers]


def with_weights(record: list[str], weights: str) -> list[str]:
    return [*record, weights]


def count(records: Sequence[list[str]]) -> tuple[Aggregator, Totals]:
    totals = Totals()
    aggregator = Aggregator(
        TOUCHY, [ABANDONED], is_crawler=crawler_test, loader=totals.load, capacity=100
    )
    for start in range(0, len(records), 3):  # several batches, states reloaded
        aggregator.add_all(records[start : start + 3])
        totals.add(aggregator.drain())
        aggregator.evict()
        aggregator.visitors.clear()
    return aggregator, totals


BOOM = ["1", "page", f"{DAY1:.4f}", "f", "0", "ip", "GET", "http://x/boom", "", ""]
GOOD = [
    page("a"),
    pixel("a"),
    split("a", "T", "x"),
    goal("a", "Cart", "5"),
    page("b"),
    goal("b", "Cart"),
    pixel("b"),
    goal("b", "Buy", "2"),
    goal("a", "Cart", "1", at=DAY1 + 60),
    pixel("f"),
    goal("f", "Cart"),
]


@pytest.mark.parametrize(
    ("at", "bad"),
    [
        pytest.param(10, with_headers(page("f"), NESTED), id="nested-headers-first-page"),
        pytest.param(4, with_headers(page("b"), NESTED), id="nested-headers-held"),
        pytest.param(4, with_weights(split("a", "T", "x"), NESTED), id="nested-weights"),
        pytest.param(3, with_weights(split("a", "U", "y"), NESTED), id="nested-weights-new-test"),
        pytest.param(5, with_weights(split("b", "T", "x"), NESTED), id="nested-weights-held"),
        pytest.param(2, goal("a", "Cart", "3", at=DAY2), id="timed-rollup-raises"),
        pytest.param(2, goal("a", "Buy", at=DAY2), id="timed-rollup-raises-complex"),
        pytest.param(6, goal("b", "Cart", at=DAY2), id="timed-rollup-raises-held"),
        pytest.param(4, split("a", "V", "y", at=DAY2), id="timed-rollup-raises-split"),
        pytest.param(4, page("b", at=DAY2), id="timed-rollup-raises-held-page"),
        pytest.param(0, page("d", ua="boom"), id="crawler-test-raises-new-visitor"),
        pytest.param(5, page("b", ua="boom"), id="crawler-test-raises-pending-visitor"),
        pytest.param(10, BOOM, id="per-visitor-rollup-raises"),
        pytest.param(11, BOOM, id="per-visitor-rollup-raises-after-a-goal"),
    ],
)
def test_an_uncountable_record_changes_nothing_else(at: int, bad: list[str]) -> None:
    records = [*GOOD[:at], bad, *GOOD[at:]]
    aggregator, totals = count(records)
    _, expected = count(GOOD)
    assert dict(totals.counts) == dict(expected.counts)
    assert totals.states == expected.states
    assert {**totals.filtered, UNCOUNTABLE: 0} == {**expected.filtered, UNCOUNTABLE: 0}
    assert totals.filtered[UNCOUNTABLE] == 1
    assert aggregator.events == len(records)


def test_held_lines_are_released_one_by_one() -> None:
    # Of three held records the middle one cannot be counted: the others count.
    records = [
        page("a"),
        with_weights(split("a", "T", "x"), NESTED),
        goal("a", "Cart", "4"),
        pixel("a"),
    ]
    _, totals = count(records)
    assert totals.visitors("viewed page") == 1
    assert totals.visitors("Cart") == 1
    assert totals.visitors("", test="T", population="x") == 0
    assert totals.filtered[UNCOUNTABLE] == 1
    assert totals.filtered["awaiting pixel"] == 0


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        pytest.param("1\tgoal\t1.0\ta\t0\tCart\t\\q\t\t", UNCOUNTABLE, id="undecodable"),
        pytest.param("1\thover\t1.0\ta\t0", "unknown kind", id="unknown-kind"),
        pytest.param("1\tgoal\t1.0\ta\t0\tCart\t1e300\t\t", "value out of range", id="value"),
    ],
)
def test_a_damaged_stored_held_line_is_skipped(line: str, reason: str) -> None:
    stored = VisitorState()
    stored.held = [line, "\t".join(goal("a", "Buy"))]
    aggregator = Aggregator(ROLLUPS, loader=lambda ids: {"a": stored.to_json()})
    aggregator.add(pixel("a"))
    batch = aggregator.drain()
    assert batch.filtered[reason] == 1
    assert sum(delta[0] for key, delta in batch.counts.items() if key.goal == "Buy") > 0


def test_problems_are_reported_once_then_forgotten() -> None:
    aggregator = Aggregator(TOUCHY, is_crawler=crawler_test)
    aggregator.add_all([pixel("a"), goal("a", "Cart", at=DAY2), page("d", ua="boom")])
    number, problem = aggregator.take_problems()
    assert number == 2
    assert problem == ("OverflowError: timestamp out of range (record 'goal 1700086400.0000 a')")
    assert aggregator.take_problems() == (0, None)


def test_long_user_agents_and_header_values_are_cut_before_parsing() -> None:
    seen: list[str] = []

    def crawler(user_agent: str) -> bool:
        seen.append(user_agent)
        return is_crawler(user_agent)

    agent = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0 " * 120
    headers = json.dumps({"Accept-Language": "fr" * 5000})
    aggregator = Aggregator([*ROLLUPS, BrowserRollup()], is_crawler=crawler)
    aggregator.add_all([with_headers(page("a", ua=agent), headers), pixel("a")])
    state = aggregator.visitors["a"]
    assert state.visit is not None
    assert seen == [agent[:MAX_USER_AGENT]]
    assert state.visit.user_agent == agent[:MAX_USER_AGENT]
    assert state.visit.headers == {"Accept-Language": ("fr" * 5000)[:MAX_USER_AGENT]}
    browsers = {key.bucket for key in aggregator.drain().counts if key.rollup == "browser"}
    assert browsers == {"Firefox"}


@pytest.mark.parametrize(
    "agent",
    [
        pytest.param("\ud800\udfff\x00" * 3000, id="surrogates-and-nul"),
        pytest.param("(" * 8000, id="parentheses"),
        pytest.param("Mozilla/5.0 " + "a" * 8000, id="8kb"),
        pytest.param("", id="empty"),
    ],
)
def test_hostile_user_agents_are_counted(agent: str) -> None:
    rollups: list[Rollup] = [*ROLLUPS, BrowserRollup()]
    aggregator = Aggregator(rollups, is_crawler=is_crawler)
    aggregator.add_all([page("a", ua=agent), pixel("a")])
    batch = aggregator.drain()
    assert (
        sum(
            delta[0]
            for key, delta in batch.counts.items()
            if key.rollup == "browser" and key.site == -1
        )
        == 1
    )


def test_a_value_without_a_value_type_adds_up_and_goal_value_is_the_count() -> None:
    aggregator = Aggregator(ROLLUPS)
    aggregator.add_all([pixel("a"), goal("a", "X", "5"), goal("a", "X", "2"), pixel("b")])
    aggregator.add(goal("b", "X", "1"))
    with SQLStore("sqlite://") as store:
        store.commit(aggregator.drain())
        assert store.goal_value("X") == 2  # no value type: the count, as 0.3 reported it
        assert store.breakdown("all", ["X"]) == {"0": {"": {"X": [2, 8.0]}}}
        assert store.goals()[0]["value_type"] == ""


def test_long_user_agents_cost_what_short_ones_do() -> None:
    # ua-parser takes about 7 ms on an 8 kB user agent: cut, 100 distinct
    # ones (its cache does not help) take milliseconds, not 0.7 s.
    rollups: list[Rollup] = [*ROLLUPS, BrowserRollup()]
    aggregator = Aggregator(rollups, is_crawler=is_crawler)
    started = time.perf_counter()
    for i in range(100):
        agent = f"Mozilla/5.0 (X11; Linux x86_64; rv:{i}.0) Firefox/{i}.0 " + "x" * 8000
        aggregator.add_all([page(f"v{i}", ua=agent), pixel(f"v{i}")])
    assert time.perf_counter() - started < 0.45
    assert aggregator.drain().filtered == {}
