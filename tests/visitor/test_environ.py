"""Page fields read from a WSGI environ."""

from __future__ import annotations

import json

import pytest
import webob

from manhattan.visitor.environ import (
    MAX_HEADER_VALUE_LENGTH,
    MAX_USER_AGENT_LENGTH,
    header_key,
    header_text,
    page_record_from_environ,
)
from manhattan.web.rules import anonymize_ip


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("Mozilla/5.0", "Mozilla/5.0", id="ascii"),
        # WSGI gives b"Z\xc3\xbcrich" as the latin-1 text "ZÃ¼rich".
        pytest.param("Z\xc3\xbcrich", "Zürich", id="utf8-redecoded"),
        pytest.param("caf\xe9", "caf\xe9", id="latin1-kept"),
    ],
)
def test_header_text_recovers_utf8(raw: str, expected: str) -> None:
    assert header_text(raw) == expected


@pytest.mark.parametrize(
    ("name", "key"),
    [
        pytest.param("Accept-Language", "HTTP_ACCEPT_LANGUAGE", id="plain"),
        pytest.param("cf-ipcountry", "HTTP_CF_IPCOUNTRY", id="lowercase"),
        pytest.param("Content-Type", "CONTENT_TYPE", id="content-type"),
        pytest.param("Content-Length", "CONTENT_LENGTH", id="content-length"),
    ],
)
def test_header_key(name: str, key: str) -> None:
    assert header_key(name) == key


def test_page_record_from_environ_matches_webob() -> None:
    request = webob.Request.blank(
        "/caf%C3%A9?q=1",
        headers={
            "User-Agent": "UA",
            "Referer": "https://example.org/x",
            "X-City": "Z\xc3\xbcrich",
        },
        remote_addr="198.51.100.23",
        POST={"a": "1"},
    )
    record = page_record_from_environ(
        "1.0000",
        "v",
        "3",
        request.environ,
        [("X-City", "HTTP_X_CITY"), ("X-Missing", "HTTP_X_MISSING")],
        anonymize=anonymize_ip,
    )
    assert record[:10] == [
        "1",
        "page",
        "1.0000",
        "v",
        "3",
        "198.51.100.0",
        "POST",
        request.url,
        "UA",
        "https://example.org/x",
    ]
    assert json.loads(record[10]) == {"X-City": "Zürich"}


def test_page_record_from_a_bare_environ_has_empty_fields() -> None:
    environ = {"wsgi.url_scheme": "http", "SERVER_NAME": "host", "SERVER_PORT": "80"}
    record = page_record_from_environ("1.0000", "v", "0", environ)
    assert record == ["1", "page", "1.0000", "v", "0", "", "GET", "http://host", "", ""]


@pytest.mark.parametrize(
    ("user_agent", "city", "recorded_agent", "recorded_city"),
    [
        pytest.param("UA", "Bern", "UA", "Bern", id="short"),
        pytest.param("a" * 512, "b" * 256, "a" * 512, "b" * 256, id="at-the-limits"),
        pytest.param("a" * 8192, "b" * 8192, "a" * 512, "b" * 256, id="8-kb"),
        # Cut by characters of the decoded text, never inside a UTF-8 sequence.
        pytest.param(
            "\xc3\xbc" * 600, "\xc3\xbc" * 300, "\u00fc" * 512, "\u00fc" * 256, id="utf-8"
        ),
    ],
)
def test_user_agent_and_recorded_headers_are_cut_to_their_limits(
    user_agent: str, city: str, recorded_agent: str, recorded_city: str
) -> None:
    assert (MAX_USER_AGENT_LENGTH, MAX_HEADER_VALUE_LENGTH) == (512, 256)
    environ = {
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "example.org",
        "HTTP_USER_AGENT": user_agent,
        "HTTP_X_CITY": city,
    }
    record = page_record_from_environ("1.0000", "v", "0", environ, [("X-City", "HTTP_X_CITY")])
    assert record[8] == recorded_agent
    assert json.loads(record[10]) == {"X-City": recorded_city}
