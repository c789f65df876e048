"""No record can stop counting: hostile records among good ones, written to
a real TimeRotatingLog, counted by the real ``manhattan-server --once`` into
SQLite and PostgreSQL. The run ends with status 0, and the good records
count exactly as they do without the hostile ones.

Every hostile record is one that must not count (a name no store holds, a
site id, value or timestamp out of range, a JSON field nested too deeply, a
user agent of a visitor who never loads the pixel), so the counts tables of
both runs must be equal row for row.
"""

from __future__ import annotations

import io
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from manhattan.backend.persistence import SQLStore
from manhattan.backend.persistence.schema import metadata
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.server import cli
from manhattan.visitor.records import goal_record, page_record, pixel_record, split_record

T = 1_764_000_000  # the start of an hour
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
GOOD_VISITORS = [f"{i:040x}" for i in range(6)]
NESTED = "[" * 50_000 + "]" * 50_000  # json.loads raises RecursionError
NESTED_OBJECT = '{"a":' * 5000 + "1" + "}" * 5000
COUNTS = (
    "SELECT rollup, bucket, site, goal, test, population, visitors, value_total, value_sumsq "
    "FROM counts ORDER BY rollup, bucket, site, goal, test, population"
)


def stamp(second: float) -> str:
    return f"{T + second:0.4f}"


def good_records() -> list[list[str]]:
    records = []
    for i, vid in enumerate(GOOD_VISITORS):
        site = str(i % 2)
        records += [
            page_record(stamp(i), vid, site, "203.0.113.7", "GET", f"/p{i}", FIREFOX, ""),
            split_record(stamp(i + 1), vid, site, "Button", ["red", "blue"][i % 2]),
            goal_record(stamp(i + 2), vid, site, "signup"),
            goal_record(stamp(i + 3), vid, site, "purchase", str(10 + i), "S", "C"),
        ]
        if i != 5:  # one visitor never loads the pixel: held, never counted
            records.insert(len(records) - 2, pixel_record(stamp(i + 1), vid, site))
    return records


GOOD = good_records()

hostile_name = st.one_of(
    st.sampled_from(["nul\x00name", "\ud800", "lone \udfff surrogate", "x" * 10_000]),
    st.text(min_size=1, max_size=3).map(lambda text: text + "\x00"),
    st.integers(513, 3000).map(lambda size: "n" * size),
)
hostile_site = st.sampled_from(
    [str(2**31), str(2**63), str(2**64), "-1", "x", "9" * 5000, "1e3", "0x10", "\x00"]
)
hostile_value = st.sampled_from(["1e200", "-1e200", "nan", "inf", "-inf", "1e16", "1" * 400])
hostile_time = st.sampled_from([1.7e12, 1_764_000_000_000.0, -5.0, 1e300, 253402300800.0])
good_visitor = st.sampled_from(GOOD_VISITORS)
hostile_agent = st.one_of(
    st.sampled_from(["\ud800\udfff" * 50, "(" * 8000, "Mozilla/5.0 " * 700, "\x00\t\n"]),
    st.text(max_size=50),
)


@st.composite
def hostile_record(draw: st.DrawFn) -> list[str]:
    vid = draw(good_visitor)
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return goal_record(stamp(9), vid, "0", draw(hostile_name))
    if kind == 1:
        name = draw(hostile_name)
        test, population = draw(st.sampled_from([(name, "red"), ("Button", name)]))
        return split_record(stamp(9), vid, "0", test, population)
    if kind == 2:
        site = draw(hostile_site)
        return draw(
            st.sampled_from(
                [
                    goal_record(stamp(9), vid, site, "signup"),
                    pixel_record(stamp(9), vid, site),
                    page_record(stamp(9), vid, site, "ip", "GET", "/", FIREFOX, ""),
                ]
            )
        )
    if kind == 3:
        return goal_record(stamp(9), vid, "0", "purchase", draw(hostile_value), "S")
    if kind == 4:
        seconds = draw(hostile_time) - T
        return draw(
            st.sampled_from(
                [
                    goal_record(stamp(seconds), vid, "0", "purchase", "1", "S"),
                    page_record(stamp(seconds), vid, "0", "ip", "GET", "/", FIREFOX, ""),
                    split_record(stamp(seconds), vid, "0", "Button", "red"),
                ]
            )
        )
    if kind == 5:
        return split_record(stamp(9), vid, "0", "Button", "red", NESTED)
    if kind == 6:
        # A visitor of its own, who loads the pixel: its first page's headers
        # cannot be parsed, so that page is skipped and nothing counts.
        page = page_record(stamp(9), "p" * 40, "0", "ip", "GET", "/", FIREFOX, "")
        return [*page, draw(st.sampled_from([NESTED, NESTED_OBJECT]))]
    if kind == 7:
        # Visitors of their own who never load the pixel: only the crawler
        # test reads their user agents.
        agent = draw(hostile_agent)
        return page_record(stamp(9), "u" * 40, "0", "ip", "GET", "/", agent, "")
    if kind == 8:
        return ["1", "goal", stamp(9), draw(hostile_name), "0", "signup", "", "", ""]
    return draw(
        st.sampled_from(
            [
                ["1", "goal", stamp(9), vid, "0", "signup"],  # too short
                ["1", "hover", stamp(9), vid, "0"],
                ["2", "page", stamp(9), vid, "0"],
                ["1", "pixel", "soon", vid, "0"],
            ]
        )
    )


hostile_batch = st.lists(
    st.tuples(st.integers(0, len(GOOD)), hostile_record()), min_size=1, max_size=12
).map(lambda found: sorted(found, key=lambda item: item[0]))


def interleave(bad: list[tuple[int, list[str]]]) -> list[list[str]]:
    records: list[list[str]] = []
    position = 0
    for at, record in bad:
        records += GOOD[position:at]
        records.append(record)
        position = at
    records += GOOD[position:]
    # The pixel of the visitor whose only page cannot be parsed.
    return [*records, pixel_record(stamp(20), "p" * 40, "0")]


def count(records: list[list[str]], url: str, directory: Path) -> list[tuple[Any, ...]]:
    """Write ``records`` to a fresh log in ``directory``, run
    ``manhattan-server --once`` into ``url``; the counts table."""
    log = TimeRotatingLog(directory / "events", clock=lambda: T + 30)
    log.write(records)
    log.close()
    stderr = io.StringIO()
    status = cli.main(["--path", log.path, "--url", url, "--once"], stderr=stderr)
    assert status == 0, stderr.getvalue()
    with SQLStore(url) as store, store._reader.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(COUNTS)]


@pytest.fixture(scope="module")
def expected() -> list[tuple[Any, ...]]:
    with tempfile.TemporaryDirectory() as directory:
        rows = count(GOOD, f"sqlite:///{directory}/m.db", Path(directory))
    assert len(rows) > 20  # the good records do count
    return rows


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_batch)
def test_hostile_records_leave_the_good_counts_alone_on_sqlite(
    expected: list[tuple[Any, ...]], bad: list[tuple[int, list[str]]]
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/m.db"
        assert count(interleave(bad), url, Path(directory)) == expected
        with sqlite3.connect(f"{directory}/m.db") as conn:
            filtered = dict(conn.execute("SELECT reason, events FROM filtered"))
    assert sum(filtered.values()) >= len(bad)


def reset(url: str) -> None:
    """Empty every table of the PostgreSQL test schema."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.begin() as conn:
            names = ", ".join(table.name for table in metadata.sorted_tables)
            conn.exec_driver_sql(f"TRUNCATE {names}")
    finally:
        engine.dispose()


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(bad=hostile_batch)
def test_hostile_records_leave_the_good_counts_alone_on_postgresql(
    expected: list[tuple[Any, ...]], postgres_url: str, bad: list[tuple[int, list[str]]]
) -> None:
    SQLStore(postgres_url).close()  # the tables exist, to be emptied
    reset(postgres_url)
    with tempfile.TemporaryDirectory() as directory:
        rows = count(interleave(bad), postgres_url, Path(directory))
    assert [(*row[:7], float(row[7]), float(row[8])) for row in rows] == expected


def test_a_commit_the_database_refuses_ends_the_server_with_status_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    SQLStore(url).close()
    with sqlite3.connect(tmp_path / "m.db") as conn:
        conn.execute(
            "CREATE TRIGGER frozen BEFORE INSERT ON counts "
            "BEGIN SELECT RAISE(ABORT, 'counts are frozen'); END"
        )
    log = TimeRotatingLog(tmp_path / "events", clock=lambda: T + 30)
    log.write(GOOD)
    log.close()
    stderr = io.StringIO()
    assert cli.main(["--path", log.path, "--url", url, "--once"], stderr=stderr) == 2
    assert stderr.getvalue() == (
        f"manhattan-server: error: commit failed on {url}: counts are frozen "
        "(refused: trying again cannot help)\n"
    )
