"""Visitor states and their JSON form."""

from __future__ import annotations

import json

import pytest

from manhattan.backend.model import Visit
from manhattan.backend.state import BOT, HUMAN, ComplexMark, Memo, Stage, VisitorState


def test_a_full_state_round_trips() -> None:
    state = VisitorState()
    state.status = HUMAN
    state.held = ["1\tgoal\t1.0\tv\t0\tBuy\t\t\t"]
    state.visit = Visit("http://x/é", "http://ref/", "UA", "1.2.3.4", {"CF-IPCountry": "NZ"})
    state.tests = {"T": "True", "Ü": "b"}
    state.crossed = ["T"]
    state.marks[("Buy", "", -1)] = ("0", "2026-11-27")
    state.totals[("Buy", "", -1)] = [2.5, 0.0]
    state.marks[("", "T", 3)] = ("0", "2026-11-28")
    mark = ComplexMark()
    mark.flag, mark.buckets = Stage.COUNTED, ["0", "d"]
    mark.sites, mark.variants = [3, -1], [["", ""]]
    state.complex["Cart"] = mark
    text = state.to_json()
    again = VisitorState.from_json(text)
    assert again.to_json() == text
    assert again.status == HUMAN
    assert again.held == state.held
    assert again.visit == state.visit
    assert again.tests == state.tests
    assert again.crossed == ["T"]
    assert again.marks == state.marks
    assert again.totals == {("Buy", "", -1): [2.5, 0.0]}
    assert again.complex["Cart"].flag is Stage.COUNTED
    assert again.complex["Cart"].sites == [3, -1]
    assert again.memo.const is None  # derived, never stored
    assert again.memo.last is None


def test_a_new_state_is_small() -> None:
    state = VisitorState()
    state.status = BOT
    assert json.loads(state.to_json()) == {"s": BOT}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("[]", id="list"),
        pytest.param("{}", id="no-status"),
        pytest.param('{"s": "x"}', id="bad-status"),
        pytest.param('{"s": 1, "v": [1]}', id="short-visit"),
        pytest.param('{"s": 1, "m": [["g", "", "x", []]]}', id="bad-site"),
        pytest.param('{"s": 1, "n": [["g", "", 1, ["x"]]]}', id="bad-total"),
        pytest.param('{"s": 1, "c": {"a": 1}}', id="bad-complex"),
        pytest.param('{"s": 1, "c": {"a": ["q", [], [], [], []]}}', id="bad-complex-stage"),
    ],
)
def test_what_is_not_a_state_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a stored visitor state"):
        VisitorState.from_json(text)


def test_a_lone_surrogate_is_escaped_so_every_database_takes_the_state() -> None:
    state = VisitorState()
    state.visit = Visit("http://x/\udc80", "", "UA é", "1.2.3.4", {})
    text = state.to_json()
    assert text.isascii()
    text.encode("utf-8")  # would raise for a raw lone surrogate
    again = VisitorState.from_json(text)
    assert again.visit is not None
    assert again.visit.url == "http://x/\udc80"
    assert again.visit.user_agent == "UA é"


def test_stored_complex_goal_stages_read_back_the_same() -> None:
    # Rows written before the stages had names: their text must not change.
    text = (
        '{"s":1,"c":{"A":["p",["Cart"],[],[],[]],'
        '"B":["c",[],["0","d"],[3,-1],[["",""],["T","x"]]],"C":["x",[],[],[],[]]}}'
    )
    state = VisitorState.from_json(text)
    assert [mark.flag for mark in state.complex.values()] == [
        Stage.PENDING,
        Stage.COUNTED,
        Stage.EXCLUDED,
    ]
    assert state.complex["A"].reached == ["Cart"]
    assert state.to_json() == text


@pytest.mark.parametrize(
    ("stage", "letter"),
    [
        pytest.param(Stage.PENDING, "p", id="pending"),
        pytest.param(Stage.COUNTED, "c", id="counted"),
        pytest.param(Stage.EXCLUDED, "x", id="excluded"),
    ],
)
def test_a_complex_goal_stage_is_stored_as_its_letter(stage: Stage, letter: str) -> None:
    state = VisitorState()
    mark = ComplexMark()
    mark.flag = stage
    state.complex["G"] = mark
    assert json.loads(state.to_json())["c"]["G"][0] == letter


def memo_fields(memo: Memo) -> dict[str, object]:
    return {name: getattr(memo, name) for name in Memo.__slots__}


def test_the_memo_forgets_only_what_a_change_invalidates() -> None:
    timed = ("2026-11-27",)
    full = {
        "const": ["0", None],
        "counted": {"Buy": timed},
        "last": ("0", "2026-11-27"),
        "timed": timed,
        "variants": (("", ""),),
    }
    memo = Memo()
    assert set(memo_fields(memo).values()) == {None}
    for name, value in full.items():
        setattr(memo, name, value)
    memo.tests_changed()
    assert memo_fields(memo) == {**full, "variants": None, "counted": None}
    for name, value in full.items():
        setattr(memo, name, value)
    memo.visit_changed()
    assert memo_fields(memo) == {**full, "timed": None, "counted": None}
