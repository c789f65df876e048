"""manhattan-client: a scripted shell against a real QueryService."""

import io
import os
import re
import sys

import pytest

from manhattan.backend.aggregate import Aggregator
from manhattan.backend.live import LiveVisitors
from manhattan.backend.model import QUERY_NAMES, Batch
from manhattan.backend.persistence import SQLStore
from manhattan.backend.rollups import build_rollups, is_crawler
from manhattan.client import Client, ServerError
from manhattan.client.options import BROKEN_PIPE_STATUS
from manhattan.client.shell import main, make_namespace
from manhattan.server.service import QueryService, StoreQueries
from tests.cli_output import error_line
from tests.client.test_client import free_address
from tests.server.test_live import NOW, recent_traffic
from tests.test_keys import make_keys


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


def test_banner_lists_every_query_with_its_parameters(monkeypatch, capsys, service):
    run_shell(monkeypatch, ["--connect", service.address], "")

    err = " ".join(capsys.readouterr().err.split())
    for name in QUERY_NAMES:
        assert f" {name}(" in err
    assert "analyze(test_name, goals, control, site_id, rollup_key, bucket_id, weights)" in err
    assert "breakdown(rollup_key, goals, test_name, site_id, limit, order)" in err
    assert "live(minutes, site_id)" in err
    assert "ping()." in err


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
    assert main(["--help"]) == 0

    out, _ = capsys.readouterr()
    assert "--connect" in out
    assert "--wait" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["--wait", "0"], "argument --wait: must be at least 1, not 0", id="wait-zero"
        ),
        pytest.param(
            ["--wait", "-1"], "argument --wait: must be at least 1, not -1", id="wait-negative"
        ),
        pytest.param(
            ["--wait", "soon"],
            "argument --wait: must be a whole number of milliseconds, not 'soon'",
            id="wait-text",
        ),
        pytest.param(["--bogus"], "unrecognized arguments: --bogus", id="unknown-flag"),
        pytest.param(
            ["--connect"], "argument --connect: expected one argument", id="connect-missing"
        ),
    ],
)
def test_bad_flags_are_usage_errors(capsys, argv, message):
    assert main(argv) == 2

    assert error_line(capsys.readouterr(), "manhattan-client") == message


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["--connect", "127.0.0.1:5555"],
            "'127.0.0.1:5555' has no transport: did you mean 'tcp://127.0.0.1:5555'?",
            id="no-transport",
        ),
        pytest.param(
            ["--connect", "nonsense://x"], "cannot connect to 'nonsense://x'", id="bad-transport"
        ),
        pytest.param(["--curve-server-key", "missing.key"], "does not exist", id="key-file"),
    ],
)
def test_unusable_address_or_key_is_a_usage_error(capsys, argv, message):
    assert main(argv) == 2

    assert message in error_line(capsys.readouterr(), "manhattan-client")


def test_ping_says_the_server_answers(capsys, service):
    assert main(["--connect", service.address, "ping"]) == 0

    out, _ = capsys.readouterr()
    assert re.fullmatch(rf"pong from {re.escape(service.address)} in \d+\.\d ms\n", out)


def test_ping_without_a_server_says_what_to_check(capsys):
    address = free_address()

    assert main(["--connect", address, "--wait", "200", "ping"]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"manhattan-client: no reply to ping from {address} within 200 ms")
    assert "the server may not be running" in err


def test_ping_through_curve(capsys, tmp_path):
    keys = make_keys(tmp_path)
    with QueryService(
        CountingQueries(), "tcp://127.0.0.1:0", curve_secret_key=keys.server_secret
    ) as service:
        argv = ["--connect", service.address, "--wait", "5000", "ping"]
        assert main([*argv, "--curve-server-key", str(keys.server_public)]) == 0
        assert main([*argv[:2], "--wait", "300", "ping"]) == 1

    out, err = capsys.readouterr()
    assert out.startswith("pong from ")
    assert "requires its Curve key" in err


def closed_pipe():
    """A text file writing into a pipe whose reader has gone."""
    read, write = os.pipe()
    os.close(read)
    return open(write, "w")


def test_output_nobody_reads_ends_the_shell_quietly(monkeypatch, capsys, service):
    out = closed_pipe()
    monkeypatch.setattr(sys, "stdout", out)
    try:
        script = "print('x' * 100_000)\nprint('never')\n"
        status = run_shell(monkeypatch, ["--connect", service.address], script)
    finally:
        out.close()

    assert status == BROKEN_PIPE_STATUS == 141
    assert "Traceback" not in capsys.readouterr().err


def test_ping_into_a_closed_pipe_ends_quietly(monkeypatch, service):
    out = closed_pipe()
    monkeypatch.setattr(sys, "stdout", out)
    try:
        assert main(["--connect", service.address, "ping"]) == BROKEN_PIPE_STATUS
    finally:
        out.close()


@pytest.fixture
def filtering_store():
    """A real store that did not count some events, behind a query service."""
    with SQLStore("sqlite://") as store:
        store.commit(Batch(filtered={"crawler": 300, "awaiting pixel": 2_000, "held overflow": 0}))
        with QueryService(store, "tcp://127.0.0.1:0") as service:
            yield service


def test_filtered_lists_what_was_not_counted_by_reason(capsys, filtering_store):
    assert main(["--connect", filtering_store.address, "filtered"]) == 0

    out, err = capsys.readouterr()
    assert out == "         2,000  awaiting pixel\n           300  crawler\n"
    assert err == ""


def test_filtered_when_everything_was_counted(capsys):
    with SQLStore("sqlite://") as store, QueryService(store, "tcp://127.0.0.1:0") as service:
        assert main(["--connect", service.address, "filtered"]) == 0

    assert capsys.readouterr() == ("every event read so far was counted\n", "")


def test_filtered_without_a_server_says_what_to_check(capsys):
    address = free_address()

    assert main(["--connect", address, "--wait", "200", "filtered"]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"manhattan-client: no reply to filtered from {address} within 200 ms")


@pytest.fixture
def live_service():
    """A server whose aggregator saw visitors on two sites a few minutes ago
    (as tests/server/test_live.py builds it), behind a query service."""
    tracker = LiveVisitors(clock=lambda: NOW)
    aggregator = Aggregator(build_rollups(["all"]), is_crawler=is_crawler, live=tracker)
    aggregator.add_all(recent_traffic(NOW))
    with SQLStore("sqlite://") as store:
        store.commit(aggregator.drain())
        with QueryService(StoreQueries(store, tracker=tracker), "tcp://127.0.0.1:0") as service:
            yield service


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        pytest.param([], "2 visitors in the last 30 minutes on all sites\n", id="default"),
        pytest.param(["--site", "2"], "1 visitor in the last 30 minutes on site 2\n", id="site"),
        pytest.param(
            ["--minutes", "60"], "3 visitors in the last 60 minutes on all sites\n", id="hour"
        ),
    ],
)
def test_live_says_how_many_visitors_are_on_the_site(capsys, live_service, flags, expected):
    assert main(["--connect", live_service.address, "live", *flags]) == 0

    assert capsys.readouterr() == (expected, "")


def test_a_query_only_server_has_no_live_visitors(capsys):
    with SQLStore("sqlite://") as store, QueryService(store, "tcp://127.0.0.1:0") as service:
        assert main(["--connect", service.address, "live"]) == 1

    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("manhattan-client: ")
    assert "live" in err


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        pytest.param(
            ["live", "--minutes", "0"],
            2,
            "argument --minutes: must be at least 1, not 0",
            id="zero",
        ),
        # The server holds the upper bound: the client says what it said.
        pytest.param(
            ["live", "--minutes", "61"],
            1,
            "live() takes minutes from 1 to 60, not 61",
            id="over-an-hour",
        ),
        pytest.param(
            ["live", "--site", "x"],
            2,
            "argument --site: must be a whole number, not 'x'",
            id="site",
        ),
        pytest.param(["bogus"], 2, "argument COMMAND: invalid choice: 'bogus'", id="unknown"),
    ],
)
def test_bad_live_flags_are_usage_errors_or_refusals(capsys, live_service, argv, status, message):
    assert main(["--connect", live_service.address, *argv]) == status

    out, err = capsys.readouterr()
    assert out == ""
    assert message in err


def test_connection_flags_may_follow_the_command(capsys, service):
    assert main(["ping", "--connect", service.address, "--wait", "5000"]) == 0

    assert capsys.readouterr().out.startswith(f"pong from {service.address} in ")
