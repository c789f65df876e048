"""The ASGI middleware, driven by raw ASGI calls (our own receive and send)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

import manhattan.asgi
from manhattan.asgi import ManhattanMiddleware
from manhattan.log.memory import MemoryLog
from manhattan.visitor import Visitor
from tests.asgi.harness import (
    HEX40,
    HTML,
    SECRET,
    TAG_RE,
    VID,
    App,
    Message,
    Receive,
    Scope,
    Send,
    goal_app,
    html_app,
    http_scope,
    serve,
    spec_cookie,
    split_tag,
)
from tests.web.test_options import NON_DEFAULT


def make(app: App = goal_app, **options: Any) -> tuple[ManhattanMiddleware, MemoryLog]:
    log = MemoryLog()
    return ManhattanMiddleware(app, log, SECRET, **options), log


def kinds(log: MemoryLog) -> list[str]:
    return [record[1] for record in log.records]


class FailingLog:
    def __init__(self) -> None:
        self.calls = 0

    def write(self, records: Sequence[Sequence[str]]) -> None:
        self.calls += 1
        raise OSError("disk full")


# --- the visitor and its cookie ---------------------------------------------------


class FixedClockVisitor(Visitor):
    """A visitor of the user's own: its records carry a fixed time."""

    def timestamp(self) -> float:
        return 1_700_000_000.5


def test_visitor_class_makes_every_requests_visitor() -> None:
    middleware, log = make(visitor_class=FixedClockVisitor)
    scope = http_scope()
    serve(middleware, scope)
    assert type(scope["manhattan.visitor"]) is FixedClockVisitor
    assert kinds(log) == ["page", "goal", "split"]
    assert {record[2] for record in log.records} == {"1700000000.5000"}


def test_visitor_class_must_be_a_visitor_class() -> None:
    with pytest.raises(TypeError, match="visitor_class must be Visitor or a subclass"):
        make(visitor_class=dict)


def test_middleware_is_exported_from_the_package() -> None:
    assert manhattan.asgi.ManhattanMiddleware is ManhattanMiddleware


def test_fresh_visitor_is_in_scope_and_state_and_gets_one_signed_cookie() -> None:
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["manhattan.visitor"])
        seen.append(scope["state"]["manhattan_visitor"])
        await html_app()(scope, receive, send)

    middleware, log = make(app)
    served = serve(middleware)
    visitor, in_state = seen
    assert in_state is visitor
    assert HEX40.fullmatch(visitor.id)
    [set_cookie] = served.header("set-cookie")
    assert set_cookie == (
        f"manhattan={spec_cookie(visitor.id)}; Max-Age=63072000; Path=/; HttpOnly; SameSite=Lax"
    )
    assert log.records[0][3] == visitor.id


def test_existing_state_is_kept() -> None:
    states: list[dict[str, Any]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        states.append(scope["state"])
        await html_app()(scope, receive, send)

    middleware, _ = make(app)
    scope = http_scope()
    scope["state"] = {"db": "pool"}
    serve(middleware, scope)
    assert states[0]["db"] == "pool"
    assert states[0]["manhattan_visitor"].id


def test_returning_visitor_keeps_id_and_gets_no_cookie() -> None:
    middleware, log = make()
    served = serve(middleware, cookie=spec_cookie(VID))
    assert served.header("set-cookie") == []
    assert {record[3] for record in log.records} == {VID}
    assert kinds(log) == ["page", "goal", "split"]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(spec_cookie(VID)[:-1] + "0", id="tampered-signature"),
        pytest.param("x" + spec_cookie(VID), id="tampered-id"),
        pytest.param(spec_cookie(VID, "other secret"), id="other-secret"),
        pytest.param("garbage", id="garbage"),
    ],
)
def test_bad_cookie_becomes_a_fresh_visitor(value: str) -> None:
    middleware, log = make()
    served = serve(middleware, cookie=value)
    [set_cookie] = served.header("set-cookie")
    fresh = log.records[0][3]
    assert fresh != VID
    assert set_cookie.startswith(f"manhattan={spec_cookie(fresh)};")


def test_cookie_sent_in_two_headers_is_found() -> None:
    middleware, log = make()
    scope = http_scope(headers=[("Cookie", "a=1"), ("Cookie", f"manhattan={spec_cookie(VID)}")])
    served = serve(middleware, scope)
    assert served.header("set-cookie") == []
    assert log.records[0][3] == VID


def test_cookie_options_shape_the_set_cookie_header() -> None:
    middleware, _ = make(
        html_app(),
        cookie_name="vid",
        secure=True,
        samesite="None",
        max_age=None,
        domain="example.com",
        path="/shop",
    )
    [set_cookie] = serve(middleware).header("set-cookie")
    name_value, *attributes = set_cookie.split("; ")
    assert name_value.startswith("vid=")
    assert attributes == [
        "Path=/shop",
        "Domain=example.com",
        "Secure",
        "HttpOnly",
        "SameSite=None",
    ]


# --- page views ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "content_type", "status", "request_headers", "logged"),
    [
        pytest.param("GET", "text/html; charset=utf-8", 200, (), True, id="get-html"),
        pytest.param("POST", "text/html", 200, (), True, id="post-html"),
        pytest.param("GET", "application/xhtml+xml", 200, (), True, id="xhtml"),
        pytest.param("GET", "text/html", 404, (), True, id="not-found-page"),
        pytest.param("PUT", "text/html", 200, (), False, id="put"),
        pytest.param("HEAD", "text/html", 200, (), False, id="head"),
        pytest.param("GET", "application/json", 200, (), False, id="json"),
        pytest.param("GET", "text/html", 302, (), False, id="redirect"),
        pytest.param("GET", "text/html", 204, (), False, id="no-content"),
        pytest.param("GET", "text/html", 200, [("Sec-Purpose", "prefetch")], False, id="sec"),
        pytest.param("GET", "text/html", 200, [("Purpose", "prefetch")], False, id="purpose"),
        pytest.param("GET", "text/html", 200, [("X-Purpose", "preview")], False, id="x-purp"),
        pytest.param("GET", "text/html", 200, [("X-Moz", "prefetch")], False, id="x-moz"),
        pytest.param("GET", "text/html", 200, [("Purpose", "other")], True, id="other-purpose"),
    ],
)
def test_page_views(
    method: str,
    content_type: str,
    status: int,
    request_headers: list[tuple[str, str]],
    logged: bool,
) -> None:
    middleware, log = make(html_app(content_type=content_type, status=status))
    serve(middleware, method=method, headers=request_headers)
    assert kinds(log) == (["page"] if logged else [])


def test_page_record_fields() -> None:
    middleware, log = make(html_app())
    before = time.time()
    serve(
        middleware,
        path="/products/widget",
        query=b"colour=blue&size=2",
        cookie=spec_cookie(VID),
        headers=[
            ("Host", "shop.example.com"),
            ("User-Agent", "Mozilla/5.0 (Test)"),
            ("Referer", "https://search.example/?q=widget"),
        ],
        client=("203.0.113.77", 1234),
    )
    after = time.time()
    [record] = log.records
    assert before - 0.001 <= float(record[2]) <= after + 0.001
    assert record[:2] + record[3:] == [
        "1",
        "page",
        VID,
        "0",
        "203.0.113.77",
        "GET",
        "http://shop.example.com/products/widget?colour=blue&size=2",
        "Mozilla/5.0 (Test)",
        "https://search.example/?q=widget",
    ]


def test_page_record_of_a_bare_scope() -> None:
    middleware, log = make(html_app())
    scope = {"type": "http", "path": "/x", "headers": []}
    serve(middleware, scope)
    [record] = log.records
    assert record[5:] == ["", "GET", "http:///x", "", ""]


@pytest.mark.parametrize(
    ("server", "scheme", "url"),
    [
        pytest.param(("10.0.0.1", 8080), "http", "http://10.0.0.1:8080/p", id="port"),
        pytest.param(("10.0.0.1", 443), "https", "https://10.0.0.1/p", id="https-default"),
        pytest.param(("/tmp/socket", None), "http", "http:///p", id="unix-socket"),
    ],
)
def test_url_without_a_host_header_uses_the_server(
    server: tuple[str, int | None], scheme: str, url: str
) -> None:
    middleware, log = make(html_app())
    scope = http_scope("/p", server=server, scheme=scheme, client=None)
    scope["headers"] = []
    serve(middleware, scope)
    assert log.records[0][7] == url
    assert log.records[0][5] == ""


def test_count_page_gets_scope_int_status_and_raw_headers() -> None:
    calls: list[tuple[Any, ...]] = []

    def rule(scope: Scope, status: int, headers: list[tuple[bytes, bytes]]) -> bool:
        calls.append((scope, status, headers))
        return dict(headers).get(b"x-page") == b"yes"

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"x-page", b"yes")]
        await send({"type": "http.response.start", "status": 201, "headers": headers})
        await send({"type": "http.response.body", "body": b"{}"})

    middleware, log = make(app, count_page=rule)
    scope = http_scope()
    served = serve(middleware, scope)
    assert kinds(log) == ["page"]
    [(seen_scope, status, headers)] = calls
    assert seen_scope is scope
    assert status == 201
    assert (b"x-page", b"yes") in headers
    assert served.body == b"{}"


def test_count_page_false_drops_a_page_view() -> None:
    middleware, log = make(html_app(), count_page=lambda scope, status, headers: False)
    serve(middleware)
    assert log.records == []


def test_page_record_comes_before_what_the_app_recorded() -> None:
    middleware, log = make(goal_app)
    serve(middleware)
    assert kinds(log) == ["page", "goal", "split"]


@pytest.mark.parametrize(
    ("host", "site_id"),
    [
        pytest.param("shop.example.com", "1", id="mapped"),
        pytest.param("SHOP.example.com:8000", "1", id="case-and-port"),
        pytest.param("blog.example.com", "2", id="other"),
        pytest.param("elsewhere.example.com", "0", id="unmapped"),
    ],
)
def test_host_map(host: str, site_id: str) -> None:
    sites = {"shop.example.com": 1, "blog.example.com": "2"}
    middleware, log = make(html_app(), host_map=sites)
    serve(middleware, headers=[("Host", host)])
    assert log.records[0][4] == site_id


def test_record_headers_as_trailing_json() -> None:
    middleware, log = make(html_app(), record_headers=("Accept-Language", "X-City", "X-None"))
    serve(
        middleware,
        headers=[("Accept-Language", "fr"), ("X-City", "Z\xc3\xbcrich"), ("X-City", "Bern")],
    )
    assert json.loads(log.records[0][10]) == {"Accept-Language": "fr", "X-City": "Zürich,Bern"}


def test_mixed_case_header_names_from_a_lax_server_are_read() -> None:
    middleware, log = make(html_app(), record_headers=("X-City",))
    scope = http_scope()
    scope["headers"] = [(b"Host", b"h.example"), (b"User-Agent", b"UA"), (b"X-City", b"Bern")]
    serve(middleware, scope)
    assert log.records[0][7:9] == ["http://h.example/", "UA"]
    assert json.loads(log.records[0][10]) == {"X-City": "Bern"}


@pytest.mark.parametrize(
    ("anonymize", "address", "recorded"),
    [
        pytest.param(False, "203.0.113.77", "203.0.113.77", id="off"),
        pytest.param(True, "203.0.113.77", "203.0.113.0", id="ipv4"),
        pytest.param(True, "2001:db8:1:2:3:4:5:6", "2001:db8:1::", id="ipv6"),
    ],
)
def test_anonymize_ip(anonymize: bool, address: str, recorded: str) -> None:
    middleware, log = make(html_app(), anonymize_ip=anonymize)
    serve(middleware, client=(address, 1))
    assert log.records[0][5] == recorded


@pytest.mark.parametrize(
    "headers",
    [pytest.param([("Sec-GPC", "1")], id="gpc"), pytest.param([("DNT", "1")], id="dnt")],
)
def test_respect_gpc_serves_normally_and_logs_nothing(headers: list[tuple[str, str]]) -> None:
    middleware, log = make(goal_app, respect_gpc=True)
    served = serve(middleware, headers=headers)
    assert served.body == HTML  # no pixel
    assert len(served.header("set-cookie")) == 1
    assert log.records == []
    served = serve(middleware, path="/vpixel.gif", headers=headers, cookie=spec_cookie(VID))
    assert served.header("content-type") == ["image/gif"]
    assert log.records == []


def test_gpc_is_ignored_without_respect_gpc() -> None:
    middleware, log = make(goal_app)
    serve(middleware, headers=[("Sec-GPC", "1")])
    assert kinds(log) == ["page", "goal", "split"]


def test_unbuffered_writes_at_once() -> None:
    written_during_app: list[int] = []
    log = MemoryLog()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["manhattan.visitor"].goal("a")
        written_during_app.append(len(log.records))
        await html_app()(scope, receive, send)
        written_during_app.append(len(log.records))

    middleware = ManhattanMiddleware(app, log, SECRET, buffer_writes=False)
    serve(middleware, cookie=spec_cookie(VID))
    assert written_during_app == [1, 2]
    assert kinds(log) == ["goal", "page"]


# --- the pixel ------------------------------------------------------------------------


def test_pixel_for_a_known_visitor() -> None:
    middleware, log = make(html_app())
    served = serve(middleware, path="/vpixel.gif", cookie=spec_cookie(VID))
    assert served.status == 200
    assert served.header("content-type") == ["image/gif"]
    assert served.header("cache-control") == ["no-store"]
    assert served.header("content-length") == [str(len(served.body))]
    assert served.body.startswith(b"GIF89a")
    assert served.header("set-cookie") == []
    assert [record[1:2] + record[3:] for record in log.records] == [["pixel", VID, "0"]]


@pytest.mark.parametrize(
    "cookie", [pytest.param(None, id="none"), pytest.param("forged.value", id="forged")]
)
def test_pixel_for_a_fresh_visitor_is_not_recorded(cookie: str | None) -> None:
    middleware, log = make(html_app())
    served = serve(middleware, path="/vpixel.gif", cookie=cookie)
    assert served.body.startswith(b"GIF89a")
    assert len(served.header("set-cookie")) == 1
    assert log.records == []


def test_pixel_under_a_root_path() -> None:
    middleware, log = make(html_app(), pixel_path="/px.gif")
    page = serve(middleware, root_path="/my shop", path="/")
    assert split_tag(page.body)[0] == "/my%20shop/px.gif"
    served = serve(middleware, root_path="/my shop", path="/px.gif", cookie=spec_cookie(VID))
    assert served.header("content-type") == ["image/gif"]
    assert kinds(log) == ["page", "pixel"]
    assert log.records[0][7] == "http://testserver/my%20shop/"


def test_root_path_left_out_of_path_by_an_older_server() -> None:
    middleware, log = make(html_app())
    scope = http_scope("/page", cookie=spec_cookie(VID))
    scope["root_path"] = "/app"
    body = serve(middleware, scope).body
    assert split_tag(body)[0] == "/app/vpixel.gif"
    assert log.records[0][7] == "http://testserver/app/page"


def test_path_merely_starting_like_the_root_path_is_not_under_it() -> None:
    middleware, log = make(html_app())
    scope = http_scope("/shopping/vpixel.gif", cookie=spec_cookie(VID))
    scope["root_path"] = "/shop"
    served = serve(middleware, scope)
    # /shopping is not /shop/...: the path is taken whole, so this is no pixel.
    assert served.header("content-type") == ["text/html; charset=utf-8"]
    assert log.records[0][7] == "http://testserver/shop/shopping/vpixel.gif"


def test_root_path_alone() -> None:
    middleware, log = make(html_app())
    scope = http_scope("", root_path="/shop")
    serve(middleware, scope)
    assert log.records[0][7] == "http://testserver/shop"


# --- pixel injection -----------------------------------------------------------------


def test_tag_injected_with_content_length_fixed() -> None:
    middleware, _ = make(html_app())
    served = serve(middleware)
    src, rest = split_tag(served.body)
    assert src == "/vpixel.gif"
    assert rest == HTML
    assert served.header("content-length") == [str(len(served.body))]


def test_content_length_is_added_to_a_whole_body() -> None:
    middleware, _ = make(html_app(content_length=False))
    served = serve(middleware)
    assert served.header("content-length") == [str(len(served.body))]
    assert split_tag(served.body)[1] == HTML


@pytest.mark.parametrize(
    ("method", "content_type", "headers"),
    [
        pytest.param("HEAD", "text/html", [], id="head"),
        pytest.param("GET", "text/html", [("Content-Encoding", "gzip")], id="gzip"),
        pytest.param("GET", "application/json", [], id="json"),
        pytest.param("GET", "application/xhtml+xml", [], id="xhtml"),
        pytest.param("GET", "text/plain", [], id="text"),
    ],
)
def test_no_injection(method: str, content_type: str, headers: list[tuple[str, str]]) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(b"content-type", content_type.encode()), (b"content-length", b"999")]
        raw += [(k.lower().encode(), v.encode()) for k, v in headers]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        await send({"type": "http.response.body", "body": HTML})

    middleware, _ = make(app)
    served = serve(middleware, method=method, cookie=spec_cookie(VID))
    assert served.body == HTML
    assert served.header("content-length") == ["999"]
    assert served.header("content-type") == [content_type]


def test_identity_content_encoding_still_injected() -> None:
    middleware, _ = make(html_app(headers=[("Content-Encoding", "identity")]))
    assert split_tag(serve(middleware).body)[1] == HTML


def test_no_body_end_leaves_body_and_length() -> None:
    page = b"<p>fragment</p>"
    middleware, _ = make(html_app(body=page))
    served = serve(middleware)
    assert served.body == page
    assert served.header("content-length") == [str(len(page))]


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([HTML[:40], HTML[40:]], id="two"),
        pytest.param([bytes([byte]) for byte in HTML], id="byte-by-byte"),
        pytest.param(
            [HTML[: HTML.index(b"</bo") + 4], HTML[HTML.index(b"</bo") + 4 :]], id="split"
        ),
        pytest.param(
            [HTML[: HTML.index(b"</body") + 6], b"", b">" + HTML.split(b"</body>")[1]],
            id="split-with-empty-chunk",
        ),
        pytest.param([HTML], id="one-chunk"),
    ],
)
def test_streamed_body_is_injected_and_loses_content_length(chunks: list[bytes]) -> None:
    middleware, log = make(html_app(chunks=chunks))
    served = serve(middleware)
    assert served.header("content-length") == []
    assert split_tag(served.body)[1] == HTML
    # What followed the last </body> was held until the end: it comes last.
    last = served.messages[-1]
    assert last["more_body"] is False
    assert TAG_RE.search(last["body"])
    assert kinds(log) == ["page"]


def test_streamed_body_streams_as_it_comes() -> None:
    head = b"<html><body><p>first</p>"
    middleware, _ = make(html_app(chunks=[head, b"<p>second</p></body></html>"]))
    served = serve(middleware)
    # A chunk with no hint of the tag is sent whole, without waiting.
    assert served.chunks[0] == head


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([b"<p>a</p>", b"<p>b</p>"], id="no-end"),
        pytest.param([b"<p>a</p></bo"], id="ends-in-a-partial-tag"),
    ],
)
def test_streamed_body_without_body_end_comes_through_whole(chunks: list[bytes]) -> None:
    middleware, _ = make(html_app(chunks=chunks))
    served = serve(middleware)
    assert served.body == b"".join(chunks)


def test_start_without_a_body_message_is_still_sent() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/html")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})

    middleware, log = make(app)
    served = serve(middleware)
    assert served.status == 200
    assert len(served.header("set-cookie")) == 1
    assert kinds(log) == ["page"]


def test_other_body_messages_send_the_response_as_made() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/html"), (b"content-length", b"120")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": "/srv/page.html"})

    middleware, _ = make(app)
    served = serve(middleware)
    assert [m["type"] for m in served.messages] == [
        "http.response.start",
        "http.response.pathsend",
    ]
    assert served.header("content-length") == ["120"]
    assert len(served.header("set-cookie")) == 1


def test_trailers_pass_after_a_streamed_body() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        start = {"type": "http.response.start", "status": 200, "trailers": True}
        await send({**start, "headers": [(b"content-type", b"text/html")]})
        await send({"type": "http.response.body", "body": HTML, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        await send({"type": "http.response.trailers", "headers": [(b"x-t", b"1")]})

    middleware, _ = make(app)
    served = serve(middleware)
    assert split_tag(served.body)[1] == HTML
    assert served.messages[-1]["type"] == "http.response.trailers"
    assert served.start["trailers"] is True


def test_the_apps_messages_are_not_mutated() -> None:
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        start = {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/html")],
        }
        body = {"type": "http.response.body", "body": HTML}
        sent.extend([start, body])
        await send(start)
        await send(body)

    middleware, _ = make(app)
    serve(middleware)
    assert sent[0]["headers"] == [(b"content-type", b"text/html")]
    assert sent[1]["body"] == HTML


# --- non-HTTP scopes ------------------------------------------------------------------


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param({"type": "websocket", "path": "/ws", "headers": []}, id="websocket"),
        pytest.param({"type": "lifespan", "asgi": {"version": "3.0"}}, id="lifespan"),
    ],
)
def test_non_http_scopes_pass_through_untouched(scope: Scope) -> None:
    seen: list[tuple[Any, Any, Any]] = []
    before = dict(scope)

    async def app(inner: Scope, receive: Receive, send: Send) -> None:
        seen.append((inner, receive, send))
        await send({"type": "marker"})

    async def receive() -> Message:
        raise AssertionError("not called")

    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    middleware, log = make(app)
    asyncio.run(middleware(scope, receive, send))
    [(inner, inner_receive, inner_send)] = seen
    assert inner is scope
    assert inner_receive is receive
    assert inner_send is send
    assert scope == before
    assert messages == [{"type": "marker"}]
    assert log.records == []


# --- errors and the log -------------------------------------------------------------


@pytest.mark.parametrize(
    "after_start", [pytest.param(False, id="before"), pytest.param(True, id="after")]
)
def test_app_raising_flushes_records_and_propagates(after_start: bool) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        scope["manhattan.visitor"].goal("tried")
        if after_start:
            headers = [(b"content-type", b"text/html")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"<p>", "more_body": True})
        raise RuntimeError("boom")

    middleware, log = make(app)
    with pytest.raises(RuntimeError, match="boom"):
        serve(middleware, cookie=spec_cookie(VID))
    assert kinds(log) == (["page", "goal"] if after_start else ["goal"])


def test_failing_log_does_not_fail_the_response(caplog: pytest.LogCaptureFixture) -> None:
    log = FailingLog()
    middleware = ManhattanMiddleware(goal_app, log, SECRET)
    with caplog.at_level(logging.ERROR, logger="manhattan"):
        served = serve(middleware)
    assert served.status == 200
    assert split_tag(served.body)[1] == HTML
    assert log.calls == 1
    [entry] = caplog.records
    assert entry.name.startswith("manhattan")
    assert "could not write 3 records" in entry.getMessage()


def test_failing_log_on_the_pixel(caplog: pytest.LogCaptureFixture) -> None:
    middleware = ManhattanMiddleware(html_app(), FailingLog(), SECRET, buffer_writes=False)
    with caplog.at_level(logging.ERROR, logger="manhattan"):
        served = serve(middleware, path="/vpixel.gif", cookie=spec_cookie(VID))
    assert served.body.startswith(b"GIF89a")
    assert "could not write 1 records" in caplog.text


def test_nothing_recorded_means_no_write() -> None:
    log = FailingLog()
    middleware = ManhattanMiddleware(html_app(content_type="application/json"), log, SECRET)
    serve(middleware)
    assert log.calls == 0


# --- offload ------------------------------------------------------------------------


class ThreadLog(MemoryLog):
    """Remembers the thread each write ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: list[int] = []

    def write(self, records: Sequence[Sequence[str]]) -> None:
        self.threads.append(threading.get_ident())
        super().write(records)


@pytest.mark.parametrize(
    "offload", [pytest.param(False, id="inline"), pytest.param(True, id="offload")]
)
def test_offload_writes_in_another_thread(offload: bool) -> None:
    log = ThreadLog()
    middleware = ManhattanMiddleware(goal_app, log, SECRET, offload=offload)
    served = serve(middleware)
    assert split_tag(served.body)[1] == HTML
    assert kinds(log) == ["page", "goal", "split"]
    assert (log.threads[0] != threading.get_ident()) is offload


def test_offload_writes_the_pixel_in_another_thread() -> None:
    log = ThreadLog()
    middleware = ManhattanMiddleware(html_app(), log, SECRET, offload=True)
    served = serve(middleware, path="/vpixel.gif", cookie=spec_cookie(VID))
    assert served.body.startswith(b"GIF89a")
    assert kinds(log) == ["pixel"]
    assert log.threads[0] != threading.get_ident()


def test_offload_with_a_failing_log(caplog: pytest.LogCaptureFixture) -> None:
    middleware = ManhattanMiddleware(goal_app, FailingLog(), SECRET, offload=True)
    with caplog.at_level(logging.ERROR, logger="manhattan"):
        assert serve(middleware).status == 200
    assert "could not write 3 records" in caplog.text


# --- construction -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "options", "error", "message"),
    [
        pytest.param((goal_app, MemoryLog(), ""), {}, ValueError, "secret", id="empty-secret"),
        pytest.param((goal_app, MemoryLog(), 42), {}, TypeError, "secret", id="int-secret"),
        pytest.param(("app", MemoryLog(), SECRET), {}, TypeError, "ASGI", id="app"),
        pytest.param((goal_app, object(), SECRET), {}, TypeError, "log", id="log"),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"pixel_path": "vpixel.gif"},
            ValueError,
            "pixel_path",
            id="pixel-path",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"count_page": "yes"},
            TypeError,
            r"count_page must be a callable\(scope, status, headers\)",
            id="count-page",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"cookie_name": "a b"},
            ValueError,
            "cookie_name",
            id="cookie-name",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"samesite": "None"},
            ValueError,
            "secure",
            id="samesite-none",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"host_map": {"": 1}},
            ValueError,
            "host_map",
            id="host-map",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"record_headers": "Accept-Language"},
            TypeError,
            "record_headers",
            id="record-headers-str",
        ),
    ],
)
def test_construction_errors(
    args: tuple[Any, ...], options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ManhattanMiddleware(*args, **options)


def test_pixel_tag_is_html_escaped_for_odd_root_paths() -> None:
    middleware, _ = make(html_app())
    body = serve(middleware, root_path='/a"b&c').body
    assert TAG_RE.search(body).group(1).decode() == "/a%22b&amp;c/vpixel.gif"  # type: ignore[union-attr]


def test_positional_options_as_the_wsgi_middleware_takes_them() -> None:
    log = MemoryLog()
    middleware = ManhattanMiddleware(
        goal_app, log, SECRET, "mh", "/t/p.gif", {"example.com": 3}, False
    )
    served = serve(middleware, headers=[("Host", "example.com")])
    [header] = served.header("set-cookie")
    assert header.startswith("mh=")
    assert split_tag(served.body)[0] == "/t/p.gif"
    assert [(record[1], record[4]) for record in log.records] == [
        ("goal", "3"),
        ("split", "3"),
        ("page", "3"),
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param(
            {"ofload": True},
            r"^unknown option 'ofload' \(did you mean 'offload'\?\)$",
            id="typo",
        ),
        pytest.param(
            {"anonymise_ip": True},
            r"^unknown option 'anonymise_ip' \(did you mean 'anonymize_ip'\?\)$",
            id="typo-of-a-shared-option",
        ),
        pytest.param({"offload": 1}, "^offload must be True or False, not 1$", id="offload-int"),
    ],
)
def test_option_errors_name_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        ManhattanMiddleware(goal_app, MemoryLog(), SECRET, **options)


def test_every_option_is_taken_by_name() -> None:
    middleware = ManhattanMiddleware(goal_app, MemoryLog(), SECRET, **NON_DEFAULT, offload=True)
    assert (middleware.cookie_name, middleware.offload) == ("mh", True)
    assert middleware._wanted[b"accept-language"] == "HTTP_ACCEPT_LANGUAGE"
