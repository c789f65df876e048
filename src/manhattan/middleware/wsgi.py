"""WSGI adapter: a thin shell around :mod:`manhattan.web` and the ``Visitor``.

The per-request path is kept lean on purpose (no WebOb objects, no header
parsing beyond what a decision needs): it runs on every request a site serves.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import quote

from manhattan.visitor import records
from manhattan.visitor.visitor import Visitor
from manhattan.web import rules
from manhattan.web.cookies import (
    DEFAULT_MAX_AGE,
    CookieSigner,
    find_cookie,
    new_visitor_id,
    set_cookie_header,
)
from manhattan.web.environ import PATH_SAFE, header_key, page_record_from_environ
from manhattan.web.pixel import PIXEL_GIF, PixelInjector, inject, pixel_tag

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

    from manhattan.log import Log

logger = logging.getLogger("manhattan.middleware")

ExcInfo: TypeAlias = (
    tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
)
Headers: TypeAlias = list[tuple[str, str]]
CountPage: TypeAlias = Callable[[dict[str, Any], str, Headers], bool]
"""A user's page-view rule: ``count_page(environ, status, response_headers)``."""

# A pixel_path is compared with PATH_INFO as given, so it may only hold
# characters that a URL path carries unquoted.
_PIXEL_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")


_PURPOSE_KEYS = frozenset({"HTTP_PURPOSE", "HTTP_SEC_PURPOSE", "HTTP_X_PURPOSE", "HTTP_X_MOZ"})


class _Discard:
    """The log of a visitor who asked not to be tracked."""

    def write(self, records: Sequence[Sequence[str]]) -> None:
        """Drop ``records``."""


DISCARD = _Discard()


class ManhattanMiddleware:
    """Wrap a WSGI ``app`` to give every request a tracked ``Visitor``.

    The visitor is at ``environ['manhattan.visitor']``. See the README for
    every option; in short: ``log`` receives the records, ``secret`` signs
    the visitor cookie, ``host_map`` maps hosts to site ids, ``count_page``
    replaces the page-view rule, ``record_headers`` names request headers to
    keep with page views, ``anonymize_ip`` and ``respect_gpc`` are privacy
    switches (both off by default).
    """

    def __init__(
        self,
        app: WSGIApplication,
        log: Log,
        secret: str | bytes,
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
        count_page: CountPage | None = None,
        record_headers: Iterable[str] = (),
        anonymize_ip: bool = False,
        respect_gpc: bool = False,
    ) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI application (a callable)")
        if not callable(getattr(log, "write", None)):
            raise TypeError("log must have a write(records) method")
        self.app = app
        self.log = log
        self.signer = CookieSigner(secret)
        self.cookie_name = cookie_name
        # Building one header now checks every cookie option once, up front.
        self._cookie_attrs = set_cookie_header(
            cookie_name,
            "x",
            max_age=max_age,
            path=path,
            domain=domain,
            secure=secure,
            samesite=samesite,
        ).partition(";")[2]
        if not isinstance(pixel_path, str) or not _PIXEL_PATH.fullmatch(pixel_path):
            raise ValueError(
                f"pixel_path must be a URL-safe ASCII path starting with '/', not {pixel_path!r}"
            )
        self.pixel_path = pixel_path
        self._tags: dict[str, bytes] = {}
        self.sites = rules.SiteMap(host_map)
        self.buffer_writes = buffer_writes
        if count_page is not None and not callable(count_page):
            raise TypeError("count_page must be a callable(environ, status, headers) -> bool")
        self.count_page = count_page
        if isinstance(record_headers, str):
            raise TypeError("record_headers must be a sequence of header names, not a str")
        self.record_headers = tuple((name, header_key(name)) for name in record_headers if name)
        self.anonymize_ip = anonymize_ip
        self.respect_gpc = respect_gpc

    def tag_for(self, script_name: str) -> bytes:
        """The pixel ``<img>`` for an app mounted at ``script_name``."""
        tag = self._tags.get(script_name)
        if tag is None:
            prefix = quote(script_name.encode("latin-1", "replace"), PATH_SAFE)
            tag = pixel_tag(prefix + self.pixel_path)
            if len(self._tags) < 64:
                self._tags[script_name] = tag
        return tag

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        known = self.signer.verify(find_cookie(environ.get("HTTP_COOKIE"), self.cookie_name))
        visitor_id = known or new_visitor_id()
        tracked = not (
            self.respect_gpc
            and rules.wants_no_tracking(environ.get("HTTP_SEC_GPC"), environ.get("HTTP_DNT"))
        )
        visitor = Visitor(
            visitor_id,
            self.log if tracked else DISCARD,
            self.sites.site(environ.get("HTTP_HOST")),
            self.buffer_writes,
        )
        environ["manhattan.visitor"] = visitor
        cookie = (
            None
            if known
            else f"{self.cookie_name}={self.signer.sign(visitor_id)};{self._cookie_attrs}"
        )
        if environ.get("PATH_INFO") == self.pixel_path:
            return self._pixel(visitor, known is not None and tracked, cookie, start_response)
        return _Exchange(self, environ, visitor, tracked, cookie, start_response).run()

    def _pixel(
        self, visitor: Visitor, counted: bool, cookie: str | None, start_response: StartResponse
    ) -> list[bytes]:
        # A fresh id on the pixel request proves nothing: only known visitors count.
        if counted:
            _guarded(visitor.pixel)
            flush(visitor)
        headers = [
            ("Content-Type", "image/gif"),
            ("Content-Length", str(len(PIXEL_GIF))),
            ("Cache-Control", "no-store"),
        ]
        if cookie is not None:
            headers.append(("Set-Cookie", cookie))
        start_response("200 OK", headers)
        return [PIXEL_GIF]


def flush(visitor: Visitor) -> None:
    """Flush ``visitor``; a failing log is logged, never the visitor's error page."""
    count = len(visitor.buffer)
    try:
        visitor.flush()
    except Exception:
        logger.exception("manhattan: could not write %d records to the log", count)
        visitor.buffer.clear()


def _guarded(write: Callable[[], object]) -> None:
    """Call ``write`` (an unbuffered visitor's own record); a failing log is only logged."""
    try:
        write()
    except Exception:
        logger.exception("manhattan: could not write a record to the log")


class _Exchange:
    """One request/response passing through the middleware."""

    __slots__ = (
        "began",
        "cookie",
        "environ",
        "held",
        "length_at",
        "middleware",
        "paged",
        "sent",
        "server_write",
        "start_response",
        "tag",
        "tracked",
        "visitor",
    )

    def __init__(
        self,
        middleware: ManhattanMiddleware,
        environ: WSGIEnvironment,
        visitor: Visitor,
        tracked: bool,
        cookie: str | None,
        start_response: StartResponse,
    ) -> None:
        self.middleware = middleware
        self.environ = environ
        self.visitor = visitor
        self.tracked = tracked
        self.cookie = cookie
        self.start_response = start_response
        self.began = visitor.timestamp()
        # The pixel tag while the response is one to inject it into.
        self.tag: bytes | None = None
        self.paged = False
        self.length_at = -1
        self.sent = False
        self.server_write: Callable[[bytes], object] | None = None
        # Headers held back while the app runs, so Content-Length can be fixed.
        self.held: tuple[str, Headers, ExcInfo | None] | None = None

    def run(self) -> Iterable[bytes]:
        try:
            app_iter = self.middleware.app(self.environ, self._start_response_held)
        except BaseException:
            flush(self.visitor)
            raise
        if self.held is None:
            # Headers not given yet (a lazy app) or already sent through write().
            return _Body(app_iter, self)
        plain = type(app_iter) is list or type(app_iter) is tuple
        if self.tag is not None and plain:
            body = inject(b"".join(app_iter), self.tag)
            self.tag = None
            headers = self.held[1]
            length = ("Content-Length", str(len(body)))
            if self.length_at >= 0:
                headers[self.length_at] = length
            else:
                headers.append(length)
            self.send_headers()
            flush(self.visitor)
            return [body]
        self.send_headers()
        if plain:
            flush(self.visitor)
            return app_iter
        return _Body(app_iter, self)

    def _start_response_held(
        self, status: str, headers: Headers, exc_info: ExcInfo | None = None
    ) -> Callable[[bytes], object]:
        if self.sent:
            # Only legal with exc_info; the server raises it, as WSGI requires.
            return self.start_response(status, headers, exc_info)
        self.held = (status, self._decide(status, headers), exc_info)
        return self._write

    def send_headers(self) -> Callable[[bytes], object]:
        """Send the held headers (without Content-Length if the body will change)."""
        assert self.held is not None
        status, headers, exc_info = self.held
        self.held = None
        self.sent = True
        if self.tag is not None and self.length_at >= 0:
            del headers[self.length_at]
        self.server_write = self.start_response(status, headers, exc_info)
        return self.server_write

    def _write(self, data: bytes) -> object:
        # The app uses the legacy write(): send the headers now, the body untouched.
        if not self.sent:
            self.tag = None
            return self.send_headers()(data)
        assert self.server_write is not None
        return self.server_write(data)

    def _decide(self, status: str, headers: Headers) -> Headers:
        """Record the page view if it is one, and plan the pixel injection."""
        self.tag = None
        self.length_at = -1
        content_type = None
        encoded = False
        for index, (name, value) in enumerate(headers):
            lowered = name.lower()
            if lowered == "content-type":
                content_type = value
            elif lowered == "content-length":
                self.length_at = index
            elif lowered == "content-encoding" and value.strip().lower() != "identity":
                encoded = True
        environ = self.environ
        method = environ.get("REQUEST_METHOD", "GET")
        if self.tracked:
            media = rules.media_type(content_type)
            rule = self.middleware.count_page
            if rule is None:
                counted = rules.counts_as_page(method, rules.status_code(status), media) and (
                    # Most requests carry none of these: skip the call then.
                    _PURPOSE_KEYS.isdisjoint(environ)
                    or not rules.is_prefetch(
                        environ.get("HTTP_PURPOSE"),
                        environ.get("HTTP_SEC_PURPOSE"),
                        environ.get("HTTP_X_PURPOSE") or environ.get("HTTP_X_MOZ"),
                    )
                )
            else:
                counted = bool(rule(environ, status, headers))
            if counted and not self.paged:
                self.paged = True
                self._record_page()
            if not encoded and method != "HEAD" and media == "text/html":
                self.tag = self.middleware.tag_for(environ.get("SCRIPT_NAME", ""))
        if self.cookie is not None:
            headers = [*headers, ("Set-Cookie", self.cookie)]
        return headers

    def _record_page(self) -> None:
        visitor = self.visitor
        middleware = self.middleware
        record = page_record_from_environ(
            records.format_timestamp(self.began),
            visitor.id,
            visitor.site_id,
            self.environ,
            middleware.record_headers,
            middleware.anonymize_ip,
        )
        # Before whatever the app recorded during the request: the view came first.
        if visitor.buffer_writes:
            visitor.buffer.insert(0, record)
        else:
            _guarded(partial(visitor.record, record))


class _Body:
    """A streamed response body: injects the pixel, closes, and flushes."""

    __slots__ = ("_close", "_exchange", "_injector", "_iter")

    def __init__(self, app_iter: Iterable[bytes], exchange: _Exchange) -> None:
        self._iter: Iterator[bytes] = iter(app_iter)
        self._close = getattr(app_iter, "close", None)
        self._exchange = exchange
        self._injector: PixelInjector | None = None

    def __iter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        exchange = self._exchange
        try:
            chunk = next(self._iter)
        except StopIteration:
            if exchange.held is not None:
                exchange.send_headers()
            injector = self._injector
            if injector is None or injector.done:
                raise
            return injector.finish()
        if exchange.held is not None:
            # A lazy app gave its headers while making the first chunk.
            exchange.send_headers()
        injector = self._injector
        if injector is None:
            if exchange.tag is None:
                return chunk
            injector = self._injector = PixelInjector(exchange.tag)
        return injector.feed(chunk)

    def close(self) -> None:
        """Close the app's iterable, then write the visitor's records."""
        try:
            if self._close is not None:
                self._close()
        finally:
            flush(self._exchange.visitor)
