"""The record layout: every named field is where the builders put it and
where the spec's table (``docs/compat-0.3.md``) says it is."""

from __future__ import annotations

import json

import pytest

from manhattan.log import text
from manhattan.records import layout
from manhattan.visitor import records

# Distinct values, so that a field read at the wrong index shows.
TIMESTAMP, VISITOR, SITE = "1400000000.2500", "ab" * 20, "7"


def page() -> layout.Record:
    return records.page_record(
        TIMESTAMP, VISITOR, SITE, "10.0.0.1", "POST", "/cart", "Mozilla/5.0", "/home", {"a": "b"}
    )


def pixel() -> layout.Record:
    return records.pixel_record(TIMESTAMP, VISITOR, SITE)


def goal() -> layout.Record:
    return records.goal_record(TIMESTAMP, VISITOR, SITE, "signup", "9.5", "S", "C")


def split() -> layout.Record:
    return records.split_record(
        TIMESTAMP, VISITOR, SITE, "Button", "red", '{"red":1}', '{"goal":"Bought"}'
    )


BUILT = {layout.PAGE: page, layout.PIXEL: pixel, layout.GOAL: goal, layout.SPLIT: split}

# (kind, index name, what the builder was given for that field)
FIELDS = [
    (layout.PAGE, "PAGE_IP", "10.0.0.1"),
    (layout.PAGE, "PAGE_METHOD", "POST"),
    (layout.PAGE, "PAGE_URL", "/cart"),
    (layout.PAGE, "PAGE_USER_AGENT", "Mozilla/5.0"),
    (layout.PAGE, "PAGE_REFERER", "/home"),
    (layout.PAGE, "PAGE_HEADERS", '{"a":"b"}'),
    (layout.GOAL, "GOAL_NAME", "signup"),
    (layout.GOAL, "GOAL_VALUE", "9.5"),
    (layout.GOAL, "GOAL_VALUE_TYPE", "S"),
    (layout.GOAL, "GOAL_VALUE_FORMAT", "C"),
    (layout.SPLIT, "SPLIT_TEST", "Button"),
    (layout.SPLIT, "SPLIT_POPULATION", "red"),
    (layout.SPLIT, "SPLIT_WEIGHTS", '{"red":1}'),
    (layout.SPLIT, "SPLIT_PLAN", '{"goal":"Bought"}'),
]
OPTIONAL = {"PAGE_HEADERS", "SPLIT_WEIGHTS", "SPLIT_PLAN"}


@pytest.mark.parametrize("kind", [pytest.param(kind, id=kind) for kind in layout.KINDS])
def test_every_kind_begins_with_the_common_fields(kind: str) -> None:
    record = BUILT[kind]()
    assert record[layout.VERSION_FIELD] == layout.VERSION
    assert record[layout.KIND_FIELD] == kind
    assert record[layout.TIMESTAMP_FIELD] == TIMESTAMP
    assert record[layout.VISITOR_FIELD] == VISITOR
    assert record[layout.SITE_FIELD] == SITE


@pytest.mark.parametrize(
    ("kind", "name", "given"), [pytest.param(*field, id=field[1]) for field in FIELDS]
)
def test_a_named_field_holds_what_the_builder_was_given_for_it(
    kind: str, name: str, given: str
) -> None:
    assert BUILT[kind]()[getattr(layout, name)] == given


@pytest.mark.parametrize("kind", [pytest.param(kind, id=kind) for kind in layout.KINDS])
def test_the_fields_of_a_kind_follow_the_common_ones_without_a_gap(kind: str) -> None:
    prefix = f"{kind.upper()}_"
    indexes = sorted(getattr(layout, name) for _, name, _ in FIELDS if name.startswith(prefix))
    assert indexes == list(range(layout.COMMON_FIELDS, layout.COMMON_FIELDS + len(indexes)))
    assert len(BUILT[kind]()) == layout.COMMON_FIELDS + len(indexes)


@pytest.mark.parametrize("kind", [pytest.param(kind, id=kind) for kind in layout.KINDS])
def test_min_fields_are_the_fields_0_3_wrote_and_optional_ones_follow(kind: str) -> None:
    prefix = f"{kind.upper()}_"
    required = [name for _, name, _ in FIELDS if name.startswith(prefix) and name not in OPTIONAL]
    assert layout.MIN_FIELDS[kind] == layout.COMMON_FIELDS + len(required)
    for name in OPTIONAL:
        if name.startswith(prefix):
            assert getattr(layout, name) >= layout.MIN_FIELDS[kind]


def test_the_kinds_are_0_3s_and_each_has_a_minimum() -> None:
    assert layout.KINDS == ("page", "pixel", "goal", "split")
    assert set(layout.MIN_FIELDS) == set(layout.KINDS)
    assert min(layout.MIN_FIELDS.values()) == layout.COMMON_FIELDS == text.MIN_FIELDS


def test_a_0_3_line_reads_by_the_names() -> None:
    # A goal line as 0.3 wrote it (no trailing fields 0.3 did not have).
    line = b"1\tgoal\t1400000000.0000\tvid\t\tAdd to cart\t12.5\tS\tC\n"
    record = text.decode_line(line)
    assert len(record) == layout.MIN_FIELDS[layout.GOAL]
    assert record[layout.SITE_FIELD] == ""
    assert record[layout.GOAL_NAME] == "Add to cart"
    assert float(record[layout.GOAL_VALUE]) == 12.5
    assert record[layout.GOAL_VALUE_TYPE] == layout.SUM
    assert record[layout.GOAL_VALUE_FORMAT] == layout.CURRENCY


def test_value_codes_have_one_documented_name_each() -> None:
    assert set(layout.VALUE_TYPE_NAMES) == layout.VALUE_TYPES
    assert set(layout.VALUE_FORMAT_NAMES) == layout.VALUE_FORMATS
    for code, name in [*layout.VALUE_TYPE_NAMES.items(), *layout.VALUE_FORMAT_NAMES.items()]:
        assert getattr(layout, name) == code
    assert not layout.VALUE_TYPES & layout.VALUE_FORMATS


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in layout.__all__])
def test_the_visitor_records_module_shares_each_name_it_has(name: str) -> None:
    # Moved here from manhattan.visitor.records, still importable from there.
    if hasattr(records, name):
        assert getattr(records, name) is getattr(layout, name)


def test_the_weights_field_is_json() -> None:
    assert json.loads(split()[layout.SPLIT_WEIGHTS]) == {"red": 1}
