"""The signed visitor cookie: the 0.3 signing scheme, parsing and Set-Cookie."""

from __future__ import annotations

import hashlib
import hmac
import re

import pytest

from manhattan.web.cookies import (
    DEFAULT_MAX_AGE,
    MAX_COOKIE_LENGTH,
    CookieSigner,
    Secret,
    find_cookie,
    new_visitor_id,
    set_cookie_header,
)

SECRET = "s3cret"
VID = "0123456789abcdef0123456789abcdef01234567"


def spec_signature(secret: bytes, visitor_id: str) -> str:
    """The spec's formula, restated: hex(HMAC-SHA1(SHA1(b"manhattan.signer." + secret), id))."""
    key = hashlib.sha1(b"manhattan.signer." + secret).digest()
    return hmac.new(key, visitor_id.encode("utf-8"), hashlib.sha1).hexdigest()


def spec_cookie(secret: bytes, visitor_id: str) -> str:
    return f"{visitor_id}.{spec_signature(secret, visitor_id)}"


def other_hex(value: str, index: int) -> str:
    """``value`` with the hex digit at ``index`` replaced by another one."""
    digit = "1" if value[index] == "0" else "0"
    return value[:index] + digit + value[index + 1 :]


GOOD = spec_cookie(SECRET.encode(), VID)


def test_signature_follows_the_spec_formula() -> None:
    signer = CookieSigner(SECRET)
    expected = spec_signature(SECRET.encode(), VID)
    assert signer.signature(VID) == expected
    assert len(expected) == 40
    assert signer.sign(VID) == f"{VID}.{expected}"


def test_str_and_bytes_secrets_sign_alike() -> None:
    assert CookieSigner("s\u00e9cret").sign(VID) == CookieSigner("s\u00e9cret".encode()).sign(VID)
    assert CookieSigner(b"\xff\x00").sign(VID) == spec_cookie(b"\xff\x00", VID)


def test_different_secrets_give_different_signatures() -> None:
    assert CookieSigner("one").signature(VID) != CookieSigner("two").signature(VID)


def test_cookie_from_0_3_keeps_its_id() -> None:
    # A value 0.3 wrote: its ids were 40 lowercase hex characters, signed by the same formula.
    old_id = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b"
    value = spec_cookie(b"the site's secret", old_id)
    assert CookieSigner("the site's secret").verify(value) == old_id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(GOOD, VID, id="good"),
        pytest.param(GOOD.upper(), VID, id="uppercase"),
        pytest.param(
            spec_cookie(SECRET.encode(), "a.b"), "a.b", id="dot-in-id-splits-on-last-dot"
        ),
        pytest.param(other_hex(GOOD, len(GOOD) - 1), None, id="tampered-signature"),
        pytest.param(other_hex(GOOD, 0), None, id="tampered-id"),
        pytest.param(GOOD[:-5], None, id="truncated"),
        pytest.param(GOOD[:40], None, id="id-only-no-dot"),
        pytest.param(VID + spec_signature(SECRET.encode(), VID), None, id="no-dot"),
        pytest.param("." + spec_signature(SECRET.encode(), ""), None, id="empty-id"),
        pytest.param(VID + ".", None, id="empty-signature"),
        pytest.param(spec_cookie(b"other secret", VID), None, id="foreign-secret"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
        pytest.param(
            spec_cookie(SECRET.encode(), "a" * (MAX_COOKIE_LENGTH - 40)),
            None,
            id="oversized-even-if-signed",
        ),
        pytest.param(
            spec_cookie(SECRET.encode(), "\u00e9" + VID[1:]), None, id="non-ascii-even-if-signed"
        ),
        pytest.param("\u00e9" * 20 + "." + "0" * 40, None, id="non-ascii"),
    ],
)
def test_verify(value: str | None, expected: str | None) -> None:
    assert CookieSigner(SECRET).verify(value) == expected


def test_longest_accepted_value_verifies() -> None:
    # MAX_COOKIE_LENGTH itself is still ours; one more character is not.
    visitor_id = "a" * (MAX_COOKIE_LENGTH - 41)
    value = spec_cookie(SECRET.encode(), visitor_id)
    assert len(value) == MAX_COOKIE_LENGTH
    assert CookieSigner(SECRET).verify(value) == visitor_id


def test_signed_fresh_id_round_trips() -> None:
    signer = CookieSigner(SECRET)
    visitor_id = new_visitor_id()
    assert signer.verify(signer.sign(visitor_id)) == visitor_id


def test_new_visitor_id_is_40_lowercase_hex_and_fresh() -> None:
    ids = {new_visitor_id() for _ in range(50)}
    assert len(ids) == 50
    for visitor_id in ids:
        assert re.fullmatch(r"[0-9a-f]{40}", visitor_id)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        pytest.param("", "secret must not be empty", id="empty-str"),
        pytest.param(b"", "secret must not be empty", id="empty-bytes"),
        pytest.param([], "at least one secret", id="empty-list"),
        pytest.param(("new", ""), r"secret\[1\] must not be empty", id="empty-in-list"),
    ],
)
def test_empty_secret_is_a_value_error(secret: Secret, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CookieSigner(secret)


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        pytest.param(12345, "secret must be a str, bytes or a list of them, not int", id="int"),
        pytest.param(None, "not NoneType", id="none"),
        pytest.param(bytearray(b"secret"), "not bytearray", id="bytearray"),
        pytest.param({"secret"}, "not set", id="set"),
        pytest.param(["new", 42], r"secret\[1\] must be str or bytes, not int", id="int-in-list"),
        pytest.param((["nested"],), r"secret\[0\] must be str or bytes, not list", id="nested"),
    ],
)
def test_secret_of_other_type_is_a_type_error(secret: object, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        CookieSigner(secret)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "secret",
    [
        pytest.param(["new secret", "old secret"], id="list"),
        pytest.param(("new secret", b"old secret"), id="tuple-with-bytes"),
        pytest.param(["new secret", "older", "old secret"], id="three"),
    ],
)
def test_rotation_signs_with_the_first_and_verifies_with_all(secret: Secret) -> None:
    signer = CookieSigner(secret)
    old_value = spec_cookie(b"old secret", VID)
    # Exactly 0.3's cookie, signed with the first secret.
    assert signer.sign(VID) == spec_cookie(b"new secret", VID)
    assert signer.identify(signer.sign(VID)) == (VID, False)
    assert signer.identify(old_value) == (VID, True)
    assert signer.identify(old_value.upper()) == (VID, True)
    assert signer.verify(old_value) == VID
    assert signer.identify(spec_cookie(b"never used", VID)) == (None, False)


def test_one_secret_in_a_list_is_that_secret() -> None:
    assert CookieSigner(["s"]).sign(VID) == CookieSigner("s").sign(VID)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("no-dot", id="no-dot"),
        pytest.param(".sig", id="no-id"),
        pytest.param("x" * 300, id="too-long"),
        pytest.param("caf\u00e9.abc", id="non-ascii"),
    ],
)
def test_identify_rejects_what_verify_rejects(value: str | None) -> None:
    assert CookieSigner(["a", "b"]).identify(value) == (None, False)


@pytest.mark.parametrize(
    ("header", "name", "expected"),
    [
        pytest.param("manhattan=abc.def", "manhattan", "abc.def", id="only-cookie"),
        pytest.param("a=1; manhattan=abc.def; b=2", "manhattan", "abc.def", id="middle"),
        pytest.param("a=1;manhattan=abc.def", "manhattan", "abc.def", id="no-space"),
        pytest.param("a=1;\tmanhattan= abc.def \t; b=2", "manhattan", "abc.def", id="blanks"),
        pytest.param('manhattan="abc.def"; b=2', "manhattan", "abc.def", id="quoted"),
        pytest.param("xmanhattan=evil; b=2", "manhattan", None, id="suffix-of-other-name"),
        pytest.param(
            "xmanhattan=evil; manhattan=good", "manhattan", "good", id="suffix-then-real"
        ),
        pytest.param("manhattanx=evil", "manhattan", None, id="prefix-of-other-name"),
        pytest.param("b=manhattan=evil", "manhattan", None, id="inside-other-value"),
        pytest.param("manhattan=first; manhattan=second", "manhattan", "first", id="first-wins"),
        pytest.param("manhattan=", "manhattan", "", id="empty-value"),
        pytest.param("a=1; b=2", "manhattan", None, id="absent"),
        pytest.param("", "manhattan", None, id="empty-header"),
        pytest.param(None, "manhattan", None, id="missing-header"),
        pytest.param("a.b=1; a+b=2", "a+b", "2", id="name-with-regex-characters"),
        pytest.param("aab=1", "a.b", None, id="dot-is-not-a-wildcard"),
    ],
)
def test_find_cookie(header: str | None, name: str, expected: str | None) -> None:
    assert find_cookie(header, name) == expected


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param(
            {},
            f"manhattan=v.s; Max-Age={2 * 365 * 24 * 3600}; Path=/; HttpOnly; SameSite=Lax",
            id="defaults",
        ),
        pytest.param(
            {
                "max_age": 60,
                "path": "/shop",
                "domain": ".example.com",
                "secure": True,
                "samesite": "None",
            },
            "manhattan=v.s; Max-Age=60; Path=/shop; Domain=.example.com; Secure; HttpOnly;"
            " SameSite=None",
            id="everything",
        ),
        pytest.param(
            {"max_age": None, "path": None, "samesite": None},
            "manhattan=v.s; HttpOnly",
            id="session-cookie-no-attributes",
        ),
        pytest.param(
            {"max_age": 0, "samesite": "Strict"},
            "manhattan=v.s; Max-Age=0; Path=/; HttpOnly; SameSite=Strict",
            id="zero-max-age-strict",
        ),
    ],
)
def test_set_cookie_header(options: dict[str, object], expected: str) -> None:
    assert set_cookie_header("manhattan", "v.s", **options) == expected  # type: ignore[arg-type]


def test_default_max_age_is_about_two_years() -> None:
    assert DEFAULT_MAX_AGE == 2 * 365 * 24 * 60 * 60


@pytest.mark.parametrize(
    ("name", "value", "options", "message"),
    [
        pytest.param("bad name", "v", {}, "cookie_name", id="name-with-space"),
        pytest.param("a;b", "v", {}, "cookie_name", id="name-with-semicolon"),
        pytest.param("", "v", {}, "cookie_name", id="empty-name"),
        pytest.param("n\u00e9", "v", {}, "cookie_name", id="non-ascii-name"),
        pytest.param("n", "a;b", {}, "cookie value", id="value-with-semicolon"),
        pytest.param("n", 'a"b', {}, "cookie value", id="value-with-quote"),
        pytest.param("n", "a,b", {}, "cookie value", id="value-with-comma"),
        pytest.param("n", "a\\b", {}, "cookie value", id="value-with-backslash"),
        pytest.param("n", "a b", {}, "cookie value", id="value-with-space"),
        pytest.param("n", "", {}, "cookie value", id="empty-value"),
        pytest.param("n", "v", {"max_age": -1}, "max_age", id="negative-max-age"),
        pytest.param("n", "v", {"max_age": 1.5}, "max_age", id="float-max-age"),
        pytest.param("n", "v", {"max_age": True}, "max_age", id="bool-max-age"),
        pytest.param("n", "v", {"max_age": "60"}, "max_age", id="str-max-age"),
        pytest.param("n", "v", {"path": "/a;b"}, "cookie path", id="path-with-semicolon"),
        pytest.param("n", "v", {"path": ""}, "cookie path", id="empty-path"),
        pytest.param("n", "v", {"path": "/a b"}, "cookie path", id="path-with-space"),
        pytest.param("n", "v", {"path": b"/"}, "cookie path", id="bytes-path"),
        pytest.param(
            "n", "v", {"domain": "a.com; Secure"}, "cookie domain", id="domain-with-semicolon"
        ),
        pytest.param("n", "v", {"domain": "a.com\n"}, "cookie domain", id="domain-newline"),
        pytest.param("n", "v", {"samesite": "lax"}, "samesite", id="samesite-lowercase"),
        pytest.param("n", "v", {"samesite": "Sometimes"}, "samesite", id="samesite-unknown"),
        pytest.param("n", "v", {"samesite": "None"}, "secure=True", id="samesite-none-insecure"),
    ],
)
def test_set_cookie_header_refuses(
    name: str, value: str, options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        set_cookie_header(name, value, **options)  # type: ignore[arg-type]
