"""A small ASGI server for the tests: one request, everything sent kept."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SECRET = "middleware-secret"
HTML = b"<!doctype html><html><head><title>t</title></head><body><p>Hi</p></body></html>"
VID = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
HEX40 = re.compile(r"[0-9a-f]{40}")
TAG_RE = re.compile(rb'<img src="([^"]*)"[^>]*>')

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def spec_cookie(visitor_id: str, secret: str = SECRET) -> str:
    """The cookie value by the spec's formula, restated independently."""
    key = hashlib.sha1(b"manhattan.signer." + secret.encode("utf-8")).digest()
    return f"{visitor_id}.{hmac.new(key, visitor_id.encode(), hashlib.sha1).hexdigest()}"


@dataclass
class Served:
    """What the app sent for one request."""

    messages: list[Message] = field(default_factory=list)

    @property
    def start(self) -> Message:
        [start] = [m for m in self.messages if m["type"] == "http.response.start"]
        return start

    @property
    def status(self) -> int:
        return int(self.start["status"])

    def header(self, name: str) -> list[str]:
        key = name.lower().encode()
        return [v.decode("latin-1") for k, v in self.start["headers"] if k.lower() == key]

    @property
    def chunks(self) -> list[bytes]:
        return [m.get("body", b"") for m in self.messages if m["type"] == "http.response.body"]

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)


def http_scope(
    path: str = "/",
    *,
    method: str = "GET",
    headers: Sequence[tuple[str, str]] = (),
    cookie: str | None = None,
    query: bytes = b"",
    root_path: str = "",
    scheme: str = "http",
    client: tuple[str, int] | None = ("127.0.0.1", 50000),
    server: tuple[str, int | None] | None = ("testserver", 80),
) -> Scope:
    """An HTTP scope as a server following the current ASGI spec builds it."""
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    if not any(name == b"host" for name, _ in raw):
        raw.insert(0, (b"host", b"testserver"))
    if cookie is not None:
        raw.append((b"cookie", f"manhattan={cookie}".encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": root_path + path,
        "raw_path": (root_path + path).encode("utf-8"),
        "root_path": root_path,
        "query_string": query,
        "headers": raw,
        "client": client,
        "server": server,
    }


async def serve_async(app: App, scope: Scope) -> Served:
    served = Served()
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        served.messages.append(message)

    await app(scope, receive, send)
    return served


def serve(app: App, scope: Scope | None = None, **options: Any) -> Served:
    """Serve one request through ``app``; ``options`` build the scope."""
    return asyncio.run(serve_async(app, scope if scope is not None else http_scope(**options)))


def html_app(
    body: bytes = HTML,
    content_type: str = "text/html; charset=utf-8",
    status: int = 200,
    headers: Sequence[tuple[str, str]] = (),
    content_length: bool = True,
    chunks: Sequence[bytes] | None = None,
) -> App:
    """An app answering every request with ``body`` (or ``chunks``, streamed)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(b"content-type", content_type.encode())]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers]
        if content_length:
            total = len(body) if chunks is None else sum(map(len, chunks))
            raw.append((b"content-length", str(total).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        if chunks is None:
            await send({"type": "http.response.body", "body": body})
            return
        for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


async def goal_app(scope: Scope, receive: Receive, send: Send) -> None:
    """An HTML page whose app records a goal and a split."""
    visitor = scope["manhattan.visitor"]
    visitor.goal("signed up")
    visitor.split("button colour", ["red", "blue"])
    start = {"type": "http.response.start", "status": 200}
    await send({**start, "headers": [(b"content-type", b"text/html")]})
    await send({"type": "http.response.body", "body": HTML})


def split_tag(body: bytes) -> tuple[str, bytes]:
    """The src of the one injected pixel tag, and ``body`` without it.

    Also checks that the tag sits right before a ``</body>``.
    """
    tags = list(TAG_RE.finditer(body))
    assert len(tags) == 1, body
    tag = tags[0]
    assert re.match(rb"</body[\s>]", body[tag.end() :], re.IGNORECASE), body
    return tag.group(1).decode(), body[: tag.start()] + body[tag.end() :]
