"""What every adapter (WSGI, ASGI, Django) decides the same way.

:class:`Tracker` holds the checked options and makes the per-request
decisions over a WSGI-style environ mapping (the ASGI adapter builds one
from its scope with :func:`manhattan.web.scope.scope_environ`): who the
visitor is, whether their cookie must be set, whether a response is a page
view, which pixel tag goes into it, and the page record itself. It does no
I/O but through the ``Log`` it is given, so every adapter writes the same
records and sets the same cookie for the same request.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from manhattan.visitor import records
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
from manhattan.web.environ import PATH_SAFE, header_key, page_record_from_environ
from manhattan.web.failures import FailureReporter, GuardedLog
from manhattan.web.pixel import pixel_tag

if TYPE_CHECKING:
    from manhattan.log import Log

logger = logging.getLogger("manhattan.middleware")

# A pixel_path is compared with the request path as given, so it may only
# hold characters that a URL path carries unquoted.
_PIXEL_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")

PURPOSE_KEYS = frozenset({"HTTP_PURPOSE", "HTTP_SEC_PURPOSE", "HTTP_X_PURPOSE", "HTTP_X_MOZ"})
"""The environ keys of the headers that mark a prefetch or a preview."""

PIXEL_CONTENT_TYPE = "image/gif"
PIXEL_CACHE_CONTROL = "no-store"

_MAX_TAGS = 64


class _Discard:
    """The log of a visitor who asked not to be tracked."""

    def write(self, records: Sequence[Sequence[str]]) -> None:
        """Drop ``records``."""


DISCARD = _Discard()


def flush(visitor: Visitor) -> None:
    """Write ``visitor``'s buffered records.

    A tracker's visitors write through a :class:`GuardedLog`: a failing log
    is reported by the tracker's ``failures``, never the visitor's error page.
    """
    visitor.flush()


class Tracker:
    """The options and per-request decisions shared by the adapters.

    Adapters subclass it; see the README for what each option does.
    ``count_page`` is kept as given: its signature is the adapter's
    (``COUNT_PAGE_SIGNATURE`` names it in the error for a non-callable).
    """

    COUNT_PAGE_SIGNATURE = "(environ, status, headers) -> bool"

    def __init__(
        self,
        log: Log,
        secret: Secret,
        cookie_name: str = "manhattan",
        pixel_path: str = "/vpixel.gif",
        host_map: Mapping[str, int | str] | None = None,
        buffer_writes: bool = True,
        *,
        secure: bool = False,
        samesite: str | None = "Lax",
        max_age: int | None = DEFAULT_MAX_AGE,
        domain: str | None = None,
        path: str | None = "/",
        count_page: Callable[..., Any] | None = None,
        record_headers: Iterable[str] = (),
        anonymize_ip: bool = False,
        respect_gpc: bool = False,
        visitor_class: type[Visitor] = Visitor,
    ) -> None:
        if not callable(getattr(log, "write", None)):
            raise TypeError("log must have a write(records) method")
        self.log = log
        self.failures = FailureReporter(logger)
        # Buffered or not, every record of a tracked visitor goes through it.
        self.guarded_log = GuardedLog(log, self.failures)
        self.signer = CookieSigner(secret)
        self.cookie_name = cookie_name
        self.cookie_options: dict[str, Any] = {
            "max_age": max_age,
            "path": path,
            "domain": domain,
            "secure": secure,
            "samesite": samesite,
        }
        # Building one header now checks every cookie option once, up front.
        self._cookie_attrs = set_cookie_header(cookie_name, "x", **self.cookie_options).partition(
            ";"
        )[2]
        if not isinstance(pixel_path, str) or not _PIXEL_PATH.fullmatch(pixel_path):
            raise ValueError(
                f"pixel_path must be a URL-safe ASCII path starting with '/', not {pixel_path!r}"
            )
        self.pixel_path = pixel_path
        self._tags: dict[str, bytes] = {}
        self.sites = rules.SiteMap(host_map)
        self.buffer_writes = buffer_writes
        if count_page is not None and not callable(count_page):
            raise TypeError(f"count_page must be a callable{self.COUNT_PAGE_SIGNATURE}")
        self.count_page = count_page
        if isinstance(record_headers, str):
            raise TypeError("record_headers must be a sequence of header names, not a str")
        self.record_headers = tuple((name, header_key(name)) for name in record_headers if name)
        self.anonymize_ip = anonymize_ip
        self.respect_gpc = respect_gpc
        if not (isinstance(visitor_class, type) and issubclass(visitor_class, Visitor)):
            raise TypeError(
                f"visitor_class must be Visitor or a subclass of it, not {visitor_class!r}"
            )
        self.visitor_class = visitor_class

    def begin(self, environ: Mapping[str, Any]) -> tuple[Visitor, bool, bool, bool]:
        """``(visitor, fresh, tracked, set_cookie)`` for a request.

        ``fresh`` is true when the request carried no validly signed cookie;
        ``tracked`` is false when the visitor asked not to be tracked and
        ``respect_gpc`` is on (then the visitor's records are dropped);
        ``set_cookie`` is true when the response must set the cookie (see
        :meth:`cookie_header`): for a fresh visitor, and for one whose
        cookie is signed with an older secret of a rotation.
        """
        known, stale = self.signer.identify(
            find_cookie(environ.get("HTTP_COOKIE"), self.cookie_name)
        )
        tracked = not (
            self.respect_gpc
            and rules.wants_no_tracking(environ.get("HTTP_SEC_GPC"), environ.get("HTTP_DNT"))
        )
        visitor = self.visitor_class(
            known or new_visitor_id(),
            self.guarded_log if tracked else DISCARD,
            self.sites.site(environ.get("HTTP_HOST")),
            self.buffer_writes,
        )
        fresh = known is None
        return visitor, fresh, tracked, fresh or stale

    def cookie_header(self, visitor_id: str) -> str:
        """The ``Set-Cookie`` value that gives a fresh visitor their id."""
        return f"{self.cookie_name}={self.signer.sign(visitor_id)};{self._cookie_attrs}"

    def tag_for(self, script_name: str) -> bytes:
        """The pixel ``<img>`` for an app mounted at ``script_name`` (WSGI-style text)."""
        tag = self._tags.get(script_name)
        if tag is None:
            prefix = quote(script_name.encode("latin-1", "replace"), PATH_SAFE)
            tag = pixel_tag(prefix + self.pixel_path)
            if len(self._tags) < _MAX_TAGS:
                self._tags[script_name] = tag
        return tag

    def record_pixel(self, visitor: Visitor, fresh: bool, tracked: bool) -> None:
        """Record a pixel load (the adapter then flushes).

        A fresh id on the pixel request proves nothing: only known visitors count.
        """
        if not fresh and tracked:
            visitor.pixel()

    def decide(
        self,
        environ: Mapping[str, Any],
        visitor: Visitor,
        began: float,
        method: str,
        status: int,
        content_type: str | None,
        content_encoding: str | None,
        content_range: str | None,
        counted: bool | None,
        paged: bool = False,
    ) -> tuple[bool, bytes | None]:
        """Record the page view if the response is one; ``(paged, pixel tag)``.

        ``content_encoding`` and ``content_range`` are the response's
        headers of those names (``None`` if absent); ``counted`` is the
        user's ``count_page`` answer, or ``None`` for the default rule;
        ``paged`` says the view is recorded already (a WSGI app may start
        its response twice), and comes back true once it is. Only call this
        for a tracked visitor. The tag is ``None`` unless the pixel may go
        into the response (:func:`~manhattan.web.rules.takes_pixel`).
        """
        media = rules.media_type(content_type)
        if counted is None:
            counted = rules.counts_as_page(method, status, media) and (
                # Most requests carry none of these: skip the call then.
                PURPOSE_KEYS.isdisjoint(environ)
                or not rules.is_prefetch(
                    environ.get("HTTP_PURPOSE"),
                    environ.get("HTTP_SEC_PURPOSE"),
                    environ.get("HTTP_X_PURPOSE") or environ.get("HTTP_X_MOZ"),
                )
            )
        if counted and not paged:
            paged = True
            self.record_page(environ, visitor, began)
        tag = None
        if rules.takes_pixel(method, status, media, content_encoding, content_range):
            tag = self.tag_for(environ.get("SCRIPT_NAME", ""))
        return paged, tag

    def record_page(self, environ: Mapping[str, Any], visitor: Visitor, began: float) -> None:
        """Record the page view of ``environ``'s request, before what the app recorded."""
        record = page_record_from_environ(
            records.format_timestamp(began),
            visitor.id,
            visitor.site_id,
            environ,
            self.record_headers,
            self.anonymize_ip,
        )
        # Before whatever the app recorded during the request: the view came first.
        if visitor.buffer_writes:
            visitor.buffer.insert(0, record)
        else:
            visitor.record(record)
