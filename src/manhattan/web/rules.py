"""Pure rules of the middleware: page views, sites, privacy, excluded networks.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from manhattan.visitor.records import check_site_id

PAGE_METHODS = frozenset({"GET", "POST"})
PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# Responses that show the visitor no page: empty, not modified, a byte range.
NO_PAGE_STATUSES = frozenset({204, 205, 206, 304})
# Responses without a body to put the pixel in (RFC 9110 6.4.1), and partial ones.
NO_PIXEL_STATUSES = frozenset({204, 205, 206, 304})
PURPOSE_KEYS = frozenset({"HTTP_PURPOSE", "HTTP_SEC_PURPOSE", "HTTP_X_PURPOSE", "HTTP_X_MOZ"})
"""The environ keys of the headers that mark a prefetch or a preview."""


def media_type(content_type: str | None) -> str:
    """``text/html; charset=utf-8`` -> ``text/html``."""
    if not content_type:
        return ""
    return content_type.partition(";")[0].strip().lower()


def status_code(status: str) -> int:
    """The code of a WSGI status line (``"200 OK"`` -> 200); 0 if unreadable."""
    code = status[:3]
    return int(code) if code.isascii() and code.isdigit() else 0


def is_prefetch(purpose: str | None, sec_purpose: str | None, x_purpose: str | None) -> bool:
    """Whether a request is a browser prefetch or preview, not a visit.

    Looks at ``Purpose``/``Sec-Purpose: prefetch`` (Chromium, Firefox) and
    ``X-Purpose: preview`` (Safari).
    """
    for value in (purpose, sec_purpose, x_purpose):
        if value:
            lowered = value.lower()
            if "prefetch" in lowered or "preview" in lowered:
                return True
    return False


def counts_as_page(method: str, status: int, content_type: str | None) -> bool:
    """The default rule: a GET or POST answered with an HTML page.

    API, JSON and asset responses are not page views, nor are redirects and
    empty responses (no page is shown).
    """
    return (
        method in PAGE_METHODS
        and media_type(content_type) in PAGE_TYPES
        and not 300 <= status < 400
        and status >= 200
        and status not in NO_PAGE_STATUSES
    )


def is_page_view(environ: Mapping[str, Any], method: str, status: int, media: str) -> bool:
    """The default page-view rule: :func:`counts_as_page`, unless the
    request is a prefetch or a preview (:func:`is_prefetch`).

    ``environ`` is the request's WSGI environ (or the WSGI-style view of an
    ASGI scope or Django request), ``media`` the response's media type
    (:func:`media_type`).
    """
    return counts_as_page(method, status, media) and (
        # Most requests carry none of these: skip the call then.
        PURPOSE_KEYS.isdisjoint(environ)
        or not is_prefetch(
            environ.get("HTTP_PURPOSE"),
            environ.get("HTTP_SEC_PURPOSE"),
            environ.get("HTTP_X_PURPOSE") or environ.get("HTTP_X_MOZ"),
        )
    )


def takes_pixel(
    method: str,
    status: int,
    media: str,
    content_encoding: str | None,
    content_range: str | None,
) -> bool:
    """Whether the pixel may go into a response: an HTML body the middleware
    may change.

    Never into a ``HEAD`` response, an informational (1xx), ``204``,
    ``205``, ``206`` or ``304`` one, nor a compressed body or a byte range
    (any ``Content-Range``: its offsets name the app's bytes). Those pass
    with their headers as the app set them.
    """
    return (
        media == "text/html"
        and method != "HEAD"
        and status >= 200
        and status not in NO_PIXEL_STATUSES
        and content_range is None
        and (content_encoding is None or content_encoding.strip().lower() in ("", "identity"))
    )


def wants_no_tracking(sec_gpc: str | None, dnt: str | None) -> bool:
    """``Sec-GPC: 1`` (Global Privacy Control) or ``DNT: 1`` (Do Not Track)."""
    return (sec_gpc or "").strip() == "1" or (dnt or "").strip() == "1"


def anonymize_ip(address: str) -> str:
    """Zero the last octet of an IPv4 address, the last 80 bits of IPv6.

    What is not an IP address at all is dropped (empty string) rather than
    written unanonymized.
    """
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return ""
    if ip.version == 4:
        return str(ipaddress.IPv4Address(int(ip) & ~0xFF))
    if ip.ipv4_mapped is not None:
        return str(ipaddress.IPv4Address(int(ip.ipv4_mapped) & ~0xFF))
    return str(ipaddress.IPv6Address(int(ip) & ~((1 << 80) - 1)))


def _network(item: object, name: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """One ``exclude`` network, or a ``TypeError``/``ValueError`` naming ``name``."""
    if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return item
    if isinstance(item, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return ipaddress.ip_network(item)
    if not isinstance(item, str):
        raise TypeError(
            f"{name} must be a network as a str or an ipaddress object, not {type(item).__name__}"
        )
    text = item.strip()
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        pass
    try:
        # Host bits set ("10.0.0.1/8"): refused, for the intent is unclear,
        # but the network it would be is named.
        meant = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(f"{name}: {item!r} is not an IP address or network") from None
    raise ValueError(f"{name}: {item!r} has host bits set (did you mean {str(meant)!r}?)")


class Networks:
    """Client networks (the ``exclude`` option): whether an address is in one.

    Each item is a network (``"10.0.0.0/8"``, ``"2001:db8::/32"``), one
    address (``"203.0.113.7"``) or an :mod:`ipaddress` network or address
    object; a bad one is a ``TypeError`` or ``ValueError`` naming it. An
    IPv4 address that a dual-stack server gives as IPv6 (``::ffff:10.1.2.3``)
    is checked as the IPv4 address it is. Answers are cached by address
    (bounded, since addresses come from outside).
    """

    MAX_CACHED = 1024

    def __init__(self, networks: Iterable[object]) -> None:
        self.networks = tuple(
            _network(item, f"exclude[{index}]") for index, item in enumerate(networks)
        )
        self._cache: dict[str, bool] = {}

    def __contains__(self, address: object) -> bool:
        """Whether ``address`` (``REMOTE_ADDR``; not an address: never) is in a network."""
        if not isinstance(address, str) or not address:
            return False
        inside = self._cache.get(address)
        if inside is None:
            inside = self._lookup(address)
            if len(self._cache) >= self.MAX_CACHED:
                self._cache.clear()
            self._cache[address] = inside
        return inside

    def _lookup(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip in network for network in self.networks)


def host_name(host: str) -> str:
    """A ``Host`` header without its port, lowercase, without a trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        host = host[: host.find("]") + 1] if "]" in host else host
    elif ":" in host:
        host = host.rpartition(":")[0]
    return host.rstrip(".")


class SiteMap:
    """Maps request hosts to site ids; unmapped hosts are site ``"0"``.

    Lookups are cached by raw ``Host`` value (bounded, since hosts come from
    outside).
    """

    MAX_CACHED = 1024

    def __init__(self, host_map: Mapping[str, int | str] | None) -> None:
        if host_map is not None and not isinstance(host_map, Mapping):
            raise TypeError(
                f"host_map must be a dict of host name -> site id, not {type(host_map).__name__}"
            )
        self.sites: dict[str, str] = {}
        for host, site in (host_map or {}).items():
            if not isinstance(host, str) or not host:
                raise ValueError(f"host_map keys must be host names, not {host!r}")
            self.sites[host_name(host)] = check_site_id(site)
        self._cache: dict[str, str] = {}

    def site(self, host: str | None) -> str:
        """The site id for a raw ``Host`` header value."""
        if not self.sites or not host:
            return "0"
        site = self._cache.get(host)
        if site is None:
            site = self.sites.get(host_name(host), "0")
            if len(self._cache) >= self.MAX_CACHED:
                self._cache.clear()
            self._cache[host] = site
        return site
