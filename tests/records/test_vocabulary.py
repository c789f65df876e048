"""The vocabulary of the counts: declared once at the bottom layer, the
same objects where the backend always had them, and goal values by type."""

from __future__ import annotations

import sys

import pytest

from manhattan.backend import aggregate, fields, guard, model, persistence
from manhattan.backend.persistence import queries
from manhattan.records import vocabulary
from manhattan.records.layout import AVERAGE, PER, RATE, SUM
from manhattan.records.vocabulary import goal_value_of
from manhattan.server import worker
from tests.loading import loaded_by


@pytest.mark.parametrize(
    ("module", "name"),
    [
        pytest.param(model, "ALL_SITES", id="model-ALL_SITES"),
        pytest.param(model, "IMPRESSION", id="model-IMPRESSION"),
        pytest.param(model, "VIEWED_PAGE", id="model-VIEWED_PAGE"),
        pytest.param(model, "NO_TEST", id="model-NO_TEST"),
        pytest.param(fields, "MALFORMED", id="fields-MALFORMED"),
        pytest.param(fields, "UNKNOWN_VERSION", id="fields-UNKNOWN_VERSION"),
        pytest.param(fields, "UNKNOWN_KIND", id="fields-UNKNOWN_KIND"),
        pytest.param(fields, "BAD_NAME", id="fields-BAD_NAME"),
        pytest.param(fields, "BAD_VALUE", id="fields-BAD_VALUE"),
        pytest.param(aggregate, "CRAWLER", id="aggregate-CRAWLER"),
        pytest.param(aggregate, "AWAITING_PIXEL", id="aggregate-AWAITING_PIXEL"),
        pytest.param(aggregate, "HELD_OVERFLOW", id="aggregate-HELD_OVERFLOW"),
        pytest.param(aggregate, "UNREADABLE_STATE", id="aggregate-UNREADABLE_STATE"),
        pytest.param(aggregate, "UNCOUNTABLE", id="aggregate-UNCOUNTABLE"),
        pytest.param(aggregate, "MAX_HELD", id="aggregate-MAX_HELD"),
        pytest.param(guard, "UNSTORABLE", id="guard-UNSTORABLE"),
        pytest.param(worker, "MALFORMED_LINE", id="worker-MALFORMED_LINE"),
        pytest.param(queries, "MAX_BREAKDOWN_GOALS", id="queries-MAX_BREAKDOWN_GOALS"),
        pytest.param(queries, "MAX_BREAKDOWN_BUCKETS", id="queries-MAX_BREAKDOWN_BUCKETS"),
        pytest.param(queries, "goal_value_of", id="queries-goal_value_of"),
        pytest.param(persistence, "goal_value_of", id="persistence-goal_value_of"),
    ],
)
def test_old_homes_re_export_the_vocabulary(module: object, name: str) -> None:
    assert getattr(module, name) is getattr(vocabulary, name)


def test_filtered_reasons_are_the_wire_names() -> None:
    # Queries answer these strings as they are: clients and old databases know them.
    pairs = [
        (vocabulary.MALFORMED, "malformed record"),
        (vocabulary.MALFORMED_LINE, "malformed line"),
        (vocabulary.UNKNOWN_VERSION, "unknown version"),
        (vocabulary.UNKNOWN_KIND, "unknown kind"),
        (vocabulary.BAD_NAME, "unstorable name"),
        (vocabulary.BAD_VALUE, "value out of range"),
        (vocabulary.CRAWLER, "crawler"),
        (vocabulary.AWAITING_PIXEL, "awaiting pixel"),
        (vocabulary.HELD_OVERFLOW, "held overflow"),
        (vocabulary.UNREADABLE_STATE, "unreadable visitor state"),
        (vocabulary.UNCOUNTABLE, "uncountable record"),
        (vocabulary.UNSTORABLE, "unstorable entry"),
    ]

    assert [name for name, _ in pairs] == [text for _, text in pairs]
    assert len({name for name, _ in pairs}) == len(pairs)


@pytest.mark.parametrize(
    ("value_type", "goal", "page_views", "expected"),
    [
        pytest.param(SUM, (4, 10.0), 8, 10.0, id="sum"),
        pytest.param(AVERAGE, (4, 10.0), 8, 2.5, id="average"),
        pytest.param(AVERAGE, (0, 0.0), 8, 0.0, id="average-none-converted"),
        pytest.param(PER, (4, 10.0), 8, 1.25, id="per"),
        pytest.param(PER, (4, 10.0), 0, 0.0, id="per-no-page-views"),
        pytest.param(RATE, (4, 10.0), 8, 0.5, id="rate"),
        pytest.param(RATE, (4, 10.0), 0, 0.0, id="rate-no-page-views"),
        pytest.param("", (4, 10.0), 8, 4, id="no-type-the-count"),
    ],
)
def test_goal_value_by_value_type(
    value_type: str, goal: tuple[int, float], page_views: int, expected: float
) -> None:
    value = goal_value_of(value_type, goal, page_views)

    assert value == expected
    assert type(value) is type(expected)


MODULES = ("layout", "vocabulary")
"""What the vocabulary may load of Manhattan (its package aside)."""


def test_vocabulary_loads_nothing_outside_records() -> None:
    loaded = loaded_by("manhattan.records.vocabulary")
    ours = {name for name in loaded if name.startswith("manhattan")}

    assert ours <= {"manhattan", "manhattan.records", *(f"manhattan.records.{m}" for m in MODULES)}
    assert {name.partition(".")[0] for name in loaded} <= {"manhattan", *sys.stdlib_module_names}
