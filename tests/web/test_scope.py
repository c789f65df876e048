"""An ASGI scope seen as the WSGI environ a WSGI server would build."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, unquote_to_bytes

import pytest
import webob

from manhattan.visitor.environ import header_key, page_record_from_environ, request_url
from manhattan.web.scope import BASE_HEADERS, scope_environ, split_root, wanted_headers


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        pytest.param("/a/b", "", ("", "/a/b"), id="no-root"),
        pytest.param("/shop/a", "/shop", ("/shop", "/a"), id="included"),
        pytest.param("/shop", "/shop", ("/shop", ""), id="root-only"),
        pytest.param("/shopping", "/shop", ("/shop", "/shopping"), id="not-a-segment"),
        pytest.param("/a", "/shop", ("/shop", "/a"), id="left-out"),
    ],
)
def test_split_root(path: str, root_path: str, expected: tuple[str, str]) -> None:
    assert split_root(path, root_path) == expected


def test_wanted_headers_adds_record_headers_by_lowercase_name() -> None:
    wanted = wanted_headers([("CF-IPCountry", header_key("CF-IPCountry"))])
    assert wanted[b"cf-ipcountry"] == "HTTP_CF_IPCOUNTRY"
    assert BASE_HEADERS.items() <= wanted.items()


def test_scope_environ_reads_only_wanted_headers_and_joins_repeats() -> None:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/x",
        "headers": [
            (b"accept", b"text/html"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
            (b"x-city", b"Bern"),
            (b"x-city", b"Basel"),
        ],
    }
    environ = scope_environ(scope, wanted_headers([("X-City", "HTTP_X_CITY")]))
    assert environ == {
        "REQUEST_METHOD": "POST",
        "wsgi.url_scheme": "http",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/x",
        "QUERY_STRING": "",
        "HTTP_COOKIE": "a=1; b=2",
        "HTTP_X_CITY": "Bern,Basel",
    }


def wsgi_environ(raw_path: bytes, root: bytes, query: bytes, headers: dict[str, bytes]) -> Any:
    """The environ a WSGI server builds for a request (PEP 3333: latin-1 text of the bytes)."""
    environ = webob.Request.blank("/").environ
    environ.update(
        {
            "SCRIPT_NAME": unquote_to_bytes(root).decode("latin-1"),
            "PATH_INFO": unquote_to_bytes(raw_path[len(root) :]).decode("latin-1"),
            "QUERY_STRING": query.decode("latin-1"),
            "REMOTE_ADDR": "198.51.100.4",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "443",
            "wsgi.url_scheme": "https",
        }
    )
    del environ["HTTP_HOST"]
    for name, value in headers.items():
        environ[header_key(name)] = value.decode("latin-1")
    return environ


def asgi_scope(raw_path: bytes, root: bytes, query: bytes, headers: dict[str, bytes]) -> Any:
    """The scope an ASGI server builds for the same request (path decoded as UTF-8)."""
    return {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "path": unquote(raw_path.decode("ascii")),
        "raw_path": raw_path,
        "root_path": unquote(root.decode("ascii")),
        "query_string": query,
        "headers": [(name.lower().encode(), value) for name, value in headers.items()],
        "client": ("198.51.100.4", 1),
        "server": ("localhost", 443),
    }


@pytest.mark.parametrize(
    ("raw_path", "root", "query", "headers"),
    [
        pytest.param(b"/", b"", b"", {"Host": b"example.com"}, id="root"),
        pytest.param(b"/caf%C3%A9/men%C3%BC", b"", b"a=1&b=%C3%A9", {}, id="utf-8-path"),
        pytest.param(b"/my%20shop/a%2Fb", b"/my%20shop", b"", {}, id="mounted"),
        pytest.param(b"/p", b"", b"", {"Host": b"example.com:443"}, id="default-port"),
        pytest.param(
            b"/p",
            b"",
            b"",
            {"User-Agent": b"Z\xc3\xbcrich-UA", "Referer": b"https://e.org/caf\xe9"},
            id="header-bytes",
        ),
        pytest.param(b"/a;b/c@d", b"", b"", {"Host": b"[::1]:8443"}, id="ipv6-host"),
    ],
)
def test_page_record_equals_the_wsgi_one(
    raw_path: bytes, root: bytes, query: bytes, headers: dict[str, bytes]
) -> None:
    record_headers = [("User-Agent", "HTTP_USER_AGENT")]
    environ = wsgi_environ(raw_path, root, query, headers)
    scope = asgi_scope(raw_path, root, query, headers)
    from_scope = scope_environ(scope, wanted_headers(record_headers))
    assert request_url(from_scope) == webob.Request(environ).url
    assert page_record_from_environ(
        "1.0", "v", "0", from_scope, record_headers
    ) == page_record_from_environ("1.0", "v", "0", environ, record_headers)
