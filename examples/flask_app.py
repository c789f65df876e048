"""Manhattan in a Flask app: wrap ``app.wsgi_app`` in the WSGI middleware.

Run it with::

    flask --app examples/flask_app run

and open http://127.0.0.1:5000/. Records go to a ``TimeRotatingLog`` at
``$MANHATTAN_LOG_PATH`` (default: ``manhattan-examples/flask/log`` in the
temp directory); point ``manhattan-server`` at it to count them. The cookie
is signed with ``$MANHATTAN_SECRET`` (a development default otherwise).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from flask import Flask, redirect, request, url_for
from werkzeug.wrappers import Response

from manhattan.log.timerotating import TimeRotatingLog
from manhattan.middleware import ManhattanMiddleware
from manhattan.visitor import Visitor

DEFAULT_LOG_PATH = Path(tempfile.gettempdir()) / "manhattan-examples" / "flask" / "log"

PAGE = """<!doctype html>
<html><head><title>Widgets</title></head>
<body>
<h1>Blue widgets</h1>
<form method="post" action="{action}">
  <button class="{colour}">Sign up</button>
</form>
</body></html>
"""


def visitor() -> Visitor:
    """The visitor of the request being served (set by the middleware)."""
    tracked: Visitor = request.environ["manhattan.visitor"]
    return tracked


def create_app(log_path: str | os.PathLike[str] | None = None) -> Flask:
    """The example app, logging to ``log_path`` (default: see the module docstring)."""
    app = Flask(__name__)

    @app.get("/")
    def home() -> str:
        colour = visitor().split("signup button colour", ["red", "blue"])
        return PAGE.format(action=url_for("signup"), colour=colour)

    @app.post("/signup")
    def signup() -> Response:
        visitor().goal("signed up")
        return redirect(url_for("thanks"))

    @app.get("/thanks")
    def thanks() -> str:
        return "<!doctype html><html><body><p>Thanks!</p></body></html>"

    log = TimeRotatingLog(log_path or os.environ.get("MANHATTAN_LOG_PATH") or DEFAULT_LOG_PATH)
    secret = os.environ.get("MANHATTAN_SECRET", "change me: an example secret")
    app.wsgi_app = ManhattanMiddleware(app.wsgi_app, log, secret)  # type: ignore[method-assign]
    return app


app = create_app()
