"""Serving the dashboard: addresses, loopback, a real threaded server."""

from __future__ import annotations

import socket
import threading
import urllib.request

import pytest

from manhattan.dashboard import make_app, make_server
from manhattan.dashboard.server import is_loopback, parse_listen
from tests.dashboard.conftest import BUTTON, Backend


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("127.0.0.1:8080", ("127.0.0.1", 8080), id="ipv4"),
        pytest.param("[::1]:0", ("::1", 0), id="ipv6"),
        pytest.param("localhost:65535", ("localhost", 65535), id="name"),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("8080", "must be host:port", id="no-host"),
        pytest.param(":8080", "must be host:port", id="empty-host"),
        pytest.param("127.0.0.1:http", "a number from 0 to 65535, not 'http'", id="word"),
        pytest.param("127.0.0.1:65536", "a number from 0 to 65535", id="too-big"),
        pytest.param("127.0.0.1:", "a number from 0 to 65535", id="empty-port"),
    ],
)
def test_bad_listen(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_listen(text)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        pytest.param("127.0.0.1", True, id="ipv4"),
        pytest.param("127.8.9.10", True, id="ipv4-block"),
        pytest.param("::1", True, id="ipv6"),
        pytest.param("localhost", True, id="localhost"),
        pytest.param("0.0.0.0", False, id="any"),
        pytest.param("::", False, id="any-ipv6"),
        pytest.param("192.0.2.1", False, id="other"),
        pytest.param("dashboard.example.com", False, id="other-name"),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def fetch(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return str(response.read().decode())


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_threaded_server_serves_the_pages(backend: Backend, host: str) -> None:
    if host == "::1" and not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    with make_app(backend.address) as app:
        server = make_server(app, host, 0, quiet=True)
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            where = f"[{host}]" if ":" in host else host
            assert BUTTON in fetch(f"http://{where}:{server.server_port}/")
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
