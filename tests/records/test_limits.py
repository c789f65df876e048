"""The limits of what a record's fields may hold, declared once."""

from __future__ import annotations

import datetime

import pytest

from manhattan.backend import fields
from manhattan.records import limits
from manhattan.visitor import records


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        pytest.param("signup", None, id="ascii"),
        pytest.param("Café ☕", None, id="non-ascii"),
        pytest.param("x" * 512, None, id="longest"),
        pytest.param("", "must not be empty", id="empty"),
        pytest.param("a\x00", "must not contain a NUL character", id="nul"),
        pytest.param("é\x00", "must not contain a NUL character", id="nul-non-ascii"),
        pytest.param(
            "\ud800", "must be valid Unicode text (it holds a lone surrogate)", id="lone"
        ),
        pytest.param("x" * 513, "must be at most 512 characters long, not 513", id="long"),
    ],
)
def test_name_problem_is_the_one_check_of_names(name: str, problem: str | None) -> None:
    assert limits.name_problem(name) == problem


def test_the_limits() -> None:
    assert limits.MAX_NAME_LENGTH == 512
    assert limits.MAX_SITE_ID == 2**31 - 1
    assert limits.MAX_VALUE == 1e15
    # The first second of the year 10000 (which datetime cannot hold): a
    # day after the start of the last day of 9999.
    last_day = datetime.datetime(9999, 12, 31, tzinfo=datetime.UTC).timestamp()
    assert last_day + 86400 == limits.MAX_TIMESTAMP


@pytest.mark.parametrize("name", [pytest.param(name, id=name) for name in limits.__all__])
def test_the_old_import_paths_give_the_same_objects(name: str) -> None:
    assert getattr(records, name) is getattr(limits, name)
    assert getattr(fields, name) is getattr(limits, name)
