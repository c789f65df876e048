"""manhattan-export against a real query service over a real SQLite store
filled by the real aggregator; the client's own answers are the oracle."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from manhattan.analysis.plan import Plan
from manhattan.backend.aggregate import Aggregator
from manhattan.backend.model import ALL_SITES, Batch, CounterKey, GoalInfo
from manhattan.backend.persistence import SQLStore
from manhattan.backend.rollups import default_rollups
from manhattan.client import Client
from manhattan.client.export import (
    ANALYSIS_COLUMNS,
    COUNT_COLUMNS,
    EXPORTERS,
    TEST_COLUMNS,
    cell,
    main,
    plain,
)
from manhattan.client.options import BROKEN_PIPE_STATUS
from manhattan.server.service import QueryService
from manhattan.visitor.populations import weights_field
from manhattan.visitor.records import (
    AVERAGE,
    CURRENCY,
    SUM,
    Record,
    format_timestamp,
    goal_record,
    page_record,
    pixel_record,
    split_record,
)
from tests.cli_output import error_line

START = 1_764_000_000.0  # 2025-11-24 16:00 UTC
DAY = 86_400.0
BUTTON = "Button"
PLANNED = "Checkout"
SITE_TWO_ONLY = 'Banner, "two"'
PURCHASED = "Purchased"
BASKET = 'Basket, "big"\nline'  # a comma, quotes and a line break: CSV must quote it
CAFE = "Café ☕"  # not ASCII, not Latin-1
PLAN = Plan(PURCHASED, (BASKET,), minimum_effect=0.1)
BROWSERS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
)


def records(people: int = 240, days: int = 4) -> list[Record]:
    """Visitors over ``days`` days at sites 1 and 2, in a split test, a
    declared experiment and (at site 2 only) a third test, converting on a
    goal with a SUM value, one with an AVERAGE value and one without."""
    rng = random.Random(11)
    halves = weights_field({"a": 1, "b": 1})
    out: list[Record] = []
    for i in range(people):
        vid = f"visitor{i:04}"
        when = START + (i % days) * DAY + i
        site = "1" if i % 3 else "2"

        def at(offset: float, when: float = when) -> str:
            return format_timestamp(when + offset)

        url = "/?utm_campaign=spring" if i % 4 == 0 else "/"
        out.append(page_record(at(0), vid, site, "203.0.113.9", "GET", url, BROWSERS[i % 2], ""))
        out.append(pixel_record(at(1), vid, site))
        button = "a" if i % 2 else "b"
        out.append(split_record(at(2), vid, site, BUTTON, button, halves))
        planned = "green" if rng.random() < 0.5 else "orange"
        both = weights_field({"green": 1, "orange": 1})
        out.append(split_record(at(3), vid, site, PLANNED, planned, both, PLAN.to_json()))
        if site == "2":
            out.append(split_record(at(3.5), vid, site, SITE_TWO_ONLY, "x" if i % 2 else "y"))
        if rng.random() < (0.5 if planned == "orange" else 0.3):
            out.append(goal_record(at(4), vid, site, BASKET, f"{rng.randint(1, 9)}", AVERAGE))
            if rng.random() < 0.6:
                value = f"{rng.uniform(5, 80):.2f}"
                out.append(goal_record(at(5), vid, site, PURCHASED, value, SUM, CURRENCY))
        if i % 5 == 0:
            out.append(goal_record(at(6), vid, site, CAFE))
    return out


@contextmanager
def serve(store: SQLStore) -> Iterator[tuple[str, Client]]:
    """A query service over ``store``: its address and a client of it."""
    with (
        QueryService(store, "tcp://127.0.0.1:0") as service,
        Client(service.address, wait=10_000) as client,
    ):
        yield service.address, client


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Client]]:
    """The address of a query service over the counted visitors, and a client of it."""
    aggregator = Aggregator(default_rollups())
    aggregator.add_all(records())
    path = tmp_path_factory.mktemp("export") / "m.db"
    with SQLStore(f"sqlite:///{path}") as store:
        store.commit(aggregator.drain())
        with serve(store) as running:
            yield running


@pytest.fixture
def address(server: tuple[str, Client]) -> str:
    return server[0]


@pytest.fixture
def client(server: tuple[str, Client]) -> Client:
    return server[1]


def export(address: str, *argv: str) -> str:
    out = io.StringIO()
    assert main(["--connect", address, *argv], out) == 0
    return out.getvalue()


def csv_rows(text: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    assert text.endswith("\r\n")
    reader = csv.reader(io.StringIO(text, newline=""))
    assert next(reader) == list(columns)
    return [dict(zip(columns, row, strict=True)) for row in reader]


def jsonl_rows(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


def site_of(text: str) -> int | None:
    return int(text) if text else None


def variant_of(row: dict[str, str]) -> tuple[str, str] | None:
    return (row["test"], row["population"]) if row["test"] else None


def check_count_row(client: Client, row: dict[str, str]) -> None:
    """The row's figures are those the client's queries answer."""
    where = (row["rollup"], row["bucket"], site_of(row["site"]))
    variant = variant_of(row)
    assert int(row["conversions"]) == client.count(row["goal"], variant, *where), row
    assert float(row["value"]) == client.goal_value(row["goal"], variant, *where), row
    if variant is None:
        assert row["visitors"] == ""
    else:
        assert int(row["visitors"]) == client.count(None, variant, *where), row


def test_counts_are_the_client_s_figures_for_every_goal_site_and_population(
    address: str, client: Client
) -> None:
    rows = csv_rows(export(address, "counts"), COUNT_COLUMNS)
    for row in rows:
        check_count_row(client, row)
    goals = ["viewed page", *(goal["name"] for goal in client.goals())]
    assert CAFE in goals
    assert BASKET in goals
    # Every goal in every slice: all sites together, then each; no test,
    # then each test's populations present there.
    slices = list(dict.fromkeys((r["site"], r["test"], r["population"]) for r in rows))
    expected = [
        (site, test, population)
        for site in ["", "1", "2"]
        for test, populations in [("", [""])]
        + [(t["name"], t["populations"]) for t in client.tests()]
        for population in populations
        if not (site == "1" and test == SITE_TWO_ONLY)
    ]
    assert sorted(slices) == sorted(expected)
    for key in slices:
        assert [r["goal"] for r in rows if (r["site"], r["test"], r["population"]) == key] == goals
    assert {(r["rollup"], r["bucket"]) for r in rows} == {("all", "0")}
    purchased = next(r for r in rows if r["goal"] == PURCHASED and not r["test"] and not r["site"])
    assert purchased["value_type"] == SUM
    assert float(purchased["value_total"]) == float(purchased["value"]) > 0


def test_counts_by_rollups_at_one_site_round_trip_as_jsonl(address: str, client: Client) -> None:
    argv = ["counts", "--rollup", "day", "--rollup", "browser", "--site", "1"]
    rows = csv_rows(export(address, *argv), COUNT_COLUMNS)
    objects = jsonl_rows(export(address, *argv, "--format", "jsonl"))
    assert [list(obj) for obj in objects] == [list(COUNT_COLUMNS)] * len(rows)
    for row, obj in zip(rows, objects, strict=True):
        assert obj == {
            **row,
            "site": 1,
            "visitors": int(row["visitors"]) if row["visitors"] else None,
            "conversions": int(row["conversions"]),
            "value_total": float(row["value_total"]),
            "value": float(row["value"]) if "." in row["value"] else int(row["value"]),
        }
        check_count_row(client, row)
    days = client.breakdown("day", ["viewed page"], site_id=1)
    assert [r["bucket"] for r in rows if r["rollup"] == "day" and r["goal"] == "viewed page"][
        : len(days)
    ] == list(days)
    assert {r["rollup"] for r in rows} == {"day", "browser"}


def test_counts_limit_and_order_pick_the_buckets_as_breakdown_does(
    address: str, client: Client
) -> None:
    for order in ("bucket", "visitors"):
        rows = csv_rows(
            export(address, "counts", "--rollup", "day", "--limit", "2", "--order", order),
            COUNT_COLUMNS,
        )
        chosen = client.breakdown("day", ["viewed page"], limit=2, order=order)
        assert {r["bucket"] for r in rows} == set(chosen)


def test_counts_of_more_goals_than_one_breakdown_takes(tmp_path: Path) -> None:
    goals = [f"goal {n:03}" for n in range(120)]
    counts = {
        CounterKey("all", "0", ALL_SITES, goal, "", ""): [n + 1, n * 1.5, 0.0]
        for n, goal in enumerate(goals)
    }
    counts[CounterKey("all", "0", ALL_SITES, "viewed page", "", "")] = [500, 0.0, 0.0]
    # Only the third query of the breakdown sees the first day.
    counts[CounterKey("day", "2026-01-01", ALL_SITES, "goal 110", "", "")] = [3, 4.5, 0.0]
    counts[CounterKey("day", "2026-01-02", ALL_SITES, "goal 000", "", "")] = [2, 0.0, 0.0]
    infos = {goal: GoalInfo("S" if n % 2 else "", "", 1.0, 2.0) for n, goal in enumerate(goals)}
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.commit(Batch(counts=counts, goals=infos))
        with serve(store) as (address, client):
            rows = csv_rows(export(address, "counts"), COUNT_COLUMNS)
            assert [r["goal"] for r in rows] == ["viewed page", *goals]
            days = csv_rows(export(address, "counts", "--rollup", "day"), COUNT_COLUMNS)
            assert [r["bucket"] for r in days] == ["2026-01-01"] * 121 + ["2026-01-02"] * 121
            for row in rows + days:
                check_count_row(client, row)


def test_tests_are_the_client_s_figures_per_population_and_goal(
    address: str, client: Client
) -> None:
    rows = csv_rows(export(address, "tests"), TEST_COLUMNS)
    goals = ["viewed page", *(goal["name"] for goal in client.goals())]
    expected = [
        (test["name"], population, goal)
        for test in client.tests()
        for population in test["populations"]
        for goal in goals
    ]
    assert [(r["test"], r["population"], r["goal"]) for r in rows] == expected
    for row in rows:
        variant = (row["test"], row["population"])
        visitors = client.count(None, variant)
        conversions = client.count(row["goal"], variant)
        assert (int(row["visitors"]), int(row["conversions"])) == (visitors, conversions)
        assert float(row["rate"]) == conversions / visitors
        assert float(row["value"]) == client.goal_value(row["goal"], variant)
        index = goals[1:].index(row["goal"]) if row["goal"] != "viewed page" else None
        if index is not None:
            assert (
                float(row["value"])
                == client.results(row["test"], goals[1:])[row["population"]][index]
            )


def test_tests_at_a_site_where_a_test_did_not_run(address: str, client: Client) -> None:
    text = export(address, "tests", "--test", SITE_TWO_ONLY, "--site", "1", "--format", "jsonl")
    rows = jsonl_rows(text)
    assert {(r["population"], r["visitors"], r["conversions"], r["rate"]) for r in rows} == {
        ("x", 0, 0, None),
        ("y", 0, 0, None),
    }
    at_two = csv_rows(
        export(address, "tests", "--test", SITE_TWO_ONLY, "--site", "2"), TEST_COLUMNS
    )
    for row in at_two:
        assert int(row["visitors"]) == client.count(
            None, (SITE_TWO_ONLY, row["population"]), site_id=2
        )
        assert int(row["visitors"]) > 0


def test_analysis_rows_are_the_analysis_flattened(address: str, client: Client) -> None:
    rows = csv_rows(
        export(address, "analysis", "--test", PLANNED, "--test", BUTTON), ANALYSIS_COLUMNS
    )
    for test in (PLANNED, BUTTON):
        analysis = client.analyze(test)
        mine = [r for r in rows if r["test"] == test]
        assert [(r["goal"], r["population"]) for r in mine] == [
            (goal, population)
            for goal, result in analysis["goals"].items()
            for population in result["populations"]
        ]
        for row in mine:
            figures: Any = analysis["goals"][row["goal"]]["populations"][row["population"]]
            assert row["control"] == analysis["control"]
            assert int(row["visitors"]) == figures["visitors"]
            assert float(row["rate"]) == figures["rate"]
            assert [float(row["rate_low"]), float(row["rate_high"])] == figures["rate_interval"]
            assert row["srm_mismatch"] == ("true" if analysis["srm"]["mismatch"] else "false")
            if row["population"] == analysis["control"]:
                assert row["p_value"] == row["lift"] == row["enough_data"] == ""
                continue
            assert row["enough_data"] == ("true" if figures["enough_data"] else "false")
            assert float(row["p_value"]) == figures["p_value"]
            assert float(row["lift"]) == figures["lift"]["absolute"]
            assert [float(row["relative_lift_low"]), float(row["relative_lift_high"])] == (
                figures["lift"]["relative_interval"]
            )
            if "always_valid_p" in figures:
                assert float(row["always_valid_p"]) == figures["always_valid_p"]
                low, high = figures["always_valid_interval"]
                assert (float(row["always_valid_low"]), float(row["always_valid_high"])) == (
                    low,
                    high,
                )
            else:
                assert row["always_valid_p"] == row["always_valid_low"] == ""
            value = figures.get("value")
            if value is None:
                assert row["value_total"] == row["value_lift"] == ""
            else:
                assert float(row["value_total"]) == value["total"]
                assert float(row["value_p_value"]) == value["p_value"]
                assert float(row["value_lift"]) == value["lift"]["absolute"]
    # The declared experiment has its always-valid figures on its goals.
    assert any(r["always_valid_p"] for r in rows if r["test"] == PLANNED)
    assert not any(r["always_valid_p"] for r in rows if r["test"] == BUTTON)


def test_analysis_as_jsonl_is_the_analysis_itself(address: str, client: Client) -> None:
    text = export(
        address, "analysis", "--test", BUTTON, "--goal", CAFE, "--site", "2", "--format", "jsonl"
    )
    assert jsonl_rows(text) == [client.analyze(BUTTON, [CAFE], site_id=2)]
    text = export(
        address, "analysis", "--test", PLANNED, "--control", "orange", "--format", "jsonl"
    )
    (analysis,) = jsonl_rows(text)
    expected = client.analyze(PLANNED, control="orange")
    # The days to go are counted from the time of each call.
    for plan in (analysis["plan"], expected["plan"]):
        assert plan.pop("expected_days_remaining") is not None
    assert analysis == expected
    assert analysis["control"] == "orange"


def test_output_is_utf_8_whatever_the_locale(address: str) -> None:
    command = "import sys; from manhattan.client.export import main; sys.exit(main())"
    result = subprocess.run(
        [sys.executable, "-c", command, "--connect", address, "counts"],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "latin-1"},
        check=False,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, b"")
    text = result.stdout.decode("utf-8")
    assert f'"{CAFE}"' not in text  # no quotes needed
    assert CAFE in text
    assert '"Basket, ""big""\nline"' in text  # RFC 4180 quoting, the line break kept


def test_standard_output_is_written_as_is(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--connect", address, "tests", "--test", BUTTON]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith(",".join(TEST_COLUMNS) + "\r\n")


def test_standard_output_replaced_by_a_text_buffer(address: str) -> None:
    with redirect_stdout(io.StringIO()) as out:
        assert main(["--connect", address, "analysis", "--test", BUTTON, "--format", "jsonl"]) == 0
    assert jsonl_rows(out.getvalue())[0]["test"] == BUTTON


def test_an_empty_store_exports_a_header_only(tmp_path: Path) -> None:
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store, serve(store) as (address, _):
        for name, exporter in EXPORTERS.items():
            if name != "analysis":
                text = export(address, name)
                assert text == ",".join(exporter.columns) + "\r\n"
                assert export(address, name, "--format", "jsonl") == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["analysis", "--test", "Nope"],
            "QueryError: no test named 'Nope' (tests() lists the known tests)",
            id="analysis-unknown-test",
        ),
        pytest.param(
            ["tests", "--test", "Nope"],
            "QueryError: no test named 'Nope'",
            id="tests-unknown-test",
        ),
        pytest.param(
            ["counts", "--rollup", "dya"],
            "QueryError: no rollup named 'dya' (did you mean 'day'?)",
            id="unknown-rollup",
        ),
        pytest.param(["counts", "--site", "7"], "QueryError: no site", id="unknown-site"),
    ],
)
def test_a_query_the_server_refuses_exits_1_with_its_message(
    address: str, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--connect", address, *argv], io.StringIO()) == 1
    assert error_line(capsys.readouterr(), "manhattan-export").startswith(message)


def test_no_server_is_a_timeout_saying_what_to_check(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert main(["--connect", "tcp://127.0.0.1:9", "--wait", "200", "tests"], out) == 1
    assert out.getvalue() == ""
    line = error_line(capsys.readouterr(), "manhattan-export")
    assert line.startswith("no reply to goals from tcp://127.0.0.1:9 within 200 ms")
    assert "the server may not be running" in line


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param([], "the following arguments are required: EXPORT", id="no-export"),
        pytest.param(["analysis"], "the following arguments are required: --test", id="no-test"),
        pytest.param(["counts", "--format", "xml"], "argument --format: invalid choice", id="xml"),
        pytest.param(["counts", "--limit", "0"], "argument --limit: must be at least 1", id="0"),
        pytest.param(
            ["counts", "--limit", "401"], "argument --limit: must be at most 400", id="401"
        ),
        pytest.param(["counts", "--order", "x"], "argument --order: invalid choice", id="order"),
        pytest.param(["tests", "--site", "-1"], "argument --site: must be at least 0", id="site"),
        pytest.param(["--connect", "127.0.0.1:5555", "tests"], "did you mean 'tcp://", id="addr"),
        pytest.param(["counts", "--connect", "x"], "unrecognized arguments: --connect", id="late"),
    ],
)
def test_bad_command_lines_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv, io.StringIO()) == 2
    assert message in error_line(capsys.readouterr(), "manhattan-export")


def test_help_lists_the_exports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: manhattan-export")
    listed = [line.split()[0] for line in out.splitlines() if re.match(r" {4}\S", line)]
    assert listed == list(EXPORTERS) == ["counts", "pages", "funnels", "tests", "analysis"]


def test_output_nobody_reads_ends_quietly(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    read, write = os.pipe()
    os.close(read)
    with open(write, "w") as out:
        assert main(["--connect", address, "counts"], out) == BROKEN_PIPE_STATUS
    assert capsys.readouterr().err == ""


def test_piped_into_head_ends_quietly_with_141(address: str) -> None:
    command = "import sys; from manhattan.client.export import main; sys.exit(main())"
    export = subprocess.Popen(
        [sys.executable, "-c", command, "--connect", address, "counts", "--rollup", "day"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert export.stdout is not None
    export.stdout.close()  # as head does once it has its lines
    _, err = export.communicate(timeout=60)
    assert (export.returncode, err) == (BROKEN_PIPE_STATUS, b"")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        pytest.param(None, "", id="none"),
        pytest.param(float("nan"), "", id="nan"),
        pytest.param(float("inf"), "", id="inf"),
        pytest.param(True, "true", id="true"),
        pytest.param(False, "false", id="false"),
        pytest.param(0.1 + 0.2, "0.30000000000000004", id="unrounded"),
        pytest.param(1e16, "1e+16", id="large"),
        pytest.param(12, "12", id="int"),
        pytest.param("a,b", "a,b", id="str"),
    ],
)
def test_cells(value: object, text: str) -> None:
    assert cell(plain(value)) == text
    if isinstance(value, float) and text:
        assert float(text) == value


def test_non_finite_figures_are_null_in_json() -> None:
    document = {"a": [1.5, float("nan")], "b": {"c": float("-inf")}, "d": "x"}
    assert plain(document) == {"a": [1.5, None], "b": {"c": None}, "d": "x"}
