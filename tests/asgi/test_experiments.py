"""The ASGI middleware's QA links and excluded requests, and their parity with WSGI's."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import pytest
import webob
from webtest import TestApp

from manhattan.asgi import ManhattanMiddleware as ASGIMiddleware
from manhattan.experiments import force_link
from manhattan.experiments.links import LinkSigner
from manhattan.log.memory import MemoryLog
from manhattan.middleware import ManhattanMiddleware as WSGIMiddleware
from tests.asgi.harness import (
    HTML,
    SECRET,
    VID,
    Receive,
    Scope,
    Send,
    Served,
    http_scope,
    serve,
    spec_cookie,
)
from tests.middleware.test_wsgi_experiments import COLOURS, FORCED, OTHER_TEST, TEST, natural


def colour_page(colour: str) -> bytes:
    return HTML.replace(b"Hi", colour.encode())


def wsgi_shop(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    visitor = environ["manhattan.visitor"]
    colour = visitor.split(TEST, COLOURS)
    visitor.split(OTHER_TEST, ["shown", "hidden"])
    visitor.goal("signed up")
    start_response("200 OK", [("Content-Type", "text/html")])
    return [colour_page(colour)]


async def asgi_shop(scope: Scope, receive: Receive, send: Send) -> None:
    visitor = scope["manhattan.visitor"]
    colour = visitor.split(TEST, COLOURS)
    visitor.split(OTHER_TEST, ["shown", "hidden"])
    visitor.goal("signed up")
    start = {"type": "http.response.start", "status": 200}
    await send({**start, "headers": [(b"content-type", b"text/html")]})
    await send({"type": "http.response.body", "body": colour_page(colour)})


def colour_in(body: bytes) -> str:
    return body.partition(b"<p>")[2].partition(b"</p>")[0].decode()


def without_timestamps(log: MemoryLog) -> list[list[str]]:
    return [record[:2] + record[3:] for record in log.records]


def split_tests(log: MemoryLog) -> list[str]:
    return [record[5] for record in log.records if record[1] == "split"]


def asgi_served(
    url: str, cookies: str, client: str = "203.0.113.9", **options: Any
) -> tuple[Served, MemoryLog]:
    log = MemoryLog()
    parts = urlsplit(url)
    scope = http_scope(
        parts.path,
        query=parts.query.encode(),
        headers=[("Cookie", cookies)] if cookies else [],
        client=(client, 4000),
    )
    return serve(ASGIMiddleware(asgi_shop, log, SECRET, **options), scope), log


def wsgi_served(
    url: str, cookies: str, client: str = "203.0.113.9", **options: Any
) -> tuple[webob.Response, MemoryLog]:
    log = MemoryLog()
    browser = TestApp(WSGIMiddleware(wsgi_shop, log, SECRET, **options))
    headers = {"Cookie": cookies} if cookies else {}
    extra = {"REMOTE_ADDR": client, "HTTP_HOST": "testserver"}
    return browser.get(url, headers=headers, extra_environ=extra), log


SIGNER = LinkSigner(SECRET)
KNOWN = f"manhattan={spec_cookie(VID)}"


@pytest.mark.parametrize(
    ("url", "cookies"),
    [
        pytest.param(force_link("/?a=1", SECRET, TEST, FORCED), KNOWN, id="link"),
        pytest.param("/", f"{KNOWN}; manhattan_qa={SIGNER.sign(TEST, FORCED)}", id="cookie"),
        pytest.param(
            force_link("/", SECRET, OTHER_TEST, "hidden"),
            f"{KNOWN}; manhattan_qa={SIGNER.sign(TEST, FORCED)}",
            id="link-and-cookie",
        ),
        pytest.param(force_link("/", "not ours", TEST, FORCED), KNOWN, id="other-secret"),
        pytest.param(force_link("/", SECRET, TEST, FORCED), "", id="fresh-visitor"),
    ],
)
def test_qa_links_alike(url: str, cookies: str) -> None:
    response, wsgi_log = wsgi_served(url, cookies)
    served, asgi_log = asgi_served(url, cookies)
    wsgi_cookies = response.headers.getall("Set-Cookie")
    asgi_cookies = served.header("set-cookie")
    if cookies:
        assert without_timestamps(wsgi_log) == without_timestamps(asgi_log)
        assert response.body == served.body
        assert wsgi_cookies == asgi_cookies
    else:
        # Fresh ids are random: compare the QA cookies and what the app showed.
        assert wsgi_cookies[1:] == asgi_cookies[1:]
        assert [kind[1] for kind in wsgi_log.records] == [kind[1] for kind in asgi_log.records]
    assert split_tests(wsgi_log) == split_tests(asgi_log)


def test_a_qa_link_shows_its_population_and_records_nothing_of_its_test() -> None:
    served, log = asgi_served(force_link("/", SECRET, TEST, FORCED), KNOWN)
    assert colour_in(served.body) == FORCED
    assert [record[1] for record in log.records] == ["page", "split", "goal"]
    assert split_tests(log) == [OTHER_TEST]
    [cookie] = served.header("set-cookie")
    assert cookie == f"manhattan_qa={SIGNER.sign(TEST, FORCED)}; Path=/; HttpOnly; SameSite=Lax"


@pytest.mark.parametrize(
    ("exclude", "client", "recorded"),
    [
        pytest.param(["10.0.0.0/8"], "10.1.1.1", False, id="network"),
        pytest.param(["10.0.0.0/8"], "203.0.113.9", True, id="outside"),
        pytest.param(["2001:db8::/32"], "2001:db8::7", False, id="ipv6"),
    ],
)
def test_excluded_networks_alike(exclude: list[str], client: str, recorded: bool) -> None:
    response, wsgi_log = wsgi_served("/", KNOWN, client, exclude=exclude)
    served, asgi_log = asgi_served("/", KNOWN, client, exclude=exclude)
    assert without_timestamps(wsgi_log) == without_timestamps(asgi_log)
    assert bool(asgi_log.records) is recorded
    assert response.body == served.body
    assert (b"<img" in served.body) is recorded


def test_the_exclude_callable_gets_the_scope() -> None:
    seen: list[Scope] = []

    def staff(scope: Scope) -> bool:
        seen.append(scope)
        return (b"x-staff", b"1") in scope["headers"]

    log = MemoryLog()
    middleware = ASGIMiddleware(asgi_shop, log, SECRET, exclude=staff)
    staff_scope = http_scope(headers=[("X-Staff", "1")])
    served = serve(middleware, staff_scope)
    assert served.status == 200
    assert served.body == colour_page(colour_in(served.body))  # no pixel
    assert log.records == []
    serve(middleware, http_scope())
    assert [record[1] for record in log.records] == ["page", "split", "split", "goal"]
    assert seen[0] is staff_scope


def test_a_scope_without_a_client_is_not_excluded_by_networks() -> None:
    log = MemoryLog()
    middleware = ASGIMiddleware(asgi_shop, log, SECRET, exclude=["0.0.0.0/0", "::/0"])
    serve(middleware, http_scope(client=None))
    assert [record[1] for record in log.records] == ["page", "split", "split", "goal"]
    serve(middleware, http_scope())
    assert len(log.records) == 4


def test_bad_exclude_names_the_scope_signature() -> None:
    with pytest.raises(TypeError, match=r"^exclude must be a callable\(scope\) -> bool or a list"):
        ASGIMiddleware(asgi_shop, MemoryLog(), SECRET, exclude=5)  # type: ignore[arg-type]


def test_natural_population_without_a_link() -> None:
    served, log = asgi_served("/", KNOWN)
    assert colour_in(served.body) == natural(TEST, COLOURS)
    assert split_tests(log) == [TEST, OTHER_TEST]
