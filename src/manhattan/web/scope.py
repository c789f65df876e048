"""An ASGI HTTP scope seen as the WSGI environ a WSGI server would build.

The adapters decide over environ keys (:class:`~manhattan.web.tracker.Tracker`)
and the page record comes from :func:`~manhattan.visitor.environ.page_record_from_environ`,
so an ASGI request is recorded exactly as the same request served over WSGI
would be: the URL as ``webob.Request.url`` spells it, headers decoded alike.

Only the keys a decision or a record needs are built (a few per request);
the scope's other headers are not read.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: The request headers every request needs, by their ASGI (lowercase) name.
BASE_HEADERS: Mapping[bytes, str] = {
    b"cookie": "HTTP_COOKIE",
    b"host": "HTTP_HOST",
    b"user-agent": "HTTP_USER_AGENT",
    b"referer": "HTTP_REFERER",
    b"sec-gpc": "HTTP_SEC_GPC",
    b"dnt": "HTTP_DNT",
    b"purpose": "HTTP_PURPOSE",
    b"sec-purpose": "HTTP_SEC_PURPOSE",
    b"x-purpose": "HTTP_X_PURPOSE",
    b"x-moz": "HTTP_X_MOZ",
}


def wanted_headers(record_headers: Iterable[tuple[str, str]]) -> dict[bytes, str]:
    """ASGI header name -> environ key, for :data:`BASE_HEADERS` and ``record_headers``.

    ``record_headers`` holds ``(header name, environ key)`` pairs as
    :func:`~manhattan.visitor.environ.header_key` makes them.
    """
    wanted = dict(BASE_HEADERS)
    for name, key in record_headers:
        wanted[name.lower().encode("latin-1", "replace")] = key
    return wanted


def split_root(path: str, root_path: str) -> tuple[str, str]:
    """``(SCRIPT_NAME, PATH_INFO)`` of an ASGI ``path`` under ``root_path``.

    Current servers and Starlette's ``Mount`` keep the mount point in
    ``path``; older servers left it out. A ``path`` that starts with
    ``root_path`` (at a segment boundary) is taken to include it, as
    Starlette's own routing does.
    """
    if root_path and path.startswith(root_path):
        rest = path[len(root_path) :]
        if not rest or rest[0] == "/":
            return root_path, rest
    return root_path, path


def wsgi_text(text: str) -> str:
    """A decoded (ASGI, Django) path as the latin-1 text of its UTF-8 bytes, as WSGI gives it."""
    return text if text.isascii() else text.encode("utf-8", "surrogateescape").decode("latin-1")


def scope_environ(scope: Mapping[str, Any], wanted: Mapping[bytes, str]) -> dict[str, Any]:
    """The WSGI environ keys of an ASGI ``http`` scope that Manhattan reads.

    Headers are taken by ``wanted`` (see :func:`wanted_headers`); a header
    sent several times is joined as WSGI servers join it (``; `` between
    cookies, ``,`` otherwise).
    """
    script_name, path_info = split_root(scope.get("path") or "", scope.get("root_path") or "")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.get("method") or "GET",
        "wsgi.url_scheme": scope.get("scheme") or "http",
        "SCRIPT_NAME": wsgi_text(script_name),
        "PATH_INFO": wsgi_text(path_info),
        "QUERY_STRING": (scope.get("query_string") or b"").decode("latin-1"),
    }
    client = scope.get("client")
    if client:
        environ["REMOTE_ADDR"] = str(client[0])
    server = scope.get("server")
    # A server on a Unix socket gives (path, None): no host name to speak of.
    if server and server[1] is not None:
        environ["SERVER_NAME"] = str(server[0])
        environ["SERVER_PORT"] = str(server[1])
    for name, value in scope.get("headers") or ():
        key = wanted.get(name) or wanted.get(name.lower())
        if key is not None:
            text = value.decode("latin-1")
            if key in environ:
                text = environ[key] + ("; " if key == "HTTP_COOKIE" else ",") + text
            environ[key] = text
    return environ
