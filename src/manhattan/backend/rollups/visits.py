"""Rollups by the visit: ``all``, ``referrer``, ``network``, and functions.

See :mod:`manhattan.backend.rollups` for the bucket formats.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias
from urllib.parse import urlsplit

from manhattan.backend.model import Visit
from manhattan.backend.rollups._bounded import remember

__all__ = ["AllRollup", "FunctionRollup", "NetworkRollup", "ReferrerRollup", "referrer_host"]


class AllRollup:
    """One bucket, ``"0"``, for all time and every visitor."""

    name = "all"
    per_visitor = True

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """Always ``"0"``."""
        return "0"


CACHE_SIZE = 10_000
"""Answers kept per rollup; the cache starts over when full."""


# --- referrers -------------------------------------------------------------

_HOST = re.compile(r"[a-z0-9_.:-]{1,253}")


def referrer_host(referrer: str) -> str:
    """The ``referrer`` bucket of a Referer header (see :mod:`manhattan.backend.rollups`)."""
    referrer = referrer.strip()
    if not referrer:
        return "direct"
    try:
        host = urlsplit(referrer).hostname
        if host and not host.isascii():
            host = host.encode("idna").decode("ascii")
    except ValueError:  # also UnicodeError, from the idna codec
        return "(invalid)"
    host = (host or "").rstrip(".")
    if host.startswith("www.") and "." in host[4:]:
        host = host[4:]
    return host if _HOST.fullmatch(host) else "(invalid)"


class ReferrerRollup:
    """The host of the site that referred the visitor, or ``"direct"``."""

    name = "referrer"
    per_visitor = True

    def __init__(self) -> None:
        self._cache: dict[str, str] = {}

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """See :func:`referrer_host`."""
        host = self._cache.get(visit.referrer)
        if host is None:
            host = referrer_host(visit.referrer)
            remember(self._cache, visit.referrer, host, CACHE_SIZE)
        return host


# --- networks --------------------------------------------------------------

_Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address


class NetworkRollup:
    """The visitor's network: a name from ``networks`` (name -> CIDR or list
    of CIDRs, first match in the map's order wins), else the IP address's
    /24 or /48 network."""

    name = "network"
    per_visitor = True

    def __init__(self, networks: Mapping[str, str | Sequence[str]] | None = None) -> None:
        # Per IP version, one table per prefix length, keyed by the network
        # bits: a lookup costs one probe per distinct prefix length, however
        # many networks are named. Values: (position in the map, name).
        self._tables: dict[int, dict[int, dict[int, tuple[int, str]]]] = {4: {}, 6: {}}
        self._cache: dict[str, str] = {}
        if networks is None:
            return
        if not isinstance(networks, Mapping):
            raise ValueError(f"networks must map names to CIDRs, got {networks!r}")
        for position, (name, cidrs) in enumerate(networks.items()):
            if not isinstance(name, str) or not name:
                raise ValueError(f"network names must be non-empty strings, got {name!r}")
            listed = [cidrs] if isinstance(cidrs, str) else cidrs
            if not isinstance(listed, Sequence) or not listed:
                raise ValueError(f"network {name!r}: expected a CIDR or a list, got {cidrs!r}")
            for cidr in listed:
                try:
                    if not isinstance(cidr, str):
                        raise ValueError("not a string")  # ip_network() takes ints too
                    network = ipaddress.ip_network(cidr)
                except ValueError as exc:
                    raise ValueError(f"network {name!r}: bad CIDR {cidr!r}: {exc}") from None
                table = self._tables[network.version].setdefault(network.prefixlen, {})
                key = int(network.network_address) >> (network.max_prefixlen - network.prefixlen)
                table.setdefault(key, (position, name))

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """The network name or CIDR, ``"unknown"`` without a valid IP."""
        network = self._cache.get(visit.ip)
        if network is None:
            network = self._network(visit.ip)
            remember(self._cache, visit.ip, network, CACHE_SIZE)
        return network

    def _network(self, ip: str) -> str:
        try:
            address: _Address = ipaddress.ip_address(ip.strip())
        except ValueError:
            return "unknown"
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        number = int(address)
        bits = address.max_prefixlen
        found: tuple[int, str] | None = None
        for prefix, table in self._tables[address.version].items():
            hit = table.get(number >> (bits - prefix))
            if hit is not None and (found is None or hit < found):
                found = hit
        if found is not None:
            return found[1]
        if address.version == 4:
            return f"{ipaddress.IPv4Address(number & ~0xFF)}/24"
        return f"{ipaddress.IPv6Address(number >> 80 << 80)}/48"


# --- user rollups ----------------------------------------------------------


class FunctionRollup:
    """A rollup calling ``func(timestamp, visit)`` for the bucket."""

    def __init__(
        self, name: str, func: Callable[[float, Visit], str], per_visitor: bool = False
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"rollup names must be non-empty strings, got {name!r}")
        if not callable(func):
            raise ValueError(f"rollup {name!r}: {func!r} is not callable")
        self.name = name
        self.func = func
        self.per_visitor = bool(per_visitor)

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """What ``func`` returns, which must be a string."""
        result: Any = self.func(timestamp, visit)
        if not isinstance(result, str):
            raise TypeError(
                f"rollup {self.name!r}: {self.func!r} returned {type(result).__name__}"
                f" {result!r}, not a str"
            )
        return result
