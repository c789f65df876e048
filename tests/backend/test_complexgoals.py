"""Parsing complex goal definitions."""

from __future__ import annotations

import pytest

from manhattan.backend.complexgoals import ComplexGoal, index_by_goal, parse_complex_goal


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            "Abandoned Cart|Added To Cart|Began Checkout",
            ComplexGoal(
                "Abandoned Cart", frozenset({"Added To Cart"}), frozenset({"Began Checkout"})
            ),
            id="abandoned-cart",
        ),
        pytest.param(
            " Engaged | Read , Shared |",
            ComplexGoal("Engaged", frozenset({"Read", "Shared"}), frozenset()),
            id="spaces-and-empty-exclude",
        ),
        pytest.param(
            "Only|a", ComplexGoal("Only", frozenset({"a"}), frozenset()), id="no-exclude-part"
        ),
        pytest.param(
            "Café|Añadido,,|Pagó",
            ComplexGoal("Café", frozenset({"Añadido"}), frozenset({"Pagó"})),
            id="unicode-and-empty-names",
        ),
    ],
)
def test_parse_complex_goal(spec: str, expected: ComplexGoal) -> None:
    assert parse_complex_goal(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param("Abandoned Cart", "must be 'name|include1", id="no-bars"),
        pytest.param("a|b|c|d", "must be 'name|include1", id="too-many-bars"),
        pytest.param("|b|c", "has no name", id="no-name"),
        pytest.param("a| , |c", "needs at least one include goal", id="no-include"),
        pytest.param("a|b,c|c", "both includes and excludes c", id="overlap"),
        pytest.param("a|a|c", "cannot include or exclude itself", id="self"),
    ],
)
def test_bad_complex_goals_are_refused(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_complex_goal(spec)


def test_a_complex_goal_must_be_text() -> None:
    with pytest.raises(TypeError, match="must be a str"):
        parse_complex_goal(["a", "b"])  # type: ignore[arg-type]


def test_index_by_goal() -> None:
    cart = parse_complex_goal("Cart|Added|Paid")
    engaged = parse_complex_goal("Engaged|Added,Read|")
    index = index_by_goal([cart, engaged])
    assert index == {"Added": (cart, engaged), "Paid": (cart,), "Read": (engaged,)}


def test_two_complex_goals_with_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="defined twice"):
        index_by_goal([parse_complex_goal("a|b|"), parse_complex_goal("a|c|")])
