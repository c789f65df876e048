"""Visitor states and their JSON form."""

from __future__ import annotations

import json

import pytest

from manhattan.backend.model import Visit
from manhattan.backend.state import BOT, HUMAN, ComplexMark, VisitorState


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
    mark.flag, mark.buckets, mark.sites, mark.variants = "c", ["0", "d"], [3, -1], [["", ""]]
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
    assert again.complex["Cart"].flag == "c"
    assert again.complex["Cart"].sites == [3, -1]
    assert again.const is None  # derived, never stored
    assert again.last is None


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
