"""ASGI adapter: the WSGI middleware's behaviour for ASGI 3 apps.

Decisions, the cookie and the records come from the shared
:class:`~manhattan.web.tracker.Tracker`, over the WSGI-style view of the
scope that :func:`~manhattan.web.scope.scope_environ` builds; this module
only speaks ASGI: it wraps ``send`` to add the cookie and the pixel, and
writes the visitor's records when the app is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, TypeAlias, Unpack

from manhattan.visitor.visitor import Visitor
from manhattan.web import rules
from manhattan.web.options import Options, gather
from manhattan.web.pixel import PIXEL_GIF, PixelInjector, inject
from manhattan.web.scope import scope_environ, wanted_headers
from manhattan.web.tracker import PIXEL_CACHE_CONTROL, PIXEL_CONTENT_TYPE, Tracker, flush

if TYPE_CHECKING:
    from manhattan.log import Log
    from manhattan.web.cookies import Secret

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]
RawHeaders: TypeAlias = list[tuple[bytes, bytes]]
CountPage: TypeAlias = Callable[[Scope, int, RawHeaders], bool]
"""A user's page-view rule: ``count_page(scope, status, headers)``, where
``status`` is the response's int status and ``headers`` the raw ASGI
response headers (lowercase ``bytes`` pairs, as the app sent them)."""


class ASGIOptions(Options[CountPage, Scope], total=False):
    """The options of the ASGI middleware: every middleware's, and ``offload``."""

    offload: bool
    """Write each request's records through ``asyncio.to_thread`` [``False``]."""


SCOPE_KEY = "manhattan.visitor"
"""Where the visitor is in the scope."""
STATE_KEY = "manhattan_visitor"
"""Where the visitor is in ``scope["state"]``: Starlette's ``request.state.manhattan_visitor``."""

_PIXEL_HEADERS: RawHeaders = [
    (b"content-type", PIXEL_CONTENT_TYPE.encode()),
    (b"content-length", str(len(PIXEL_GIF)).encode()),
    (b"cache-control", PIXEL_CACHE_CONTROL.encode()),
]


class ManhattanMiddleware(Tracker):
    """Wrap an ASGI 3 ``app`` to give every HTTP request a tracked ``Visitor``.

    The visitor is at ``scope["manhattan.visitor"]`` and at
    ``scope["state"]["manhattan_visitor"]`` (``request.state.manhattan_visitor``
    in Starlette and FastAPI). The options are the WSGI middleware's (see
    the middleware guide), except that ``count_page`` is called as
    ``count_page(scope, status: int, headers)`` with the raw ASGI response
    headers, and an ``exclude`` callable is given the request's ``scope``
    (``exclude`` networks are checked against the scope's ``client``).
    Non-HTTP scopes (``websocket``, ``lifespan``) pass through untouched.

    Records are written once per request, when the app returns or raises,
    on the event loop: a file log's write takes microseconds. With a log
    whose write waits on the network (``RemoteLog``, ``RedisStreamLog``),
    ``offload=True`` writes through ``asyncio.to_thread`` instead, so the
    loop is not held for the round trip (the request's task still waits for
    it, after the response has been sent). With ``buffer_writes=False``
    each record is written when the app makes it, on the loop.
    """

    OPTIONS = ASGIOptions.__optional_keys__
    COUNT_PAGE_SIGNATURE = "(scope, status, headers) -> bool"
    EXCLUDE_SIGNATURE = "(scope) -> bool"

    def __init__(
        self,
        app: ASGIApp,
        log: Log,
        secret: Secret,
        *positional: Any,
        **options: Unpack[ASGIOptions],
    ) -> None:
        if not callable(app):
            raise TypeError("app must be an ASGI application (an async callable)")
        self.app = app
        super().__init__(log, secret, gather(positional, options))
        offload = options.get("offload", False)
        if not isinstance(offload, bool):
            raise TypeError(f"offload must be True or False, not {offload!r}")
        self.offload = offload
        self._wanted = wanted_headers(self.record_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection: HTTP requests are tracked, the rest passed on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        environ = scope_environ(scope, self._wanted)
        exclude = self.exclude
        excluded = exclude is not None and bool(exclude(scope))
        visitor, fresh, tracked, set_cookie, qa_cookie = self.begin(environ, excluded)
        scope[SCOPE_KEY] = visitor
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state[STATE_KEY] = visitor
        cookies: RawHeaders = []
        if set_cookie:
            cookies.append((b"set-cookie", self.cookie_header(visitor.id).encode("latin-1")))
        if qa_cookie is not None:
            cookies.append((b"set-cookie", self.qa_cookie_header(qa_cookie).encode("latin-1")))
        if environ["PATH_INFO"] == self.pixel_path:
            self.record_pixel(visitor, fresh, tracked)
            headers = [*_PIXEL_HEADERS, *cookies]
            try:
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": PIXEL_GIF})
            finally:
                await self._write(visitor)
            return
        exchange = _Exchange(self, scope, environ, visitor, tracked, cookies, send)
        try:
            await self.app(scope, receive, exchange.send)
            if exchange.held is not None:
                # The app started an HTML response but sent no body message.
                await send(exchange.held)
        finally:
            await self._write(visitor)

    async def _write(self, visitor: Visitor) -> None:
        """Write the visitor's records: on the loop, or in a thread with ``offload``."""
        if visitor.buffer:
            if self.offload:
                await asyncio.to_thread(flush, visitor)
            else:
                flush(visitor)


class _Exchange:
    """One request/response: adds the cookie, records the view, injects the pixel."""

    __slots__ = (
        "began",
        "cookies",
        "environ",
        "held",
        "injector",
        "middleware",
        "scope",
        "send_on",
        "tag",
        "tracked",
        "visitor",
    )

    def __init__(
        self,
        middleware: ManhattanMiddleware,
        scope: Scope,
        environ: dict[str, Any],
        visitor: Visitor,
        tracked: bool,
        cookies: RawHeaders,
        send: Send,
    ) -> None:
        self.middleware = middleware
        self.scope = scope
        self.environ = environ
        self.visitor = visitor
        self.tracked = tracked
        self.cookies = cookies
        self.send_on = send
        self.began = visitor.timestamp()
        self.tag: bytes | None = None
        # The response start, held until the first body message says whether
        # the body comes whole (Content-Length fixed) or streamed (dropped).
        self.held: Message | None = None
        self.injector: PixelInjector | None = None

    async def send(self, message: Message) -> None:
        """The ``send`` the app is given."""
        kind = message["type"]
        if kind == "http.response.start":
            message = self._start(message)
            if self.tag is not None:
                self.held = message
                return
        elif kind == "http.response.body" and self.tag is not None:
            message = await self._body(message, self.tag)
        elif self.held is not None:
            # A body the pixel cannot go into (a zero-copy file send, say):
            # the response goes out as the app made it.
            self.tag = None
            held, self.held = self.held, None
            await self.send_on(held)
        await self.send_on(message)

    def _start(self, message: Message) -> Message:
        headers: RawHeaders = list(message.get("headers") or ())
        if self.tracked:
            content_type = encoding = content_range = None
            for name, value in headers:
                lowered = name.lower()
                if lowered == b"content-type":
                    content_type = value.decode("latin-1")
                elif lowered == b"content-encoding":
                    encoding = value.decode("latin-1")
                elif lowered == b"content-range":
                    content_range = value.decode("latin-1")
            middleware = self.middleware
            environ = self.environ
            method = environ["REQUEST_METHOD"]
            status = int(message["status"])
            media = rules.media_type(content_type)
            rule = middleware.count_page
            if (
                rules.is_page_view(environ, method, status, media)
                if rule is None
                else rule(self.scope, status, headers)
            ):
                self.visitor.record_first(
                    middleware.page_record(environ, self.visitor, self.began)
                )
            if rules.takes_pixel(method, status, media, encoding, content_range):
                self.tag = middleware.tag_for(environ["SCRIPT_NAME"])
        headers.extend(self.cookies)
        return {**message, "headers": headers}

    async def _body(self, message: Message, tag: bytes) -> Message:
        """Inject ``tag`` into a body message, sending the held start first."""
        body: bytes = message.get("body") or b""
        more = bool(message.get("more_body", False))
        held = self.held
        if held is not None:
            self.held = None
            headers = [item for item in held["headers"] if item[0].lower() != b"content-length"]
            if more:
                self.injector = PixelInjector(tag)
            else:
                # The whole body at once: inject it and say its new length.
                body = inject(body, tag)
                self.tag = None
                headers.append((b"content-length", str(len(body)).encode("ascii")))
            held["headers"] = headers
            await self.send_on(held)
        injector = self.injector
        if injector is not None:
            body = injector.feed(body)
            if not more:
                body += injector.finish()
                self.tag = None
        return {**message, "body": body}
