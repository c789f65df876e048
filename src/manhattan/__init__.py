"""Manhattan: server-side web analytics and split testing.

The public API is :mod:`manhattan.visitor` (``Visitor`` and the value
constants), :mod:`manhattan.middleware` (WSGI), :mod:`manhattan.asgi`,
:mod:`manhattan.integrations.django`, :mod:`manhattan.log` (the log
protocols and classes, and the modules it names), :mod:`manhattan.client`
and :mod:`manhattan.client.report`, :mod:`manhattan.dashboard`
(``make_app``, ``make_server``), the backend's extension points
(:mod:`manhattan.backend.rollups`) and the console scripts. The other
modules are internal, and their docstrings say so: their names may change
in any release.
"""

from __future__ import annotations

__version__: str
"""The installed distribution's version (looked up on first use)."""


def _version(distribution: str = "manhattan") -> str:
    # Imported here: `import manhattan.middleware` should not pay for it.
    from importlib import metadata

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        # A source tree on sys.path that was never installed.
        return "0+unknown"


def __getattr__(name: str) -> str:
    if name == "__version__":
        version = _version()
        globals()["__version__"] = version
        return version
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
