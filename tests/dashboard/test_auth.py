"""Credentials and the Basic authentication check."""

from __future__ import annotations

import base64

import pytest

from manhattan.dashboard.auth import BasicAuth, parse_credentials


def test_parse_credentials_splits_at_the_first_colon() -> None:
    assert parse_credentials("ann:pass:word") == ("ann", "pass:word")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("annpassword", "no ':' found", id="no-colon"),
        pytest.param(":secret", "the user is empty", id="no-user"),
        pytest.param("ann:", "the password is empty", id="no-password"),
    ],
)
def test_bad_credentials(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        parse_credentials(text)
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        pytest.param("Basic " + base64.b64encode(b"ann:p\xc3\xa4ss").decode(), True, id="right"),
        pytest.param("basic  " + base64.b64encode(b"ann:p\xc3\xa4ss").decode(), True, id="case"),
        pytest.param("Basic " + base64.b64encode(b"ann:pass").decode(), False, id="wrong"),
        pytest.param("Basic é", False, id="not-ascii"),
        pytest.param(None, False, id="missing"),
        pytest.param("", False, id="empty"),
    ],
)
def test_allows(header: str | None, allowed: bool) -> None:
    assert BasicAuth("ann", "päss").allows(header) is allowed
