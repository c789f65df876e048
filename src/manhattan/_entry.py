"""The console scripts' entry points. Internal: not part of the public API.

``pip install manhattan`` brings only the frontend (the visitor, the
middlewares and the file log); each script needs an extra of the package.
Without it a script says which in one line and exits 2, rather than a
traceback from deep inside an import. The extra's modules are looked up
without being imported: the CLIs import them only after parsing their
flags, so that ``--help`` starts fast.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

from manhattan import _cli


class Script(NamedTuple):
    """A console script: its name, the module whose ``main(argv)`` it runs,
    and the extra that installs the top-level modules it ``needs``."""

    program: str
    module: str
    extra: str
    needs: tuple[str, ...]


CLIENT = ("zmq",)
SERVER = ("sqlalchemy", "zmq", "ua_parser", "redis")
# The dashboard talks to the query socket only: no SQLAlchemy.
DASHBOARD = ("jinja2", "zmq")

SERVER_SCRIPT = Script("manhattan-server", "manhattan.server.cli", "server", SERVER)
CLIENT_SCRIPT = Script("manhattan-client", "manhattan.client.shell", "client", CLIENT)
REPORT_SCRIPT = Script("manhattan-report", "manhattan.client.report", "client", CLIENT)
LOG_SERVER_SCRIPT = Script("manhattan-log-server", "manhattan.logserver.cli", "redis", ("redis",))
DASHBOARD_SCRIPT = Script("manhattan-dashboard", "manhattan.dashboard.cli", "dashboard", DASHBOARD)
KEYS_SCRIPT = Script("manhattan-keys", "manhattan.keys", "client", CLIENT)
EXPORT_SCRIPT = Script("manhattan-export", "manhattan.client.export", "client", CLIENT)
ERASE_SCRIPT = Script("manhattan-erase", "manhattan.server.erase", "server", SERVER)


def missing(modules: Sequence[str]) -> str | None:
    """The first of the top-level ``modules`` that cannot be imported, if any."""
    for name in modules:
        if importlib.util.find_spec(name) is None:
            return name
    return None


def launch(script: Script, argv: Sequence[str] | None = None) -> int:
    """Run ``script``'s ``main(argv)``, which returns its exit status
    (:mod:`manhattan._cli`); exit status 2 with one line on stderr naming
    the extra to install when a module it needs is missing."""
    absent = missing(script.needs)
    if absent is None:
        try:
            cli = importlib.import_module(script.module)
        except ModuleNotFoundError as exc:
            # A dependency of a dependency may be absent too; our own
            # modules missing is a broken install, not a missing extra.
            if exc.name is None or exc.name.partition(".")[0] == "manhattan":
                raise
            absent = exc.name
        else:
            main: Callable[[Sequence[str] | None], int] = cli.main
            return main(argv)
    print(
        f"{script.program} needs the {script.extra} extra: "
        f"pip install 'manhattan[{script.extra}]' (no module named {absent!r})",
        file=sys.stderr,
    )
    return _cli.USAGE


def server() -> int:
    """``manhattan-server``."""
    return launch(SERVER_SCRIPT)


def client() -> int:
    """``manhattan-client``."""
    return launch(CLIENT_SCRIPT)


def report() -> int:
    """``manhattan-report``."""
    return launch(REPORT_SCRIPT)


def log_server() -> int:
    """``manhattan-log-server``."""
    return launch(LOG_SERVER_SCRIPT)


def dashboard() -> int:
    """``manhattan-dashboard``."""
    return launch(DASHBOARD_SCRIPT)


def keys() -> int:
    """``manhattan-keys``."""
    return launch(KEYS_SCRIPT)


def export() -> int:
    """``manhattan-export``."""
    return launch(EXPORT_SCRIPT)


def erase() -> int:
    """``manhattan-erase``."""
    return launch(ERASE_SCRIPT)
