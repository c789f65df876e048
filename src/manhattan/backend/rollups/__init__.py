"""Rollups: how counts are sliced into buckets.

Every count the backend keeps is per (rollup, bucket, site). A rollup is any
object with the :class:`~manhattan.backend.model.Rollup` protocol: a
``name`` (the ``rollup_key`` queries use), a ``per_visitor`` flag, and a
``bucket(timestamp, visit)`` method returning a short readable string.
``per_visitor`` rollups depend on the visitor's first page only, so the
backend computes their bucket once per visitor; the others are asked for
every event.

Built-in rollups and their bucket ids (the server keeps all of them unless
its config's ``rollups`` list names others):

``all``
    A single bucket, ``"0"`` (queries' default ``bucket_id=0``).
``hour``
    The local date and hour of the event: ``"2024-03-31T14"``. When the
    clock goes back, both readings of the repeated hour share one bucket
    (``"2024-11-03T01"`` holds two hours in America/New_York, 90 minutes
    in Australia/Lord_Howe, whose clock moves by half an hour); an hour the
    clock skips (``"2024-03-10T02"`` in New York) has no bucket, and Lord
    Howe's ``"2024-10-06T02"`` lasts 30 minutes.
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
``utm_source``, ``utm_medium``, ``utm_campaign``
    The value of that parameter in the query string of the visitor's first
    page (the landing URL): ``"newsletter"``, ``"email"``,
    ``"spring-sale"``; ``"(none)"`` when the parameter is absent or empty.
    ``"(none)"`` says only that no campaign was tagged: where such a
    visitor came from is the ``referrer`` bucket, whose ``"direct"`` means
    no Referer header at all. Values are percent-decoded once (``+`` is a
    space, bytes that are not UTF-8 become U+FFFD), whitespace runs and
    control characters become one space, leading and trailing spaces go,
    and the text is lowercased (``Spring-Sale`` and ``spring-sale `` are one
    campaign), then cut to 512 bytes of UTF-8. Parameter names match in any
    case (``UTM_Source``); of a repeated parameter the first non-empty value
    counts. The query string is read even when the rest of the URL is
    malformed; a fragment (``#utm_source=...``) is not read.

    Attribution is first touch: the parameters of the visitor's first page
    ever, kept for all their later visits, as every rollup of the visit
    does (until that page is seen, the bucket is ``"(none)"``). A visitor's
    counts then stay in one campaign bucket, so the campaigns' unique
    visitors and conversions add up to the total, and a conversion is
    credited to the campaign that first brought the visitor. The cost: a
    visitor who comes back through a second campaign is still credited to
    the first (last-non-direct attribution would move them, and the same
    visitor would then count in both campaigns).

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
headers) as a :class:`~manhattan.backend.model.Visit`. A rollup of time
periods whose bucket depends on the time alone may also implement
:class:`PeriodicRollup`'s ``period(timestamp) -> (start, end, bucket)``: the
aggregator then asks it once per period rather than once per event. Both
protocols are importable from here.

Crawlers are recognised by :func:`is_crawler`: user agents ua-parser puts in
its ``Spider`` device family (Googlebot, bingbot, YandexBot,
facebookexternalhit...). Command-line tools such as curl or wget are not
crawlers by that list; visitors using them are filtered anyway when they
never load the tracking pixel.
"""

from __future__ import annotations

from manhattan.backend.model import PeriodicRollup, Rollup
from manhattan.backend.rollups.agents import (
    UA_CACHE_SIZE,
    BrowserRollup,
    BrowserVersionRollup,
    UserAgentInfo,
    is_crawler,
    user_agent_info,
)
from manhattan.backend.rollups.campaigns import (
    NO_CAMPAIGN,
    UtmCampaignRollup,
    UtmMediumRollup,
    UtmSourceRollup,
    UtmValues,
    utm_values,
)
from manhattan.backend.rollups.loading import (
    BUILTIN_NAMES,
    RollupConfig,
    RollupSpec,
    build_rollups,
    default_rollups,
    load_rollup,
)
from manhattan.backend.rollups.timed import DayRollup, HourRollup, MonthRollup, WeekRollup
from manhattan.backend.rollups.visits import (
    AllRollup,
    FunctionRollup,
    NetworkRollup,
    ReferrerRollup,
    referrer_host,
)

__all__ = [
    "BUILTIN_NAMES",
    "NO_CAMPAIGN",
    "UA_CACHE_SIZE",
    "AllRollup",
    "BrowserRollup",
    "BrowserVersionRollup",
    "DayRollup",
    "FunctionRollup",
    "HourRollup",
    "MonthRollup",
    "NetworkRollup",
    "PeriodicRollup",
    "ReferrerRollup",
    "Rollup",
    "RollupConfig",
    "RollupSpec",
    "UserAgentInfo",
    "UtmCampaignRollup",
    "UtmMediumRollup",
    "UtmSourceRollup",
    "UtmValues",
    "WeekRollup",
    "build_rollups",
    "default_rollups",
    "is_crawler",
    "load_rollup",
    "referrer_host",
    "user_agent_info",
    "utm_values",
]
