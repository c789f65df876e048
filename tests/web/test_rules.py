"""The middleware's pure rules: page views, prefetches, privacy, hosts and
sites, excluded networks."""

from __future__ import annotations

import ipaddress

import pytest

from manhattan.web.rules import (
    Networks,
    SiteMap,
    anonymize_ip,
    counts_as_page,
    host_name,
    is_page_view,
    is_prefetch,
    media_type,
    status_code,
    takes_pixel,
    wants_no_tracking,
)


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        pytest.param("text/html", "text/html", id="plain"),
        pytest.param("text/html; charset=utf-8", "text/html", id="with-charset"),
        pytest.param(" Text/HTML ;charset=UTF-8", "text/html", id="case-and-blanks"),
        pytest.param("application/xhtml+xml", "application/xhtml+xml", id="xhtml"),
        pytest.param("", "", id="empty"),
        pytest.param(None, "", id="none"),
    ],
)
def test_media_type(content_type: str | None, expected: str) -> None:
    assert media_type(content_type) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        pytest.param("200 OK", 200, id="ok"),
        pytest.param("404 Not Found", 404, id="not-found"),
        pytest.param("302 Found", 302, id="redirect"),
        pytest.param("200", 200, id="code-only"),
        pytest.param("OK", 0, id="no-code"),
        pytest.param("", 0, id="empty"),
        pytest.param("\u0662\u0660\u0660 OK", 0, id="non-ascii-digits"),
    ],
)
def test_status_code(status: str, expected: int) -> None:
    assert status_code(status) == expected


@pytest.mark.parametrize(
    ("purpose", "sec_purpose", "x_purpose", "expected"),
    [
        pytest.param(None, None, None, False, id="none"),
        pytest.param("prefetch", None, None, True, id="purpose-prefetch"),
        pytest.param(None, "prefetch", None, True, id="sec-purpose-prefetch"),
        pytest.param(None, "prefetch;prerender", None, True, id="sec-purpose-prerender"),
        pytest.param(None, None, "preview", True, id="x-purpose-preview"),
        pytest.param(None, None, "PREVIEW", True, id="case-insensitive"),
        pytest.param("", "", "", False, id="empty-values"),
        pytest.param("navigate", None, "instant", False, id="other-values"),
    ],
)
def test_is_prefetch(
    purpose: str | None, sec_purpose: str | None, x_purpose: str | None, expected: bool
) -> None:
    assert is_prefetch(purpose, sec_purpose, x_purpose) is expected


@pytest.mark.parametrize(
    ("method", "status", "content_type", "expected"),
    [
        pytest.param("GET", 200, "text/html; charset=utf-8", True, id="get-html"),
        pytest.param("POST", 200, "text/html", True, id="post-html"),
        pytest.param("GET", 200, "application/xhtml+xml", True, id="xhtml"),
        pytest.param("PUT", 200, "text/html", False, id="put"),
        pytest.param("DELETE", 200, "text/html", False, id="delete"),
        pytest.param("HEAD", 200, "text/html", False, id="head"),
        pytest.param("OPTIONS", 200, "text/html", False, id="options"),
        pytest.param("GET", 200, "application/json", False, id="json"),
        pytest.param("GET", 200, "image/png", False, id="image"),
        pytest.param("GET", 200, "text/css", False, id="css"),
        pytest.param("GET", 200, None, False, id="no-content-type"),
        pytest.param("GET", 404, "text/html", True, id="not-found-page"),
        pytest.param("GET", 500, "text/html", True, id="error-page"),
        pytest.param("GET", 201, "text/html", True, id="created"),
        pytest.param("GET", 301, "text/html", False, id="moved"),
        pytest.param("GET", 302, "text/html", False, id="found"),
        pytest.param("GET", 399, "text/html", False, id="last-3xx"),
        pytest.param("GET", 304, "text/html", False, id="not-modified"),
        pytest.param("GET", 204, "text/html", False, id="no-content"),
        pytest.param("GET", 205, "text/html", False, id="reset-content"),
        pytest.param("GET", 206, "text/html", False, id="partial-content"),
        pytest.param("GET", 101, "text/html", False, id="switching-protocols"),
        pytest.param("GET", 0, "text/html", False, id="unreadable-status"),
    ],
)
def test_counts_as_page(
    method: str, status: int, content_type: str | None, expected: bool
) -> None:
    assert counts_as_page(method, status, content_type) is expected


@pytest.mark.parametrize(
    ("method", "status", "media", "headers"),
    [
        pytest.param("GET", 200, "text/html", {}, id="page"),
        pytest.param("POST", 404, "application/xhtml+xml", {}, id="xhtml-error-page"),
        pytest.param("GET", 200, "application/json", {}, id="json"),
        pytest.param("GET", 302, "text/html", {}, id="redirect"),
        pytest.param("GET", 200, "text/html", {"HTTP_SEC_PURPOSE": "prefetch"}, id="prefetch"),
        pytest.param("GET", 200, "text/html", {"HTTP_PURPOSE": "prefetch"}, id="purpose"),
        pytest.param("GET", 200, "text/html", {"HTTP_X_PURPOSE": "preview"}, id="preview"),
        pytest.param("GET", 200, "text/html", {"HTTP_X_MOZ": "prefetch"}, id="x-moz"),
        pytest.param("GET", 200, "text/html", {"HTTP_PURPOSE": "navigate"}, id="other-purpose"),
    ],
)
def test_is_page_view(method: str, status: int, media: str, headers: dict[str, str]) -> None:
    environ = {"REQUEST_METHOD": method, **headers}
    expected = counts_as_page(method, status, media) and not is_prefetch(
        headers.get("HTTP_PURPOSE"),
        headers.get("HTTP_SEC_PURPOSE"),
        headers.get("HTTP_X_PURPOSE") or headers.get("HTTP_X_MOZ"),
    )
    assert is_page_view(environ, method, status, media) is expected


@pytest.mark.parametrize(
    ("sec_gpc", "dnt", "expected"),
    [
        pytest.param(None, None, False, id="no-headers"),
        pytest.param("1", None, True, id="gpc"),
        pytest.param(None, "1", True, id="dnt"),
        pytest.param(" 1 ", None, True, id="gpc-with-blanks"),
        pytest.param("0", "0", False, id="both-zero"),
        pytest.param("", "", False, id="both-empty"),
        pytest.param("yes", "true", False, id="other-values"),
    ],
)
def test_wants_no_tracking(sec_gpc: str | None, dnt: str | None, expected: bool) -> None:
    assert wants_no_tracking(sec_gpc, dnt) is expected


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        pytest.param("203.0.113.77", "203.0.113.0", id="ipv4"),
        pytest.param("10.1.2.255", "10.1.2.0", id="ipv4-all-ones"),
        pytest.param(" 192.168.0.9 ", "192.168.0.0", id="ipv4-blanks"),
        # 128 - 80 = 48 bits kept: the first three 16-bit groups.
        pytest.param("2001:db8:85a3:1234:5678:8a2e:370:7334", "2001:db8:85a3::", id="ipv6-full"),
        pytest.param("2001:DB8:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8:ffff::", id="ipv6-ones"),
        pytest.param("::1", "::", id="ipv6-loopback"),
        pytest.param("fe80::1%eth0", "fe80::", id="ipv6-scoped"),
        pytest.param("::ffff:192.0.2.33", "192.0.2.0", id="ipv4-mapped-ipv6"),
        pytest.param("not an ip", "", id="garbage"),
        pytest.param("203.0.113.256", "", id="bad-octet"),
        pytest.param("", "", id="empty"),
    ],
)
def test_anonymize_ip(address: str, expected: str) -> None:
    assert anonymize_ip(address) == expected


def test_anonymize_ipv6_clears_exactly_the_last_80_bits() -> None:
    address = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    # By hand: 48 one-bits then 80 zero-bits.
    assert anonymize_ip(address) == "ffff:ffff:ffff::"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("example.com", "example.com", id="plain"),
        pytest.param("Example.COM", "example.com", id="case"),
        pytest.param("example.com:8080", "example.com", id="port"),
        pytest.param("example.com.", "example.com", id="trailing-dot"),
        pytest.param("Example.com.:443", "example.com", id="trailing-dot-and-port"),
        pytest.param(" example.com ", "example.com", id="blanks"),
        pytest.param("[::1]:80", "[::1]", id="ipv6-port"),
        pytest.param("[::1]", "[::1]", id="ipv6"),
        pytest.param("[2001:DB8::1]:8443", "[2001:db8::1]", id="ipv6-case"),
        pytest.param("[::1", "[::1", id="ipv6-unclosed"),
        pytest.param("10.0.0.1:8000", "10.0.0.1", id="ipv4-port"),
    ],
)
def test_host_name(host: str, expected: str) -> None:
    assert host_name(host) == expected


HOSTS = {"Example.com:8080": 3, "shop.example.com.": "7", "[::1]": 12, "zero.example": None}


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        pytest.param("example.com", "3", id="mapped"),
        pytest.param("EXAMPLE.com:80", "3", id="case-and-port"),
        pytest.param("shop.example.com", "7", id="str-site-id"),
        pytest.param("Shop.Example.Com.:443", "7", id="trailing-dot"),
        pytest.param("[::1]:8000", "12", id="ipv6"),
        pytest.param("zero.example", "0", id="none-site-id"),
        pytest.param("other.example", "0", id="unmapped"),
        pytest.param("", "0", id="empty-host"),
        pytest.param(None, "0", id="no-host"),
    ],
)
def test_site_map(host: str | None, expected: str) -> None:
    sites = SiteMap(HOSTS)
    assert sites.site(host) == expected
    assert sites.site(host) == expected  # the second lookup comes from the cache


@pytest.mark.parametrize("host_map", [pytest.param(None, id="none"), pytest.param({}, id="empty")])
def test_site_map_without_hosts_is_site_0(host_map: dict[str, int] | None) -> None:
    assert SiteMap(host_map).site("example.com") == "0"


@pytest.mark.parametrize(
    ("host_map", "error", "message"),
    [
        pytest.param({"": 1}, ValueError, "host_map keys", id="empty-host"),
        pytest.param({5: 1}, ValueError, "host_map keys", id="int-host"),
        pytest.param({"a.com": -1}, ValueError, "site_id", id="negative-site"),
        pytest.param({"a.com": "abc"}, ValueError, "site_id", id="text-site"),
        pytest.param({"a.com": 1.5}, TypeError, "site_id", id="float-site"),
        pytest.param({"a.com": True}, TypeError, "site_id", id="bool-site"),
    ],
)
def test_site_map_refuses(
    host_map: dict[object, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        SiteMap(host_map)  # type: ignore[arg-type]


def test_site_map_normalizes_site_ids() -> None:
    sites = SiteMap({"a.com": "007", "b.com": 0})
    assert sites.site("a.com") == "7"
    assert sites.site("b.com") == "0"


def test_site_map_cache_is_bounded() -> None:
    sites = SiteMap({"a.com": 1})
    hosts = [f"h{n}.example" for n in range(SiteMap.MAX_CACHED * 2 + 5)]
    for host in hosts:
        assert sites.site(host) == "0"
        assert sites.site("A.com:81") == "1"
        assert len(sites._cache) <= SiteMap.MAX_CACHED
    # Still right after the cache was emptied on the way.
    assert [sites.site(host) for host in ("a.com", "A.COM", "b.com")] == ["1", "1", "0"]


@pytest.mark.parametrize(
    ("method", "status", "media", "encoding", "content_range", "expected"),
    [
        pytest.param("GET", 200, "text/html", None, None, True, id="page"),
        pytest.param("POST", 404, "text/html", None, None, True, id="error-page"),
        pytest.param("GET", 302, "text/html", None, None, True, id="redirect-with-a-body"),
        pytest.param("GET", 200, "text/html", "identity", None, True, id="identity"),
        pytest.param("GET", 200, "text/html", " Identity ", None, True, id="identity-spaced"),
        pytest.param("GET", 200, "text/html", "", None, True, id="empty-encoding"),
        pytest.param("GET", 200, "application/xhtml+xml", None, None, False, id="xhtml"),
        pytest.param("GET", 200, "text/html", "gzip", None, False, id="gzip"),
        pytest.param("GET", 200, "text/html", "br", None, False, id="brotli"),
        pytest.param("GET", 200, "text/html", None, "bytes 0-9/90", False, id="range-on-200"),
        pytest.param("GET", 416, "text/html", None, "bytes */90", False, id="unsatisfied-range"),
        pytest.param("GET", 200, "text/html", None, "", False, id="empty-range-header"),
        pytest.param("HEAD", 200, "text/html", None, None, False, id="head"),
        pytest.param("GET", 100, "text/html", None, None, False, id="continue"),
        pytest.param("GET", 103, "text/html", None, None, False, id="early-hints"),
        pytest.param("GET", 204, "text/html", None, None, False, id="no-content"),
        pytest.param("GET", 205, "text/html", None, None, False, id="reset-content"),
        pytest.param("GET", 206, "text/html", None, None, False, id="partial-content"),
        pytest.param("GET", 304, "text/html", None, None, False, id="not-modified"),
        pytest.param("GET", 0, "text/html", None, None, False, id="unreadable-status"),
    ],
)
def test_takes_pixel(
    method: str,
    status: int,
    media: str,
    encoding: str | None,
    content_range: str | None,
    expected: bool,
) -> None:
    assert takes_pixel(method, status, media, encoding, content_range) is expected


STAFF = [
    "10.0.0.0/8",
    ipaddress.ip_network("2001:db8::/32"),
    "  192.0.2.7 ",
    ipaddress.ip_address("::1"),
]


@pytest.mark.parametrize(
    ("address", "inside"),
    [
        pytest.param("10.1.2.3", True, id="ipv4-in-network"),
        pytest.param("11.0.0.1", False, id="ipv4-outside"),
        pytest.param("192.0.2.7", True, id="single-address"),
        pytest.param("192.0.2.8", False, id="next-to-the-address"),
        pytest.param("2001:db8:1::5", True, id="ipv6-in-network"),
        pytest.param("2001:db9::5", False, id="ipv6-outside"),
        pytest.param("::1", True, id="ipv6-address-object"),
        pytest.param("::ffff:10.9.8.7", True, id="ipv4-mapped"),
        pytest.param("::ffff:11.9.8.7", False, id="ipv4-mapped-outside"),
        pytest.param(" 10.1.2.3 ", True, id="spaces"),
        pytest.param("unknown", False, id="not-an-address"),
        pytest.param("", False, id="empty"),
        pytest.param(None, False, id="none"),
    ],
)
def test_networks_contain(address: str | None, inside: bool) -> None:
    networks = Networks(STAFF)
    assert (address in networks) is inside
    assert (address in networks) is inside  # the cached answer


def test_networks_cache_is_bounded() -> None:
    networks = Networks(["10.0.0.0/8"])
    for n in range(Networks.MAX_CACHED + 10):
        assert f"10.0.{n // 256}.{n % 256}" in networks
    assert len(networks._cache) <= Networks.MAX_CACHED
    assert "11.0.0.1" not in networks


@pytest.mark.parametrize(
    ("networks", "error", "message"),
    [
        pytest.param(
            ["10.0.0.0/8", "10.0.0.0/33"],
            ValueError,
            "exclude[1]: '10.0.0.0/33' is not an IP address or network",
            id="bad-prefix",
        ),
        pytest.param(
            ["intranet"],
            ValueError,
            "exclude[0]: 'intranet' is not an IP address or network",
            id="a-name",
        ),
        pytest.param(
            ["10.1.2.3/8"],
            ValueError,
            "exclude[0]: '10.1.2.3/8' has host bits set (did you mean '10.0.0.0/8'?)",
            id="host-bits",
        ),
        pytest.param(
            [10],
            TypeError,
            "exclude[0] must be a network as a str or an ipaddress object, not int",
            id="an-int",
        ),
    ],
)
def test_bad_networks_are_named(
    networks: list[object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        Networks(networks)
    assert str(raised.value) == message
