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
