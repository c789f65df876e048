"""Rollups: how counts are sliced into buckets.

Every count the backend keeps is per (rollup, bucket, site). A rollup is any
object with the :class:`~manhattan.backend.model.Rollup` protocol: a
``name`` (the ``rollup_key`` queries use), a ``per_visitor`` flag, and a
``bucket(timestamp, visit)`` method returning a short readable string.
``per_visitor`` rollups depend on the visitor's first page only, so the
backend computes their bucket once per visitor; the others are asked for
every event.

Built-in rollups and their bucket ids:

``all``
    A single bucket, ``"0"`` (queries' default ``bucket_id=0``).
``day``
    The local date of the event, ISO format: ``"2024-03-31"``.
``week``
    The local date of the first day of the event's week: ``"2024-03-24"``.
    Weeks start on Sunday unless configured otherwise.
``month``
    The local year and month: ``"2024-03"``.
``browser``
    The browser family from ua-parser: ``"Chrome"``, ``"Firefox"``,
    ``"Mobile Safari"``, ``"Googlebot"``...; ``"Other"`` when unknown or
    empty.
``browser_version``
    The family and major version: ``"Chrome 120"``; only the family when
    the user agent has no version (``"Other"``).
``referrer``
    The referring site's host name, lowercase, without a trailing dot and
    without a leading ``www.`` (when a dot remains after it):
    ``"google.com"``, ``"news.ycombinator.com"``; non-ASCII names in their
    ASCII (punycode) form. ``"direct"`` when there was no referrer,
    ``"(invalid)"`` when it was not a URL with a host.
``network``
    The name of the first network of the configured map that holds the
    visitor's IP address, else the address's /24 (IPv4) or /48 (IPv6)
    network: ``"203.0.113.0/24"``, ``"2001:db8:1::/48"``; ``"unknown"``
    when the IP address is missing or invalid. IPv4-mapped IPv6 addresses
    count as IPv4.

Local time is that of one IANA time zone (``UTC`` unless configured). A local
day runs from the first moment the local clock shows its date to the first
moment it shows the next date, so it lasts 23 or 25 hours on DST changes
(23.5 or 24.5 in Australia/Lord_Howe), and where a clock change turns the
clock back across midnight, the repeated stretch belongs to the later date.
Timestamps must lie between 0002-01-01 and 9999-01-01 UTC.

User-supplied rollups (:func:`load_rollup`, :func:`build_rollups`) are named
by dotted path, ``"package.module:attribute"`` or
``"package.module.attribute"``, to one of: an object with the Rollup
protocol; a Rollup class, instantiated without arguments; or a function
``func(timestamp, visit) -> str``, which gets the event time and the
visitor's first page (URL, referrer, user agent, IP address, recorded
headers) as a :class:`~manhattan.backend.model.Visit`.

Crawlers are recognised by :func:`is_crawler`: user agents ua-parser puts in
its ``Spider`` device family (Googlebot, bingbot, YandexBot,
facebookexternalhit...). Command-line tools such as curl or wget are not
crawlers by that list; visitors using them are filtered anyway when they
never load the tracking pixel.
"""

from __future__ import annotations

import importlib
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple, TypeAlias
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import ua_parser

from manhattan.backend.model import Rollup, Visit

__all__ = [
    "BUILTIN_NAMES",
    "UA_CACHE_SIZE",
    "AllRollup",
    "BrowserRollup",
    "BrowserVersionRollup",
    "DayRollup",
    "FunctionRollup",
    "MonthRollup",
    "NetworkRollup",
    "ReferrerRollup",
    "RollupConfig",
    "RollupSpec",
    "UserAgentInfo",
    "WeekRollup",
    "build_rollups",
    "default_rollups",
    "is_crawler",
    "load_rollup",
    "referrer_host",
    "user_agent_info",
]

RollupSpec: TypeAlias = "str | Rollup | type[Rollup] | Callable[[float, Visit], str]"
"""What names a rollup: a built-in name or dotted path, a Rollup, a function."""

BUILTIN_NAMES = (
    "all",
    "day",
    "week",
    "month",
    "browser",
    "browser_version",
    "referrer",
    "network",
)
"""The built-in rollups, in the order :func:`default_rollups` gives them."""


class AllRollup:
    """One bucket, ``"0"``, for all time and every visitor."""

    name = "all"
    per_visitor = True

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """Always ``"0"``."""
        return "0"


# --- local time ------------------------------------------------------------

_MIN_TIMESTAMP = datetime(2, 1, 1, tzinfo=UTC).timestamp()
_MAX_TIMESTAMP = datetime(9999, 1, 1, tzinfo=UTC).timestamp()
_ONE_DAY = timedelta(days=1)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (KeyError, OSError, TypeError, ValueError):
        raise ValueError(f"unknown time zone {tz!r}") from None


def _local_date(timestamp: float, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(timestamp, zone).date()


def _start_of(day: date, zone: ZoneInfo) -> float:
    """The first moment the local clock shows ``day``."""
    midnight = datetime(day.year, day.month, day.day)
    # fold=0 picks the first of two readings of a repeated midnight.
    start = midnight.replace(tzinfo=zone).timestamp()
    if datetime.fromtimestamp(start, zone).replace(tzinfo=None) == midnight:
        return start
    # A clock change skipped midnight (Toronto, 1919-03-31: 23:30 -> 00:30):
    # the date begins at the change, which lies between midnight read with
    # the offset after it (earlier) and with the offset before it (later).
    # Changes happen on whole seconds, so bisect on seconds.
    before = midnight.replace(tzinfo=zone, fold=1).timestamp()
    while start - before > 1:
        middle = (before + start) // 2
        if _local_date(middle, zone) < day:
            before = middle
        else:
            start = middle
    return start


class _LocalPeriodRollup:
    """A rollup by local calendar periods: days, weeks, months.

    Called for every event, so the period of the last two events is kept as
    ``(start, end, bucket)``; most events then cost two comparisons.
    """

    name: str
    per_visitor = False

    def __init__(self, tz: str = "UTC") -> None:
        self.tz = tz
        self._zone = _zone(tz)
        nothing = (0.0, 0.0, "")  # start == end: holds no timestamp
        self._current = nothing
        self._previous = nothing

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """The bucket id of the local period holding ``timestamp``."""
        current = self._current
        if current[0] <= timestamp < current[1]:
            return current[2]
        previous = self._previous
        if not previous[0] <= timestamp < previous[1]:
            # Events come nearly in time order: a new period replaces the
            # older of the two, and the pair absorbs jitter at a boundary.
            previous = self._period(timestamp)
        self._previous, self._current = current, previous
        return previous[2]

    def _period(self, timestamp: float) -> tuple[float, float, str]:
        if not _MIN_TIMESTAMP <= timestamp < _MAX_TIMESTAMP:
            raise ValueError(f"timestamp {timestamp!r} is out of range")
        first = self._first_day(_local_date(timestamp, self._zone))
        start = _start_of(first, self._zone)
        after = self._next_first_day(first)
        end = _start_of(after, self._zone)
        # The clock turned back across midnight (St. John's, 2010-11-07,
        # 00:01 -> 23:01): the repeated stretch belongs to the next period.
        while timestamp >= end:
            first, start = after, end
            after = self._next_first_day(first)
            end = _start_of(after, self._zone)
        return (start, end, self._format(first))

    def _first_day(self, day: date) -> date:
        return day

    def _next_first_day(self, first: date) -> date:
        return first + _ONE_DAY

    def _format(self, first: date) -> str:
        return first.isoformat()


class DayRollup(_LocalPeriodRollup):
    """Local days in time zone ``tz``; buckets like ``"2024-03-31"``."""

    name = "day"


class WeekRollup(_LocalPeriodRollup):
    """Local weeks in time zone ``tz``, starting on ``first_weekday``
    (0 Monday ... 6 Sunday, as :meth:`datetime.date.weekday`); the bucket is
    the ISO date of the week's first day."""

    name = "week"

    def __init__(self, tz: str = "UTC", first_weekday: int = 6) -> None:
        if type(first_weekday) is not int or not 0 <= first_weekday <= 6:
            raise ValueError(
                f"first weekday must be 0 (Monday) to 6 (Sunday), got {first_weekday!r}"
            )
        super().__init__(tz)
        self.first_weekday = first_weekday

    def _first_day(self, day: date) -> date:
        return day - timedelta(days=(day.weekday() - self.first_weekday) % 7)

    def _next_first_day(self, first: date) -> date:
        return first + timedelta(days=7)


class MonthRollup(_LocalPeriodRollup):
    """Local months in time zone ``tz``; buckets like ``"2024-03"``."""

    name = "month"

    def _first_day(self, day: date) -> date:
        return day.replace(day=1)

    def _next_first_day(self, first: date) -> date:
        if first.month == 12:
            return date(first.year + 1, 1, 1)
        return date(first.year, first.month + 1, 1)

    def _format(self, first: date) -> str:
        return f"{first.year:04d}-{first.month:02d}"


# --- user agents -----------------------------------------------------------

UA_CACHE_SIZE = 10_000
"""How many distinct user agents :func:`user_agent_info` remembers."""


class UserAgentInfo(NamedTuple):
    """What the backend wants from a user agent string."""

    browser: str
    browser_version: str
    crawler: bool


_ua_cache: dict[str, UserAgentInfo] = {}


def _parse_user_agent(user_agent: str) -> UserAgentInfo:
    # The global parser uses the best matcher installed (ua-parser-rs).
    result = ua_parser.parser(user_agent, ua_parser.Domain.USER_AGENT | ua_parser.Domain.DEVICE)
    agent = result.user_agent
    browser = agent.family if agent is not None else "Other"
    version = f"{browser} {agent.major}" if agent is not None and agent.major else browser
    crawler = result.device is not None and result.device.family == "Spider"
    return UserAgentInfo(browser, version, crawler)


def user_agent_info(user_agent: str) -> UserAgentInfo:
    """Browser family, family and major version, and crawler flag of
    ``user_agent``, cached by string (parsing costs tens of microseconds)."""
    info = _ua_cache.get(user_agent)
    if info is None:
        info = _parse_user_agent(user_agent)
        if len(_ua_cache) >= UA_CACHE_SIZE:
            # Starting over is cheaper than LRU bookkeeping on every hit, and
            # the common user agents are back after a few parses.
            _ua_cache.clear()
        _ua_cache[user_agent] = info
    return info


def is_crawler(user_agent: str) -> bool:
    """Whether ``user_agent`` is a known crawler (ua-parser's ``Spider``
    devices). An empty user agent is not."""
    return user_agent_info(user_agent).crawler


class BrowserRollup:
    """The browser family of the visitor's user agent (``"Chrome"``)."""

    name = "browser"
    per_visitor = True

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """The family, ``"Other"`` when unknown."""
        return user_agent_info(visit.user_agent).browser


class BrowserVersionRollup:
    """Browser family and major version (``"Chrome 120"``)."""

    name = "browser_version"
    per_visitor = True

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """Family and major version, or the family alone without a version."""
        return user_agent_info(visit.user_agent).browser_version


# --- referrers -------------------------------------------------------------

_HOST = re.compile(r"[a-z0-9_.:-]{1,253}")


def referrer_host(referrer: str) -> str:
    """The ``referrer`` bucket of a Referer header (see the module text)."""
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

    def bucket(self, timestamp: float, visit: Visit) -> str:
        """See :func:`referrer_host`."""
        return referrer_host(visit.referrer)


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
        try:
            address: _Address = ipaddress.ip_address(visit.ip.strip())
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


def _resolve(path: str) -> object:
    path = path.strip()
    module_name, colon, attributes = path.partition(":")
    if not colon:
        module_name, _, attributes = path.rpartition(".")
    if not module_name or not attributes:
        raise ValueError(f"rollup {path!r} is not a dotted path like 'package.module:name'")
    try:
        found: object = importlib.import_module(module_name)
    except Exception as exc:  # anything a user module raises on import
        raise ValueError(f"rollup {path!r}: cannot import {module_name!r}: {exc}") from None
    for attribute in attributes.split("."):
        try:
            found = getattr(found, attribute)
        except AttributeError:
            raise ValueError(
                f"rollup {path!r}: {module_name!r} has no attribute {attributes!r}"
            ) from None
    return found


def load_rollup(spec: RollupSpec, name: str | None = None) -> Rollup:
    """A Rollup from ``spec``: a Rollup (returned as is), a Rollup class
    (instantiated), a function ``func(timestamp, visit) -> str`` (wrapped in
    :class:`FunctionRollup`, ``name`` required), or a dotted path to any of
    these. With ``name``, the rollup must have that name. Raises
    :class:`ValueError` for anything else."""
    what = repr(spec)
    found: object = spec
    if isinstance(spec, str):
        found = _resolve(spec)
    if isinstance(found, type):
        try:
            found = found()
        except Exception as exc:  # a user class failing to instantiate
            raise ValueError(f"rollup {what}: cannot instantiate: {exc}") from None
    if isinstance(found, Rollup):
        if not isinstance(found.name, str) or not found.name:
            raise ValueError(f"rollup {what}: name must be a non-empty string")
        if not isinstance(found.per_visitor, bool):
            raise ValueError(f"rollup {what}: per_visitor must be a bool")
        if name is not None and found.name != name:
            raise ValueError(f"rollup {what} is named {found.name!r}, not {name!r}")
        return found
    if callable(found):
        if name is None:
            raise ValueError(f"rollup function {what} needs a name")
        return FunctionRollup(name, found)
    raise ValueError(f"rollup {what} is neither a Rollup nor a function")


def _builtin(
    name: str, tz: str, first_weekday: int, networks: Mapping[str, str | Sequence[str]] | None
) -> Rollup:
    if name == "day":
        return DayRollup(tz)
    if name == "week":
        return WeekRollup(tz, first_weekday)
    if name == "month":
        return MonthRollup(tz)
    if name == "network":
        return NetworkRollup(networks)
    others: dict[str, Callable[[], Rollup]] = {
        "all": AllRollup,
        "browser": BrowserRollup,
        "browser_version": BrowserVersionRollup,
        "referrer": ReferrerRollup,
    }
    return others[name]()


def default_rollups(tz: str = "UTC", first_weekday: int = 6) -> list[Rollup]:
    """Every built-in rollup, in :data:`BUILTIN_NAMES` order."""
    return [_builtin(name, tz, first_weekday, None) for name in BUILTIN_NAMES]


RollupConfig: TypeAlias = (
    "Iterable[RollupSpec | Mapping[str, RollupSpec]] | Mapping[str, RollupSpec]"
)
"""How a configuration lists rollups (see :func:`build_rollups`)."""


def _named_specs(specs: RollupConfig) -> Iterator[tuple[str | None, RollupSpec]]:
    if isinstance(specs, Mapping):
        yield from specs.items()
        return
    if isinstance(specs, str) or not isinstance(specs, Iterable):
        raise ValueError(f"rollups must be a list or a mapping, not {specs!r}")
    for spec in specs:
        if isinstance(spec, Mapping):
            yield from spec.items()
        else:
            yield None, spec


def build_rollups(
    specs: RollupConfig | None = None,
    tz: str = "UTC",
    first_weekday: int = 6,
    networks: Mapping[str, str | Sequence[str]] | None = None,
) -> list[Rollup]:
    """The rollups a configuration names, ``all`` first unless listed.

    ``specs`` lists built-in names, :func:`load_rollup` specs and mappings
    of rollup names to such specs (``["day", {"country":
    "myapp.rollups:country"}]``), or is one such mapping; ``None`` means
    every built-in rollup. ``tz`` and ``first_weekday`` configure the time
    rollups, ``networks`` the network rollup. Raises :class:`ValueError` for
    unknown names and duplicates.
    """
    _zone(tz)  # a bad time zone is an error even when no time rollup uses it
    rollups: list[Rollup] = []
    for name, spec in _named_specs(BUILTIN_NAMES if specs is None else specs):
        if isinstance(spec, str) and spec in BUILTIN_NAMES:
            if name is not None and name != spec:
                raise ValueError(f"built-in rollup {spec!r} cannot be named {name!r}")
            rollup = _builtin(spec, tz, first_weekday, networks)
        else:
            rollup = load_rollup(spec, name)
        if any(other.name == rollup.name for other in rollups):
            raise ValueError(f"rollup {rollup.name!r} is configured twice")
        rollups.append(rollup)
    if not any(rollup.name == "all" for rollup in rollups):
        rollups.insert(0, AllRollup())
    return rollups
