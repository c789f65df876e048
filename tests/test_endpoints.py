"""ZeroMQ addresses: a missing transport, and which binds stay on this machine."""

from __future__ import annotations

import re

import pytest

from manhattan.endpoints import check_endpoint, is_loopback_endpoint


@pytest.mark.parametrize(
    ("address", "message"),
    [
        pytest.param(
            "127.0.0.1:5555",
            "'127.0.0.1:5555' has no transport: did you mean 'tcp://127.0.0.1:5555'?",
            id="host-port",
        ),
        pytest.param("localhost:5555", "did you mean 'tcp://localhost:5555'?", id="name-port"),
        pytest.param(
            "nonsense",
            "'nonsense' is not a ZeroMQ address (one looks like 'tcp://127.0.0.1:5555')",
            id="word",
        ),
        pytest.param(":5555", "is not a ZeroMQ address", id="no-host"),
        pytest.param("host:port", "is not a ZeroMQ address", id="port-not-number"),
    ],
)
def test_an_address_without_transport_is_named(address: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check_endpoint(address)


def test_an_address_with_transport_is_returned() -> None:
    assert check_endpoint("ipc:///run/manhattan.sock") == "ipc:///run/manhattan.sock"


@pytest.mark.parametrize(
    ("address", "loopback"),
    [
        pytest.param("tcp://127.0.0.1:5555", True, id="v4"),
        pytest.param("tcp://127.1.2.3:0", True, id="v4-loopback-net"),
        pytest.param("tcp://[::1]:5555", True, id="v6"),
        pytest.param("tcp://localhost:5555", True, id="localhost"),
        pytest.param("ipc:///run/manhattan.sock", True, id="ipc"),
        pytest.param("inproc://queries", True, id="inproc"),
        pytest.param("tcp://0.0.0.0:5555", False, id="any-v4"),
        pytest.param("tcp://*:5555", False, id="wildcard"),
        pytest.param("tcp://[::]:5555", False, id="any-v6"),
        pytest.param("tcp://192.0.2.10:5555", False, id="public"),
        pytest.param("tcp://eth0:5555", False, id="interface"),
        pytest.param("ws://127.0.0.1:5555", False, id="other-transport"),
    ],
)
def test_loopback_binds(address: str, loopback: bool) -> None:
    assert is_loopback_endpoint(address) is loopback
