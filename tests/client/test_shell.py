"""manhattan-client: a scripted shell against a real QueryService."""

import io
import sys

import pytest

from manhattan.client import Client, ServerError
from manhattan.client.shell import main, make_namespace
from manhattan.server.service import QueryService


class CountingQueries:
    def count(self, goal=None, variant=None, rollup_key="all", bucket_id=0, site_id=None):
        return {"signup": 12}.get(goal, 0)

    def goal_value(self, goal, variant=None, rollup_key="all", bucket_id=0, site_id=None):
        return 0.0

    def all_tests(self):
        return [("Button", 100.0, 300.0)]

    def results(self, test_name, goals, site_id=None):
        return {}

    def goals(self):
        return []

    def tests(self):
        return []


@pytest.fixture
def service():
    with QueryService(CountingQueries(), "tcp://127.0.0.1:0") as service:
        yield service


def run_shell(monkeypatch, argv, script):
    monkeypatch.setattr(sys, "stdin", io.StringIO(script))
    return main(argv)


def test_shell_runs_commands_with_client_connected(monkeypatch, capsys, service):
    script = "print(client.count('signup'))\nprint(client.all_tests())\n"

    status = run_shell(monkeypatch, ["--connect", service.address, "--wait", "5000"], script)

    out, err = capsys.readouterr()
    assert status == 0
    assert "12\n" in out
    assert "[('Button', 100.0, 300.0)]\n" in out
    assert f"Manhattan client for {service.address} (each call waits up to 5000 ms)" in err


def test_shell_survives_server_errors(monkeypatch, capsys, service):
    script = "client.call('flush')\nprint('after', client.count('signup'))\n"

    status = run_shell(monkeypatch, ["--connect", service.address, "--wait", "5000"], script)

    out, err = capsys.readouterr()
    assert status == 0
    assert "ServerError: MethodNotAllowed: method 'flush' is not allowed" in err
    assert "after 12\n" in out


def test_shell_defaults(monkeypatch, capsys):
    status = run_shell(monkeypatch, [], "print(client)\n")

    out, err = capsys.readouterr()
    assert status == 0
    assert "Client(connect='tcp://127.0.0.1:5555', wait=3000)\n" in out
    assert "Manhattan client for tcp://127.0.0.1:5555 (each call waits up to 3000 ms)" in err


def test_namespace_has_client_and_its_types():
    client = Client("tcp://127.0.0.1:5555")

    assert make_namespace(client) == {
        "client": client,
        "Client": Client,
        "ServerError": ServerError,
    }
    client.close()


def test_help_exits_zero_and_lists_flags(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["--help"])

    out, _ = capsys.readouterr()
    assert raised.value.code == 0
    assert "--connect" in out
    assert "--wait" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--wait", "0"], "must be positive: '0'", id="wait-zero"),
        pytest.param(["--wait", "-1"], "must be positive: '-1'", id="wait-negative"),
        pytest.param(["--wait", "soon"], "not a whole number of milliseconds", id="wait-text"),
        pytest.param(["--bogus"], "unrecognized arguments: --bogus", id="unknown-flag"),
        pytest.param(["--connect"], "expected one argument", id="connect-missing"),
    ],
)
def test_bad_flags_are_usage_errors(capsys, argv, message):
    with pytest.raises(SystemExit) as raised:
        main(argv)

    _, err = capsys.readouterr()
    assert raised.value.code == 2
    assert err.startswith("usage: manhattan-client")
    assert message in err


def test_unusable_address_is_one_line_error(capsys):
    with pytest.raises(SystemExit) as raised:
        main(["--connect", "nonsense"])

    assert raised.value.code == "manhattan-client: cannot connect to 'nonsense': Invalid argument"
