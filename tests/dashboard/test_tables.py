"""Tables as CSV: exact values, formula-safe text, safe file names."""

from __future__ import annotations

import csv
import io

import pytest

from manhattan.dashboard.tables import COUNT, RATE, Column, Table, filename, safe_text, to_csv


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        pytest.param("=1+2", "'=1+2", id="equals"),
        pytest.param("+1", "'+1", id="plus"),
        pytest.param("-1", "'-1", id="minus"),
        pytest.param("@SUM(A1)", "'@SUM(A1)", id="at"),
        pytest.param("\tx", "'\tx", id="tab"),
        pytest.param("\rx", "'\rx", id="carriage-return"),
        pytest.param("/a=b", "/a=b", id="inside-is-harmless"),
        pytest.param("", "", id="empty"),
        pytest.param("google.com", "google.com", id="plain"),
    ],
)
def test_text_a_spreadsheet_would_run_gets_a_quote(text: str, safe: str) -> None:
    assert safe_text(text) == safe


def test_csv_has_exact_values_and_safe_text() -> None:
    third = 1 / 3
    table = Table(
        "t",
        "T",
        (Column("=Path"), Column("Views", COUNT), Column("Rate", RATE), Column("Lift")),
        [("=cmd|' /C calc'!A0", 12345678, third, -0.25), ('a,"b"\nc', 0, None, 1e-20)],
    )
    text = to_csv(table)
    assert text.endswith("\r\n")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["'=Path", "Views", "Rate", "Lift"],
        ["'=cmd|' /C calc'!A0", "12345678", repr(third), "-0.25"],
        ['a,"b"\nc', "0", "", "1e-20"],
    ]
    assert float(rows[1][2]) == third  # not rounded


def test_csv_of_an_empty_table_is_its_header() -> None:
    assert to_csv(Table("t", "T", (Column("A"), Column("B")))) == "A,B\r\n"


@pytest.mark.parametrize(
    ("parts", "name"),
    [
        pytest.param(["overview", "pages"], "manhattan-overview-pages.csv", id="plain"),
        pytest.param(
            ["test", '<b>"Button" color</b>/..', "analysis", "site-2"],
            "manhattan-test-b-Button-color-b-analysis-site-2.csv",
            id="unsafe",
        ),
        pytest.param(
            ["test", "日本", "analysis"], "manhattan-test-analysis.csv", id="nothing-left"
        ),
        pytest.param(["x" * 300], f"manhattan-{'x' * 140}.csv", id="long"),
    ],
)
def test_file_names_are_safe_everywhere(parts: list[str], name: str) -> None:
    assert filename(parts) == name
