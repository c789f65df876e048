"""Manhattan in a FastAPI app: add the ASGI middleware.

Run it with (uvicorn is not a dependency of Manhattan: install it first)::

    uvicorn examples.fastapi_app:app

and open http://127.0.0.1:8000/. Records go to a ``TimeRotatingLog`` at
``$MANHATTAN_LOG_PATH`` (default: ``manhattan-examples/fastapi/log`` in the
temp directory); the cookie is signed with ``$MANHATTAN_SECRET``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from manhattan.asgi import ManhattanMiddleware
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.visitor import Visitor

DEFAULT_LOG_PATH = Path(tempfile.gettempdir()) / "manhattan-examples" / "fastapi" / "log"

PAGE = """<!doctype html>
<html><head><title>Widgets</title></head>
<body>
<h1>Blue widgets</h1>
<form method="post" action="/signup">
  <button class="{colour}">Sign up</button>
</form>
</body></html>
"""


def visitor(request: Request) -> Visitor:
    """The visitor of ``request`` (set by the middleware)."""
    tracked: Visitor = request.state.manhattan_visitor
    return tracked


def create_app(log_path: str | os.PathLike[str] | None = None) -> FastAPI:
    """The example app, logging to ``log_path`` (default: see the module docstring)."""
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> str:
        colour = visitor(request).split("signup button colour", ["red", "blue"])
        return PAGE.format(colour=colour)

    @app.post("/signup")
    async def signup(request: Request) -> RedirectResponse:
        visitor(request).goal("signed up")
        return RedirectResponse("/thanks", status_code=303)

    @app.get("/thanks", response_class=HTMLResponse)
    async def thanks() -> str:
        return "<!doctype html><html><body><p>Thanks!</p></body></html>"

    @app.get("/api/price")
    async def price(request: Request) -> dict[str, float]:
        # Not a page view (JSON), but the split is the visitor's all the same.
        discounted = visitor(request).split("discount", [False, True])
        return {"price": 9.0 if discounted else 10.0}

    log = TimeRotatingLog(log_path or os.environ.get("MANHATTAN_LOG_PATH") or DEFAULT_LOG_PATH)
    secret = os.environ.get("MANHATTAN_SECRET", "change me: an example secret")
    app.add_middleware(ManhattanMiddleware, log=log, secret=secret)
    return app


app = create_app()
