"""manhattan-server's query port: loopback only without Curve, and its key flags."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from manhattan.backend.model import ALL_SITES, Batch, CounterKey
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client
from manhattan.server import cli
from manhattan.server.config import ConfigError, Settings, merge
from tests.server.test_cli import first_log, free_port, one_error_line
from tests.test_keys import make_keys


@pytest.mark.parametrize(
    "bind",
    [pytest.param("tcp://0.0.0.0:5555", id="any"), pytest.param("tcp://*:5555", id="wildcard")],
)
def test_a_bind_beyond_loopback_without_a_key_refuses_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bind: str
) -> None:
    path, url, _ = first_log(tmp_path)

    assert cli.main(["--path", path, "--url", url, "--bind", bind]) == 2

    assert one_error_line(capsys.readouterr().err).startswith(
        f"refusing to answer queries on {bind} without a Curve key"
    )
    with SQLStore(url) as store:
        assert store.load_pointer() is None  # nothing was counted


def test_query_only_beyond_loopback_without_a_key_refuses_to_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    SQLStore(url).close()  # --query-only needs a database that exists
    argv = ["--query-only", "--url", url, "--bind", "tcp://*:5555"]

    assert cli.main(argv) == 2

    assert "refusing to answer queries on tcp://*:5555" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        pytest.param(
            ["--curve-clients", "clients"],
            "--curve-clients needs --curve-secret-key",
            id="clients-alone",
        ),
        pytest.param(
            ["--curve-secret-key", "missing.key_secret"],
            "missing.key_secret does not exist (make one with manhattan-keys)",
            id="missing-key",
        ),
        pytest.param(
            ["--bind", "127.0.0.1:5555"],
            "did you mean 'tcp://127.0.0.1:5555'?",
            id="no-transport",
        ),
    ],
)
def test_bad_curve_flags_are_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    path, url, _ = first_log(tmp_path)

    assert cli.main(["--path", path, "--url", url, *flags]) == 2

    assert message in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("name", ["curve_secret_key", "curve_clients"])
def test_curve_settings_in_a_config_must_be_paths(name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be a file path, not 5"):
        merge({"query_only": True, "curve_secret_key": "k", name: 5}, {})


def test_flags_reach_the_settings() -> None:
    settings = cli.settings_from(
        ["--query-only", "--curve-secret-key", "s.key_secret", "--curve-clients", "clients"]
    )

    assert (settings.curve_secret_key, settings.curve_clients) == ("s.key_secret", "clients")


def test_query_only_answers_listed_clients_over_curve(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with SQLStore(url) as store:
        store.commit(
            Batch(counts={CounterKey("all", "0", ALL_SITES, "Buy", "", ""): [7, 0.0, 0.0]})
        )
    keys = make_keys(tmp_path)
    bind = f"tcp://127.0.0.1:{free_port()}"
    settings = Settings(
        url=url,
        bind=bind,
        query_only=True,
        curve_secret_key=str(keys.server_secret),
        curve_clients=str(keys.clients),
    ).check()
    stop = threading.Event()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(cli.run(settings, stop)))
    thread.start()
    try:
        listed = {"curve_server_key": keys.server_public, "curve_secret_key": keys.client_secret}
        with Client(bind, wait=5000, **listed) as client:
            assert client.count("Buy") == 7
        with Client(bind, wait=300) as plain, pytest.raises(TimeoutError):
            plain.count("Buy")
    finally:
        stop.set()
        thread.join(10)
    assert result == [0]
