"""The WSGI and the ASGI middleware record the same things and set the same cookie."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote

import pytest
from webtest import TestApp

from manhattan.asgi import ManhattanMiddleware as ASGIMiddleware
from manhattan.log.memory import MemoryLog
from manhattan.middleware import ManhattanMiddleware as WSGIMiddleware
from manhattan.web.cookies import CookieSigner
from tests.asgi.harness import HTML, SECRET, VID, Receive, Scope, Send, serve, spec_cookie

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
