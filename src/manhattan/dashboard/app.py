"""The dashboard's WSGI application: routing, access control, errors.

Read-only: GET and HEAD only. Every query parameter is checked
(:mod:`manhattan.dashboard.params`); a name the server never counted (the
server refuses it with the closest known names) is a 404 page with its
message, any other error reply a 502 page, logged; an error of the
dashboard's own code a 500 page, logged with its traceback. Templates
autoescape, so what users logged (test, population and goal names) is
always shown as text.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any
from urllib.parse import urlencode

import zmq
from jinja2 import Environment, PackageLoader, select_autoescape
from webob import Request, Response

from manhattan.client import Client, ServerError
from manhattan.dashboard import DEFAULT_WAIT as DEFAULT_WAIT
from manhattan.dashboard import formats, views
from manhattan.dashboard.auth import BasicAuth, credentials
from manhattan.dashboard.params import (
    ParameterError,
    UnknownNameError,
    choice_param,
    read_params,
    required_param,
    site_param,
)

logger = logging.getLogger("manhattan.dashboard")

CSS = resources.files("manhattan.dashboard").joinpath("static/dashboard.css").read_bytes()

SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
)

StartResponse = Callable[..., Any]

_templates = Environment(
    loader=PackageLoader("manhattan.dashboard", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_templates.filters.update(
    rate=formats.rate,
    count=formats.count,
    number=formats.number,
    p_value=formats.p_value,
    timestamp=formats.timestamp,
)


class Dashboard:
    """The dashboard of the Manhattan server at ``connect``, a WSGI app.

    ``auth`` is ``(user, password)`` or ``"user:password"`` for HTTP Basic
    authentication (``None``: open to whoever can reach it; an empty user or
    password is a :class:`ValueError`); ``wait`` is how long, in ms, each
    query waits for the server before the page says it is not reachable;
    ``curve_server_key`` and ``curve_secret_key`` are the key files of a
    server that requires CurveZMQ (see :class:`~manhattan.client.Client`). Mount it
    anywhere: links follow ``SCRIPT_NAME``. Safe to serve from several
    threads: a request borrows a client of its own and gives it back, so a
    server that starts a thread per request opens only as many connections
    as it serves requests at once.
    """

    def __init__(
        self,
        connect: str,
        *,
        auth: tuple[str, str] | str | None = None,
        wait: int = DEFAULT_WAIT,
        context: zmq.Context[zmq.Socket[bytes]] | None = None,
        curve_server_key: str | os.PathLike[str] | None = None,
        curve_secret_key: str | os.PathLike[str] | None = None,
    ) -> None:
        self.connect = connect
        self.wait = wait
        self._auth = None if auth is None else BasicAuth(*credentials(auth))
        self._context = context
        self._curve = {"curve_server_key": curve_server_key, "curve_secret_key": curve_secret_key}
        self._local = threading.local()
        self._clients: list[Client] = []
        self._idle: list[Client] = []
        self._lock = threading.Lock()
        self._client()  # a bad address or wait fails here, not on a page
        self._release()

    def _client(self) -> Client:
        """The client of the request this thread serves (borrowed on first use)."""
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            with self._lock:
                client = self._idle.pop() if self._idle else None
            if client is None:
                client = Client(self.connect, self.wait, context=self._context, **self._curve)
                with self._lock:
                    self._clients.append(client)
            self._local.client = client
        return client

    def _release(self) -> None:
        """Give this thread's client back for the next request."""
        client: Client | None = getattr(self._local, "client", None)
        if client is not None:
            self._local.client = None
            with self._lock:
                self._idle.append(client)

    def close(self) -> None:
        """Close the connections to the server (once no request is served)."""
        with self._lock:
            for client in self._clients:
                client.close()

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        response = self.respond(Request(environ))
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def respond(self, request: Request) -> Response:
        """The response to ``request``."""
        try:
            return self._respond(request)
        finally:
            self._release()

    def _respond(self, request: Request) -> Response:
        if self._auth is not None and not self._auth.allows(request.headers.get("Authorization")):
            response = self._page(
                request,
                "error.html",
                401,
                title="Login required",
                message="This dashboard needs a user name and password.",
            )
            response.headers["WWW-Authenticate"] = self._auth.challenge
            return response
        if request.method not in ("GET", "HEAD"):
            response = self._page(
                request,
                "error.html",
                405,
                title="Read-only",
                message=f"The dashboard only reads: {request.method} is not allowed.",
            )
            response.headers["Allow"] = "GET, HEAD"
            return response
        route = ROUTES.get(request.path_info)
        if route is None:
            return self._page(
                request,
                "error.html",
                404,
                title="Not found",
                message=f"There is no page at {request.path_info}.",
            )
        try:
            try:
                items = list(request.GET.items())
            except UnicodeDecodeError:
                raise ParameterError("the query string is not valid UTF-8") from None
            return route(self, request, items)
        except ParameterError as exc:
            return self._page(request, "error.html", 400, title="Bad request", message=str(exc))
        except UnknownNameError as exc:
            return self._page(
                request, "error.html", 404, title="Not found", message=str(exc.args[0])
            )
        except TimeoutError:
            self._client().close()
            response = self._page(
                request,
                "error.html",
                503,
                title="Backend not reachable",
                message=f"The Manhattan server at {self.connect} did not answer within "
                f"{self.wait} ms: it is down or busy, or requires other Curve keys. "
                "Try again in a moment.",
            )
            response.headers["Retry-After"] = "5"
            return response
        except ServerError as exc:
            if views.unknown_name(exc):
                # A misspelled name: the message suggests the known ones.
                return self._page(
                    request, "error.html", 404, title="Not found", message=exc.message
                )
            logger.error(
                "%s: the Manhattan server at %s answered %s", request.url, self.connect, exc
            )
            return self._page(
                request,
                "error.html",
                502,
                title="Backend error",
                message=f"The Manhattan server answered with an error: {exc}",
            )
        except Exception:
            # A bug in the dashboard itself: never taken for a missing page,
            # and the traceback goes to the log, not to the visitor.
            logger.exception("%s: the dashboard failed", request.url)
            return self._page(
                request,
                "error.html",
                500,
                title="Dashboard error",
                message="The dashboard failed to show this page; the error is in its log.",
            )

    def _page(
        self, request: Request, template: str, status: int = 200, **context: Any
    ) -> Response:
        base = request.script_name

        def url(path: str, **params: Any) -> str:
            query = {k: v for k, v in params.items() if v is not None and v != ""}
            return base + path + ("?" + urlencode(query) if query else "")

        html = _templates.get_template(template).render(url=url, request=request, **context)
        response = Response(html, status=status, content_type="text/html", charset="utf-8")
        response.headers["Cache-Control"] = "no-store"
        response.headers.update(SECURITY_HEADERS)
        return response

    # -- pages ---------------------------------------------------------------

    def _site(self, params: dict[str, str]) -> tuple[list[int], int | None]:
        sites = self._client().sites()
        return sites, site_param(params.get("site"), sites)

    def tests(self, request: Request, items: list[tuple[str, str]]) -> Response:
        """The tests, newest first, with their verdicts."""
        params = read_params(items, ["site"])
        sites, site = self._site(params)
        client = self._client()
        page = views.tests_page(client, client.tests(), site)
        return self._page(request, "tests.html", page="tests", sites=sites, site=site, **page)

    def test(self, request: Request, items: list[tuple[str, str]]) -> Response:
        """One test's analysis and daily chart."""
        params = read_params(items, ["name", "site"])
        sites, site = self._site(params)
        client = self._client()
        # The server refuses a name it never counted, suggesting the closest.
        name = required_param("name", params.get("name"), "test")
        try:
            page = views.test_page(client, name, site)
        except ServerError as exc:
            if not views.no_data(exc):
                raise
            return self._page(
                request,
                "error.html",
                200,
                title=name,
                message=exc.message,
                page="test",
                sites=sites,
                site=site,
                name=name,
                site_keep={"name": name},
            )
        return self._page(
            request,
            "test.html",
            page="test",
            sites=sites,
            site=site,
            name=name,
            site_keep={"name": name},
            **page,
        )

    def goals(self, request: Request, items: list[tuple[str, str]]) -> Response:
        """Every goal per day, week, month, browser or referrer."""
        params = read_params(items, ["rollup", "site"])
        sites, site = self._site(params)
        rollup = choice_param("rollup", params.get("rollup"), list(views.ROLLUPS), "day")
        page = views.goals_page(self._client(), self._client().goals(), rollup, site)
        return self._page(
            request,
            "goals.html",
            page="goals",
            sites=sites,
            site=site,
            rollups=list(views.ROLLUPS),
            site_keep={"rollup": rollup},
            **page,
        )

    def css(self, request: Request, items: list[tuple[str, str]]) -> Response:
        """The stylesheet."""
        read_params(items, [])
        response = Response(CSS, content_type="text/css", charset="utf-8")
        response.headers["Cache-Control"] = "max-age=3600"
        response.headers.update(SECURITY_HEADERS)
        return response


ROUTES: dict[str, Callable[[Dashboard, Request, list[tuple[str, str]]], Response]] = {
    "": Dashboard.tests,
    "/": Dashboard.tests,
    "/test": Dashboard.test,
    "/goals": Dashboard.goals,
    "/static/dashboard.css": Dashboard.css,
}


def make_app(
    connect: str = "tcp://127.0.0.1:5555",
    *,
    auth: tuple[str, str] | str | None = None,
    wait: int = DEFAULT_WAIT,
    curve_server_key: str | os.PathLike[str] | None = None,
    curve_secret_key: str | os.PathLike[str] | None = None,
) -> Dashboard:
    """The dashboard WSGI app for the server at ``connect`` (see :class:`Dashboard`)."""
    return Dashboard(
        connect,
        auth=auth,
        wait=wait,
        curve_server_key=curve_server_key,
        curve_secret_key=curve_secret_key,
    )
