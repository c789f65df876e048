"""``manhattan-dashboard``: serve the results dashboard of a Manhattan server."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from manhattan.client.options import add_connection_flags, curve_options
from manhattan.dashboard.app import DEFAULT_WAIT, make_app
from manhattan.dashboard.auth import AUTH_ENV, parse_credentials
from manhattan.dashboard.server import is_loopback, make_server, parse_listen

DEFAULT_LISTEN = "127.0.0.1:8080"


def parser() -> argparse.ArgumentParser:
    """The command line's parser."""
    result = argparse.ArgumentParser(
        prog="manhattan-dashboard",
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
    """Run the dashboard until interrupted; 2 for a bad command line."""
    arguments = parser()
    args = arguments.parse_args(argv)
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
        arguments.error(str(exc))
    try:
        server = make_server(app, host, port)
    except OSError as exc:
        app.close()
        arguments.error(f"cannot listen on {args.listen}: {exc.strerror or exc}")
    where = f"[{host}]" if ":" in host else host
    print(
        f"manhattan-dashboard: http://{where}:{server.server_port}/ (server {args.connect})",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        app.close()
    return 0
