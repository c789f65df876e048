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
from typing import Any, NamedTuple, TypeAlias
from urllib.parse import urlencode

import zmq
from jinja2 import Environment, PackageLoader, select_autoescape
from webob import Request, Response

from manhattan.client import Client, ServerError
from manhattan.dashboard import DEFAULT_WAIT as DEFAULT_WAIT
from manhattan.dashboard import formats, overview, views
from manhattan.dashboard.auth import BasicAuth, credentials
from manhattan.dashboard.params import (
    ParameterError,
    UnknownNameError,
    choice_param,
    read_params,
    required_param,
    site_param,
)
from manhattan.dashboard.tables import Table, filename, to_csv

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
    cell=formats.cell,
    duration=formats.duration,
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
        path = request.path_info
        route = PAGES.get(path) or DOWNLOADS.get(path)
        if route is None and path != STYLESHEET:
            return self._page(
                request,
                "error.html",
                404,
                title="Not found",
                message=f"There is no page at {path}.",
            )
        try:
            try:
                items = list(request.GET.items())
            except UnicodeDecodeError:
                raise ParameterError("the query string is not valid UTF-8") from None
            if route is None:
                return self.css(items)
            if path in DOWNLOADS:
                return self._download(route, items)
            shown = route(self, items)
            return self._page(request, shown.template, shown.status, **shown.context)
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

        # A page's tables download from its path + ".csv", with its parameters.
        path = request.path_info if request.path_info not in ("", "/") else "/tests"

        def download(table: str) -> str:
            return url(f"{path}.csv", table=table, **context.get("query", {}))

        html = _templates.get_template(template).render(
            url=url, download=download, request=request, **context
        )
        response = Response(html, status=status, content_type="text/html", charset="utf-8")
        response.headers["Cache-Control"] = "no-store"
        response.headers.update(SECURITY_HEADERS)
        return response

    # -- pages ---------------------------------------------------------------

    def _site(self, params: dict[str, str]) -> tuple[list[int], int | None]:
        sites = self._client().sites()
        return sites, site_param(params.get("site"), sites)

    def _download(self, route: PageView, items: list[tuple[str, str]]) -> Response:
        """One table of a page as CSV: the page's parameters, and ``table``
        naming which."""
        names = [value for name, value in items if name == "table"]
        if len(names) > 1:
            raise ParameterError("query parameter 'table' is given more than once")
        name = required_param("table", names[0] if names else None, "table")
        shown = route(self, [(key, value) for key, value in items if key != "table"])
        tables: dict[str, Table] = shown.context.get("tables", {})
        table = tables.get(name)
        if table is None:
            listed = ", ".join(tables) or "none"
            raise UnknownNameError(f"no table named {name!r} on this page (its tables: {listed})")
        parts = [*shown.context["file"], table.name]
        site = shown.context.get("site")
        if site is not None:
            parts.append(f"site-{site}")
        response = Response(to_csv(table), content_type="text/csv", charset="utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="{filename(parts)}"'
        response.headers["Cache-Control"] = "no-store"
        response.headers.update(SECURITY_HEADERS)
        return response

    def tests(self, items: list[tuple[str, str]]) -> Shown:
        """The tests, newest first, with their verdicts."""
        params = read_params(items, ["site"])
        sites, site = self._site(params)
        client = self._client()
        page = views.tests_page(client, client.tests(), site)
        return Shown(
            "tests.html",
            dict(
                page="tests",
                sites=sites,
                site=site,
                query={"site": site},
                file=["tests"],
                tables=views.tests_tables(page),
                **page,
            ),
        )

    def test(self, items: list[tuple[str, str]]) -> Shown:
        """One test's analysis and daily chart."""
        params = read_params(items, ["name", "site"])
        sites, site = self._site(params)
        client = self._client()
        # The server refuses a name it never counted, suggesting the closest.
        name = required_param("name", params.get("name"), "test")
        context: dict[str, Any] = {
            "page": "test",
            "sites": sites,
            "site": site,
            "name": name,
            "site_keep": {"name": name},
            "query": {"name": name, "site": site},
            "file": ["test", name],
        }
        try:
            page = views.test_page(client, name, site)
        except ServerError as exc:
            if not views.no_data(exc):
                raise
            return Shown("error.html", dict(context, title=name, message=exc.message))
        table = views.analysis_table(page["analysis"])
        return Shown("test.html", dict(context, tables={table.name: table}, **page))

    def goals(self, items: list[tuple[str, str]]) -> Shown:
        """Every goal per bucket of a rollup: day, week, month, browser,
        referrer, all, and any other rollup the server counts."""
        params = read_params(items, ["rollup", "site"])
        sites, site = self._site(params)
        client = self._client()
        rollups = views.offered_rollups(client.rollups())
        rollup = choice_param("rollup", params.get("rollup"), rollups, "day")
        page = views.goals_page(client, client.goals(), rollup, site)
        table = views.goals_table(page)
        return Shown(
            "goals.html",
            dict(
                page="goals",
                sites=sites,
                site=site,
                rollups=rollups,
                site_keep={"rollup": rollup},
                query={"rollup": rollup, "site": site},
                file=["goals", rollup],
                tables={table.name: table},
                **page,
            ),
        )

    def overview(self, items: list[tuple[str, str]]) -> Shown:
        """Visitors and page views per day, live visitors, top pages, entry
        pages, sources, campaigns and browsers; and visitors by one more
        rollup the server counts (``by``: a custom one, the networks...)."""
        params = read_params(items, ["site", "by"])
        sites, site = self._site(params)
        client = self._client()
        more = overview.more_rollups(client.rollups())
        by = choice_param("breakdown", params["by"], more, "") if params.get("by") else None
        page = overview.overview_page(client, site, by)
        return Shown(
            "overview.html",
            {
                "page": "overview",
                "sites": sites,
                "site": site,
                "more": more,
                "by": by,
                "site_keep": {"by": by},
                "query": {"site": site, "by": by},
                "file": ["overview"],
            }
            | page,
        )

    def funnels(self, items: list[tuple[str, str]]) -> Shown:
        """A funnel's steps, per population of a test when one is chosen."""
        params = read_params(items, ["name", "test", "site"])
        sites, site = self._site(params)
        client = self._client()
        declared = client.funnels()
        context: dict[str, Any] = {
            "page": "funnels",
            "sites": sites,
            "site": site,
            "funnels": declared,
            "file": ["funnels"],
        }
        if not declared:
            return Shown("funnels.html", dict(context, funnel=None, query={"site": site}))
        by_name = {funnel["name"]: funnel for funnel in declared}
        name = choice_param("funnel", params.get("name"), list(by_name), declared[0]["name"])
        tests = client.tests()
        test = None
        if params.get("test"):
            by_test = {entry["name"]: entry for entry in tests}
            test = by_test[choice_param("test", params["test"], list(by_test), "")]
        keep = {"name": name, "test": test["name"] if test else None}
        page = overview.funnels_page(client, by_name[name], test, site)
        return Shown(
            "funnels.html",
            dict(
                context,
                tests=tests,
                test=test,
                site_keep=keep,
                query=dict(keep, site=site),
                file=["funnels", name, *([test["name"]] if test else [])],
            )
            | page,
        )

    def css(self, items: list[tuple[str, str]]) -> Response:
        """The stylesheet."""
        read_params(items, [])
        response = Response(CSS, content_type="text/css", charset="utf-8")
        response.headers["Cache-Control"] = "max-age=3600"
        response.headers.update(SECURITY_HEADERS)
        return response


class Shown(NamedTuple):
    """A page to render: its template, the template's context, the status."""

    template: str
    context: dict[str, Any]
    status: int = 200


PageView: TypeAlias = Callable[[Dashboard, list[tuple[str, str]]], Shown]

STYLESHEET = "/static/dashboard.css"

PAGES: dict[str, PageView] = {
    "": Dashboard.tests,
    "/": Dashboard.tests,
    "/tests": Dashboard.tests,
    "/test": Dashboard.test,
    "/goals": Dashboard.goals,
    "/overview": Dashboard.overview,
    "/funnels": Dashboard.funnels,
}
"""The pages by path (the tests page is at ``/``, as it always was)."""

DOWNLOADS: dict[str, PageView] = {
    f"{path}.csv": view for path, view in PAGES.items() if path not in ("", "/")
}
"""A page's tables as CSV, at its path + ``.csv`` with ``table=<name>``."""


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
