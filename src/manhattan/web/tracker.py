"""What every adapter (WSGI, ASGI, Django) decides the same way.

:class:`Tracker` holds the checked options (declared in
:mod:`manhattan.web.options`; their defaults and checks are here) and the
per-request steps over a WSGI-style environ mapping (the ASGI adapter
builds one from its scope with :func:`manhattan.web.scope.scope_environ`):
who the visitor is, whether their requests are recorded, the populations a
QA link forces and which cookies must be set (:meth:`~Tracker.begin`),
the page record (:meth:`~Tracker.page_record`) and the pixel tag
(:meth:`~Tracker.tag_for`). Whether a response is a page view is
:func:`manhattan.web.rules.is_page_view` (or the user's ``count_page``),
whether the pixel may go into it :func:`manhattan.web.rules.takes_pixel`.
Each step only answers; the adapter composes them and records, so every
adapter writes the same records and sets the same cookie for the same
request.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple
from urllib.parse import quote

from manhattan.experiments.links import (
    FORCE_PARAMETER,
    MAX_FORCED_TEXT,
    LinkSigner,
    forced_by_query,
)
from manhattan.visitor import records
from manhattan.visitor.environ import PATH_SAFE, header_key, page_record_from_environ
from manhattan.visitor.visitor import Visitor
from manhattan.web import rules
from manhattan.web.cookies import (
    DEFAULT_MAX_AGE,
    CookieSigner,
    Secret,
    find_cookie,
    new_visitor_id,
    set_cookie_header,
)
from manhattan.web.failures import FailureReporter, GuardedLog
from manhattan.web.options import OPTION_NAMES, unknown_options
from manhattan.web.pixel import pixel_tag

if TYPE_CHECKING:
    from manhattan.log import Log

logger = logging.getLogger("manhattan.middleware")

# A pixel_path is compared with the request path as given, so it may only
# hold characters that a URL path carries unquoted.
_PIXEL_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")

PIXEL_CONTENT_TYPE = "image/gif"
PIXEL_CACHE_CONTROL = "no-store"

_MAX_TAGS = 64


class _Discard:
    """The log of a visitor who is not tracked (a privacy signal, ``exclude``)."""

    def write(self, records: Sequence[Sequence[str]]) -> None:
        """Drop ``records``."""


DISCARD = _Discard()


def flush(visitor: Visitor) -> None:
    """Write ``visitor``'s buffered records.

    A tracker's visitors write through a :class:`GuardedLog`: a failing log
    is reported by the tracker's ``failures``, never the visitor's error page.
    """
    visitor.flush()


class Begun(NamedTuple):
    """What :meth:`Tracker.begin` decides about a request."""

    visitor: Visitor
    """The request's visitor."""
    fresh: bool
    """The request carried no validly signed visitor cookie."""
    tracked: bool
    """Records of the request are kept (no privacy signal, not excluded)."""
    set_cookie: bool
    """The response must set the visitor cookie (:meth:`Tracker.cookie_header`)."""
    qa_cookie: str | None
    """The QA cookie value the response must set (:meth:`Tracker.qa_cookie_header`), if any."""


def _flag(options: Mapping[str, Any], name: str, default: bool) -> bool:
    value = options.get(name, default)
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


class Tracker:
    """The options and per-request steps shared by the adapters.

    Adapters subclass it and pass the options they were given (see
    :class:`~manhattan.web.options.Options` and the middleware guide); ``OPTIONS``
    names those an adapter takes, ``COUNT_PAGE_SIGNATURE`` the signature
    of its ``count_page`` (kept as given, called by the adapter).
    """

    OPTIONS: ClassVar[frozenset[str]] = OPTION_NAMES
    COUNT_PAGE_SIGNATURE: ClassVar[str] = "(environ, status, headers) -> bool"
    EXCLUDE_SIGNATURE: ClassVar[str] = "(request) -> bool"

    def __init__(self, log: Log, secret: Secret, options: Mapping[str, Any]) -> None:
        """Check ``log``, ``secret`` and ``options``, with the defaults of those not given.

        ``TypeError`` for an unknown option (with the closest known name) or
        a value of the wrong type, ``ValueError`` for one that cannot be
        used; each names the option.
        """
        problem = unknown_options(options, self.OPTIONS)
        if problem is not None:
            raise TypeError(problem)
        if not callable(getattr(log, "write", None)):
            raise TypeError("log must have a write(records) method")
        self.log = log
        self.failures = FailureReporter(logger)
        # Buffered or not, every record of a tracked visitor goes through it.
        self.guarded_log = GuardedLog(log, self.failures)
        self.signer = CookieSigner(secret)
        self.links = LinkSigner(secret)

        cookie_name = options.get("cookie_name", "manhattan")
        if not isinstance(cookie_name, str):
            raise TypeError(f"cookie_name must be a str, not {type(cookie_name).__name__}")
        self.cookie_name = cookie_name
        self.cookie_options: dict[str, Any] = {
            "max_age": options.get("max_age", DEFAULT_MAX_AGE),
            "path": options.get("path", "/"),
            "domain": options.get("domain"),
            "secure": _flag(options, "secure", False),
            "samesite": options.get("samesite", "Lax"),
        }
        # Building one header now checks every cookie option once, up front.
        self._cookie_attrs = set_cookie_header(cookie_name, "x", **self.cookie_options).partition(
            ";"
        )[2]
        # The QA cookie lasts the browser's session: a QA person's forced
        # populations end with it, never outliving the visit they were for.
        self.qa_cookie_name = cookie_name + "_qa"
        self._qa_cookie_key = self.qa_cookie_name + "="
        self.qa_cookie_options: dict[str, Any] = {**self.cookie_options, "max_age": None}
        self._qa_cookie_attrs = set_cookie_header(
            self.qa_cookie_name, "x", **self.qa_cookie_options
        ).partition(";")[2]

        pixel_path = options.get("pixel_path", "/vpixel.gif")
        if not isinstance(pixel_path, str) or not _PIXEL_PATH.fullmatch(pixel_path):
            raise ValueError(
                f"pixel_path must be a URL-safe ASCII path starting with '/', not {pixel_path!r}"
            )
        self.pixel_path = pixel_path
        self._tags: dict[str, bytes] = {}

        self.sites = rules.SiteMap(options.get("host_map"))
        self.buffer_writes = _flag(options, "buffer_writes", True)

        count_page = options.get("count_page")
        if count_page is not None and not callable(count_page):
            raise TypeError(f"count_page must be a callable{self.COUNT_PAGE_SIGNATURE}")
        self.count_page = count_page

        given = options.get("record_headers", ())
        names = None if isinstance(given, str) or not isinstance(given, Iterable) else tuple(given)
        if names is None or not all(isinstance(name, str) for name in names):
            raise TypeError(f"record_headers must be a sequence of header names, not {given!r}")
        self.record_headers = tuple((name, header_key(name)) for name in names if name)

        self.anonymize = rules.anonymize_ip if _flag(options, "anonymize_ip", False) else None
        self.respect_gpc = _flag(options, "respect_gpc", False)

        visitor_class = options.get("visitor_class", Visitor)
        if not (isinstance(visitor_class, type) and issubclass(visitor_class, Visitor)):
            raise TypeError(
                f"visitor_class must be Visitor or a subclass of it, not {visitor_class!r}"
            )
        self.visitor_class: type[Visitor] = visitor_class

        exclude = options.get("exclude")
        # The adapter calls the callable with its framework's request.
        self.exclude: Callable[[Any], object] | None = None
        self.excluded_networks: rules.Networks | None = None
        if callable(exclude):
            self.exclude = exclude
        elif exclude is not None:
            if isinstance(exclude, str | bytes) or not isinstance(exclude, Iterable):
                hint = " (put it in a list)" if isinstance(exclude, str) else ""
                raise TypeError(
                    f"exclude must be a callable{self.EXCLUDE_SIGNATURE} or a list of "
                    f"networks, not {exclude!r}{hint}"
                )
            networks = rules.Networks(exclude)
            self.excluded_networks = networks if networks.networks else None

    def begin(self, environ: Mapping[str, Any], excluded: bool = False) -> Begun:
        """What to do with a request (see :class:`Begun`).

        ``fresh`` is true when the request carried no validly signed cookie.
        ``tracked`` is false (and the visitor's records are dropped) when
        ``excluded`` (the adapter called the ``exclude`` callable), when the
        client address is in an ``exclude`` network, or when the visitor
        asked not to be tracked and ``respect_gpc`` is on. ``set_cookie`` is
        true for a fresh visitor, and for one whose cookie is signed with an
        older secret of a rotation. The populations that a QA link (the
        query parameter, or the QA cookie it set) validly forces are the
        visitor's ``forced``; ``qa_cookie`` is set when a link changes them.
        """
        header = environ.get("HTTP_COOKIE")
        known, stale = self.signer.identify(find_cookie(header, self.cookie_name))
        tracked = not (
            excluded
            or (
                self.excluded_networks is not None
                and environ.get("REMOTE_ADDR") in self.excluded_networks
            )
            or (
                self.respect_gpc
                and rules.wants_no_tracking(environ.get("HTTP_SEC_GPC"), environ.get("HTTP_DNT"))
            )
        )
        query = environ.get("QUERY_STRING")
        forced: dict[str, str] | None = None
        qa_cookie = None
        # Two substring tests spare the usual request (no QA link) any more work.
        if (header and self._qa_cookie_key in header) or (query and FORCE_PARAMETER in query):
            forced, qa_cookie = self._forced(header, query)
        visitor_id = known or new_visitor_id()
        log = self.guarded_log if tracked else DISCARD
        site = self.sites.site(environ.get("HTTP_HOST"))
        if forced:
            visitor = self.visitor_class(visitor_id, log, site, self.buffer_writes, forced=forced)
        else:
            # Without a QA link, a Visitor subclass of 0.3's signature still works.
            visitor = self.visitor_class(visitor_id, log, site, self.buffer_writes)
        fresh = known is None
        return Begun(visitor, fresh, tracked, fresh or stale, qa_cookie)

    def _forced(
        self, cookie_header: str | None, query: str | None
    ) -> tuple[dict[str, str], str | None]:
        """``(forced populations, QA cookie value to set or None)`` of a request."""
        forced = self.links.verify(find_cookie(cookie_header, self.qa_cookie_name))
        linked = forced_by_query(query, self.links)
        if not linked:
            return forced, None
        merged = {**forced, **linked}
        if merged == forced:
            return forced, None
        value = self.links.value(merged)
        if len(value) > MAX_FORCED_TEXT:
            # A browser would cut it: this request is forced, the next are not.
            logger.warning(
                "manhattan: a QA link forces %d tests, too many to keep in a cookie "
                "(%d characters, at most %d): only this request shows them",
                len(merged),
                len(value),
                MAX_FORCED_TEXT,
            )
            return merged, None
        return merged, value

    def cookie_header(self, visitor_id: str) -> str:
        """The ``Set-Cookie`` value that gives a fresh visitor their id."""
        return f"{self.cookie_name}={self.signer.sign(visitor_id)};{self._cookie_attrs}"

    def qa_cookie_header(self, value: str) -> str:
        """The ``Set-Cookie`` value of the QA cookie (see :meth:`begin`): a session cookie."""
        return f"{self.qa_cookie_name}={value};{self._qa_cookie_attrs}"

    def record_pixel(self, visitor: Visitor, fresh: bool, tracked: bool) -> None:
        """Record a pixel load (the adapter then flushes).

        A fresh id on the pixel request proves nothing: only known visitors count.
        """
        if not fresh and tracked:
            visitor.pixel()

    def page_record(
        self, environ: Mapping[str, Any], visitor: Visitor, began: float
    ) -> records.Record:
        """The page record of ``environ``'s request, made by ``visitor``, begun at ``began``.

        The adapter records it with :meth:`Visitor.record_first
        <manhattan.visitor.visitor.Visitor.record_first>` when the response
        is a page view.
        """
        return page_record_from_environ(
            records.format_timestamp(began),
            visitor.id,
            visitor.site_id,
            environ,
            self.record_headers,
            self.anonymize,
        )

    def tag_for(self, script_name: str) -> bytes:
        """The pixel ``<img>`` for an app mounted at ``script_name`` (WSGI-style text).

        The adapter injects it into responses that
        :func:`~manhattan.web.rules.takes_pixel` allows, for tracked visitors.
        """
        tag = self._tags.get(script_name)
        if tag is None:
            prefix = quote(script_name.encode("latin-1", "replace"), PATH_SAFE)
            tag = pixel_tag(prefix + self.pixel_path)
            if len(self._tags) < _MAX_TAGS:
                self._tags[script_name] = tag
        return tag
