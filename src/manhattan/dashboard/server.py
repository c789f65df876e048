"""Serving the dashboard with the standard library's threaded WSGI server.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import ipaddress
import socket
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

if TYPE_CHECKING:
    from manhattan.dashboard.app import Dashboard


class ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    """A WSGI server answering each request on a thread of its own."""

    daemon_threads = True


class IPv6ThreadingWSGIServer(ThreadingWSGIServer):
    """The same, listening on an IPv6 address."""

    address_family = socket.AF_INET6


class QuietHandler(WSGIRequestHandler):
    """A request handler that logs nothing."""

    def log_message(self, format: str, *args: Any) -> None:
        """Log nothing."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # another name: it may resolve to any address


def parse_listen(text: str) -> tuple[str, int]:
    """``(host, port)`` of ``host:port`` or ``[ipv6]:port``; :class:`ValueError`
    naming the problem."""
    host, colon, port_text = text.rpartition(":")
    if not colon or not host:
        raise ValueError(f"--listen must be host:port, not {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not (port_text.isascii() and port_text.isdigit()) or not 0 <= int(port_text) <= 65535:
        raise ValueError(
            f"the port of --listen must be a number from 0 to 65535, not {port_text!r}"
        )
    return host, int(port_text)


def make_server(
    app: Dashboard, host: str = "127.0.0.1", port: int = 8080, *, quiet: bool = False
) -> ThreadingWSGIServer:
    """A threaded WSGI server of ``app`` bound to ``host:port`` (port 0: a
    free one, see ``server.server_port``). Run it with ``serve_forever()``
    (in a thread, say) and end it with ``shutdown()`` and ``server_close()``.
    """
    server_class = IPv6ThreadingWSGIServer if ":" in host else ThreadingWSGIServer
    server = server_class((host, port), QuietHandler if quiet else WSGIRequestHandler)
    server.set_app(app)
    return server
