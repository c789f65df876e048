"""manhattan-server --query-only: answers from the database, counts nothing."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from manhattan.backend.model import ALL_SITES, Batch, CounterKey
from manhattan.backend.persistence import SQLStore
from manhattan.client import Client
from manhattan.server.cli import main, run
from manhattan.server.config import ConfigError, Settings
from tests.server.test_cli import free_port


def test_it_answers_what_workers_committed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    with SQLStore(url) as store:
        store.commit(
            Batch(counts={CounterKey("all", "0", ALL_SITES, "Buy", "", ""): [7, 0.0, 0.0]})
        )
    bind = f"tcp://127.0.0.1:{free_port()}"
    stop = threading.Event()
    settings = Settings(url=url, bind=bind, query_only=True).check()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(run(settings, stop)))
    thread.start()
    try:
        with Client(bind, wait=5000) as client:
            assert client.count("Buy") == 7
    finally:
        stop.set()
        thread.join(10)
    assert result == [0]


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"path": "/var/log/m"}, id="path"),
        pytest.param({"redis": "redis://127.0.0.1:6379/0"}, id="redis"),
        pytest.param({"once": True}, id="once"),
    ],
)
def test_it_reads_no_log(values: dict[str, object]) -> None:
    with pytest.raises(ConfigError, match="--query-only reads no log"):
        Settings(query_only=True, **values).check()  # type: ignore[arg-type]


def test_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--query-only", "--path", str(tmp_path / "log"), "--url", "sqlite://"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("manhattan-server: error: --query-only reads no log")
    assert err.count("\n") == 1
