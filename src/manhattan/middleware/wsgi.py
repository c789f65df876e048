"""WSGI adapter: a thin shell around :mod:`manhattan.web` and the ``Visitor``.

The per-request path is kept lean on purpose (no WebOb objects, no header
parsing beyond what a decision needs): it runs on every request a site serves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeAlias, Unpack

from manhattan.visitor.visitor import Visitor
from manhattan.web import rules
from manhattan.web.options import Options, gather
from manhattan.web.pixel import PIXEL_GIF, PixelInjector, inject
from manhattan.web.tracker import (
    DISCARD,
    PIXEL_CACHE_CONTROL,
    PIXEL_CONTENT_TYPE,
    Tracker,
    flush,
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from webob import Request

    from manhattan.log import Log
    from manhattan.web.cookies import Secret

ExcInfo: TypeAlias = (
    tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]
)
Headers: TypeAlias = list[tuple[str, str]]
CountPage: TypeAlias = Callable[[dict[str, Any], str, Headers], bool]
"""A user's page-view rule: ``count_page(environ, status, response_headers)``."""

__all__ = ["DISCARD", "CountPage", "ManhattanMiddleware", "flush"]

_PIXEL_LENGTH = str(len(PIXEL_GIF))


class ManhattanMiddleware(Tracker):
    """Wrap a WSGI ``app`` to give every request a tracked ``Visitor``.

    The visitor is at ``environ['manhattan.visitor']``. See docs/guides/middleware.md for
    every option (:class:`~manhattan.web.options.Options` declares them);
    in short: ``log`` receives the records, ``secret`` signs the visitor
    cookie (a list of secrets is a rotation: the first signs, all verify,
    and older cookies are signed anew), ``host_map`` maps hosts to site
    ids, ``count_page`` replaces the page-view rule, ``record_headers``
    names request headers to keep with page views, ``anonymize_ip`` and
    ``respect_gpc`` are privacy switches (both off by default),
    ``visitor_class`` is the class of the request's visitor (a ``Visitor``
    subclass of your own, say with helper methods, or a ``timestamp()``
    that replays history), ``exclude`` keeps requests out of the records
    (staff, internal traffic): a callable given the request as a
    ``webob.Request``, returning true to exclude it, or a list of client
    networks checked against ``REMOTE_ADDR``. As in 0.3, ``cookie_name``,
    ``pixel_path``, ``host_map`` and ``buffer_writes`` may also follow
    ``secret`` by position, in that order.

    A QA link (:func:`manhattan.experiments.force_link`) signed with
    ``secret`` shows its visitor the population it names, for the
    browser's session.
    """

    EXCLUDE_SIGNATURE = "(request: webob.Request) -> bool"
    _request: Callable[[WSGIEnvironment], Request]

    def __init__(
        self,
        app: WSGIApplication,
        log: Log,
        secret: Secret,
        *positional: Any,
        **options: Unpack[Options[CountPage, Request]],
    ) -> None:
        if not callable(app):
            raise TypeError("app must be a WSGI application (a callable)")
        self.app = app
        super().__init__(log, secret, gather(positional, options))
        if self.exclude is not None:
            # Imported only for a callable that needs it: the import stays lean.
            from webob import Request

            self._request = Request

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Serve one request."""
        exclude = self.exclude
        excluded = exclude is not None and bool(exclude(self._request(environ)))
        visitor, fresh, tracked, set_cookie, qa_cookie = self.begin(environ, excluded)
        environ["manhattan.visitor"] = visitor
        cookies: Headers = []
        if set_cookie:
            cookies.append(("Set-Cookie", self.cookie_header(visitor.id)))
        if qa_cookie is not None:
            cookies.append(("Set-Cookie", self.qa_cookie_header(qa_cookie)))
        if environ.get("PATH_INFO") == self.pixel_path:
            self.record_pixel(visitor, fresh, tracked)
            flush(visitor)
            start_response(
                "200 OK",
                [
                    ("Content-Type", PIXEL_CONTENT_TYPE),
                    ("Content-Length", _PIXEL_LENGTH),
                    ("Cache-Control", PIXEL_CACHE_CONTROL),
                    *cookies,
                ],
            )
            return [PIXEL_GIF]
        return _Exchange(self, environ, visitor, tracked, cookies, start_response).run()


class _Exchange:
    """One request/response passing through the middleware."""

    __slots__ = (
        "began",
        "cookies",
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
        cookies: Headers,
        start_response: StartResponse,
    ) -> None:
        self.middleware = middleware
        self.environ = environ
        self.visitor = visitor
        self.tracked = tracked
        self.cookies = cookies
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
        content_type = encoding = content_range = None
        for index, (name, value) in enumerate(headers):
            lowered = name.lower()
            if lowered == "content-type":
                content_type = value
            elif lowered == "content-length":
                self.length_at = index
            elif lowered == "content-encoding":
                encoding = value
            elif lowered == "content-range":
                content_range = value
        if self.tracked:
            environ = self.environ
            middleware = self.middleware
            method = environ.get("REQUEST_METHOD", "GET")
            code = rules.status_code(status)
            media = rules.media_type(content_type)
            rule = middleware.count_page
            if (
                rules.is_page_view(environ, method, code, media)
                if rule is None
                else rule(environ, status, headers)
            ) and not self.paged:
                # The app may start its response twice (an error page): one view.
                self.paged = True
                self.visitor.record_first(
                    middleware.page_record(environ, self.visitor, self.began)
                )
            if rules.takes_pixel(method, code, media, encoding, content_range):
                self.tag = middleware.tag_for(environ.get("SCRIPT_NAME", ""))
        if self.cookies:
            headers = [*headers, *self.cookies]
        return headers


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
