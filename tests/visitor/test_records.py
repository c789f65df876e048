"""Record fields and layout, as the spec's table lays them down."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from typing import Any

import pytest

from manhattan.visitor import records


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(0, "0.0000", id="zero"),
        pytest.param(1.5, "1.5000", id="pads-to-four"),
        pytest.param(1400000000, "1400000000.0000", id="int"),
        pytest.param(1400000000.25, "1400000000.2500", id="quarter"),
        pytest.param(1400000000.123456, "1400000000.1235", id="rounds-to-four"),
        pytest.param(1400000000.99999, "1400000001.0000", id="rounds-up-into-next-second"),
    ],
)
def test_format_timestamp_has_four_decimals(seconds: float, expected: str) -> None:
    assert records.format_timestamp(seconds) == expected


def test_check_name_returns_a_non_empty_str_unchanged() -> None:
    for name in ["signup", "Café ☕", "\U0001d518nicode", " spaced ", "tab\there", "x" * 512]:
        assert records.check_name(name, "goal name") is name


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        pytest.param("", ValueError, "goal name must not be empty", id="empty"),
        pytest.param(None, TypeError, "goal name must be a str, not NoneType", id="none"),
        pytest.param(b"signup", TypeError, "goal name must be a str, not bytes", id="bytes"),
        pytest.param(3, TypeError, "goal name must be a str, not int", id="int"),
        pytest.param(
            "half \ud800 pair",
            ValueError,
            "goal name must be valid Unicode text (it holds a lone surrogate): "
            "'half \\ud800 pair'",
            id="lone-surrogate",
        ),
        pytest.param(
            "nul\x00",
            ValueError,
            "goal name must not contain a NUL character: 'nul\\x00'",
            id="nul",
        ),
        pytest.param(
            "x" * 513,
            ValueError,
            f"goal name must be at most 512 characters long, not 513: {'x' * 40 + '...'!r}",
            id="too-long",
        ),
        pytest.param(
            "é" * 600,
            ValueError,
            f"goal name must be at most 512 characters long, not 600: {'é' * 40 + '...'!r}",
            id="too-long-non-ascii",
        ),
    ],
)
def test_check_name_refuses_empty_and_non_str(
    name: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as excinfo:
        records.check_name(name, "goal name")
    assert str(excinfo.value) == message


class Points(int, Enum):
    """An int whose str() is "Points.GOLD", not a number."""

    GOLD = 3


class LoudDecimal(Decimal):
    def __str__(self) -> str:
        return "many"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, "", id="none-is-empty"),
        pytest.param(0, "0", id="int-zero"),
        pytest.param(12, "12", id="int"),
        pytest.param(-3, "-3", id="negative-int"),
        pytest.param(10**15, "1" + "0" * 15, id="largest-int"),
        pytest.param(-(10**15), "-1" + "0" * 15, id="most-negative-int"),
        pytest.param(1e15, "1000000000000000.0", id="largest-float"),
        pytest.param(-1e15, "-1000000000000000.0", id="most-negative-float"),
        pytest.param(1.5, "1.5", id="float"),
        pytest.param(0.1, "0.1", id="float-shortest-repr"),
        pytest.param(-2.0, "-2.0", id="float-whole"),
        pytest.param(1e-20, "1e-20", id="float-exponent"),
        pytest.param(Decimal("12.50"), "12.50", id="decimal-keeps-places"),
        pytest.param(Decimal("-0.001"), "-0.001", id="decimal-negative"),
        pytest.param(Fraction(1, 4), "0.25", id="fraction"),
        pytest.param(Fraction(1, 3), repr(1 / 3), id="fraction-inexact"),
        pytest.param(Fraction(6, 3), "2.0", id="fraction-whole"),
        pytest.param(Points.GOLD, "3", id="int-enum-member"),
        pytest.param(LoudDecimal("2.50"), "2.50", id="decimal-subclass"),
    ],
)
def test_format_value_accepts_finite_numbers(value: Any, expected: str) -> None:
    assert records.format_value(value) == expected
    if expected:
        assert math.isclose(float(expected), float(value))


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        pytest.param(True, TypeError, "value must be a number, not bool", id="true"),
        pytest.param(False, TypeError, "value must be a number, not bool", id="false"),
        pytest.param("abc", TypeError, "value must be a number, not str", id="str"),
        pytest.param("12", TypeError, "value must be a number, not str", id="numeric-str"),
        pytest.param(b"12", TypeError, "value must be a number, not bytes", id="bytes"),
        pytest.param(1j, TypeError, "value must be a number, not complex", id="complex"),
        pytest.param([1], TypeError, "value must be a number, not list", id="list"),
        pytest.param(
            math.nan,
            ValueError,
            "value must be a finite number of magnitude at most 1e+15, not nan",
            id="nan",
        ),
        pytest.param(
            math.inf,
            ValueError,
            "value must be a finite number of magnitude at most 1e+15, not inf",
            id="inf",
        ),
        pytest.param(
            -math.inf,
            ValueError,
            "value must be a finite number of magnitude at most 1e+15, not -inf",
            id="-inf",
        ),
        pytest.param(
            Fraction(10**400),
            ValueError,
            "value must be a finite number of magnitude at most 1e+15, not Fraction(",
            id="huge",
        ),
        pytest.param(
            Decimal("NaN"),
            ValueError,
            "value must be a finite number of magnitude at most 1e+15, not Decimal('NaN')",
            id="dNaN",
        ),
        pytest.param(
            Decimal("sNaN"),
            ValueError,
            "finite number of magnitude at most 1e+15, not Decimal('sNaN')",
            id="decimal-snan",
        ),
        pytest.param(
            Decimal("Infinity"),
            ValueError,
            "finite number of magnitude at most 1e+15, not Decimal('Infinity')",
            id="dinf",
        ),
        pytest.param(
            Decimal("-Infinity"),
            ValueError,
            "finite number of magnitude at most 1e+15, not Decimal('-Infinity')",
            id="-dinf",
        ),
        pytest.param(
            10**400,
            ValueError,
            "finite number of magnitude at most 1e+15, not 1000",
            id="int-beyond-float",
        ),
        pytest.param(
            10**15 + 1,
            ValueError,
            "at most 1e+15, not 1000000000000001",
            id="int-beyond-bound",
        ),
        pytest.param(1e200, ValueError, "at most 1e+15, not 1e+200", id="float-beyond-bound"),
        pytest.param(-1e200, ValueError, "at most 1e+15, not -1e+200", id="negative-beyond"),
        pytest.param(
            Decimal("1e16"), ValueError, "at most 1e+15, not Decimal('1E+16')", id="decimal-beyond"
        ),
        pytest.param(
            Decimal("1e400"),
            ValueError,
            "finite number of magnitude at most 1e+15, not Decimal('1E+400')",
            id="decimal-beyond-float",
        ),
    ],
)
def test_format_value_refuses_what_cannot_be_added_up(
    value: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as excinfo:
        records.format_value(value)
    assert message in str(excinfo.value)
    assert str(excinfo.value).startswith("value must be")


def test_value_type_and_format_constants() -> None:
    assert (records.RATE, records.AVERAGE, records.SUM, records.PER) == ("R", "A", "S", "I")
    assert (records.NUMERIC, records.CURRENCY, records.PERCENTAGE) == ("N", "C", "P")
    assert frozenset({"R", "A", "S", "I"}) == records.VALUE_TYPES
    assert frozenset({"N", "C", "P"}) == records.VALUE_FORMATS


@pytest.mark.parametrize(
    ("allowed", "argument"),
    [
        pytest.param(records.VALUE_TYPE_NAMES, "value_type", id="value_type"),
        pytest.param(records.VALUE_FORMAT_NAMES, "value_format", id="value_format"),
    ],
)
def test_check_choice_accepts_allowed_codes_and_none(
    allowed: dict[str, str], argument: str
) -> None:
    assert records.check_choice(None, allowed, argument) == ""
    for code in allowed:
        assert records.check_choice(code, allowed, argument) == code


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("", id="empty"),
        pytest.param("r", id="lowercase"),
        pytest.param("X", id="unknown"),
        pytest.param("RATE", id="constant-name"),
        pytest.param("N", id="a-format-as-type"),
        pytest.param(1, id="int"),
        pytest.param(["R"], id="unhashable"),
    ],
)
def test_check_choice_refuses_other_codes_naming_the_argument(code: object) -> None:
    with pytest.raises(
        ValueError, match=r"^value_type must be one of RATE, AVERAGE, SUM, PER or None, not "
    ):
        records.check_choice(code, records.VALUE_TYPE_NAMES, "value_type")


def test_check_choice_names_the_documented_formats() -> None:
    message = "value_format must be one of NUMERIC, CURRENCY, PERCENTAGE or None, not 'X'"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        records.check_choice("X", records.VALUE_FORMAT_NAMES, "value_format")
    assert set(records.VALUE_TYPE_NAMES) == records.VALUE_TYPES
    assert set(records.VALUE_FORMAT_NAMES) == records.VALUE_FORMATS


def test_page_record_layout() -> None:
    record = records.page_record(
        "1400000000.0000",
        "ab" * 20,
        "3",
        "10.0.0.1",
        "GET",
        "http://example.com/caf%C3%A9?q=1",
        "Mozilla/5.0",
        "http://referer.example/",
    )
    assert record == [
        "1",
        "page",
        "1400000000.0000",
        "ab" * 20,
        "3",
        "10.0.0.1",
        "GET",
        "http://example.com/caf%C3%A9?q=1",
        "Mozilla/5.0",
        "http://referer.example/",
    ]


def test_page_record_with_headers_has_one_trailing_json_field() -> None:
    headers = {"Accept-Language": "fr-CH, fr;q=0.9", "X-City": "Zürich 🏔", "X-Quote": 'a"b'}
    record = records.page_record("1.0000", "v", "0", "ip", "POST", "url", "ua", "", headers)
    assert record[:10] == ["1", "page", "1.0000", "v", "0", "ip", "POST", "url", "ua", ""]
    assert len(record) == 11
    assert json.loads(record[10]) == headers
    assert "Zürich 🏔" in record[10]  # kept, not \u-escaped
    assert "\\u" not in record[10]


def test_page_record_with_empty_headers_still_has_the_field() -> None:
    record = records.page_record("1.0000", "v", "0", "", "GET", "url", "", "", {})
    assert len(record) == 11
    assert record[10] == "{}"


def test_pixel_record_layout() -> None:
    assert records.pixel_record("2.5000", "vid", "0") == ["1", "pixel", "2.5000", "vid", "0"]


def test_goal_record_layout() -> None:
    assert records.goal_record("2.5000", "vid", "7", "añadir 🛒", "9.99", "S", "C") == [
        "1",
        "goal",
        "2.5000",
        "vid",
        "7",
        "añadir 🛒",
        "9.99",
        "S",
        "C",
    ]


def test_goal_record_without_value_has_empty_fields() -> None:
    assert records.goal_record("2.5000", "vid", "0", "signup") == [
        "1",
        "goal",
        "2.5000",
        "vid",
        "0",
        "signup",
        "",
        "",
        "",
    ]


def test_split_record_layout() -> None:
    assert records.split_record("3.0000", "vid", "0", "テスト", "True") == [
        "1",
        "split",
        "3.0000",
        "vid",
        "0",
        "テスト",
        "True",
    ]
