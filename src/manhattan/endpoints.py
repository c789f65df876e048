"""ZeroMQ addresses of the query service: checked before ZeroMQ sees them.

ZeroMQ answers an address without a transport (``127.0.0.1:5555``) with a
bare ``Invalid argument``; :func:`check_endpoint` names the problem and the
address that was probably meant instead.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import ipaddress

EXAMPLE = "tcp://127.0.0.1:5555"

LOCAL_TRANSPORTS = frozenset({"ipc", "inproc"})
"""Transports that never leave the machine (a Unix socket, a process)."""


def check_endpoint(address: str) -> str:
    """``address`` if it names a transport; :class:`ValueError` naming the
    address and suggesting a ``tcp://`` one otherwise."""
    if "://" in address:
        return address
    host, colon, port = address.rpartition(":")
    if colon and host and port.isdigit():
        raise ValueError(f"{address!r} has no transport: did you mean 'tcp://{address}'?")
    raise ValueError(f"{address!r} is not a ZeroMQ address (one looks like {EXAMPLE!r})")


def is_loopback_endpoint(address: str) -> bool:
    """Whether only this machine can reach ``address`` (a bind endpoint):
    ``tcp://`` on a loopback address or ``localhost``, or a local transport.
    Interface names and wildcards (``tcp://*:5555``, ``tcp://eth0:5555``)
    are not."""
    transport, _, rest = address.partition("://")
    if transport in LOCAL_TRANSPORTS:
        return True
    if transport != "tcp":
        return False
    host = rest.rpartition(":")[0]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
