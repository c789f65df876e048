"""``manhattan-dashboard``: serve the results dashboard of a Manhattan server.

A bad command line, or an address it cannot listen on, ends it with one
line on stderr and exit status 2; SIGTERM and SIGINT (Ctrl-C) stop it
serving, and it exits 0.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Sequence

from manhattan import _cli
from manhattan.client.options import add_connection_flags, curve_options
from manhattan.dashboard import DEFAULT_WAIT
from manhattan.dashboard.auth import AUTH_ENV, parse_credentials
from manhattan.dashboard.server import is_loopback, make_server, parse_listen

PROGRAM = "manhattan-dashboard"
DEFAULT_LISTEN = "127.0.0.1:8080"


def parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    result = _cli.Parser(
        prog=PROGRAM,
        description="Serve the results dashboard of a Manhattan server (read-only).",
    )
    add_connection_flags(result, wait=DEFAULT_WAIT)
    result.add_argument(
        "--listen", default=DEFAULT_LISTEN, help=f"host:port to serve on ({DEFAULT_LISTEN})"
    )
    result.add_argument(
        "--auth",
        help=f"user:password for HTTP Basic authentication (or set {AUTH_ENV}); "
        "required to listen on anything but loopback",
    )
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Run the dashboard until SIGTERM or SIGINT (0); 2 for a bad command
    line or an address it cannot listen on."""
    return _cli.run(PROGRAM, lambda: _main(argv))


def _main(argv: Sequence[str] | None) -> int:
    args = parser().parse_args(argv)
    # Jinja2 and WebOb load once the flags are parsed: --help answers at once.
    from manhattan.dashboard.app import make_app

    try:
        host, port = parse_listen(args.listen)
        credentials = args.auth if args.auth is not None else os.environ.get(AUTH_ENV) or None
        auth = None if credentials is None else parse_credentials(credentials)
        if auth is None and not is_loopback(host):
            raise ValueError(
                f"listening on {host} (not loopback) needs --auth user:password or {AUTH_ENV}"
            )
        app = make_app(args.connect, auth=auth, wait=args.wait, **curve_options(args))
    except ValueError as exc:
        _cli.fail(exc)
    try:
        server = make_server(app, host, port)
    except OSError as exc:
        app.close()
        _cli.fail(f"cannot listen on {args.listen}: {exc.strerror or exc}")
    where = f"[{host}]" if ":" in host else host
    print(
        f"{PROGRAM}: http://{where}:{server.server_port}/ (server {args.connect})",
        file=sys.stderr,
        flush=True,
    )
    # Served from a thread: the signal handler only sets the event, and
    # shutdown() must come from a thread other than the serving one.
    serving = threading.Thread(target=server.serve_forever, name="manhattan-dashboard")
    try:
        with _cli.stop_on_signals() as stop:
            serving.start()
            try:
                stop.wait()
            finally:
                server.shutdown()  # waits for serve_forever to return
                serving.join()
    finally:
        server.server_close()
        app.close()
    return 0
