"""The console scripts: each runs its CLI, or names the extra it lacks in one line."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from manhattan import _entry
from manhattan._entry import SERVER_SCRIPT, Script, launch, missing
from tests.cli_output import error_line

ROOT = Path(__file__).resolve().parent.parent

ENTRIES: list[tuple[Callable[[], int], Script]] = [
    (_entry.server, _entry.SERVER_SCRIPT),
    (_entry.client, _entry.CLIENT_SCRIPT),
    (_entry.report, _entry.REPORT_SCRIPT),
    (_entry.log_server, _entry.LOG_SERVER_SCRIPT),
    (_entry.dashboard, _entry.DASHBOARD_SCRIPT),
    (_entry.keys, _entry.KEYS_SCRIPT),
    (_entry.export, _entry.EXPORT_SCRIPT),
    (_entry.erase, _entry.ERASE_SCRIPT),
]


def test_console_scripts_go_through_the_entry_points() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {
        script.program: f"manhattan._entry:{entry.__name__}" for entry, script in ENTRIES
    }
    # Each script's extra installs the modules the script looks for.
    extras = project["optional-dependencies"]
    for _, script in ENTRIES:
        assert script.extra in extras, script.program


@pytest.mark.parametrize(
    ("entry", "program"),
    [pytest.param(entry, script.program, id=script.program) for entry, script in ENTRIES],
)
def test_script_runs_its_cli(
    entry: Callable[[], int],
    program: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "argv", [program, "--help"])
    assert entry() == 0
    assert capsys.readouterr().out.startswith(f"usage: {program}")


USAGE_ERRORS = [
    (_entry.SERVER_SCRIPT, ["--flush-every", "ten"], "argument --flush-every: must be a whole"),
    (_entry.SERVER_SCRIPT, ["-p", "log", "--bogus"], "unrecognized arguments: --bogus"),
    (_entry.CLIENT_SCRIPT, ["--wait", "0"], "argument --wait: must be at least 1, not 0"),
    (_entry.CLIENT_SCRIPT, ["--bogus"], "unrecognized arguments: --bogus"),
    (_entry.REPORT_SCRIPT, ["T", "--site", "x"], "argument --site: must be a whole number"),
    (_entry.REPORT_SCRIPT, ["T", "--bogus"], "unrecognized arguments: --bogus"),
    (_entry.LOG_SERVER_SCRIPT, ["-p", "log", "--batch", "0"], "argument --batch: must be at"),
    (_entry.LOG_SERVER_SCRIPT, ["-p", "log", "--bogus"], "unrecognized arguments: --bogus"),
    (_entry.DASHBOARD_SCRIPT, ["--wait", "-5"], "argument --wait: must be at least 1, not -5"),
    (_entry.DASHBOARD_SCRIPT, ["--bogus"], "unrecognized arguments: --bogus"),
    (_entry.KEYS_SCRIPT, [], "the following arguments are required: name"),
    (_entry.KEYS_SCRIPT, ["server", "--bogus"], "unrecognized arguments: --bogus"),
    (_entry.EXPORT_SCRIPT, [], "the following arguments are required: EXPORT"),
    (_entry.EXPORT_SCRIPT, ["counts", "--limit", "401"], "argument --limit: must be at most"),
    (_entry.ERASE_SCRIPT, ["v1", "--lease-seconds", "0"], "argument --lease-seconds: must be a"),
    (_entry.ERASE_SCRIPT, [], "the following arguments are required: VISITOR_ID"),
]


@pytest.mark.parametrize(
    ("script", "argv", "message"),
    [
        pytest.param(script, argv, message, id=f"{script.program} {' '.join(argv)}")
        for script, argv, message in USAGE_ERRORS
    ],
)
def test_every_script_exits_2_with_one_line_on_a_usage_error(
    script: Script, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert launch(script, argv) == 2
    assert error_line(capsys.readouterr(), script.program).startswith(message)


def test_every_script_has_a_usage_error_in_the_table() -> None:
    assert {script for script, _, _ in USAGE_ERRORS} == {script for _, script in ENTRIES}


@pytest.mark.parametrize(
    ("function", "blocked", "line"),
    [
        pytest.param(
            "server",
            "sqlalchemy",
            "manhattan-server needs the server extra: pip install 'manhattan[server]'",
            id="server-without-sqlalchemy",
        ),
        pytest.param(
            "server",
            "ua_parser",
            "manhattan-server needs the server extra: pip install 'manhattan[server]'",
            id="server-without-ua-parser",
        ),
        pytest.param(
            "erase",
            "sqlalchemy",
            "manhattan-erase needs the server extra: pip install 'manhattan[server]'",
            id="erase-without-sqlalchemy",
        ),
        pytest.param(
            "report",
            "zmq",
            "manhattan-report needs the client extra: pip install 'manhattan[client]'",
            id="report-without-pyzmq",
        ),
        pytest.param(
            "client",
            "zmq",
            "manhattan-client needs the client extra: pip install 'manhattan[client]'",
            id="client-without-pyzmq",
        ),
        pytest.param(
            "export",
            "zmq",
            "manhattan-export needs the client extra: pip install 'manhattan[client]'",
            id="export-without-pyzmq",
        ),
        pytest.param(
            "keys",
            "zmq",
            "manhattan-keys needs the client extra: pip install 'manhattan[client]'",
            id="keys-without-pyzmq",
        ),
        pytest.param(
            "dashboard",
            "jinja2",
            "manhattan-dashboard needs the dashboard extra: pip install 'manhattan[dashboard]'",
            id="dashboard-without-jinja2",
        ),
        pytest.param(
            "log_server",
            "redis",
            "manhattan-log-server needs the redis extra: pip install 'manhattan[redis]'",
            id="log-server-without-redis",
        ),
    ],
)
def test_script_without_its_extra_says_which_in_one_line(
    function: str, blocked: str, line: str
) -> None:
    # As the console script runs it, in a fresh interpreter where the
    # module cannot be imported, as if never installed.
    code = (
        f"import sys; sys.modules[{blocked!r}] = None; "
        f"from manhattan._entry import {function}; sys.exit({function}())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "--help"], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"{line} (no module named {blocked!r})\n"


def test_missing_names_the_first_absent_module(monkeypatch: pytest.MonkeyPatch) -> None:
    assert missing(("json", "zmq")) is None
    monkeypatch.setitem(sys.modules, "zmq", None)
    assert missing(("json", "zmq", "manhattan_no_such_module")) == "zmq"


def test_launch_without_the_extra_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)
    assert launch(SERVER_SCRIPT, ["--help"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("manhattan-server needs the server extra")


def test_launch_names_a_missing_dependency_of_a_dependency(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "manhattan_test_cli.py").write_text("import manhattan_test_absent_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    script = Script("manhattan-test", "manhattan_test_cli", "server", ())
    assert launch(script, []) == 2
    assert capsys.readouterr().err == (
        "manhattan-test needs the server extra: pip install 'manhattan[server]' "
        "(no module named 'manhattan_test_absent_dependency')\n"
    )


def test_launch_lets_a_broken_install_raise() -> None:
    # A module of the package itself missing is no extra to install.
    script = Script("manhattan-test", "manhattan.no_such_module", "server", ())
    with pytest.raises(ModuleNotFoundError, match=r"manhattan\.no_such_module"):
        launch(script, [])
