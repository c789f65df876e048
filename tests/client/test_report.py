"""manhattan-report against a real query service over a real store."""

from __future__ import annotations

import io
import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from manhattan.analysis.plan import Plan
from manhattan.analysis.report import analyze
from manhattan.analysis.wording import plan_items, verdict
from manhattan.backend.model import (
    ALL_SITES,
    Batch,
    CounterKey,
    GoalInfo,
    TestInfo,
    TestPlan,
    TestStats,
)
from manhattan.backend.persistence import SQLStore
from manhattan.client import DEFAULT_WAIT
from manhattan.client.options import BROKEN_PIPE_STATUS
from manhattan.client.report import build_parser, main, render
from manhattan.server.service import QueryService
from tests.cli_output import error_line


def counts(
    rows: dict[tuple[str, str], tuple[int, float, float]], test: str = "Button"
) -> dict[CounterKey, list[float]]:
    return {
        CounterKey("all", "0", ALL_SITES, goal, test, population): list(value)
        for (goal, population), value in rows.items()
    }


@pytest.fixture
def address(tmp_path: Path) -> Iterator[str]:
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.commit(
            Batch(
                counts=counts(
                    {
                        ("", "green"): (1000, 0, 0),
                        ("", "orange"): (1000, 0, 0),
                        ("", "tiny"): (20, 0, 0),
                        ("Buy", "green"): (100, 1000.0, 20000.0),
                        ("Buy", "orange"): (130, 1300.0, 26000.0),
                        ("Buy", "tiny"): (2, 20.0, 200.0),
                        ("Cart", "green"): (300, 0, 0),
                        ("Cart", "orange"): (0, 0, 0),
                    }
                ),
                goals={"Buy": GoalInfo("S", "C", 1.0, 2.0), "Cart": GoalInfo("", "", 1.0, 2.0)},
                tests={
                    "Button": TestInfo(
                        1.0, 2.0, weights={"green": 1.0, "orange": 1.0, "tiny": 0.02}
                    )
                },
            )
        )
        with QueryService(store, "tcp://127.0.0.1:0") as service:
            yield service.address


def test_the_table(address: str) -> None:
    out = io.StringIO()
    assert main(["Button", "--connect", address], out) == 0
    text = out.getvalue()
    assert text.startswith("Button  (control: green)\nsample ratio: ok")
    assert "goal: Buy" in text
    assert "goal: Cart" in text
    # No plan: no goal is picked to judge it on, and the figures say what they are.
    assert "\nverdict: no declared plan: fixed-horizon figures only\n" in text
    assert "\nnote: These are fixed-horizon figures" in text
    # The table's row (the verdict's figures above it also start with the name).
    orange = next(line for line in text.splitlines() if re.match(r"  orange +[\d,]+ ", line))
    assert "1,000" in orange
    assert "13.0%" in orange
    assert "+30.0%" in orange
    tiny = next(line for line in text.splitlines() if re.match(r"  tiny +[\d,]+ ", line))
    assert "not enough data" in tiny
    assert "per visitor" in text


def test_json_and_goal_selection(address: str) -> None:
    out = io.StringIO()
    assert (
        main(
            ["Button", "--goal", "Buy", "--json", "--control", "orange", "--connect", address], out
        )
        == 0
    )
    analysis = json.loads(out.getvalue())
    assert analysis["control"] == "orange"
    assert list(analysis["goals"]) == ["Buy"]


def test_weights_for_a_log_that_lacks_them(address: str) -> None:
    out = io.StringIO()
    args = ["Button", "--weight", "green=1", "--weight", "orange=1", "--weight", "tiny=0.02"]
    assert main([*args, "--connect", address], out) == 0
    assert "weights given" in out.getvalue()


@pytest.mark.parametrize(
    "weight", [pytest.param("green", id="no-number"), pytest.param("=2", id="no-name")]
)
def test_bad_weight_flags(weight: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["Button", "--weight", weight]) == 2
    assert error_line(capsys.readouterr(), "manhattan-report") == (
        f"--weight must be POPULATION=NUMBER, not {weight!r}"
    )


def test_server_errors_are_one_line(address: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["Nope", "--connect", address]) == 1
    assert capsys.readouterr().err.startswith("manhattan-report: error: QueryError")


def test_no_server_is_a_timeout_saying_what_to_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["Button", "--connect", "tcp://127.0.0.1:9", "--wait", "200"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("manhattan-report: error: no reply to analyze from tcp://127.0.0.1:9")
    assert "the server may not be running" in err
    assert "manhattan-client --connect tcp://127.0.0.1:9 ping" in err


def test_waits_as_long_as_the_client() -> None:
    assert build_parser().parse_args(["Button"]).wait == DEFAULT_WAIT


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["--connect", "127.0.0.1:5555"], "did you mean 'tcp://127.0.0.1:5555'?", id="connect"
        ),
        pytest.param(["--wait", "0"], "argument --wait: must be at least 1, not 0", id="wait"),
        pytest.param(["--site", "-1"], "argument --site: must be at least 0, not -1", id="site"),
        pytest.param(
            ["--site", "x"], "argument --site: must be a whole number, not 'x'", id="site-x"
        ),
        pytest.param(["--weight", "green=nan"], "--weight must be POPULATION=NUMBER", id="nan"),
        pytest.param(["--curve-secret-key", "me.key_secret"], "needs curve_server_key", id="key"),
    ],
)
def test_bad_command_lines_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["Button", *argv]) == 2
    assert message in error_line(capsys.readouterr(), "manhattan-report")


def test_output_nobody_reads_ends_quietly(
    address: str, capsys: pytest.CaptureFixture[str]
) -> None:
    read, write = os.pipe()
    os.close(read)
    with open(write, "w") as out:
        assert main(["Button", "--json", "--connect", address], out) == BROKEN_PIPE_STATUS
    assert capsys.readouterr().err == ""


def test_piped_into_head_ends_quietly_with_141(address: str) -> None:
    command = "import sys; from manhattan.client.report import main; sys.exit(main())"
    report = subprocess.Popen(
        [sys.executable, "-c", command, "Button", "--json", "--connect", address],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert report.stdout is not None
    report.stdout.close()  # as head does once it has its lines
    _, err = report.communicate(timeout=30)
    assert (report.returncode, err) == (141, b"")


def test_render_flags_a_sample_ratio_mismatch() -> None:
    analysis = {
        "test": "T",
        "control": "a",
        "crossovers": 2,
        "srm": {"mismatch": True, "p_value": 1e-9, "weights_recorded": False},
        "goals": {
            "g": {
                "populations": {
                    "a": {
                        "visitors": 10,
                        "conversions": 0,
                        "rate": 0.0,
                        "rate_interval": [0, 0.3],
                    },
                    "b": {
                        "visitors": 10,
                        "conversions": 1,
                        "rate": 0.1,
                        "rate_interval": [0.01, 0.4],
                        "lift": {"absolute": 0.1, "relative": None},
                        "p_value": 0.5,
                        "p_value_holm": 0.5,
                        "chance_to_beat_control": 0.8,
                    },
                    # An older server's reply, without the newer fields.
                    "c": {
                        "visitors": 0,
                        "conversions": 0,
                        "rate": 0.0,
                        "rate_interval": [0, 1],
                        "p_value": 0.9,
                    },
                }
            }
        },
    }
    text = render(analysis)
    assert "MISMATCH" in text
    assert "p = <0.0001" in text
    assert "weights assumed equal" in text
    assert "+0.1" in text  # no relative lift over a control rate of 0
    row_c = next(line for line in text.splitlines() if line.strip().startswith("c "))
    assert row_c.split()[-4:] == ["n/a", "0.9000", "-", "n/a"]


def test_render_shows_overflowed_value_totals() -> None:
    stats = TestStats(
        "T",
        visitors={"a": 200, "b": 200},
        goals={"g": {"a": (50, 500.0, 5000.0), "b": (60, math.inf, math.inf)}},
        value_types={"g": "S"},
    )
    text = render(analyze(stats))
    assert "overflowed" in text
    assert "5.00" not in text.split("overflowed")[1]  # no figures after it for b


@pytest.mark.parametrize(
    ("lower", "headings"),
    [
        pytest.param((), ["goal: Buy", "goal: Cart"], id="all-better-higher"),
        pytest.param(
            ("Cart",), ["goal: Buy", "goal: Cart (lower is better)"], id="guardrail-lower"
        ),
        pytest.param(
            ("Buy", "Cart"),
            ["goal: Buy (lower is better)", "goal: Cart (lower is better)"],
            id="both-lower",
        ),
    ],
)
def test_render_marks_the_goals_better_lower(lower: tuple[str, ...], headings: list[str]) -> None:
    stats = TestStats(
        "T",
        visitors={"a": 1000, "b": 1000},
        goals={"Buy": {"a": (100, 0.0, 0.0)}, "Cart": {"b": (50, 0.0, 0.0)}},
    )
    plan = Plan("Buy", ("Cart",), lower_is_better=lower)
    lines = render(analyze(stats, plan=plan)).splitlines()
    assert [line for line in lines if line.startswith("goal: ")] == headings
    said = verdict(analyze(stats, plan=plan))
    assert "plan: " + "; ".join(f"{label} {value}" for label, value in said.plan) in lines


CHECKOUT_PLAN = Plan("Buy", ("Cart",), minimum_effect=0.1)
BANNER_PLAN = Plan("Buy", minimum_effect=0.5, winner="orange")


@pytest.fixture
def planned(tmp_path: Path) -> Iterator[str]:
    """A declared experiment running (its plan changed once, its winner
    harms its guardrail) and one that ended."""
    rows = {
        ("", "green"): (10_000, 0, 0),
        ("", "orange"): (10_000, 0, 0),
        ("Buy", "green"): (1000, 0, 0),
        ("Buy", "orange"): (1300, 0, 0),
        ("Cart", "green"): (500, 0, 0),
        ("Cart", "orange"): (200, 0, 0),
    }
    weights = {"green": 1.0, "orange": 1.0}
    earlier = Plan("Buy", ("Cart",), minimum_effect=0.05)
    with SQLStore(f"sqlite:///{tmp_path / 'm.db'}") as store:
        store.commit(
            Batch(
                counts=counts(rows, "Checkout") | counts(rows, "Banner"),
                tests={
                    "Checkout": TestInfo(1.0, 2.0, weights=weights),
                    "Banner": TestInfo(1.0, 2.0, weights=weights),
                },
                plans={
                    "Checkout": TestPlan(CHECKOUT_PLAN.to_json(), 2.0),
                    "Banner": TestPlan(BANNER_PLAN.to_json(), 3.0, 86_400.0 * 3, "orange"),
                },
                versions={
                    ("Checkout", "plan", earlier.to_json()): 1.0,
                    ("Checkout", "plan", CHECKOUT_PLAN.to_json()): 1_764_000_000.0,
                },
            )
        )
        with QueryService(store, "tcp://127.0.0.1:0") as service:
            yield service.address


def report_of(address: str, *args: str) -> str:
    out = io.StringIO()
    assert main([*args, "--connect", address], out) == 0
    return out.getvalue()


def test_a_declared_experiment_is_reported_in_the_dashboard_s_words(planned: str) -> None:
    analysis = json.loads(report_of(planned, "Checkout", "--json"))
    said = verdict(analysis)
    lines = report_of(planned, "Checkout").splitlines()
    assert lines[0] == "Checkout  (control: green)"
    assert lines[1].startswith("sample ratio: ok")
    progress = said.progress
    assert progress is not None
    expected = [
        *(f"warning: {warning}" for warning in said.warnings),
        "plan: " + "; ".join(f"{label} {value}" for label, value in plan_items(analysis["plan"])),
        f"progress: {progress.text} ({progress.share:.0%})",
        f"verdict: {said.headline}",
        *(f"  {figure}" for figure in said.figures),
        *(f"  warning: {harm}" for harm in said.harmed),
        f"note: {said.note}",
    ]
    assert lines[2 : 2 + len(expected)] == expected
    assert len(said.warnings) == 1
    assert "the plan changed: minimum_effect 0.05 -> 0.1" in said.warnings[0]
    assert lines[3] == (
        "plan: primary goal Buy; guardrails Cart; minimum effect +10% of control's rate; "
        "power 80%; alpha 5%"
    )
    assert said.headline.startswith("orange beats green on Buy: +30% (95% always-valid interval")
    assert said.harmed[0].startswith("guardrail Cart harmed by orange: -60%")
    # Below each compared row of the plan's goals, its always-valid interval.
    valid = [line for line in lines if line.strip().startswith("always-valid")]
    assert len(valid) == 2
    assert valid[0].split()[1:3] == ["95%", "interval"]


def test_the_json_carries_plan_decision_warnings_and_end(planned: str) -> None:
    running = json.loads(report_of(planned, "Checkout", "--json"))
    assert running["plan"]["goal"] == "Buy"
    assert running["plan"]["required_visitors_per_population"] > 0
    assert running["decision"]["status"] == "winner"
    assert running["decision"]["harmed_guardrails"] == [{"goal": "Cart", "population": "orange"}]
    assert "always_valid_interval" in running["goals"]["Buy"]["populations"]["orange"]
    assert len(running["warnings"]) == 1
    assert "ended" not in running
    ended = json.loads(report_of(planned, "Banner", "--json"))
    assert ended["ended"] == {"at": 86_400.0 * 3, "winner": "orange"}
    assert ended["warnings"] == []


def test_an_ended_experiment_is_reported_as_ended(planned: str) -> None:
    text = report_of(planned, "Banner")
    said = verdict(json.loads(report_of(planned, "Banner", "--json")))
    lines = text.splitlines()
    assert lines[2] == said.ended
    assert lines[2].startswith("ended 1970-01-04 00:00 UTC, serving orange to everyone")
    assert f"verdict when it ended: {said.headline}" in lines


def test_a_row_without_enough_data_shows_no_lift() -> None:
    # An older server sent a lift for rows without enough data.
    analysis = analyze(
        TestStats("T", visitors={"a": 50, "b": 50}, goals={"g": {"a": (1, 0, 0), "b": (2, 0, 0)}})
    )
    b = analysis["goals"]["g"]["populations"]["b"]
    b["lift"] = {
        "absolute": 0.02,
        "absolute_interval": [-0.1, 0.1],
        "relative": 1.0,
        "relative_interval": [-0.9, 20.0],
    }
    row = next(line for line in render(analysis).splitlines() if line.strip().startswith("b "))
    assert "+100" not in row
    assert "n/a" in row
    assert "not enough data" in row
