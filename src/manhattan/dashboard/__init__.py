"""The results dashboard: a read-only WSGI app over a Manhattan server's
query socket.

Run it with ``manhattan-dashboard --connect tcp://127.0.0.1:5555 --listen
127.0.0.1:8080 [--auth user:password]``, or in a process of your own::

    from manhattan.dashboard import make_app, make_server

    app = make_app("tcp://127.0.0.1:5555", auth=None, wait=1500)
    server = make_server(app, "127.0.0.1", 0, quiet=True)  # port 0: a free port
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_port}/")
    ...
    server.shutdown()
    server.server_close()

``app`` is a plain WSGI app: mount it under a prefix of your own app (links
follow ``SCRIPT_NAME``). Pages: ``/overview`` (visitors and page views per
day, live visitors, top and entry pages, sources, campaigns, browsers),
``/`` or ``/tests`` (the tests, newest first, with a verdict each),
``/test?name=...`` (one test's analysis and daily chart),
``/goals?rollup=day|week|month|browser|referrer|all|<any rollup the server
counts>``, ``/funnels?name=...&test=...`` (a funnel's steps, per population
of a test); each takes ``site=<id>`` when the server counts several sites.
Every table downloads as CSV from the page's path + ``.csv`` with
``table=<name>`` (the links under each table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from manhattan import _lazy

if TYPE_CHECKING:
    from manhattan.dashboard.app import Dashboard, make_app
    from manhattan.dashboard.server import make_server

DEFAULT_WAIT = 1500
"""How long (ms) a page waits for each reply of the server."""

# Loaded on first use: `manhattan-dashboard --help` (which imports this
# package first) then answers without loading Jinja2, WebOb and ZeroMQ.
__getattr__, __dir__ = _lazy.exports(
    __name__,
    {
        "Dashboard": "manhattan.dashboard.app",
        "make_app": "manhattan.dashboard.app",
        "make_server": "manhattan.dashboard.server",
    },
)

__all__ = ["DEFAULT_WAIT", "Dashboard", "make_app", "make_server"]
