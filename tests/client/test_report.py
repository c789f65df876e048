"""manhattan-report against a real query service over a real store."""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from manhattan.analysis.report import analyze
from manhattan.backend.model import ALL_SITES, Batch, CounterKey, GoalInfo, TestInfo, TestStats
from manhattan.backend.persistence import SQLStore
from manhattan.client import DEFAULT_WAIT
from manhattan.client.options import BROKEN_PIPE_STATUS
from manhattan.client.report import build_parser, main, render
from manhattan.server.service import QueryService


def counts(rows: dict[tuple[str, str], tuple[int, float, float]]) -> dict[CounterKey, list[float]]:
    return {
        CounterKey("all", "0", ALL_SITES, goal, "Button", population): list(value)
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
    orange = next(line for line in text.splitlines() if line.strip().startswith("orange"))
    assert "1,000" in orange
    assert "13.0%" in orange
    assert "+30.0%" in orange
    tiny = next(line for line in text.splitlines() if line.strip().startswith("tiny"))
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
    with pytest.raises(SystemExit) as exited:
        main(["Button", "--weight", weight])
    assert exited.value.code == 2
    assert "--weight must be POPULATION=NUMBER" in capsys.readouterr().err


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
        pytest.param(["--wait", "0"], "must be positive", id="wait"),
        pytest.param(["--weight", "green=nan"], "--weight must be POPULATION=NUMBER", id="nan"),
        pytest.param(["--curve-secret-key", "me.key_secret"], "needs curve_server_key", id="key"),
    ],
)
def test_bad_command_lines_are_usage_errors(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["Button", *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err.splitlines()[-1]


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
