"""manhattan-dashboard: flags, the loopback rule, and a real run stopped by Ctrl-C."""

from __future__ import annotations

import base64
import os
import signal
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from manhattan.backend.persistence import SQLStore
from manhattan.dashboard.auth import AUTH_ENV
from manhattan.dashboard.cli import main
from manhattan.server.service import QueryService
from tests.dashboard.conftest import BUTTON, Backend, fill
from tests.server.test_cli import free_port
from tests.test_keys import make_keys


def run_until_interrupted(
    argv: list[str], port: int, visit: list[object], signum: int = signal.SIGINT
) -> int:
    """Run main(argv) here; from a thread, once it answers on ``port``, fetch
    its front page (with ``visit``'s one item as the Authorization header, if
    any; the page or the HTTP error code goes into ``visit``), then press
    Ctrl-C (or send ``signum``)."""

    headers = {"Authorization": str(visit.pop())} if visit else {}

    def client() -> None:
        deadline = time.monotonic() + 10
        while True:
            request = urllib.request.Request(f"http://127.0.0.1:{port}/", headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    visit.append(response.read().decode())
                break
            except urllib.error.HTTPError as exc:
                visit.append(exc.code)
                break
            except OSError:
                if time.monotonic() > deadline:
                    visit.append("never answered")
                    break
                time.sleep(0.02)
        os.kill(os.getpid(), signum)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        return main(argv)
    finally:
        thread.join()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serves_until_interrupted(
    backend: Backend, capsys: pytest.CaptureFixture[str], signum: signal.Signals
) -> None:
    port = free_port()
    visit: list[object] = []
    before = signal.getsignal(signum)
    argv = ["--connect", backend.address, "--listen", f"127.0.0.1:{port}", "--wait", "5000"]
    assert run_until_interrupted(argv, port, visit, signum) == 0
    assert signal.getsignal(signum) is before
    with pytest.raises(urllib.error.URLError, match="Connection refused"):  # closed
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5)
    assert BUTTON in str(visit[0])
    assert f"http://127.0.0.1:{port}/ (server {backend.address})" in capsys.readouterr().err


def test_auth_from_the_environment(
    backend: Backend, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(AUTH_ENV, "ann:s3cret")
    port = free_port()
    argv = ["--connect", backend.address, "--listen", f"127.0.0.1:{port}"]
    refused: list[object] = []
    assert run_until_interrupted(argv, port, refused) == 0
    assert refused == [401]
    token = "Basic " + base64.b64encode(b"ann:s3cret").decode()
    allowed: list[object] = [token]
    assert run_until_interrupted(argv, port, allowed) == 0
    assert BUTTON in str(allowed[0])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(
            ["--listen", "0.0.0.0:8080"],
            "listening on 0.0.0.0 (not loopback) needs --auth user:password or "
            "MANHATTAN_DASHBOARD_AUTH",
            id="public-without-auth",
        ),
        pytest.param(["--listen", "[::]:8080"], "(not loopback) needs --auth", id="ipv6-any"),
        pytest.param(["--auth", "annsecret"], "credentials must be user:password", id="auth"),
        pytest.param(["--listen", "nowhere"], "--listen must be host:port", id="listen"),
        pytest.param(["--wait", "0"], "argument --wait: must be at least 1, not 0", id="wait"),
        pytest.param(["--connect", "nonsense"], "is not a ZeroMQ address", id="connect"),
        pytest.param(
            ["--connect", "127.0.0.1:5555"],
            "did you mean 'tcp://127.0.0.1:5555'?",
            id="connect-no-transport",
        ),
        pytest.param(
            ["--curve-server-key", "missing.key"], "missing.key does not exist", id="curve-key"
        ),
        pytest.param(["--auth", ":pw"], "the user is empty", id="auth-no-user"),
        pytest.param(["--listen", "192.0.2.1:1", "--auth", "a:b"], "Cannot assign", id="bind"),
    ],
)
def test_bad_command_lines(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    # The last line is the error (an earlier test's server thread may still
    # log its last request to stderr in between: only its own lines).
    err = capsys.readouterr().err
    assert "usage:" not in err
    assert err.splitlines()[-1].startswith("manhattan-dashboard: error: ")
    assert message in err.splitlines()[-1]


def test_serves_a_curve_server_with_its_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    fill(url, people=20, days=1)
    keys = make_keys(tmp_path)
    port = free_port()
    visit: list[object] = []
    with (
        SQLStore(url) as store,
        QueryService(
            store,
            "tcp://127.0.0.1:0",
            curve_secret_key=keys.server_secret,
            curve_clients=keys.clients,
        ) as service,
    ):
        argv = [
            "--connect",
            service.address,
            "--listen",
            f"127.0.0.1:{port}",
            "--curve-server-key",
            str(keys.server_public),
            "--curve-secret-key",
            str(keys.client_secret),
        ]
        assert run_until_interrupted(argv, port, visit) == 0
    assert BUTTON in str(visit[0])


def test_empty_environment_variable_is_no_auth(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(AUTH_ENV, "")
    assert main(["--listen", "0.0.0.0:8080"]) == 2
    assert "needs --auth" in capsys.readouterr().err
