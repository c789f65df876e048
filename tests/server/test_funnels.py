"""Funnels through manhattan-server: declared with --funnel/--within (or a
config dict), counted from a real file log with --once, recorded in the
store, answered over a real socket, and refused in one error line."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from manhattan.backend.persistence import SQLStore
from manhattan.client import Client
from manhattan.experiments import Experiment
from manhattan.server import cli
from manhattan.server.config import ConfigError, Settings, merge
from manhattan.server.service import StoreQueries
from tests.server.test_cli import first_log, free_port, one_error_line
from tests.server.test_experiments import START, visit
from tests.server.test_worker import log_at

JOIN = "Join|viewed page>signup>purchase"
# From FIRST (tests/server/test_worker.py), by hand: A views a page, splits
# red, signs up and buys: every step. B views a page, splits blue and buys
# without signing up: step 1 only. C never loads the pixel, D is Googlebot.
JOIN_STEPS = [("viewed page", 2), ("signup", 1), ("purchase", 1)]
WAIT = 5000  # ms: only elapses when a test fails


def test_once_counts_a_funnel_from_the_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, url, _ = first_log(tmp_path)
    argv = ["-p", path, "-u", url, "--once", "--funnel", JOIN, "--within", "1h"]
    assert cli.main(argv) == 0
    assert capsys.readouterr().out == ""
    with SQLStore(url) as store:
        assert store.funnels() == [
            {"name": "Join", "steps": ["viewed page", "signup", "purchase"], "within": 3600.0}
        ]
        assert store.funnel("Join") == JOIN_STEPS
        # The splits came after the page views: step 1 counts for each
        # population as its visitor enters it (funnels.standing).
        assert store.funnel("Join", ("Button", "red")) == [
            ("viewed page", 1),
            ("signup", 1),
            ("purchase", 1),
        ]
        assert store.funnel("Join", ("Button", "blue")) == [
            ("viewed page", 1),
            ("signup", 0),
            ("purchase", 0),
        ]
        assert store.funnel("Join", rollup_key="day", bucket_id="2025-11-24", site_id=1) == (
            JOIN_STEPS
        )
        # A step is a goal an experiment's analysis can target.
        analysis = StoreQueries(store).analyze("Button", goals=["Join: purchase"])
        bought = analysis["goals"]["Join: purchase"]["populations"]
        assert (bought["red"]["conversions"], bought["blue"]["conversions"]) == (1, 0)


def test_a_server_answers_funnels_over_its_socket(tmp_path: Path) -> None:
    path, url, _ = first_log(tmp_path)
    bind = f"tcp://127.0.0.1:{free_port()}"
    settings = merge(
        {"funnel": (JOIN,), "within": "1d"},
        {"path": path, "url": url, "bind": bind, "flush_seconds": 0.05},
    )
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(cli.run(settings, stop)))
    thread.start()
    answers: list[Any] = []
    try:
        with Client(bind, wait=WAIT) as client:
            deadline = time.monotonic() + WAIT / 1000
            while time.monotonic() < deadline:
                answers = [client.funnels(), client.funnel("Join")]
                if answers[1] == JOIN_STEPS:
                    break
                time.sleep(0.01)
            assert client.count("Join: signup") == 1
    finally:
        stop.set()
        thread.join(10)
    assert result == [0]
    assert answers == [
        [{"name": "Join", "steps": ["viewed page", "signup", "purchase"], "within": 86400.0}],
        JOIN_STEPS,
    ]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(
            ["--funnel", "Join"], "funnel 'Join' must be 'name|step1>step2>...'", id="bar"
        ),
        pytest.param(["--funnel", "Join|a"], "funnel 'Join' needs at least two steps", id="one"),
        pytest.param(["--funnel", "Join|a>b>a"], "funnel 'Join' repeats the step 'a'", id="twice"),
        pytest.param(
            ["--funnel", "J|a>b", "--funnel", "J|c>d"], "funnel 'J' is declared twice", id="dup"
        ),
        pytest.param(
            ["--funnel", "J|a>b", "-c", "J|x"],
            "funnel 'J': 'J' is also the name of a complex goal",
            id="complex",
        ),
        pytest.param(
            ["--funnel", "J|a>b", "--within", "0m"], "funnel window '0m' must be longer", id="zero"
        ),
        pytest.param(
            ["--funnel", "J|a>b", "--within=-1d"],
            "funnel window '-1d' must be a positive number and a unit",
            id="negative",
        ),
        pytest.param(
            ["--funnel", "J|a>b", "--within", "soon"],
            "funnel window 'soon' must be a positive number and a unit",
            id="junk",
        ),
        pytest.param(["--within", "1d"], "--within is the window of the funnels", id="no-funnel"),
    ],
)
def test_bad_funnel_flags_are_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    path, url, _ = first_log(tmp_path)
    assert cli.main(["--path", path, "--url", url, "--once", *flags]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert one_error_line(err).startswith(message)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"funnel": "J|a>b"}, "funnel must be a list", id="str"),
        pytest.param({"funnel": [1]}, "funnel must be a list", id="item"),
        pytest.param({"funnel": ["J|a>b"], "within": 60}, "within must be a window", id="number"),
        pytest.param(
            {"path": "", "query_only": True, "funnel": ["J|a>b"]},
            "--query-only counts nothing: leave out --funnel",
            id="query-only",
        ),
    ],
)
def test_bad_funnel_settings_are_named(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings(**{"path": "x", **values}).check()


def test_funnel_flags_are_repeatable() -> None:
    settings = cli.settings_from(
        ["-p", "x", "--funnel", "A|a>b", "--funnel", "B|c>d", "--within", "2w"]
    )
    assert (settings.funnel, settings.within) == (["A|a>b", "B|c>d"], "2w")


def test_an_experiment_can_be_decided_on_a_funnel_step(tmp_path: Path) -> None:
    name = f"Button {uuid.uuid4()}"
    experiment = Experiment(name, ["green", "orange"], goal="Join: Purchased")
    log, _ = log_at(tmp_path)
    bought: dict[str, int] = {"green": 0, "orange": 0}
    for i in range(30):
        # Each visit: a page, the pixel, the split, then (every third) the
        # purchase: step 2 after the split, so credited to the population.
        goals = ("Purchased",) if i % 3 == 0 else ()
        chosen = visit(log, f"visitor-{i:02d}", START + i * 60, experiment, *goals)
        bought[str(chosen)] += bool(goals)
    log.close()
    url = f"sqlite:///{tmp_path / 'm.db'}"
    assert (
        cli.main(["-p", log.path, "-u", url, "--once", "--funnel", "Join|viewed page>Purchased"])
        == 0
    )
    with SQLStore(url) as store:
        analysis = StoreQueries(store).analyze(name)
    assert analysis["plan"]["goal"] == "Join: Purchased"
    populations = analysis["goals"]["Join: Purchased"]["populations"]
    assert {p: populations[p]["conversions"] for p in bought} == bought
    assert sum(bought.values()) == 10
