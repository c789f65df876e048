"""The pages' tables as data, and each one as a CSV download (pure).

A page's tables are :class:`Table` values: the HTML shows them formatted,
the CSV download (``<page>.csv?table=<name>&...``) gives the same rows with
exact values: counts as integers, shares and values as Python writes a float
(the shortest text that reads back to the same number), nothing rounded.

Cells that came from what visitors and applications logged (paths,
referrers, campaign, goal and test names) can start with characters a
spreadsheet takes for a formula. As OWASP advises against CSV injection, a
text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading ``'`` (shown by spreadsheets, harmless elsewhere).
Numbers are written by the dashboard itself and stay numbers (``-0.25``).

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

Cell: TypeAlias = str | int | float | None
"""One value of a table: text, a count, a share or value; ``None`` is empty."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""What a spreadsheet may take for the start of a formula (OWASP)."""

TEXT, COUNT, RATE, NUMBER = "text", "count", "rate", "number"
"""Column kinds: how the HTML formats a cell (the CSV never does)."""

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Column:
    """A column: its heading, how its cells are shown, and the name tests
    and scripts find its cells by (``data-field``)."""

    heading: str
    kind: str = TEXT
    field: str = ""


@dataclass(frozen=True)
class Table:
    """A table of a page: ``name`` is its id in the CSV link, ``title`` its
    heading; every row has one cell per column."""

    name: str
    title: str
    columns: tuple[Column, ...]
    rows: list[tuple[Cell, ...]] = field(default_factory=list)
    note: str = ""
    """Why the table is empty when it is (nothing counted, not kept...)."""


def safe_text(text: str) -> str:
    """``text`` that no spreadsheet runs as a formula (see the module)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_cell(value: Cell) -> str | int:
    if value is None:
        return ""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, float):
        return repr(value)  # shortest round trip: exact
    return value


def to_csv(table: Table) -> str:
    """The table as CSV (RFC 4180: a header row, CRLF line ends, quotes where
    needed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_text(column.heading) for column in table.columns])
    writer.writerows([_csv_cell(value) for value in row] for row in table.rows)
    return out.getvalue()


def filename(parts: Sequence[str]) -> str:
    """A download's file name from its parts (page, table, test, site):
    ASCII letters, digits, ``.``, ``_`` and ``-`` only, so that it needs no
    quoting in a header and is valid on every file system."""
    words = [_UNSAFE_FILENAME.sub("-", part).strip("-.") for part in parts]
    return "-".join(["manhattan", *(word for word in words if word)])[:150] + ".csv"
