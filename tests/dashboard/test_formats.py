"""How numbers are shown."""

from __future__ import annotations

import math

import pytest

from manhattan.dashboard import formats


@pytest.mark.parametrize(
    ("function", "value", "shown"),
    [
        pytest.param(formats.rate, 0.12345, "12.35%", id="rate"),
        pytest.param(formats.rate, None, "\N{EN DASH}", id="rate-none"),
        pytest.param(formats.rate, math.nan, "\N{EN DASH}", id="rate-nan"),
        pytest.param(formats.count, 1234567, "1,234,567", id="count"),
        pytest.param(formats.number, 1234.5, "1,234.50", id="decimals"),
        pytest.param(formats.number, 1234.0, "1,234", id="whole"),
        pytest.param(formats.number, None, "\N{EN DASH}", id="none"),
        pytest.param(formats.number, math.inf, "\N{EN DASH}", id="infinite"),
        pytest.param(formats.p_value, 0.0004, "< 0.001", id="tiny-p"),
        pytest.param(formats.p_value, 0.0451, "0.045", id="p"),
        pytest.param(formats.p_value, None, "\N{EN DASH}", id="no-p"),
        pytest.param(formats.timestamp, 0.0, "1970-01-01 00:00 UTC", id="timestamp"),
    ],
)
def test_formats(function: object, value: object, shown: str) -> None:
    assert function(value) == shown  # type: ignore[operator]


def test_goal_values_by_format() -> None:
    assert formats.number(12.5, "C") == "12.50"
    assert formats.number(0.125, "P") == "12.50%"
    assert formats.number(12.0, "C") == "12.00"


@pytest.mark.parametrize(
    ("value", "kind", "shown"),
    [
        pytest.param(1234, "count", "1,234", id="count"),
        pytest.param(0.5, "rate", "50.00%", id="rate"),
        pytest.param(1, "rate", "100.00%", id="rate-of-an-int"),
        pytest.param(2.5, "number", "2.50", id="number"),
        pytest.param(None, "rate", "\N{EN DASH}", id="none"),
        pytest.param("/a", "text", "/a", id="text"),
        pytest.param("12", "count", "12", id="text-in-a-count-column"),
        pytest.param("x", "rate", "x", id="text-in-a-rate-column"),
        pytest.param("x", "number", "x", id="text-in-a-number-column"),
    ],
)
def test_table_cells_by_their_columns_kind(value: object, kind: str, shown: str) -> None:
    assert formats.cell(value, kind) == shown  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        pytest.param(86_400.0, "1 day", id="day"),
        pytest.param(7 * 86_400.0, "1 week", id="week"),
        pytest.param(36 * 3_600.0, "36 hours", id="hours"),
        pytest.param(1_800.0, "30 minutes", id="minutes"),
        pytest.param(90.0, "90 seconds", id="seconds"),
        pytest.param(1.0, "1 second", id="one-second"),
        pytest.param(0.5, "0.5 seconds", id="fraction"),
    ],
)
def test_durations_in_their_largest_whole_unit(seconds: float, shown: str) -> None:
    assert formats.duration(seconds) == shown
