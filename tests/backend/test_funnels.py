"""Ordered funnels: declarations, windows, and the counts of hand-checked
streams (each expected count follows from the rules in the docstring of
:mod:`manhattan.backend.funnels`, worked out by hand)."""

from __future__ import annotations

import pytest

from manhattan.backend.aggregate import AWAITING_PIXEL, CRAWLER, Aggregator
from manhattan.backend.complexgoals import parse_complex_goal
from manhattan.backend.funnels import (
    Funnel,
    advance,
    funnel_index,
    funnels_from_json,
    funnels_to_json,
    merged,
    parse_funnel,
    parse_window,
    standing,
    step_goal,
    unknown_funnel,
)
from manhattan.backend.state import VisitorState
from manhattan.records.limits import MAX_NAME_LENGTH
from tests.backend.test_aggregate import DAY1, ROLLUPS, Totals, goal, page, pixel, run, split

HOUR = 3600.0
CHECKOUT = parse_funnel("Checkout|Viewed>Cart>Paid")
STEPS = CHECKOUT.goals  # ("Checkout: Viewed", "Checkout: Cart", "Checkout: Paid")


def reached(totals: Totals, **where: object) -> list[float]:
    """Visitors per step of CHECKOUT, as the funnel query reads them."""
    return [totals.visitors(step, **where) for step in STEPS]  # type: ignore[arg-type]


def events(vid: str, *steps: tuple[str, float], site: str = "0") -> list[list[str]]:
    """A visitor who loaded the pixel, then converted on ``steps`` (goal, time)."""
    return [pixel(vid, DAY1, site), *(goal(vid, name, at=at, site=site) for name, at in steps)]


# -- Declarations -------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "within", "expected"),
    [
        pytest.param(
            "Checkout|Viewed Product>Added To Cart>Began Checkout>Purchased",
            None,
            Funnel(
                "Checkout",
                ("Viewed Product", "Added To Cart", "Began Checkout", "Purchased"),
                None,
            ),
            id="four-steps",
        ),
        pytest.param(
            " Sign up | viewed page > Signed Up ",
            86400.0,
            Funnel("Sign up", ("viewed page", "Signed Up"), 86400.0),
            id="spaces-and-window",
        ),
        pytest.param("Café|Vu>Payé", None, Funnel("Café", ("Vu", "Payé")), id="unicode"),
    ],
)
def test_parse_funnel(spec: str, within: float | None, expected: Funnel) -> None:
    assert parse_funnel(spec, within) == expected


@pytest.mark.parametrize(
    ("spec", "within", "message"),
    [
        pytest.param("Checkout", None, "must be 'name|step1>step2>...'", id="no-bar"),
        pytest.param("a|b>c|d", None, "must be 'name|step1>step2>...'", id="two-bars"),
        pytest.param(" |a>b", None, "has no name", id="empty-name"),
        pytest.param("F|a", None, "needs at least two steps", id="one-step"),
        pytest.param("F|a>>b", None, "has an empty step in 'a>>b'", id="empty-step"),
        pytest.param("F|a>b>a", None, "repeats the step 'a'", id="repeated-step"),
        pytest.param("F|a>b", 0.0, "window must be longer than 0", id="zero-window"),
        pytest.param("F|a>b", -5.0, "window must be longer than 0", id="negative-window"),
        pytest.param("F|a>b", float("nan"), "window must be longer than 0", id="nan-window"),
        pytest.param("F\x00|a>b", None, "its name 'F\\\\x00' must not contain a NUL", id="nul"),
        pytest.param(
            f"F|a>{'b' * MAX_NAME_LENGTH}",
            None,
            f"its step goal 'F: bbb.*must be at most {MAX_NAME_LENGTH} characters",
            id="step-goal-too-long",
        ),
    ],
)
def test_bad_funnels_are_refused(spec: str, within: float | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_funnel(spec, within)


def test_a_funnel_must_be_text() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        parse_funnel(["F", "a>b"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("90s", 90.0, id="seconds"),
        pytest.param("30m", 30 * 60.0, id="minutes"),
        pytest.param("12h", 12 * 3600.0, id="hours"),
        pytest.param(" 1d ", 86400.0, id="day-spaces"),
        pytest.param("7d", 7 * 86400.0, id="week-in-days"),
        pytest.param("2w", 14 * 86400.0, id="weeks"),
        pytest.param("1.5h", 1.5 * 3600, id="fraction"),
    ],
)
def test_parse_window(text: str, seconds: float) -> None:
    assert parse_window(text) == seconds


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("0d", "must be longer than 0 seconds", id="zero"),
        pytest.param("-1d", "must be a positive number and a unit", id="negative"),
        pytest.param("1", "must be a positive number and a unit", id="no-unit"),
        pytest.param("1y", "must be a positive number and a unit", id="unknown-unit"),
        pytest.param("soon", "must be a positive number and a unit", id="junk"),
        pytest.param("", "must be a positive number and a unit", id="empty"),
        pytest.param("9" * 400 + "w", "must be longer than 0 seconds", id="infinite"),
    ],
)
def test_bad_windows_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_window(text)


def test_a_window_must_be_text() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        parse_window(3600)  # type: ignore[arg-type]


def test_step_goals_are_named_after_the_funnel() -> None:
    assert STEPS == ("Checkout: Viewed", "Checkout: Cart", "Checkout: Paid")
    assert step_goal("F", "x") == "F: x"
    assert CHECKOUT.as_dict() == {
        "name": "Checkout",
        "steps": ["Viewed", "Cart", "Paid"],
        "within": None,
    }


def test_funnel_index() -> None:
    other = parse_funnel("Signup|Viewed>Signed Up")
    assert funnel_index([CHECKOUT, other]) == {
        "Viewed": ((CHECKOUT, 0), (other, 0)),
        "Cart": ((CHECKOUT, 1),),
        "Paid": ((CHECKOUT, 2),),
        "Signed Up": ((other, 1),),
    }


@pytest.mark.parametrize(
    ("funnels", "complex_goals", "message"),
    [
        pytest.param(
            [CHECKOUT, parse_funnel("Checkout|a>b")],
            (),
            "'Checkout' is declared twice",
            id="twice",
        ),
        pytest.param(
            [CHECKOUT], ("Checkout",), "'Checkout' is also the name of a complex goal", id="name"
        ),
        pytest.param(
            [CHECKOUT],
            ("Checkout: Paid",),
            "'Checkout: Paid' is also the name of a complex goal",
            id="step-goal",
        ),
    ],
)
def test_clashing_funnels_are_refused(
    funnels: list[Funnel], complex_goals: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        funnel_index(funnels, complex_goals)


def test_the_aggregator_refuses_a_funnel_named_like_a_complex_goal() -> None:
    with pytest.raises(ValueError, match="also the name of a complex goal"):
        Aggregator(ROLLUPS, [parse_complex_goal("Checkout|a|")], funnels=[CHECKOUT])


def test_declarations_round_trip_through_json() -> None:
    funnels = [CHECKOUT, parse_funnel("Café|Vu>Payé", 60.0)]
    assert funnels_from_json(funnels_to_json(funnels)) == funnels
    assert funnels_from_json(None) == []


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("{", id="not-json"),
        pytest.param('[{"name": "F"}]', id="no-steps"),
        pytest.param('[{"name": "F", "steps": ["a"], "within": "x"}]', id="bad-window"),
        pytest.param("[1]", id="not-an-object"),
    ],
)
def test_damaged_declarations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not stored funnel declarations"):
        funnels_from_json(text)


def test_merged_keeps_old_funnels_and_replaces_redeclared_ones() -> None:
    old_a, b = parse_funnel("A|x>y"), parse_funnel("B|x>y")
    new_a, c = parse_funnel("A|x>y>z", 60.0), parse_funnel("C|p>q")
    assert merged([old_a, b], [c, new_a]) == [new_a, b, c]


@pytest.mark.parametrize(
    ("name", "known", "message"),
    [
        pytest.param("Chekout", [CHECKOUT], "(did you mean 'Checkout'?)", id="close"),
        pytest.param("Zzz", [CHECKOUT], "(declared funnels: 'Checkout')", id="listed"),
        pytest.param(
            "Zzz",
            [parse_funnel(f"F{i}|a>b") for i in range(12)],
            "'F8', 'F9' and more)",
            id="many",
        ),
        pytest.param("Zzz", [], "none is declared (manhattan-server --funnel", id="none"),
    ],
)
def test_unknown_funnel_message(name: str, known: list[Funnel], message: str) -> None:
    text = unknown_funnel(name, known)
    assert text.startswith(f"no funnel named {name!r}")
    assert message in text


# -- Progress ----------------------------------------------------------------


def test_advance_reports_each_step_reached() -> None:
    progress: dict[str, list[float]] = {}
    index = funnel_index([CHECKOUT])
    assert advance(progress, index["Cart"], 1.0) == []  # out of order: nothing
    assert advance(progress, index["Viewed"], 2.0) == ["Checkout: Viewed"]
    assert advance(progress, index["Viewed"], 3.0) == []  # the attempt goes on
    assert advance(progress, index["Cart"], 4.0) == ["Checkout: Cart"]
    assert progress == {"Checkout": [2, 2.0]}


# -- Counting ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param(["Viewed", "Cart", "Paid"], [1, 1, 1], id="in-order"),
        pytest.param(["Paid", "Cart", "Viewed"], [1, 0, 0], id="reversed"),
        pytest.param(["Viewed", "Paid", "Cart"], [1, 1, 0], id="skipped-then-back"),
        pytest.param(["Viewed", "Paid", "Cart", "Paid"], [1, 1, 1], id="skipped-then-again"),
        pytest.param(
            ["Viewed", "Viewed", "Cart", "Cart", "Paid", "Paid"], [1, 1, 1], id="repeated"
        ),
        pytest.param(["Cart", "Other", "Paid"], [0, 0, 0], id="no-step-1"),
    ],
)
def test_steps_count_in_order_only(steps: list[str], expected: list[int]) -> None:
    records = events("v", *((name, DAY1 + i) for i, name in enumerate(steps)))
    _, totals = run(records, funnels=[CHECKOUT])
    assert reached(totals) == expected


def test_visitors_are_counted_once_per_step() -> None:
    records = [
        *events("a", ("Viewed", DAY1), ("Cart", DAY1 + 1), ("Paid", DAY1 + 2)),
        *events("b", ("Viewed", DAY1), ("Cart", DAY1 + 1)),
        *events("c", ("Cart", DAY1), ("Viewed", DAY1 + 1)),
    ]
    _, totals = run(records, funnels=[CHECKOUT])
    assert reached(totals) == [3, 2, 1]


WINDOWED = parse_funnel("Checkout|Viewed>Cart>Paid", HOUR)


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param([("Viewed", 0), ("Cart", 100), ("Paid", HOUR)], [1, 1, 1], id="on-the-edge"),
        pytest.param([("Viewed", 0), ("Cart", 100), ("Paid", HOUR + 1)], [1, 1, 0], id="expired"),
        pytest.param(
            [("Viewed", 0), ("Cart", HOUR + 1), ("Paid", HOUR + 2)], [1, 0, 0], id="expired-early"
        ),
        pytest.param(
            [("Viewed", 0), ("Cart", 100), ("Viewed", 3000), ("Paid", HOUR + 1)],
            [1, 1, 0],
            id="step-1-again-within-is-ignored",
        ),
        pytest.param(
            [
                *[("Viewed", 0), ("Cart", 100), ("Paid", HOUR + 1)],
                *[("Viewed", HOUR + 2), ("Cart", HOUR + 3), ("Paid", HOUR + 4)],
            ],
            [1, 1, 1],
            id="restart-after-expiry",
        ),
        pytest.param(
            [("Viewed", 100), ("Cart", 50), ("Paid", -HOUR)],
            [1, 1, 1],
            id="clock-backwards-is-within",
        ),
    ],
)
def test_window(steps: list[tuple[str, float]], expected: list[int]) -> None:
    records = events("v", *((name, DAY1 + at) for name, at in steps))
    _, totals = run(records, funnels=[WINDOWED])
    assert reached(totals) == expected


@pytest.mark.parametrize(
    ("funnel", "second_day"),
    [
        # The day after, the attempt of day 1 is over: a new one counts
        # again in day 2's bucket (the visitor is counted once in "all").
        pytest.param(WINDOWED, [1, 1, 0], id="window"),
        # Without a window the funnel is gone through once.
        pytest.param(CHECKOUT, [0, 0, 0], id="no-window"),
    ],
)
def test_going_through_again(funnel: Funnel, second_day: list[int]) -> None:
    day2 = DAY1 + 2 * HOUR  # 00:13:20 UTC the next day
    records = [
        *events("v", ("Viewed", DAY1), ("Cart", DAY1 + 1), ("Paid", DAY1 + 2), ("Viewed", day2)),
        goal("v", "Cart", at=day2 + 1),
    ]
    _, totals = run(records, funnels=[funnel])
    assert reached(totals) == [1, 1, 1]
    assert reached(totals, rollup="day", bucket="2023-11-14") == [1, 1, 1]
    assert reached(totals, rollup="day", bucket="2023-11-15") == second_day


def test_two_sites() -> None:
    records = [
        *events("a", ("Viewed", DAY1), ("Cart", DAY1 + 1), ("Paid", DAY1 + 2), site="1"),
        *events("b", ("Viewed", DAY1), site="2"),
        # One visitor across both: each step counts at the site it happened on.
        *events("c", ("Viewed", DAY1), site="1"),
        goal("c", "Cart", at=DAY1 + 1, site="2"),
    ]
    _, totals = run(records, funnels=[CHECKOUT])
    assert reached(totals) == [3, 2, 1]
    assert reached(totals, site=1) == [2, 1, 1]
    assert reached(totals, site=2) == [1, 1, 0]


def test_test_populations() -> None:
    records = [
        # Split before step 1: every step counts for the population.
        pixel("a"),
        split("a", "Button", "red"),
        *(goal("a", name, at=DAY1 + i) for i, name in enumerate(["Viewed", "Cart", "Paid"])),
        # Split after step 1: step 1 counts for the population as they
        # enter it (funnels.standing), the later steps as they come.
        pixel("b"),
        goal("b", "Viewed"),
        split("b", "Button", "blue", at=DAY1 + 1),
        goal("b", "Cart", at=DAY1 + 2),
        # Split after the window of an attempt has passed: nothing to bring.
        pixel("c"),
        goal("c", "Viewed"),
        split("c", "Button", "blue", at=DAY1 + 2 * HOUR),
        # A second split record of the same population brings nothing again.
        split("b", "Button", "blue", at=DAY1 + 3),
    ]
    _, totals = run(records, funnels=[CHECKOUT._replace(within=HOUR)])
    assert reached(totals) == [3, 2, 1]
    assert reached(totals, test="Button", population="red") == [1, 1, 1]
    assert reached(totals, test="Button", population="blue") == [1, 1, 0]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        pytest.param(DAY1 + 10, ["Checkout: Viewed", "Checkout: Cart"], id="running"),
        pytest.param(DAY1 + HOUR, ["Checkout: Viewed", "Checkout: Cart"], id="window-edge"),
        pytest.param(DAY1 + HOUR + 1, [], id="window-passed"),
    ],
)
def test_standing_lists_the_steps_of_running_attempts(at: float, expected: list[str]) -> None:
    windowed = CHECKOUT._replace(within=HOUR)
    other = parse_funnel("Other|Cart>Paid")
    progress = {"Checkout": [2, DAY1]}

    assert standing(progress, [windowed, other], at) == expected
    # Without a window an attempt never ends.
    assert standing(progress, [CHECKOUT], DAY1 + 100 * HOUR) == list(CHECKOUT.goals[:2])


def test_held_events_count_in_order_at_the_pixel() -> None:
    records = [
        goal("v", "Viewed"),
        goal("v", "Cart", at=DAY1 + 1),
        goal("w", "Viewed"),  # w never loads the pixel
        pixel("v", DAY1 + 2),
        goal("v", "Paid", at=DAY1 + 3),
    ]
    _, totals = run(records, funnels=[CHECKOUT])
    assert reached(totals) == [1, 1, 1]
    assert totals.filtered[AWAITING_PIXEL] == 1


def test_crawlers_never_count() -> None:
    records = [
        goal("bot", "Viewed"),
        page("bot", ua="Googlebot"),
        goal("bot", "Cart", at=DAY1 + 1),
        pixel("bot", DAY1 + 2),
        goal("bot", "Paid", at=DAY1 + 3),
    ]
    _, totals = run(records, funnels=[CHECKOUT], is_crawler=lambda ua: "bot" in ua)
    assert reached(totals) == [0, 0, 0]
    assert totals.filtered[CRAWLER] == 5


def test_viewed_page_and_complex_goals_as_steps() -> None:
    engaged = parse_complex_goal("Engaged|Read,Shared|")
    funnels = [
        parse_funnel("Reading|viewed page>Read"),
        parse_funnel("Sharing|Engaged>Paid"),
    ]
    records = [
        pixel("v"),
        goal("v", "Paid"),  # before Engaged: out of order
        page("v", at=DAY1 + 1),
        goal("v", "Read", at=DAY1 + 2),
        goal("v", "Shared", at=DAY1 + 3),  # Engaged reached
        goal("v", "Paid", at=DAY1 + 4),
    ]
    _, totals = run(records, complex_goals=[engaged], funnels=funnels)
    counted = ["Reading: viewed page", "Reading: Read", "Sharing: Engaged", "Sharing: Paid"]
    assert [totals.visitors(name) for name in counted] == [1, 1, 1, 1]


def test_a_step_goal_can_be_another_funnels_step() -> None:
    first = parse_funnel("Cart|Viewed>Added")
    then = parse_funnel("Pay|Cart: Added>Paid")
    records = events("v", ("Viewed", DAY1), ("Added", DAY1 + 1), ("Paid", DAY1 + 2))
    _, totals = run(records, funnels=[first, then])
    assert [
        totals.visitors(name) for name in ("Cart: Added", "Pay: Cart: Added", "Pay: Paid")
    ] == [1, 1, 1]


def test_step_goals_are_listed_among_the_goals() -> None:
    aggregator = Aggregator(ROLLUPS, funnels=[CHECKOUT])
    aggregator.add_all(events("v", ("Viewed", DAY1), ("Cart", DAY1 + 5)))
    goals = aggregator.drain().goals
    assert goals["Checkout: Viewed"].first == DAY1
    assert goals["Checkout: Cart"].first == DAY1 + 5
    assert "Checkout: Paid" not in goals


def test_progress_survives_a_reload() -> None:
    totals = Totals()
    first = Aggregator(ROLLUPS, funnels=[CHECKOUT])
    first.add_all(events("v", ("Viewed", DAY1), ("Cart", DAY1 + 1)))
    totals.add(first.drain())
    assert '"f":{"Checkout":[2,' in totals.states["v"]
    second = Aggregator(ROLLUPS, funnels=[CHECKOUT], loader=totals.load)
    second.add(goal("v", "Paid", at=DAY1 + 2))
    totals.add(second.drain())
    assert reached(totals) == [1, 1, 1]


def test_states_without_funnel_progress_still_load() -> None:
    old = VisitorState.from_json('{"s":1,"m":[["Viewed","",-1,["0"]]]}')
    assert old.funnels == {}
    assert "f" not in old.to_json()


def test_no_funnel_keeps_the_plain_conversion() -> None:
    # Without funnels a conversion runs exactly the code it ran before.
    assert "_convert" not in vars(Aggregator(ROLLUPS))
    assert "_convert" in vars(Aggregator(ROLLUPS, funnels=[CHECKOUT]))
