"""The WSGI and the ASGI middleware record the same things and set the same cookie."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import unquote

import pytest
import webob
from webtest import TestApp

from manhattan.asgi import ManhattanMiddleware as ASGIMiddleware
from manhattan.log.memory import MemoryLog
from manhattan.middleware import ManhattanMiddleware as WSGIMiddleware
from manhattan.web.cookies import CookieSigner
from tests.asgi.harness import (
    HTML,
    SECRET,
    TAG_RE,
    VID,
    Receive,
    Scope,
    Send,
    serve,
    spec_cookie,
)

OPTIONS: dict[str, Any] = {
    "host_map": {"shop.example.com": 3},
    "record_headers": ("Accept-Language", "X-City"),
    "anonymize_ip": True,
}


def wsgi_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    visitor = environ["manhattan.visitor"]
    visitor.split("layout", {"wide": 1, "narrow": 3})
    visitor.goal("viewed", 2, visitor.SUM)
    start_response("200 OK", [("Content-Type", "text/html")])
    return [HTML]


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    visitor = scope["manhattan.visitor"]
    visitor.split("layout", {"wide": 1, "narrow": 3})
    visitor.goal("viewed", 2, visitor.SUM)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/html")],
        }
    )
    await send({"type": "http.response.body", "body": HTML})


def both(
    raw_path: str, query: str, headers: dict[str, str]
) -> tuple[Any, Any, MemoryLog, MemoryLog]:
    """One request served by each middleware: (WSGI response, ASGI served, logs)."""
    wsgi_log, asgi_log = MemoryLog(), MemoryLog()
    wsgi = TestApp(WSGIMiddleware(wsgi_app, wsgi_log, SECRET, **OPTIONS))
    url = raw_path + ("?" + query if query else "")
    response = wsgi.get(url, headers=headers, extra_environ={"REMOTE_ADDR": "203.0.113.9"})
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "root_path": "",
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers.items()],
        "client": ("203.0.113.9", 4000),
        "server": ("localhost", 80),
    }
    served = serve(ASGIMiddleware(asgi_app, asgi_log, SECRET, **OPTIONS), scope)
    return response, served, wsgi_log, asgi_log


def without_timestamps(log: MemoryLog) -> list[list[str]]:
    return [record[:2] + record[3:] for record in log.records]


REQUESTS = [
    pytest.param("/", "", {"Host": "shop.example.com"}, id="plain"),
    pytest.param(
        "/caf%C3%A9/a%20b",
        "q=%C3%A9&x=1",
        {
            "Host": "shop.example.com:80",
            "User-Agent": "Mozilla/5.0",
            "Referer": "https://search.example/?q=caf\xc3\xa9",
            "Accept-Language": "de-CH",
            "X-City": "Z\xc3\xbcrich",
        },
        id="encoded",
    ),
    pytest.param("/p", "", {"Host": "other.example.com:8080"}, id="unmapped-host"),
]


@pytest.mark.parametrize(("raw_path", "query", "headers"), REQUESTS)
def test_same_records_for_a_returning_visitor(
    raw_path: str, query: str, headers: dict[str, str]
) -> None:
    headers = {**headers, "Cookie": f"manhattan={spec_cookie(VID)}"}
    response, served, wsgi_log, asgi_log = both(raw_path, query, headers)
    assert without_timestamps(wsgi_log) == without_timestamps(asgi_log)
    assert [record[1] for record in asgi_log.records] == ["page", "split", "goal"]
    assert response.body == served.body
    assert "Set-Cookie" not in response.headers
    assert served.header("set-cookie") == []


@pytest.mark.parametrize(("raw_path", "query", "headers"), REQUESTS)
def test_same_cookie_and_records_for_a_fresh_visitor(
    raw_path: str, query: str, headers: dict[str, str]
) -> None:
    response, served, wsgi_log, asgi_log = both(raw_path, query, headers)
    [wsgi_cookie] = response.headers.getall("Set-Cookie")
    [asgi_cookie] = served.header("set-cookie")
    wsgi_id, asgi_id = wsgi_log.records[0][3], asgi_log.records[0][3]
    signer = CookieSigner(SECRET)
    # Fresh ids are random: the same cookie once each id is put in the other's place.
    assert asgi_cookie.replace(signer.sign(asgi_id), signer.sign(wsgi_id)) == wsgi_cookie
    # Apart from the id (and the population it draws), the records are the same.
    wsgi_page, wsgi_split, wsgi_goal = wsgi_log.records
    asgi_page, asgi_split, asgi_goal = asgi_log.records
    assert wsgi_page[4:] == asgi_page[4:]
    assert wsgi_goal[4:] == asgi_goal[4:]
    assert wsgi_split[4:6] + wsgi_split[7:] == asgi_split[4:6] + asgi_split[7:]
    # The split is the visitor's own: the same id gets the same population either way.
    served_again = serve(
        ASGIMiddleware(asgi_app, asgi_log, SECRET, **OPTIONS),
        None,
        cookie=signer.sign(wsgi_id),
    )
    assert served_again.header("set-cookie") == []
    assert asgi_log.records[-2][6] == wsgi_log.records[1][6]


def test_long_user_agent_and_header_values_are_cut_alike() -> None:
    headers = {
        "Host": "shop.example.com",
        "User-Agent": "U" * 8192,
        "X-City": "C" * 4096,
        "Cookie": f"manhattan={spec_cookie(VID)}",
    }
    _, _, wsgi_log, asgi_log = both("/", "", headers)
    assert without_timestamps(wsgi_log) == without_timestamps(asgi_log)
    page = asgi_log.records[0]
    assert page[8] == "U" * 512
    assert json.loads(page[10]) == {"X-City": "C" * 256}


# --- responses: what passes untouched, where the pixel goes ---------------------------

SCRIPT_PAGE = (
    b'<html><body><script>var end = "</body>";</script><p>x</p><!-- </body> --></body></html>'
)


def served_both(
    method: str,
    status: int,
    headers: list[tuple[str, str]],
    chunks: list[bytes],
    cookie: str | None = spec_cookie(VID),
    secret: Any = SECRET,
) -> tuple[tuple[str, list[tuple[str, str]], bytes], tuple[str, list[tuple[str, str]], bytes]]:
    """``(status, headers, body)`` as sent by each middleware for an app
    answering ``headers`` and ``chunks`` (several chunks: streamed)."""
    reason = {200: "OK", 204: "No Content", 206: "Partial Content", 304: "Not Modified"}
    wsgi_status = f"{status} {reason[status]}"

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        start_response(wsgi_status, list(headers))
        return iter(chunks) if len(chunks) > 1 else list(chunks)

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        raw = [(name.lower().encode(), value.encode()) for name, value in headers]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        for index, chunk in enumerate(chunks):
            more = index < len(chunks) - 1
            await send({"type": "http.response.body", "body": chunk, "more_body": more})

    environ = webob.Request.blank("/", method=method).environ
    if cookie is not None:
        environ["HTTP_COOKIE"] = f"manhattan={cookie}"
    sent: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        sent["status"], sent["headers"] = status, headers
        return None

    result = WSGIMiddleware(wsgi, MemoryLog(), secret)(environ, start_response)
    body = b"".join(result)
    getattr(result, "close", lambda: None)()
    wsgi_sent = (sent["status"][:3], [(k.lower(), v) for k, v in sent["headers"]], body)
    served = serve(ASGIMiddleware(asgi, MemoryLog(), secret), method=method, cookie=cookie)
    asgi_headers = [(k.decode(), v.decode()) for k, v in served.start["headers"]]
    return wsgi_sent, (str(served.status), asgi_headers, served.body)


UNTOUCHED = [
    pytest.param(
        "GET",
        206,
        [("Content-Range", "bytes 0-19/500"), ("Content-Length", "20")],
        [HTML[:20]],
        id="partial",
    ),
    pytest.param(
        "GET",
        206,
        [("Content-Range", f"bytes 0-{len(HTML) - 1}/{len(HTML)}")],
        [HTML[:30], HTML[30:]],
        id="partial-streamed",
    ),
    pytest.param("GET", 304, [("Content-Length", "5000")], [b""], id="not-modified-length"),
    pytest.param("GET", 304, [], [b""], id="not-modified"),
    pytest.param("GET", 204, [], [b""], id="no-content"),
    pytest.param("HEAD", 200, [("Content-Length", str(len(HTML)))], [b""], id="head"),
]


@pytest.mark.parametrize(("method", "status", "headers", "chunks"), UNTOUCHED)
def test_partial_and_bodiless_responses_pass_untouched_alike(
    method: str, status: int, headers: list[tuple[str, str]], chunks: list[bytes]
) -> None:
    app_headers = [("content-type", "text/html"), *((k.lower(), v) for k, v in headers)]
    wsgi_sent, asgi_sent = served_both(
        method, status, [("Content-Type", "text/html"), *headers], chunks
    )
    assert wsgi_sent == asgi_sent == (str(status), app_headers, b"".join(chunks))


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([SCRIPT_PAGE], id="whole"),
        pytest.param([SCRIPT_PAGE[:30], SCRIPT_PAGE[30:70], SCRIPT_PAGE[70:]], id="streamed"),
    ],
)
def test_pixel_goes_before_the_same_body_end(chunks: list[bytes]) -> None:
    wsgi_sent, asgi_sent = served_both("GET", 200, [("Content-Type", "text/html")], chunks)
    assert wsgi_sent == asgi_sent
    body = asgi_sent[2]
    tag = TAG_RE.search(body)
    assert tag is not None
    assert tag.start() == SCRIPT_PAGE.rindex(b"</body>")
    assert body[: tag.start()] + body[tag.end() :] == SCRIPT_PAGE


@pytest.mark.parametrize(
    ("cookie_secret", "resigned"),
    [
        pytest.param("new secret", False, id="current"),
        pytest.param(SECRET, True, id="older"),
    ],
)
def test_secret_rotation_alike(cookie_secret: str, resigned: bool) -> None:
    wsgi_sent, asgi_sent = served_both(
        "GET",
        200,
        [("Content-Type", "text/html")],
        [HTML],
        cookie=spec_cookie(VID, cookie_secret),
        secret=("new secret", SECRET),
    )
    assert wsgi_sent == asgi_sent
    cookies = [value for name, value in asgi_sent[1] if name == "set-cookie"]
    if resigned:
        [cookie] = cookies
        assert cookie.startswith(f"manhattan={spec_cookie(VID, 'new secret')};")
    else:
        assert cookies == []


class FailingLog:
    def write(self, records: Sequence[Sequence[str]]) -> None:
        raise OSError("disk full")


def test_unbuffered_failing_log_fails_neither_view(caplog: pytest.LogCaptureFixture) -> None:
    options = {"buffer_writes": False}
    with caplog.at_level(logging.ERROR, logger="manhattan"):
        response = TestApp(WSGIMiddleware(wsgi_app, FailingLog(), SECRET, **options)).get("/")
        served = serve(ASGIMiddleware(asgi_app, FailingLog(), SECRET, **options))
    assert response.status_int == served.status == 200
    assert response.body == served.body
    # One line per middleware (its first failure); the rest are counted.
    assert [entry.getMessage()[:40] for entry in caplog.records] == [
        "manhattan: could not write 1 records to "
    ] * 2
