"""The ASGI middleware under Starlette and FastAPI, through their TestClient (httpx)."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.websockets import WebSocket

from manhattan.asgi import ManhattanMiddleware
from manhattan.log.memory import MemoryLog
from tests.asgi.harness import HTML, SECRET, VID, spec_cookie, split_tag

with warnings.catch_warnings():
    # Starlette's testclient touches an alias anyio 4.16 deprecates, at import only.
    warnings.simplefilter("ignore", DeprecationWarning)
    from starlette.testclient import TestClient


async def page(request: Request) -> Response:
    visitor = request.state.manhattan_visitor
    assert request.scope["manhattan.visitor"] is visitor
    colour = visitor.split("button colour", ["red", "blue"])
    return HTMLResponse(HTML.replace(b"Hi", colour.encode()))


async def buy(request: Request) -> Response:
    request.state.manhattan_visitor.goal("bought", 9.5)
    return JSONResponse({"ok": True})


async def stream(request: Request) -> Response:
    async def chunks() -> AsyncIterator[bytes]:
        for index in range(0, len(HTML), 7):
            yield HTML[index : index + 7]

    return StreamingResponse(chunks(), media_type="text/html")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    text = await websocket.receive_text()
    assert "manhattan.visitor" not in websocket.scope
    await websocket.send_text(text.upper())
    await websocket.close()


events: list[str] = []


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    events.append("startup")
    yield
    events.append("shutdown")


def starlette_app(log: MemoryLog) -> ManhattanMiddleware:
    routes = [
        Route("/", page),
        Route("/buy", buy, methods=["POST"]),
        Route("/stream", stream),
        WebSocketRoute("/ws", echo),
    ]
    return ManhattanMiddleware(Starlette(routes=routes, lifespan=lifespan), log, SECRET)


def test_visitor_in_request_state_and_cookie_kept_by_the_client() -> None:
    log = MemoryLog()
    with TestClient(starlette_app(log)) as client:
        first = client.get("/")
        second = client.post("/buy")
        third = client.get("/")
    assert "manhattan=" in first.headers["set-cookie"]
    assert "set-cookie" not in second.headers
    assert second.json() == {"ok": True}
    assert third.text == first.text
    [vid] = {record[3] for record in log.records}
    assert client.cookies["manhattan"] == spec_cookie(vid)
    assert [record[1] for record in log.records] == ["page", "split", "goal", "page", "split"]
    src, _ = split_tag(first.content)
    assert src == "/vpixel.gif"
    assert first.headers["content-length"] == str(len(first.content))


def test_pixel_through_the_client_counts_the_known_visitor() -> None:
    log = MemoryLog()
    client = TestClient(starlette_app(log))
    client.get("/vpixel.gif")
    assert log.records == []  # a fresh visitor: nothing proved
    client.cookies.set("manhattan", spec_cookie(VID))
    response = client.get("/vpixel.gif")
    assert response.headers["content-type"] == "image/gif"
    assert [record[1] for record in log.records] == ["pixel"]


def test_streaming_response_is_injected() -> None:
    log = MemoryLog()
    response = TestClient(starlette_app(log)).get("/stream")
    assert "content-length" not in response.headers or response.headers["content-length"] == str(
        len(response.content)
    )
    assert split_tag(response.content)[1] == HTML
    assert [record[1] for record in log.records] == ["page"]


def test_websocket_and_lifespan_pass_through() -> None:
    log = MemoryLog()
    events.clear()
    with TestClient(starlette_app(log)) as client, client.websocket_connect("/ws") as socket:
        socket.send_text("hello")
        assert socket.receive_text() == "HELLO"
    assert events == ["startup", "shutdown"]
    assert log.records == []


def test_mounted_app_gets_its_root_path_in_the_pixel_and_the_url() -> None:
    log = MemoryLog()
    inner = ManhattanMiddleware(Starlette(routes=[Route("/", page)]), log, SECRET)
    outer = Starlette(routes=[Mount("/shop", app=inner)])
    client = TestClient(outer, base_url="http://example.com")
    response = client.get("/shop/")
    assert split_tag(response.content)[0] == "/shop/vpixel.gif"
    assert log.records[0][7] == "http://example.com/shop/"
    client.cookies.set("manhattan", spec_cookie(VID))
    assert client.get("/shop/vpixel.gif").headers["content-type"] == "image/gif"
    assert log.records[-1][1] == "pixel"


def test_fastapi_add_middleware() -> None:
    log = MemoryLog()
    api = FastAPI()

    @api.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> str:
        return "<html><body>" + str(request.state.manhattan_visitor.split("t")) + "</body></html>"

    @api.get("/api")
    async def data() -> dict[str, int]:
        return {"n": 1}

    api.add_middleware(ManhattanMiddleware, log=log, secret=SECRET)
    client = TestClient(api)
    assert client.get("/api").json() == {"n": 1}
    response = client.get("/")
    assert split_tag(response.content)[0] == "/vpixel.gif"
    assert [record[1] for record in log.records] == ["page", "split"]


def test_app_error_still_writes_the_records() -> None:
    log = MemoryLog()

    async def broken(request: Request) -> Response:
        request.state.manhattan_visitor.goal("reached")
        raise RuntimeError("broken view")

    client = TestClient(ManhattanMiddleware(Starlette(routes=[Route("/", broken)]), log, SECRET))
    with pytest.raises(RuntimeError, match="broken view"):
        client.get("/")
    assert [record[1] for record in log.records] == ["goal"]
