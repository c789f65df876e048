"""Reading what a page record needs from a WSGI environ (no I/O).

Shared by ``Visitor.page(request)`` and every middleware (the ASGI and
Django ones build a WSGI-style environ first), so all record the same
fields for the same request.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote

from manhattan.visitor.records import Record, page_record

MAX_USER_AGENT_LENGTH = 512
"""The most characters of a ``User-Agent`` written into a page record.

Real browsers send 100-300; the rest of an overlong one only costs the
backend time when it parses it."""
MAX_HEADER_VALUE_LENGTH = 256
"""The most characters of each ``record_headers`` value written into a page record."""

# The characters WebOb leaves unquoted in ``Request.url``: our URLs are the
# ones ``webob.Request(environ).url`` gives.
PATH_SAFE = "/~!$&'()*+,;=:@"
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_.\-/~!$&'()*+,;=:@]*")


def request_url(environ: Mapping[str, Any]) -> str:
    """The request URL as ``webob.Request(environ).url`` spells it."""
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "")
        port = environ.get("SERVER_PORT", "")
        if port and (port, scheme) not in (("80", "http"), ("443", "https")):
            host = f"{host}:{port}"
    elif (scheme == "http" and host.endswith(":80")) or (
        scheme == "https" and host.endswith(":443")
    ):
        host = host.rpartition(":")[0]
    path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    if not _PLAIN_PATH.fullmatch(path):
        path = quote(path.encode("latin-1", "replace"), PATH_SAFE)
    url = f"{scheme}://{host}{path}"
    query = environ.get("QUERY_STRING")
    return f"{url}?{query}" if query else url


def header_key(name: str) -> str:
    """The environ key of a request header: ``Accept-Language`` -> ``HTTP_ACCEPT_LANGUAGE``."""
    key = name.upper().replace("-", "_")
    return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key


def header_text(value: str) -> str:
    """A header value as the text the client sent.

    WSGI hands headers over as latin-1 decoded bytes; a value that is valid
    UTF-8 (a city name from a CDN, a referrer with an accented path) is
    decoded as such, anything else kept as it came.
    """
    if value.isascii():
        return value
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def page_record_from_environ(
    timestamp: str,
    visitor_id: str,
    site_id: str,
    environ: Mapping[str, Any],
    record_headers: Sequence[tuple[str, str]] = (),
    anonymize: Callable[[str], str] | None = None,
) -> Record:
    """The page record of a request.

    ``record_headers`` holds ``(header name, environ key)`` pairs (see
    :func:`header_key`); when given, the headers present go into the
    record's trailing JSON field. ``anonymize`` (the middleware's
    ``anonymize_ip`` rule) rewrites the client address before it is written.
    The user agent and the recorded header values are cut to
    :data:`MAX_USER_AGENT_LENGTH` and :data:`MAX_HEADER_VALUE_LENGTH`
    characters.
    """
    ip = environ.get("REMOTE_ADDR") or ""
    if anonymize is not None:
        ip = anonymize(ip)
    headers = None
    if record_headers:
        headers = {
            name: header_text(environ[key])[:MAX_HEADER_VALUE_LENGTH]
            for name, key in record_headers
            if key in environ
        }
    return page_record(
        timestamp,
        visitor_id,
        site_id,
        ip,
        environ.get("REQUEST_METHOD") or "GET",
        request_url(environ),
        header_text(environ.get("HTTP_USER_AGENT") or "")[:MAX_USER_AGENT_LENGTH],
        header_text(environ.get("HTTP_REFERER") or ""),
        headers,
    )
