"""The WSGI middleware, through WebTest and through a small PEP 3333 server."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
import webob
from webtest import TestApp

import manhattan.middleware
from manhattan.log.memory import MemoryLog
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.middleware import ManhattanMiddleware
from manhattan.visitor import Visitor
from manhattan.visitor.environ import request_url
from tests.web.test_options import NON_DEFAULT, OwnVisitor

SECRET = "middleware-secret"
HTML = b"<!doctype html><html><head><title>t</title></head><body><p>Hi</p></body></html>"
TWO_YEARS = 2 * 365 * 24 * 60 * 60
VID = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
HEX40 = re.compile(r"[0-9a-f]{40}")
TAG_RE = re.compile(rb'<img src="([^"]*)"[^>]*>')

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
App = Callable[[Environ, StartResponse], Iterable[bytes]]


def spec_cookie(visitor_id: str, secret: str = SECRET) -> str:
    """The cookie value by the spec's formula, restated independently."""
    key = hashlib.sha1(b"manhattan.signer." + secret.encode("utf-8")).digest()
    return f"{visitor_id}.{hmac.new(key, visitor_id.encode(), hashlib.sha1).hexdigest()}"


def html_app(
    body: bytes = HTML,
    content_type: str = "text/html; charset=utf-8",
    status: str = "200 OK",
    headers: Sequence[tuple[str, str]] = (),
    content_length: bool = True,
) -> App:
    """An app answering every request with ``body``."""

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        response_headers = [("Content-Type", content_type), *headers]
        if content_length:
            response_headers.append(("Content-Length", str(len(body))))
        start_response(status, response_headers)
        return [body]

    return app


def goal_app(environ: Environ, start_response: StartResponse) -> list[bytes]:
    """An HTML page whose app records a goal and a split."""
    visitor = environ["manhattan.visitor"]
    visitor.goal("signed up")
    visitor.split("button colour", ["red", "blue"])
    start_response("200 OK", [("Content-Type", "text/html")])
    return [HTML]


def never_called(environ: Environ, start_response: StartResponse) -> list[bytes]:
    raise AssertionError("the app must not be called")


def make(
    app: App = goal_app, secret_rotation: bool = False, **options: Any
) -> tuple[TestApp, MemoryLog]:
    """The app behind the middleware, with ``SECRET``, or with ``SECRET`` as
    the older secret of a rotation to ``"new secret"``."""
    log = MemoryLog()
    secret = ["new secret", SECRET] if secret_rotation else SECRET
    return TestApp(ManhattanMiddleware(app, log, secret, **options)), log


def kinds(log: MemoryLog) -> list[str]:
    return [record[1] for record in log.records]


def set_cookies(response: Any) -> list[str]:
    return [value for name, value in response.headerlist if name.lower() == "set-cookie"]


def cookie_value(set_cookie: str, name: str = "manhattan") -> str:
    first = set_cookie.split(";")[0]
    key, _, value = first.partition("=")
    assert key == name
    return value


def split_tag(body: bytes) -> tuple[str, bytes]:
    """The src of the one injected pixel tag, and ``body`` without it.

    Also checks that the tag sits right before a ``</body>``.
    """
    tags = list(TAG_RE.finditer(body))
    assert len(tags) == 1, body
    tag = tags[0]
    assert re.match(rb"</body[\s>]", body[tag.end() :], re.IGNORECASE), body
    return tag.group(1).decode(), body[: tag.start()] + body[tag.end() :]


class Server:
    """Serves one request as PEP 3333 asks of a server, keeping what was sent."""

    def __init__(self) -> None:
        self.status: str | None = None
        self.headers: list[tuple[str, str]] = []
        self.headers_sent = False
        self.written: list[bytes] = []
        self.start_calls = 0

    def start_response(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        self.start_calls += 1
        if exc_info is not None:
            if self.headers_sent:
                raise exc_info[1].with_traceback(exc_info[2])
        elif self.status is not None:
            raise AssertionError("start_response called twice without exc_info")
        for name, value in headers:
            assert isinstance(name, str)
            assert isinstance(value, str)
        self.status, self.headers = status, list(headers)
        return self.write

    def write(self, data: bytes) -> None:
        assert self.status is not None, "body before headers"
        self.headers_sent = True
        self.written.append(data)

    def header(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key.lower() == name.lower()]

    def serve(self, app: App, environ: Environ) -> bytes:
        result = app(environ, self.start_response)
        try:
            for chunk in result:
                assert self.status is not None, "body before headers"
                if chunk:
                    self.headers_sent = True
                self.written.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        assert self.status is not None
        return b"".join(self.written)


def environ_for(path: str = "/", **extra: Any) -> Environ:
    environ: Environ = webob.Request.blank(path).environ
    environ.update(extra)
    return environ


# --- the visitor and its cookie ---------------------------------------------------


def test_middleware_is_exported_from_the_package() -> None:
    assert manhattan.middleware.ManhattanMiddleware is ManhattanMiddleware


def test_fresh_visitor_is_in_environ_and_gets_one_signed_cookie() -> None:
    seen: list[Visitor] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(environ["manhattan.visitor"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    test_app, _ = make(app)
    response = test_app.get("/")
    [visitor] = seen
    assert isinstance(visitor, Visitor)
    assert HEX40.fullmatch(visitor.id)
    assert visitor.site_id == "0"
    [header] = set_cookies(response)
    assert cookie_value(header) == spec_cookie(visitor.id)
    attributes = [part.strip() for part in header.split(";")[1:]]
    assert "HttpOnly" in attributes
    assert "SameSite=Lax" in attributes
    assert "Path=/" in attributes
    assert "Secure" not in attributes
    [max_age] = [int(a.partition("=")[2]) for a in attributes if a.startswith("Max-Age=")]
    assert 700 * 86400 <= max_age <= 740 * 86400


def test_returning_visitor_keeps_id_and_gets_no_cookie() -> None:
    test_app, log = make()
    first = test_app.get("/")  # WebTest's cookie jar sends the cookie back
    [header] = set_cookies(first)
    second = test_app.get("/again")
    assert set_cookies(second) == []
    ids = {record[3] for record in log.records}
    assert len(ids) == 1
    assert spec_cookie(ids.pop()) == cookie_value(header)


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(f"manhattan={spec_cookie(VID)}", id="spec-formula-0.3-cookie"),
        pytest.param(f"manhattan={spec_cookie(VID).upper()}", id="uppercase"),
        pytest.param(f'manhattan="{spec_cookie(VID)}"', id="quoted"),
        pytest.param(f"a=1; xmanhattan=2; manhattan={spec_cookie(VID)}; b=3", id="among-others"),
    ],
)
def test_valid_cookie_keeps_its_visitor_id(cookie: str) -> None:
    test_app, log = make()
    response = test_app.get("/", headers={"Cookie": cookie})
    assert set_cookies(response) == []
    assert {record[3] for record in log.records} == {VID}


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(
            spec_cookie(VID)[:-1] + ("0" if spec_cookie(VID)[-1] != "0" else "1"), id="tampered"
        ),
        pytest.param(spec_cookie(VID)[:-7], id="truncated"),
        pytest.param(VID, id="no-signature"),
        pytest.param(spec_cookie("a" * 300), id="oversized"),
        pytest.param(spec_cookie(VID, secret="another site"), id="foreign-secret"),
        pytest.param("GA1.2.3456.7890", id="foreign-value"),
        pytest.param("\u00e9\u00e9." + "0" * 40, id="non-ascii"),
        pytest.param("", id="empty"),
    ],
)
def test_bad_cookie_becomes_a_fresh_visitor(value: str) -> None:
    test_app, log = make()
    response = test_app.get("/", headers={"Cookie": f"manhattan={value}"})
    assert response.status_int == 200
    assert response.body.startswith(HTML[:20])
    [header] = set_cookies(response)
    [visitor_id] = {record[3] for record in log.records}
    assert HEX40.fullmatch(visitor_id)
    assert visitor_id != VID
    assert cookie_value(header) == spec_cookie(visitor_id)


@pytest.mark.parametrize(
    ("path", "cookie_secret", "kept", "resigned"),
    [
        pytest.param("/", "new secret", True, False, id="current-secret"),
        pytest.param("/", SECRET, True, True, id="older-secret"),
        pytest.param("/", "retired secret", False, True, id="unknown-secret"),
        pytest.param("/vpixel.gif", SECRET, True, True, id="older-secret-on-the-pixel"),
    ],
)
def test_secret_rotation_keeps_visitors_and_re_signs_their_cookie(
    path: str, cookie_secret: str, kept: bool, resigned: bool
) -> None:
    test_app, log = make(secret_rotation=True)
    response = test_app.get(
        path, headers={"Cookie": f"manhattan={spec_cookie(VID, cookie_secret)}"}
    )
    [visitor_id] = {record[3] for record in log.records} or {None}
    if kept:
        assert visitor_id == VID
        assert kinds(log) == (["pixel"] if path == "/vpixel.gif" else ["page", "goal", "split"])
    else:
        assert visitor_id != VID
    headers = set_cookies(response)
    if resigned:
        [header] = headers
        assert cookie_value(header) == spec_cookie(visitor_id, "new secret")
        assert "HttpOnly" in header
    else:
        assert headers == []


def test_cookie_options_shape_the_set_cookie_header() -> None:
    test_app, log = make(
        cookie_name="mh",
        secure=True,
        samesite="None",
        max_age=3600,
        domain="example.com",
        path="/shop",
    )
    [header] = set_cookies(test_app.get("/"))
    visitor_id = log.records[0][3]
    assert header == (
        f"mh={spec_cookie(visitor_id)}; Max-Age=3600; Path=/shop; Domain=example.com; Secure;"
        " HttpOnly; SameSite=None"
    )
    # The cookie is read back under its own name.
    test_app, log = make(cookie_name="mh")
    response = test_app.get("/", headers={"Cookie": f"manhattan=x; mh={spec_cookie(VID)}"})
    assert set_cookies(response) == []
    assert log.records[0][3] == VID


# --- page views ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "content_type", "status", "request_headers", "logged"),
    [
        pytest.param("GET", "text/html; charset=utf-8", "200 OK", {}, True, id="get-html"),
        pytest.param("POST", "text/html", "200 OK", {}, True, id="post-html"),
        pytest.param("GET", "application/xhtml+xml", "200 OK", {}, True, id="get-xhtml"),
        pytest.param("GET", "text/html", "404 Not Found", {}, True, id="not-found-page"),
        pytest.param("PUT", "text/html", "200 OK", {}, False, id="put"),
        pytest.param("DELETE", "text/html", "200 OK", {}, False, id="delete"),
        pytest.param("GET", "application/json", "200 OK", {}, False, id="json"),
        pytest.param("GET", "image/png", "200 OK", {}, False, id="png"),
        pytest.param("GET", "text/css", "200 OK", {}, False, id="css"),
        pytest.param("GET", "text/html", "302 Found", {}, False, id="redirect"),
        pytest.param(
            "GET", "text/html", "200 OK", {"X-Purpose": "preview"}, False, id="x-purpose"
        ),
        pytest.param(
            "GET", "text/html", "200 OK", {"Sec-Purpose": "prefetch"}, False, id="sec-purpose"
        ),
        pytest.param("GET", "text/html", "200 OK", {"Purpose": "prefetch"}, False, id="purpose"),
        pytest.param("GET", "text/html", "200 OK", {"X-Moz": "prefetch"}, False, id="x-moz"),
    ],
)
def test_page_views(
    method: str, content_type: str, status: str, request_headers: dict[str, str], logged: bool
) -> None:
    headers = [("Location", "http://localhost/elsewhere")] if status.startswith("3") else []
    test_app, log = make(html_app(content_type=content_type, status=status, headers=headers))
    test_app.request("/page", method=method, headers=request_headers, expect_errors=True)
    assert kinds(log) == (["page"] if logged else [])


def test_head_is_not_a_page_view() -> None:
    test_app, log = make(html_app())
    response = test_app.head("/")
    assert response.status_int == 200
    assert log.records == []


def test_page_record_fields() -> None:
    test_app, log = make(html_app())
    before = time.time()
    test_app.get(
        "/products/widget?colour=blue&size=2",
        headers={
            "Cookie": f"manhattan={spec_cookie(VID)}",
            "User-Agent": "Mozilla/5.0 (Test)",
            "Referer": "https://search.example/?q=widget",
        },
        extra_environ={"REMOTE_ADDR": "203.0.113.77", "HTTP_HOST": "shop.example.com"},
    )
    after = time.time()
    [record] = log.records
    assert record[:2] == ["1", "page"]
    assert re.fullmatch(r"\d+\.\d{4}", record[2])
    assert before - 0.001 <= float(record[2]) <= after + 0.001
    assert record[3:] == [
        VID,
        "0",
        "203.0.113.77",
        "GET",
        "http://shop.example.com/products/widget?colour=blue&size=2",
        "Mozilla/5.0 (Test)",
        "https://search.example/?q=widget",
    ]


def test_page_record_without_optional_headers() -> None:
    server = Server()
    environ = {
        "REQUEST_METHOD": "POST",
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "example.com",
        "SERVER_PORT": "80",
        "PATH_INFO": "/",
        "HTTP_COOKIE": f"manhattan={spec_cookie(VID)}",
    }
    log = MemoryLog()
    server.serve(ManhattanMiddleware(html_app(), log, SECRET), environ)
    [record] = log.records
    assert record[3:] == [VID, "0", "", "POST", "http://example.com/", "", ""]


BASE: Environ = {
    "REQUEST_METHOD": "GET",
    "wsgi.url_scheme": "http",
    "SERVER_NAME": "server.example",
    "SERVER_PORT": "80",
    "SCRIPT_NAME": "",
    "PATH_INFO": "/",
    "QUERY_STRING": "",
    "HTTP_HOST": "example.com",
    "REMOTE_ADDR": "198.51.100.4",
}

URL_CASES = [
    pytest.param({}, "http://example.com/", id="root"),
    pytest.param({"QUERY_STRING": "a=1&b=%20x"}, "http://example.com/?a=1&b=%20x", id="query"),
    pytest.param({"PATH_INFO": "/a/b/"}, "http://example.com/a/b/", id="path"),
    pytest.param(
        # WSGI gives the UTF-8 bytes of "/café" as a latin-1 string.
        {"PATH_INFO": "/caf\u00c3\u00a9"},
        "http://example.com/caf%C3%A9",
        id="unicode-path",
    ),
    pytest.param(
        {"PATH_INFO": "/a b/100%/x\"y<z>/~!$&'()*+,;=:@"},
        "http://example.com/a%20b/100%25/x%22y%3Cz%3E/~!$&'()*+,;=:@",
        id="escaped-path",
    ),
    pytest.param(
        {"SCRIPT_NAME": "/app", "PATH_INFO": "/page"}, "http://example.com/app/page", id="script"
    ),
    pytest.param(
        {"SCRIPT_NAME": "/\u00c3\u00bcber", "PATH_INFO": ""},
        "http://example.com/%C3%BCber",
        id="unicode-script-no-path",
    ),
    pytest.param({"HTTP_HOST": "example.com:80"}, "http://example.com/", id="http-port-80"),
    pytest.param({"HTTP_HOST": "example.com:8080"}, "http://example.com:8080/", id="other-port"),
    pytest.param({"HTTP_HOST": "example.com:443"}, "http://example.com:443/", id="http-port-443"),
    pytest.param(
        {"HTTP_HOST": "example.com:443", "wsgi.url_scheme": "https"},
        "https://example.com/",
        id="https-port-443",
    ),
    pytest.param(
        {"HTTP_HOST": "example.com:80", "wsgi.url_scheme": "https"},
        "https://example.com:80/",
        id="https-port-80",
    ),
    pytest.param({"HTTP_HOST": "[::1]:80"}, "http://[::1]/", id="ipv6-host"),
    pytest.param({"HTTP_HOST": "[::1]:8000"}, "http://[::1]:8000/", id="ipv6-host-port"),
    pytest.param({"HTTP_HOST": None}, "http://server.example/", id="no-host"),
    pytest.param(
        {"HTTP_HOST": None, "SERVER_PORT": "8000"},
        "http://server.example:8000/",
        id="no-host-other-port",
    ),
    pytest.param(
        {"HTTP_HOST": None, "SERVER_PORT": "443", "wsgi.url_scheme": "https"},
        "https://server.example/",
        id="no-host-https",
    ),
    pytest.param(
        {"HTTP_HOST": None, "SERVER_PORT": "443"},
        "http://server.example:443/",
        id="no-host-http-443",
    ),
]


def url_environ(overrides: Environ) -> Environ:
    environ = {**BASE, **overrides}
    return {key: value for key, value in environ.items() if value is not None}


@pytest.mark.parametrize(("overrides", "expected"), URL_CASES)
def test_request_url_is_webobs_url(overrides: Environ, expected: str) -> None:
    environ = url_environ(overrides)
    assert webob.Request(dict(environ)).url == expected  # the table is right about WebOb
    assert request_url(environ) == expected


@pytest.mark.parametrize(("overrides", "expected"), URL_CASES)
def test_page_record_matches_visitor_page(overrides: Environ, expected: str) -> None:
    environ = url_environ(overrides)
    environ["HTTP_COOKIE"] = f"manhattan={spec_cookie(VID)}"
    environ["HTTP_USER_AGENT"] = "UA/1.0"
    environ["HTTP_REFERER"] = "http://ref.example/"
    reference = MemoryLog()
    visitor = Visitor(VID, reference)
    visitor.page(webob.Request(dict(environ)))
    visitor.flush()
    log = MemoryLog()
    Server().serve(ManhattanMiddleware(html_app(), log, SECRET), environ)
    [record] = log.records
    assert record[7] == expected
    assert record[3:] == reference.records[0][3:]


@pytest.mark.parametrize(
    ("rule_answer", "content_type", "logged"),
    [
        pytest.param(True, "application/json", True, id="counts-json"),
        pytest.param(False, "text/html", False, id="refuses-html"),
    ],
)
def test_count_page_overrides_the_rule(rule_answer: bool, content_type: str, logged: bool) -> None:
    calls: list[tuple[str, list[tuple[str, str]]]] = []

    def count_page(environ: Environ, status: str, headers: list[tuple[str, str]]) -> bool:
        assert environ["PATH_INFO"] == "/api"
        calls.append((status, list(headers)))
        return rule_answer

    test_app, log = make(html_app(b"{}", content_type=content_type), count_page=count_page)
    test_app.get("/api", headers={"Sec-Purpose": "prefetch"})
    assert kinds(log) == (["page"] if logged else [])
    [(status, headers)] = calls
    assert status == "200 OK"
    assert ("Content-Type", content_type) in headers


def test_page_record_comes_before_what_the_app_recorded() -> None:
    test_app, log = make(goal_app)
    test_app.get("/")
    assert kinds(log) == ["page", "goal", "split"]
    assert len({record[3] for record in log.records}) == 1


# --- sites --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "site_id"),
    [
        pytest.param("shop.example.com", "7", id="mapped"),
        pytest.param("Shop.Example.COM:8080", "7", id="port-and-case"),
        pytest.param("blog.example.com", "12", id="other-site"),
        pytest.param("unknown.example", "0", id="unmapped"),
    ],
)
def test_host_map(host: str, site_id: str) -> None:
    test_app, log = make(host_map={"shop.example.com": 7, "Blog.Example.com": "12"})
    test_app.get("/", extra_environ={"HTTP_HOST": host})
    assert kinds(log) == ["page", "goal", "split"]
    assert {record[4] for record in log.records} == {site_id}


def test_host_map_errors_at_construction() -> None:
    with pytest.raises(ValueError, match="host_map"):
        ManhattanMiddleware(goal_app, MemoryLog(), SECRET, host_map={"": 1})


# --- the pixel ----------------------------------------------------------------------


def test_pixel_for_a_known_visitor() -> None:
    test_app, log = make(never_called, host_map={"example.com": 3})
    response = test_app.get(
        "/vpixel.gif",
        headers={"Cookie": f"manhattan={spec_cookie(VID)}"},
        extra_environ={"HTTP_HOST": "example.com"},
    )
    assert response.status_int == 200
    assert response.content_type == "image/gif"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.body
    assert body[:6] == b"GIF89a"
    assert int.from_bytes(body[6:8], "little") == 1
    assert int.from_bytes(body[8:10], "little") == 1
    assert body.endswith(b";")
    assert int(response.headers["Content-Length"]) == len(body)
    assert set_cookies(response) == []
    [record] = log.records
    assert record[:2] == ["1", "pixel"]
    assert record[3:] == [VID, "3"]


@pytest.mark.parametrize(
    "cookie",
    [
        pytest.param(None, id="no-cookie"),
        pytest.param(f"manhattan={spec_cookie(VID, 'other secret')}", id="foreign-cookie"),
    ],
)
def test_pixel_for_a_fresh_visitor_is_not_recorded(cookie: str | None) -> None:
    test_app, log = make(never_called)
    response = test_app.get("/vpixel.gif", headers={"Cookie": cookie} if cookie else {})
    assert response.content_type == "image/gif"
    assert log.records == []
    [header] = set_cookies(response)
    assert HEX40.fullmatch(cookie_value(header).partition(".")[0])


def test_pixel_path_option_and_prefix() -> None:
    log = MemoryLog()
    middleware = ManhattanMiddleware(never_called, log, SECRET, pixel_path="/t/p.gif")
    server = Server()
    environ = environ_for(
        "/t/p.gif", SCRIPT_NAME="/shop", HTTP_COOKIE=f"manhattan={spec_cookie(VID)}"
    )
    environ["PATH_INFO"] = "/t/p.gif"
    assert server.serve(middleware, environ)[:6] == b"GIF89a"
    assert kinds(log) == ["pixel"]
    # The default path is now an ordinary page.
    server = Server()
    middleware = ManhattanMiddleware(html_app(), log, SECRET, pixel_path="/t/p.gif")
    assert split_tag(server.serve(middleware, environ_for("/vpixel.gif")))[0] == "/t/p.gif"


# --- injection ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "app_iter_type",
    [pytest.param(list, id="list"), pytest.param(tuple, id="tuple")],
)
def test_tag_injected_before_body_end_with_content_length_fixed(app_iter_type: type) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response(
            "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(HTML)))]
        )
        return app_iter_type([HTML[:30], HTML[30:]])

    test_app, _ = make(app)
    response = test_app.get("/")
    src, rest = split_tag(response.body)
    assert src == "/vpixel.gif"
    assert rest == HTML
    assert response.headers.getall("Content-Length") == [str(len(response.body))]


def test_content_length_is_added_for_list_bodies() -> None:
    test_app, _ = make(html_app(content_length=False))
    response = test_app.get("/")
    assert response.headers["Content-Length"] == str(len(response.body))
    assert split_tag(response.body)[1] == HTML


@pytest.mark.parametrize(
    ("content_type", "headers"),
    [
        pytest.param("application/json", [], id="json"),
        pytest.param("application/xhtml+xml", [], id="xhtml"),
        pytest.param("text/plain", [], id="text"),
        pytest.param("text/html", [("Content-Encoding", "gzip")], id="gzip"),
        pytest.param("text/html", [("Content-Encoding", "br")], id="brotli"),
    ],
)
def test_no_injection(content_type: str, headers: list[tuple[str, str]]) -> None:
    log = MemoryLog()
    server = Server()
    middleware = ManhattanMiddleware(
        html_app(content_type=content_type, headers=headers), log, SECRET
    )
    assert server.serve(middleware, environ_for()) == HTML
    assert server.header("Content-Length") == [str(len(HTML))]


def test_identity_content_encoding_still_injected() -> None:
    server = Server()
    middleware = ManhattanMiddleware(
        html_app(headers=[("Content-Encoding", " Identity ")]), MemoryLog(), SECRET
    )
    assert split_tag(server.serve(middleware, environ_for()))[1] == HTML


def test_no_injection_on_head() -> None:
    log = MemoryLog()
    server = Server()
    body = server.serve(
        ManhattanMiddleware(html_app(), log, SECRET), environ_for("/", REQUEST_METHOD="HEAD")
    )
    assert body == HTML
    assert server.header("Content-Length") == [str(len(HTML))]
    assert log.records == []


def test_no_body_end_leaves_body_and_length() -> None:
    body = b"<p>fragment</p>"
    test_app, _ = make(html_app(body))
    response = test_app.get("/")
    assert response.body == body
    assert response.headers["Content-Length"] == str(len(body))


# --- responses the pixel must not damage ----------------------------------------------

SCRIPT_PAGE = (
    b'<html><body><script>var end = "</body>";</script><p>x</p><!-- </body> --></body></html>'
)
SCRIPT_PAGE_AT = SCRIPT_PAGE.rindex(b"</body>")


@pytest.mark.parametrize(
    ("method", "status", "headers", "body"),
    [
        pytest.param(
            "GET",
            "206 Partial Content",
            [("Content-Range", "bytes 0-19/500"), ("Content-Length", "20")],
            HTML[:20],
            id="partial",
        ),
        pytest.param(
            "GET",
            "206 Partial Content",
            [("Content-Range", f"bytes 0-{len(HTML) - 1}/{len(HTML)}")],
            HTML,
            id="partial-whole-page-no-length",
        ),
        pytest.param(
            "GET",
            "200 OK",
            [("Content-Range", f"bytes 0-{len(HTML) - 1}/{len(HTML)}")],
            HTML,
            id="content-range-on-200",
        ),
        pytest.param(
            "GET", "304 Not Modified", [("Content-Length", "5000")], b"", id="not-modified-length"
        ),
        pytest.param("GET", "304 Not Modified", [], b"", id="not-modified"),
        pytest.param("GET", "204 No Content", [], b"", id="no-content"),
        pytest.param("POST", "205 Reset Content", [], b"", id="reset-content"),
        pytest.param("HEAD", "200 OK", [("Content-Length", "5000")], b"", id="head-length"),
        pytest.param("HEAD", "200 OK", [], b"", id="head"),
    ],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["list", "streamed"])
def test_partial_and_bodiless_responses_pass_untouched(
    method: str, status: str, headers: list[tuple[str, str]], body: bytes, streamed: bool
) -> None:
    app_headers = [("Content-Type", "text/html; charset=utf-8"), *headers]

    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response(status, list(app_headers))
        return iter([body]) if streamed else [body]

    log = MemoryLog()
    server = Server()
    environ = environ_for("/", REQUEST_METHOD=method, HTTP_COOKIE=f"manhattan={spec_cookie(VID)}")
    sent = server.serve(ManhattanMiddleware(app, log, SECRET), environ)
    assert sent == body
    assert server.status == status
    assert server.headers == app_headers  # not one header changed, added or dropped
    # None of these shows a page, but for the odd 200 with a Content-Range.
    assert kinds(log) == (["page"] if status == "200 OK" and method == "GET" else [])


def test_a_fresh_visitor_gets_the_cookie_on_an_untouched_response() -> None:
    server = Server()
    middleware = ManhattanMiddleware(html_app(b"", status="304 Not Modified"), MemoryLog(), SECRET)
    server.serve(middleware, environ_for())
    assert server.header("Content-Length") == ["0"]  # as the app set it
    [cookie] = server.header("Set-Cookie")
    assert cookie.startswith("manhattan=")


@pytest.mark.parametrize(
    "app_iter",
    [
        pytest.param(lambda: [SCRIPT_PAGE], id="list"),
        pytest.param(lambda: iter([SCRIPT_PAGE]), id="streamed"),
        pytest.param(lambda: iter([SCRIPT_PAGE[:40], SCRIPT_PAGE[40:]]), id="streamed-split"),
        pytest.param(
            lambda: (SCRIPT_PAGE[i : i + 1] for i in range(len(SCRIPT_PAGE))),
            id="byte-by-byte",
        ),
    ],
)
def test_pixel_goes_before_the_last_body_end_outside_scripts_and_comments(
    app_iter: Callable[[], Iterable[bytes]],
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return app_iter()

    server = Server()
    sent = server.serve(ManhattanMiddleware(app, MemoryLog(), SECRET), environ_for())
    tag = TAG_RE.search(sent)
    assert tag is not None
    assert tag.start() == SCRIPT_PAGE_AT
    assert sent[: tag.start()] + sent[tag.end() :] == SCRIPT_PAGE


CHUNKS = [b"<html><body>", b"<p>one</p>", b"<p>two</p></bo", b"dy></html>"]


def test_streamed_body_streams_and_drops_content_length() -> None:
    pulled: list[bytes] = []

    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "999")])

        def body() -> Iterator[bytes]:
            for chunk in CHUNKS:
                pulled.append(chunk)
                yield chunk

        return body()

    server = Server()
    result = ManhattanMiddleware(app, MemoryLog(), SECRET)(environ_for(), server.start_response)
    iterator = iter(result)
    first = next(iterator)
    assert first == CHUNKS[0]
    assert pulled == CHUNKS[:1]  # the app has not been read to the end
    assert server.status == "200 OK"
    assert server.header("Content-Length") == []
    second = next(iterator)
    assert second == CHUNKS[1]  # "</p>" at a chunk's end is not held back
    rest = b"".join(iterator)
    result.close()  # type: ignore[attr-defined]
    src, without = split_tag(first + second + rest)
    assert src == "/vpixel.gif"
    assert without == b"".join(CHUNKS)


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([b"<html><body>cut off", b" before its end </bo"], id="ends-in-partial-tag"),
        pytest.param([b"<p>fragment</p>", b"<"], id="ends-in-lt"),
    ],
)
def test_streamed_body_without_body_end_comes_through_whole(chunks: list[bytes]) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        return iter(chunks)

    server = Server()
    result = ManhattanMiddleware(app, MemoryLog(), SECRET)(environ_for(), server.start_response)
    sent = list(result)
    result.close()  # type: ignore[attr-defined]
    assert b"".join(sent) == b"".join(chunks)  # held-back bytes are sent at the end
    assert b"vpixel" not in b"".join(sent)


def test_streamed_body_through_webtest() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        yield from CHUNKS

    test_app, log = make(app)
    response = test_app.get("/")
    assert split_tag(response.body)[1] == b"".join(CHUNKS)
    assert kinds(log) == ["page"]


class ClosingBody:
    """An app_iter with ``close()`` that records a goal while it is iterated."""

    def __init__(self, visitor: Visitor, chunks: list[bytes]) -> None:
        self.visitor = visitor
        self.chunks = chunks
        self.closed = 0

    def __iter__(self) -> Iterator[bytes]:
        for index, chunk in enumerate(self.chunks):
            if index == 1:
                self.visitor.goal("scrolled")
            yield chunk

    def close(self) -> None:
        self.closed += 1


def test_app_iter_closed_and_records_flushed_at_close() -> None:
    bodies: list[ClosingBody] = []

    def app(environ: Environ, start_response: StartResponse) -> ClosingBody:
        start_response("200 OK", [("Content-Type", "text/html")])
        bodies.append(ClosingBody(environ["manhattan.visitor"], CHUNKS))
        return bodies[0]

    log = MemoryLog()
    server = Server()
    result = ManhattanMiddleware(app, log, SECRET)(environ_for(), server.start_response)
    body = b"".join(result)
    assert log.records == []  # buffered until the request ends
    assert bodies[0].closed == 0
    result.close()  # type: ignore[attr-defined]
    assert bodies[0].closed == 1
    assert kinds(log) == ["page", "goal"]
    assert split_tag(body)[1] == b"".join(CHUNKS)


class ClosingList(list[bytes]):
    """A list body that also has ``close()``."""

    closed = 0

    def close(self) -> None:
        self.closed += 1


@pytest.mark.parametrize(
    ("content_type", "injected"),
    [pytest.param("text/html", True, id="html"), pytest.param("image/png", False, id="png")],
)
def test_list_subclass_with_close_is_closed(content_type: str, injected: bool) -> None:
    body = ClosingList([HTML])

    def app(environ: Environ, start_response: StartResponse) -> ClosingList:
        start_response("200 OK", [("Content-Type", content_type)])
        return body

    test_app, _ = make(app)
    response = test_app.get("/")
    assert body.closed == 1
    if injected:
        assert split_tag(response.body)[1] == HTML
    else:
        assert response.body == HTML


def test_iterator_without_close() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return iter([b"{", b"}"])

    test_app, log = make(app)
    response = test_app.get("/", headers={"Cookie": f"manhattan={spec_cookie(VID)}"})
    assert response.body == b"{}"
    assert log.records == []


@pytest.mark.parametrize(
    ("chunks", "content_type"),
    [
        pytest.param(CHUNKS, "text/html", id="html"),
        pytest.param([], "text/html", id="yields-nothing"),
        pytest.param([b"{}"], "application/json", id="json"),
        pytest.param([], "application/json", id="json-nothing"),
    ],
)
def test_lazy_app(chunks: list[bytes], content_type: str) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        environ["manhattan.visitor"].goal("lazy")
        length = sum(len(chunk) for chunk in chunks)
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(length))])
        yield from chunks

    log = MemoryLog()
    server = Server()
    body = server.serve(ManhattanMiddleware(app, log, SECRET), environ_for())
    html = content_type == "text/html"
    assert server.status == "200 OK"
    assert len(server.header("Set-Cookie")) == 1
    if html and b"</body>" in b"".join(chunks):
        assert split_tag(body)[1] == b"".join(chunks)
    else:
        assert body == b"".join(chunks)
    if html:
        assert server.header("Content-Length") == []
        assert kinds(log) == ["page", "goal"]
    else:
        assert server.header("Content-Length") == [str(len(body))]
        assert kinds(log) == ["goal"]


def test_lazy_app_through_webtest() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        yield HTML

    test_app, log = make(app)
    response = test_app.get("/")
    assert split_tag(response.body)[1] == HTML
    assert kinds(log) == ["page"]
    assert len(set_cookies(response)) == 1


def test_legacy_write_callable() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response(
            "200 OK", [("Content-Type", "text/html"), ("Content-Length", str(len(HTML)))]
        )
        write(HTML[:25])
        write(HTML[25:])
        environ["manhattan.visitor"].goal("wrote")
        return []

    log = MemoryLog()
    server = Server()
    body = server.serve(ManhattanMiddleware(app, log, SECRET), environ_for())
    assert body == HTML  # untouched: no tag in written data
    assert server.header("Content-Length") == [str(len(HTML))]
    assert len(server.header("Set-Cookie")) == 1
    assert kinds(log) == ["page", "goal"]


def test_legacy_write_through_webtest() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        write = start_response("200 OK", [("Content-Type", "text/html")])
        write(HTML)
        return [b"<!-- tail -->"]

    test_app, log = make(app)
    response = test_app.get("/")
    assert response.body == HTML + b"<!-- tail -->"
    assert kinds(log) == ["page"]


def test_error_replaces_headers_before_they_are_sent() -> None:
    error_page = b"<html><body>Sorry</body></html>"

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html"), ("Content-Length", "5")])
        try:
            raise RuntimeError("rendering failed")
        except RuntimeError:
            start_response(
                "500 Internal Server Error", [("Content-Type", "text/html")], sys.exc_info()
            )
        return [error_page]

    log = MemoryLog()
    server = Server()
    body = server.serve(ManhattanMiddleware(app, log, SECRET), environ_for())
    assert server.start_calls == 1
    assert server.status == "500 Internal Server Error"
    assert len(server.header("Set-Cookie")) == 1
    assert server.header("Content-Length") == [str(len(body))]
    assert split_tag(body)[1] == error_page
    assert kinds(log) == ["page"]  # once, though both answers were HTML pages


def test_error_after_headers_were_sent_reaches_the_server() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        environ["manhattan.visitor"].goal("started")
        yield b"<html><body>partial"
        try:
            raise KeyError("late")
        except KeyError:
            start_response(
                "500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info()
            )
        yield b"never"

    log = MemoryLog()
    server = Server()
    with pytest.raises(KeyError, match="late"):
        server.serve(ManhattanMiddleware(app, log, SECRET), environ_for())
    assert server.status == "200 OK"
    assert server.start_calls == 2
    assert kinds(log) == ["page", "goal"]  # flushed at close


# --- failures -----------------------------------------------------------------------


def test_app_raising_flushes_records_and_propagates() -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        environ["manhattan.visitor"].goal("before the crash")
        raise ValueError("app bug")

    test_app, log = make(app)
    with pytest.raises(ValueError, match="app bug"):
        test_app.get("/")
    assert kinds(log) == ["goal"]
    assert log.records[0][5] == "before the crash"


def test_app_raising_while_iterating_flushes_at_close() -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        environ["manhattan.visitor"].goal("half way")
        yield b"<html>"
        raise ValueError("stream bug")

    log = MemoryLog()
    with pytest.raises(ValueError, match="stream bug"):
        Server().serve(ManhattanMiddleware(app, log, SECRET), environ_for())
    assert kinds(log) == ["page", "goal"]


class FailingLog:
    """A log whose every write fails."""

    def __init__(self) -> None:
        self.attempts = 0

    def write(self, records: Sequence[Sequence[str]]) -> None:
        self.attempts += 1
        raise OSError("disk full")


@pytest.mark.parametrize(
    ("path", "buffer_writes", "writes", "expected_message"),
    [
        pytest.param("/", True, 1, "could not write 3 records", id="page-buffered"),
        # The app's own goal() calls fail inside its view, and must not raise there.
        pytest.param("/", False, 3, "could not write 1 records", id="page-unbuffered"),
        pytest.param("/vpixel.gif", True, 1, "could not write 1 records", id="pixel-buffered"),
        pytest.param("/vpixel.gif", False, 1, "could not write 1 records", id="pixel-unbuffered"),
    ],
)
def test_failing_log_does_not_fail_the_response(
    caplog: pytest.LogCaptureFixture,
    path: str,
    buffer_writes: bool,
    writes: int,
    expected_message: str,
) -> None:
    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        visitor = environ["manhattan.visitor"]
        visitor.goal("a")
        visitor.goal("b")
        start_response("200 OK", [("Content-Type", "text/html")])
        return [HTML]

    log = FailingLog()
    test_app = TestApp(ManhattanMiddleware(app, log, SECRET, buffer_writes=buffer_writes))
    with caplog.at_level(logging.ERROR, logger="manhattan.middleware"):
        response = test_app.get(path, headers={"Cookie": f"manhattan={spec_cookie(VID)}"})
    assert response.status_int == 200
    assert log.attempts == writes
    # One line for the request, with the traceback of the first failure.
    [entry] = caplog.records
    assert entry.levelno == logging.ERROR
    assert expected_message in entry.getMessage()
    assert entry.exc_info is not None


@pytest.mark.parametrize("buffer_writes", [True, False])
def test_an_unwritable_log_path_logs_one_line_not_a_traceback_per_request(
    caplog: pytest.LogCaptureFixture, tmp_path: Path, buffer_writes: bool
) -> None:
    (tmp_path / "a-file").write_text("")
    log = TimeRotatingLog(tmp_path / "a-file" / "events")  # its directory is a file
    test_app = TestApp(ManhattanMiddleware(goal_app, log, SECRET, buffer_writes=buffer_writes))
    with caplog.at_level(logging.INFO, logger="manhattan"):
        for _ in range(20):
            response = test_app.get("/")
            assert response.status_int == 200
            assert split_tag(response.body)[1] == HTML
    [entry] = caplog.records
    assert "could not write" in entry.getMessage()
    assert "reported once every 60 s" in entry.getMessage()


def test_failing_log_at_close_of_a_streamed_body(caplog: pytest.LogCaptureFixture) -> None:
    def app(environ: Environ, start_response: StartResponse) -> Iterator[bytes]:
        start_response("200 OK", [("Content-Type", "text/html")])
        yield HTML

    test_app = TestApp(ManhattanMiddleware(app, FailingLog(), SECRET))
    with caplog.at_level(logging.ERROR, logger="manhattan.middleware"):
        response = test_app.get("/")
    assert split_tag(response.body)[1] == HTML
    assert "could not write 1 records" in caplog.text


# --- options ------------------------------------------------------------------------


def test_record_headers_stored_as_trailing_json() -> None:
    names = ("Accept-Language", "Content-Type", "CF-IPCountry", "X-Absent", "")
    test_app, log = make(html_app(), record_headers=names)
    test_app.post(
        "/form",
        params=b"a=1",
        content_type="application/x-www-form-urlencoded",
        headers={"Accept-Language": "de-CH, en;q=0.5", "CF-IPCountry": "CH"},
    )
    [record] = log.records
    assert len(record) == 11
    assert json.loads(record[10]) == {
        "Accept-Language": "de-CH, en;q=0.5",
        "Content-Type": "application/x-www-form-urlencoded",
        "CF-IPCountry": "CH",
    }


def test_long_user_agent_and_header_values_are_cut() -> None:
    test_app, log = make(html_app(), record_headers=("X-City",))
    test_app.get("/", headers={"User-Agent": "U" * 8192, "X-City": "C" * 8192})
    [page] = log.records
    assert page[8] == "U" * 512
    assert json.loads(page[10]) == {"X-City": "C" * 256}


def test_record_headers_match_visitor_page() -> None:
    names = ["Accept-Language", "X-Country", "Content-Type"]
    environ = environ_for(
        "/",
        HTTP_ACCEPT_LANGUAGE="fr",
        HTTP_X_COUNTRY="\u00c3\u00a9",
        HTTP_COOKIE=f"manhattan={spec_cookie(VID)}",
    )
    reference = MemoryLog()
    visitor = Visitor(VID, reference)
    visitor.page(webob.Request(dict(environ)), names)
    visitor.flush()
    log = MemoryLog()
    Server().serve(ManhattanMiddleware(html_app(), log, SECRET, record_headers=names), environ)
    assert log.records[0][3:] == reference.records[0][3:]


def test_no_record_headers_means_no_extra_field() -> None:
    test_app, log = make(html_app())
    test_app.get("/", headers={"Accept-Language": "en"})
    assert len(log.records[0]) == 10


def test_record_headers_as_a_str_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="record_headers"):
        ManhattanMiddleware(goal_app, MemoryLog(), SECRET, record_headers="Accept-Language")


@pytest.mark.parametrize(
    ("anonymize", "address", "recorded"),
    [
        pytest.param(False, "203.0.113.77", "203.0.113.77", id="off-ipv4"),
        pytest.param(True, "203.0.113.77", "203.0.113.0", id="on-ipv4"),
        pytest.param(False, "2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6", id="off-ipv6"),
        pytest.param(True, "2001:db8:1:2:3:4:5:6", "2001:db8:1::", id="on-ipv6"),
        pytest.param(True, "unknown", "", id="on-garbage"),
    ],
)
def test_anonymize_ip(anonymize: bool, address: str, recorded: str) -> None:
    test_app, log = make(html_app(), anonymize_ip=anonymize)
    test_app.get("/", extra_environ={"REMOTE_ADDR": address})
    assert log.records[0][5] == recorded


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Sec-GPC": "1"}, id="gpc"),
        pytest.param({"DNT": "1"}, id="dnt"),
    ],
)
def test_respect_gpc_serves_normally_and_logs_nothing(headers: dict[str, str]) -> None:
    test_app, log = make(goal_app, respect_gpc=True)
    response = test_app.get("/", headers=headers)
    assert response.status_int == 200
    assert response.body == HTML  # no pixel
    pixel = test_app.get(
        "/vpixel.gif", headers={**headers, "Cookie": f"manhattan={spec_cookie(VID)}"}
    )
    assert pixel.content_type == "image/gif"
    assert log.records == []


@pytest.mark.parametrize(
    ("respect_gpc", "headers"),
    [
        pytest.param(False, {"Sec-GPC": "1", "DNT": "1"}, id="off-by-default"),
        pytest.param(True, {"Sec-GPC": "0"}, id="gpc-0"),
    ],
)
def test_tracked_without_a_privacy_signal(respect_gpc: bool, headers: dict[str, str]) -> None:
    test_app, log = make(goal_app, respect_gpc=respect_gpc)
    response = test_app.get("/", headers=headers)
    assert split_tag(response.body)[1] == HTML
    assert kinds(log) == ["page", "goal", "split"]


def test_unbuffered_writes_at_once() -> None:
    written_during_app: list[int] = []
    log = MemoryLog()

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        visitor = environ["manhattan.visitor"]
        visitor.goal("first")
        written_during_app.append(len(log.records))
        start_response("200 OK", [("Content-Type", "text/html")])
        written_during_app.append(len(log.records))
        visitor.goal("second")
        written_during_app.append(len(log.records))
        return [HTML]

    test_app = TestApp(ManhattanMiddleware(app, log, SECRET, buffer_writes=False))
    test_app.get("/")
    assert written_during_app == [1, 2, 3]
    assert kinds(log) == ["goal", "page", "goal"]
    test_app.get("/vpixel.gif")  # the cookie from the first response
    assert kinds(log) == ["goal", "page", "goal", "pixel"]


@pytest.mark.parametrize(
    ("script_name", "src"),
    [
        pytest.param("", "/vpixel.gif", id="root"),
        pytest.param("/shop", "/shop/vpixel.gif", id="prefix"),
        pytest.param("/my app", "/my%20app/vpixel.gif", id="space"),
        pytest.param("/caf\u00c3\u00a9", "/caf%C3%A9/vpixel.gif", id="utf-8-bytes"),
        pytest.param('/a"b&c', "/a%22b&amp;c/vpixel.gif", id="html-escaped"),
    ],
)
def test_pixel_tag_includes_script_name(script_name: str, src: str) -> None:
    middleware = ManhattanMiddleware(html_app(), MemoryLog(), SECRET)
    server = Server()
    body = server.serve(middleware, environ_for("/", SCRIPT_NAME=script_name))
    assert TAG_RE.search(body).group(1).decode() == src  # type: ignore[union-attr]


def test_pixel_tags_for_many_prefixes() -> None:
    middleware = ManhattanMiddleware(html_app(), MemoryLog(), SECRET)
    for n in range(100):
        for _ in range(2):
            body = Server().serve(middleware, environ_for("/", SCRIPT_NAME=f"/p{n}"))
            assert split_tag(body)[0] == f"/p{n}/vpixel.gif"


# --- construction -------------------------------------------------------------------


class NoWrite:
    """Not a log: it has no write()."""

    write = None


@pytest.mark.parametrize(
    ("args", "options", "error", "message"),
    [
        pytest.param((goal_app, MemoryLog(), ""), {}, ValueError, "secret", id="empty-secret"),
        pytest.param((goal_app, MemoryLog(), b""), {}, ValueError, "secret", id="empty-bytes"),
        pytest.param((goal_app, MemoryLog(), None), {}, TypeError, "secret", id="none-secret"),
        pytest.param((goal_app, MemoryLog(), []), {}, ValueError, "secret", id="no-secrets"),
        pytest.param((goal_app, MemoryLog(), 42), {}, TypeError, "secret", id="int-secret"),
        pytest.param(("app", MemoryLog(), SECRET), {}, TypeError, "app", id="app-not-callable"),
        pytest.param((goal_app, object(), SECRET), {}, TypeError, "log", id="log-no-write"),
        pytest.param((goal_app, NoWrite(), SECRET), {}, TypeError, "log", id="log-write-none"),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"pixel_path": "vpixel.gif"},
            ValueError,
            "pixel_path",
            id="pixel-path-relative",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"pixel_path": ""},
            ValueError,
            "pixel_path",
            id="pixel-path-empty",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"pixel_path": None},
            ValueError,
            "pixel_path",
            id="pixel-path-none",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"pixel_path": "/p ixel.gif"},
            ValueError,
            "pixel_path",
            id="pixel-path-space",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"pixel_path": "/p%20.gif"},
            ValueError,
            "pixel_path",
            id="pixel-path-percent",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"pixel_path": "/caf\u00e9.gif"},
            ValueError,
            "pixel_path",
            id="pixel-path-non-ascii",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"count_page": True},
            TypeError,
            "count_page",
            id="count-page-not-callable",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"cookie_name": "my cookie"},
            ValueError,
            "cookie_name",
            id="cookie-name",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"samesite": "Sometimes"},
            ValueError,
            "samesite",
            id="samesite",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"samesite": "None"},
            ValueError,
            "secure",
            id="samesite-none-insecure",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"max_age": -5},
            ValueError,
            "max_age",
            id="max-age",
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET), {"path": "/a;b"}, ValueError, "path", id="path"
        ),
        pytest.param(
            (goal_app, MemoryLog(), SECRET),
            {"domain": "a.com; x"},
            ValueError,
            "domain",
            id="domain",
        ),
    ],
)
def test_construction_errors(
    args: tuple[Any, ...], options: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        ManhattanMiddleware(*args, **options)


class FixedClockVisitor(Visitor):
    """A visitor of the user's own: its records carry a fixed time."""

    def timestamp(self) -> float:
        return 1_700_000_000.5


def test_visitor_class_makes_every_requests_visitor() -> None:
    seen: list[Visitor] = []

    def app(environ: Environ, start_response: StartResponse) -> list[bytes]:
        seen.append(environ["manhattan.visitor"])
        return goal_app(environ, start_response)

    test_app, log = make(app, visitor_class=FixedClockVisitor)
    test_app.get("/")
    assert [type(visitor) for visitor in seen] == [FixedClockVisitor]
    assert [record[1] for record in log.records] == ["page", "goal", "split"]
    assert {record[2] for record in log.records} == {"1700000000.5000"}


@pytest.mark.parametrize(
    "visitor_class",
    [
        pytest.param(object, id="not-a-visitor"),
        pytest.param(Visitor("v", MemoryLog()), id="instance"),
    ],
)
def test_visitor_class_must_be_a_visitor_class(visitor_class: Any) -> None:
    with pytest.raises(TypeError, match="visitor_class must be Visitor or a subclass"):
        ManhattanMiddleware(goal_app, MemoryLog(), SECRET, visitor_class=visitor_class)


def test_missing_secret_argument() -> None:
    with pytest.raises(TypeError, match="secret"):
        ManhattanMiddleware(goal_app, MemoryLog())  # type: ignore[call-arg]


def test_0_3_positional_options() -> None:
    # 0.3: ManhattanMiddleware(app, log, secret, cookie_name, pixel_path, host_map, buffer_writes)
    log = MemoryLog()
    middleware = ManhattanMiddleware(
        goal_app, log, SECRET, "mh", "/t/p.gif", {"example.com": 3}, False
    )
    test_app = TestApp(middleware)
    response = test_app.get("/", headers={"Host": "example.com"})
    [header] = set_cookies(response)
    visitor_id = cookie_value(header, "mh").partition(".")[0]
    assert split_tag(response.body)[0] == "/t/p.gif"
    # Unbuffered: the page view goes after the goal and split the app wrote at once.
    assert [(record[1], record[3], record[4]) for record in log.records] == [
        ("goal", visitor_id, "3"),
        ("split", visitor_id, "3"),
        ("page", visitor_id, "3"),
    ]


@pytest.mark.parametrize(
    ("args", "options", "message"),
    [
        pytest.param(
            (),
            {"anonymise_ip": True},
            r"^unknown option 'anonymise_ip' \(did you mean 'anonymize_ip'\?\)$",
            id="typo",
        ),
        pytest.param(
            (), {"offload": True}, "^unknown option 'offload'; the options are ", id="asgi"
        ),
        pytest.param(
            ("mh", "/p.gif", None, True, 60), {}, "at most 4 options follow secret", id="five"
        ),
        pytest.param(
            ("mh",),
            {"cookie_name": "x"},
            "'cookie_name' given both by position and by name",
            id="twice",
        ),
        pytest.param((), {"respect_gpc": "yes"}, "respect_gpc must be True or False", id="flag"),
    ],
)
def test_option_errors_name_the_option(
    args: tuple[Any, ...], options: dict[str, Any], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        ManhattanMiddleware(goal_app, MemoryLog(), SECRET, *args, **options)


def test_every_option_is_taken_by_name() -> None:
    middleware = ManhattanMiddleware(goal_app, MemoryLog(), SECRET, **NON_DEFAULT)
    assert (middleware.cookie_name, middleware.visitor_class) == ("mh", OwnVisitor)
