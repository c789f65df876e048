"""ASGI adapter: the WSGI middleware's behaviour for ASGI 3 apps.

Decisions, the cookie and the records come from the shared
:class:`~manhattan.web.tracker.Tracker`, over the WSGI-style view of the
scope that :func:`~manhattan.web.scope.scope_environ` builds; this module
only speaks ASGI: it wraps ``send`` to add the cookie and the pixel, and
writes the visitor's records when the app is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, TypeAlias

from manhattan.visitor.visitor import Visitor
from manhattan.web.cookies import DEFAULT_MAX_AGE, Secret
from manhattan.web.pixel import PIXEL_GIF, PixelInjector, inject
from manhattan.web.scope import scope_environ, wanted_headers
from manhattan.web.tracker import PIXEL_CACHE_CONTROL, PIXEL_CONTENT_TYPE, Tracker, flush

if TYPE_CHECKING:
    from manhattan.log import Log

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
    the README), except that ``count_page`` is called as
    ``count_page(scope, status: int, headers)`` with the raw ASGI response
    headers. Non-HTTP scopes (``websocket``, ``lifespan``) pass through
    untouched.

    Records are written once per request, when the app returns or raises,
    on the event loop: a file log's write takes microseconds. With a log
    whose write waits on the network (``RemoteLog``, ``RedisStreamLog``),
    ``offload=True`` writes through ``asyncio.to_thread`` instead, so the
    loop is not held for the round trip (the request's task still waits for
    it, after the response has been sent). With ``buffer_writes=False``
    each record is written when the app makes it, on the loop.
    """

    COUNT_PAGE_SIGNATURE = "(scope, status, headers) -> bool"

    def __init__(
        self,
        app: ASGIApp,
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
        count_page: CountPage | None = None,
        record_headers: Iterable[str] = (),
        anonymize_ip: bool = False,
        respect_gpc: bool = False,
        visitor_class: type[Visitor] = Visitor,
        offload: bool = False,
    ) -> None:
        if not callable(app):
            raise TypeError("app must be an ASGI application (an async callable)")
        self.app = app
        super().__init__(
            log,
            secret,
            cookie_name,
            pixel_path,
            host_map,
            buffer_writes,
            secure=secure,
            samesite=samesite,
            max_age=max_age,
            domain=domain,
            path=path,
            count_page=count_page,
            record_headers=record_headers,
            anonymize_ip=anonymize_ip,
            respect_gpc=respect_gpc,
            visitor_class=visitor_class,
        )
        self.offload = offload
        self._wanted = wanted_headers(self.record_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection: HTTP requests are tracked, the rest passed on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        environ = scope_environ(scope, self._wanted)
        visitor, fresh, tracked, set_cookie = self.begin(environ)
        scope[SCOPE_KEY] = visitor
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state[STATE_KEY] = visitor
        cookie = self.cookie_header(visitor.id).encode("latin-1") if set_cookie else None
        if environ["PATH_INFO"] == self.pixel_path:
            self.record_pixel(visitor, fresh, tracked)
            headers = (
                [*_PIXEL_HEADERS] if cookie is None else [*_PIXEL_HEADERS, (b"set-cookie", cookie)]
            )
            try:
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                await send({"type": "http.response.body", "body": PIXEL_GIF})
            finally:
                await self._write(visitor)
            return
        exchange = _Exchange(self, scope, environ, visitor, tracked, cookie, send)
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
        "cookie",
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
        cookie: bytes | None,
        send: Send,
    ) -> None:
        self.middleware = middleware
        self.scope = scope
        self.environ = environ
        self.visitor = visitor
        self.tracked = tracked
        self.cookie = cookie
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
            status = int(message["status"])
            rule = middleware.count_page
            _, self.tag = middleware.decide(
                environ,
                self.visitor,
                self.began,
                environ["REQUEST_METHOD"],
                status,
                content_type,
                encoding,
                content_range,
                None if rule is None else bool(rule(self.scope, status, headers)),
            )
        if self.cookie is not None:
            headers.append((b"set-cookie", self.cookie))
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
