"""Tests of manhattan.backend.rollups.visits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from manhattan.backend.model import NO_VISIT, Rollup, Visit
from manhattan.backend.rollups import visits
from manhattan.backend.rollups.visits import (
    AllRollup,
    FunctionRollup,
    NetworkRollup,
    ReferrerRollup,
    referrer_host,
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    """The timestamp of a UTC date and time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def country_header(timestamp: float, visit: Visit) -> str:
    """A user rollup: the country a CDN put in a recorded header."""
    return visit.headers.get("CF-IPCountry", "??")


def not_a_string(timestamp: float, visit: Visit) -> str:
    return 42  # type: ignore[return-value]


# --- all -------------------------------------------------------------------


def test_all_rollup_has_one_bucket() -> None:
    rollup = AllRollup()
    assert isinstance(rollup, Rollup)
    assert (rollup.name, rollup.per_visitor) == ("all", True)
    assert rollup.bucket(0.0, NO_VISIT) == "0"
    assert rollup.bucket(utc(2024, 5, 5), Visit(url="http://a/", ip="1.2.3.4")) == "0"


# --- referrers -------------------------------------------------------------

REFERRERS = [
    pytest.param("", "direct", id="empty"),
    pytest.param("  ", "direct", id="blank"),
    pytest.param("https://www.google.com/search?q=x", "google.com", id="www-stripped"),
    pytest.param("http://News.YCombinator.com/item?id=1", "news.ycombinator.com", id="lower"),
    pytest.param("https://www.com/", "www.com", id="www-is-the-name"),
    pytest.param("http://www./", "www", id="www-dot-only"),
    pytest.param("http://Example.COM./path", "example.com", id="trailing-dot"),
    pytest.param("http://user:pw@www.example.org:8443/x", "example.org", id="userinfo-port"),
    pytest.param("http://[2001:db8::1]:8080/", "2001:db8::1", id="ipv6"),
    pytest.param("http://203.0.113.7/", "203.0.113.7", id="ipv4"),
    pytest.param("android-app://com.google.android.gm/", "com.google.android.gm", id="app"),
    pytest.param("//example.com/x", "example.com", id="scheme-relative"),
    pytest.param(" https://example.com/ ", "example.com", id="spaces-around"),
    pytest.param("http://bücher.de/", "xn--bcher-kva.de", id="idn-to-punycode"),
    pytest.param("http://xn--bcher-kva.de/", "xn--bcher-kva.de", id="punycode"),
    pytest.param("example.com/page", "(invalid)", id="no-scheme"),
    pytest.param("about:blank", "(invalid)", id="no-host"),
    pytest.param("http:///path", "(invalid)", id="empty-host"),
    pytest.param("http://[bad/", "(invalid)", id="bad-ipv6"),
    pytest.param("http://exa mple.com/", "(invalid)", id="space-in-host"),
    pytest.param("http://" + "a" * 250 + ".com/", "(invalid)", id="too-long"),
    pytest.param("http://\u2100.com/", "(invalid)", id="nfkc-slash"),
    pytest.param("http://" + "ü" * 70 + ".de/", "(invalid)", id="idna-label-too-long"),
]


@pytest.mark.parametrize(("referrer", "expected"), REFERRERS)
def test_referrer_bucket_is_the_referring_host(referrer: str, expected: str) -> None:
    assert referrer_host(referrer) == expected
    assert ReferrerRollup().bucket(0.0, Visit(referrer=referrer)) == expected


def test_referrer_rollup_is_per_visitor() -> None:
    rollup = ReferrerRollup()
    assert isinstance(rollup, Rollup)
    assert (rollup.name, rollup.per_visitor) == ("referrer", True)


# --- networks --------------------------------------------------------------

OFFICE_MAP = {
    "office": "198.51.100.0/24",
    "vpn": ["10.8.0.0/16", "2001:db8:8::/48"],
    "lan": ("10.0.0.0/8", "192.168.0.0/16"),
    "office-wide": "198.51.0.0/16",  # after "office": never wins over it
    "copy": "10.8.0.0/16",  # listed again: "vpn" came first
}
NETWORKS = [
    pytest.param(None, "203.0.113.9", "203.0.113.0/24", id="ipv4-24"),
    pytest.param(None, " 203.0.113.9 ", "203.0.113.0/24", id="spaces"),
    pytest.param(None, "203.0.113.255", "203.0.113.0/24", id="ipv4-last"),
    pytest.param(None, "2001:db8:abcd:12::1", "2001:db8:abcd::/48", id="ipv6-48"),
    pytest.param(None, "fe80::1%eth0", "fe80::/48", id="ipv6-scoped"),
    pytest.param(None, "::ffff:203.0.113.9", "203.0.113.0/24", id="ipv4-mapped"),
    pytest.param(None, "", "unknown", id="empty"),
    pytest.param(None, "1.2.3", "unknown", id="short"),
    pytest.param(None, "localhost", "unknown", id="name"),
    pytest.param(OFFICE_MAP, "198.51.100.20", "office", id="named"),
    pytest.param(OFFICE_MAP, "198.51.7.1", "office-wide", id="wider"),
    pytest.param(OFFICE_MAP, "10.8.3.4", "vpn", id="first-of-list"),
    pytest.param(OFFICE_MAP, "10.9.3.4", "lan", id="tuple"),
    pytest.param(OFFICE_MAP, "192.168.1.1", "lan", id="second-of-tuple"),
    pytest.param(OFFICE_MAP, "::ffff:10.8.0.1", "vpn", id="mapped-named"),
    pytest.param(OFFICE_MAP, "2001:db8:8:1::5", "vpn", id="ipv6-named"),
    pytest.param(OFFICE_MAP, "2001:db8:9::5", "2001:db8:9::/48", id="ipv6-unnamed"),
    pytest.param(OFFICE_MAP, "203.0.113.9", "203.0.113.0/24", id="unnamed"),
    pytest.param({"lan": "10.0.0.0/8", "vpn": "10.8.0.0/16"}, "10.8.0.1", "lan", id="order"),
    pytest.param({"all": "0.0.0.0/0"}, "203.0.113.9", "all", id="v4-everything"),
    pytest.param({"all": "0.0.0.0/0"}, "2001:db8::1", "2001:db8::/48", id="v6-not-in-v4"),
    pytest.param({"host": "203.0.113.9/32"}, "203.0.113.9", "host", id="host-route"),
    pytest.param({"host": "203.0.113.9"}, "203.0.113.8", "203.0.113.0/24", id="host-miss"),
    pytest.param({}, "203.0.113.9", "203.0.113.0/24", id="empty-map"),
]


@pytest.mark.parametrize(("networks", "ip", "expected"), NETWORKS)
def test_network_bucket(networks: dict[str, str] | None, ip: str, expected: str) -> None:
    rollup = NetworkRollup(networks)
    assert isinstance(rollup, Rollup)
    assert (rollup.name, rollup.per_visitor) == ("network", True)
    assert rollup.bucket(0.0, Visit(ip=ip)) == expected


@pytest.mark.parametrize(
    ("networks", "message"),
    [
        pytest.param(["10.0.0.0/8"], "must map names", id="not-a-mapping"),
        pytest.param({"": "10.0.0.0/8"}, "non-empty strings", id="empty-name"),
        pytest.param({5: "10.0.0.0/8"}, "non-empty strings", id="int-name"),
        pytest.param({"lan": []}, "'lan': expected a CIDR or a list", id="empty-list"),
        pytest.param({"lan": 5}, "'lan': expected a CIDR or a list", id="int"),
        pytest.param({"lan": "10.0.0.1/8"}, "'lan': bad CIDR '10.0.0.1/8'", id="host-bits"),
        pytest.param({"lan": "10.0.0.0/33"}, "'lan': bad CIDR", id="prefix-too-long"),
        pytest.param({"lan": "nonsense"}, "'lan': bad CIDR 'nonsense'", id="nonsense"),
        pytest.param({"lan": ["10.0.0.0/8", 5]}, "'lan': bad CIDR 5", id="int-in-list"),
        pytest.param({"lan": [None]}, "'lan': bad CIDR None", id="none-in-list"),
    ],
)
def test_bad_network_maps_are_refused(networks: object, message: str) -> None:
    with pytest.raises(ValueError, match="network") as error:
        NetworkRollup(networks)  # type: ignore[arg-type]
    assert message in str(error.value)


# --- user rollups ----------------------------------------------------------


def test_function_rollup_calls_the_function_with_time_and_visit() -> None:
    seen: list[tuple[float, Visit]] = []

    def hour(timestamp: float, visit: Visit) -> str:
        seen.append((timestamp, visit))
        return str(int(timestamp // 3600) % 24)

    rollup = FunctionRollup("hour", hour)
    assert isinstance(rollup, Rollup)
    assert (rollup.name, rollup.per_visitor, rollup.func) == ("hour", False, hour)
    visit = Visit(url="http://shop/", ip="203.0.113.9")
    assert rollup.bucket(utc(2024, 1, 1, 13, 5), visit) == "13"
    assert seen == [(utc(2024, 1, 1, 13, 5), visit)]
    assert FunctionRollup("c", country_header, per_visitor=True).per_visitor is True


def test_function_rollup_refuses_non_string_buckets() -> None:
    rollup = FunctionRollup("answer", not_a_string)
    with pytest.raises(TypeError, match=r"rollup 'answer'.*returned int 42, not a str"):
        rollup.bucket(0.0, NO_VISIT)


@pytest.mark.parametrize(
    ("name", "func", "message"),
    [
        pytest.param("", country_header, "non-empty strings", id="empty-name"),
        pytest.param(None, country_header, "non-empty strings", id="no-name"),
        pytest.param("x", "country_header", "not callable", id="not-callable"),
    ],
)
def test_function_rollup_checks_its_arguments(name: object, func: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        FunctionRollup(name, func)  # type: ignore[arg-type]


def test_referrer_and_network_answers_are_cached_and_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(visits, "CACHE_SIZE", 2)
    referrer, network = visits.ReferrerRollup(), visits.NetworkRollup()
    for ip, url in [
        ("198.51.100.7", "https://a.example/"),
        ("198.51.100.8", "https://b.example/"),
    ]:
        visit = Visit(referrer=url, ip=ip)
        first = (referrer.bucket(0.0, visit), network.bucket(0.0, visit))
        assert (referrer.bucket(1.0, visit), network.bucket(1.0, visit)) == first  # from the cache
    assert len(referrer._cache) == 2
    referrer.bucket(2.0, Visit(referrer="https://c.example/"))  # full: starts over
    assert referrer._cache == {"https://c.example/": "c.example"}
    assert network._cache == {"198.51.100.7": "198.51.100.0/24", "198.51.100.8": "198.51.100.0/24"}
