"""The last check of a batch before commit: what no store can hold is
dropped and counted, the rest goes through untouched."""

from __future__ import annotations

import math

import pytest

from manhattan.backend.guard import MAX_KEY_BYTES, UNSTORABLE, guard, text_problem
from manhattan.backend.model import Batch, CounterKey, GoalInfo, TestInfo


def key(bucket: object = "0", site: object = 1, goal: object = "buy") -> CounterKey:
    return CounterKey("all", bucket, site, goal, "", "")  # type: ignore[arg-type]


GOOD_KEY = key()


def batch(**parts: object) -> Batch:
    made = Batch(
        counts={GOOD_KEY: [1, 2.0, 4.0]},
        goals={"buy": GoalInfo("S", "C", 1.0, 2.0)},
        tests={"T": TestInfo(1.0, 2.0, 0, {"a": 1.0})},
        visitors={"v": '{"s":1}', "é": '{"u":"é"}'},
        filtered={"crawler": 2},
        pointer="events.1:10",
    )
    for name, extra in parts.items():
        getattr(made, name).update(extra)
    return made


def test_a_good_batch_goes_through_as_it_is() -> None:
    good = batch(counts={key(bucket="Zürich 🏔"): [1, 0.0, 0.0]})
    guarded = guard(good)
    assert guarded.batch is good
    assert (guarded.dropped, guarded.problem) == (0, None)


@pytest.mark.parametrize(
    ("parts", "problem"),
    [
        pytest.param(
            {"counts": {key(bucket="a\x00"): [1, 0.0, 0.0]}},
            "counter ('all', 'a\\x00', 1, 'buy', '', ''): text holding a NUL character",
            id="nul-bucket",
        ),
        pytest.param(
            {"counts": {key(goal="\udc80"): [1, 0.0, 0.0]}},
            "counter ('all', '0', 1, '\\udc80', '', ''): text holding a lone surrogate",
            id="surrogate-goal",
        ),
        pytest.param(
            {"counts": {key(bucket="b" * (MAX_KEY_BYTES + 1)): [1, 0.0, 0.0]}},
            f"text of {MAX_KEY_BYTES + 7} characters",
            id="long-ascii-part",
        ),
        pytest.param(
            {"counts": {key(bucket="é" * 1000, goal="ü" * 300): [1, 0.0, 0.0]}},
            "text of 2603 bytes",
            id="long-key-in-bytes",
        ),
        pytest.param(
            {"counts": {key(bucket=7): [1, 0.0, 0.0]}}, "a int, not text", id="int-bucket"
        ),
        pytest.param({"counts": {key(site=2**31): [1, 0.0, 0.0]}}, "the integer", id="site"),
        pytest.param({"counts": {key(site="1"): [1, 0.0, 0.0]}}, "the integer '1'", id="str-site"),
        pytest.param({"counts": {key(goal="n"): [2**63, 0.0, 0.0]}}, "the integer", id="visitors"),
        pytest.param({"counts": {key(goal="n"): [1, math.nan, 0.0]}}, "the number nan", id="nan"),
        pytest.param({"counts": {key(goal="n"): [1, 0.0, math.inf]}}, "the number inf", id="inf"),
        pytest.param({"counts": {key(goal="n"): [1, 10**400, 0.0]}}, "the number 1000", id="big"),
        pytest.param({"counts": {key(goal="n"): [1, "1", 0.0]}}, "the number '1'", id="str-total"),
        pytest.param({"counts": {key(goal="n"): [1, 2, 10**400]}}, "the number 1000", id="int"),
        pytest.param({"goals": {"x\x00": GoalInfo()}}, "goal 'x\\x00': text holding", id="goal"),
        pytest.param(
            {"goals": {"x": GoalInfo(first=math.nan)}}, "goal 'x': the number nan", id="goal-time"
        ),
        pytest.param({"tests": {"\ud800": TestInfo()}}, "test '\\ud800': text", id="test"),
        pytest.param(
            {"tests": {"x": TestInfo(crossovers=-1)}}, "test 'x': the integer -1", id="crossovers"
        ),
        pytest.param({"visitors": {"v\x00": "{}"}}, "visitor 'v\\x00': text", id="visitor-id"),
        pytest.param(
            {"visitors": {"w": '{"u":"\udc80"}'}},
            "visitor 'w': a state that is not valid Unicode text",
            id="visitor-state",
        ),
    ],
)
def test_what_no_store_can_hold_is_dropped_and_counted(
    parts: dict[str, object], problem: str
) -> None:
    bad = batch(**parts)
    before = {name: dict(getattr(bad, name)) for name in ("counts", "goals", "tests", "visitors")}
    guarded = guard(bad)
    assert guarded.dropped == 1
    assert guarded.problem is not None
    assert problem in guarded.problem
    expected = batch()
    expected.filtered[UNSTORABLE] = 1
    assert guarded.batch == expected
    # The batch given is left as it was.
    assert {name: dict(getattr(bad, name)) for name in before} == before


def test_every_bad_entry_counts() -> None:
    bad = batch(
        counts={key(bucket="\x00"): [1, 0.0, 0.0], key(goal="\x00"): [1, 0.0, 0.0]},
        visitors={"\x00": "{}"},
        filtered={UNSTORABLE: 4},
    )
    guarded = guard(bad)
    assert guarded.dropped == 3
    assert guarded.batch.filtered == {"crawler": 2, UNSTORABLE: 7}
    assert set(guarded.batch.counts) == {GOOD_KEY}
    assert guarded.batch.pointer == "events.1:10"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param("plain", None, id="ascii"),
        pytest.param("é" * (MAX_KEY_BYTES // 2), None, id="non-ascii-at-the-limit"),
        pytest.param(
            "é" * (MAX_KEY_BYTES // 2 + 1), f"text of {MAX_KEY_BYTES + 2} bytes", id="over"
        ),
        pytest.param(b"bytes", "a bytes, not text", id="bytes"),
        pytest.param("é\x00", "text holding a NUL character", id="nul-non-ascii"),
    ],
)
def test_text_problem(text: object, problem: str | None) -> None:
    assert text_problem(text) == problem
