"""QA links: the signed parameter, its verification, and force_link's URLs."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, quote, urlsplit

import pytest

import manhattan.experiments
from manhattan.experiments import Experiment
from manhattan.experiments.links import (
    FORCE_PARAMETER,
    MAX_FORCED_TEXT,
    LinkSigner,
    Secret,
    force_link,
    forced_by_query,
)

SECRET = "qa-secret"
TEST = "Checkout Button"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def spec_token(test: str, population: str, secret: bytes = SECRET.encode()) -> str:
    """The documented token, restated: names as unpadded base64url, then
    HMAC-SHA256(SHA256(b"manhattan.qa." + secret), b"<test>.<population>")."""
    message = f"{b64(test.encode())}.{b64(population.encode())}"
    key = hashlib.sha256(b"manhattan.qa." + secret).digest()
    return f"{message}.{b64(hmac.new(key, message.encode(), hashlib.sha256).digest())}"


def qa_values(url: str) -> list[str]:
    return [value for name, value in parse_qsl(urlsplit(url).query) if name == FORCE_PARAMETER]


@pytest.mark.parametrize(
    ("test", "population"),
    [
        pytest.param(TEST, "orange", id="plain"),
        pytest.param("Caf\u00e9 \u2615 test", "gr\u00fcn/\u00e9t\u00e9?&=#", id="unicode"),
        pytest.param("t" * 512, "p" * 512, id="longest-names"),
        pytest.param("a.b~c", "x y+z", id="separators-in-names"),
    ],
)
def test_signed_token_is_the_documented_one_and_verifies(test: str, population: str) -> None:
    signer = LinkSigner(SECRET)
    token = signer.sign(test, population)
    assert token == spec_token(test, population)
    assert signer.verify(token) == {test: population}


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        pytest.param("https://shop.example/", "https://shop.example/?", id="no-query"),
        pytest.param(
            "https://shop.example/cart?x=1&y=%C3%A9#top",
            "https://shop.example/cart?x=1&y=%C3%A9&",
            id="query-and-fragment",
        ),
        pytest.param("/cart?a=1&&b=", "/cart?a=1&b=&", id="relative"),
        pytest.param("https://shop.example/p?#", "https://shop.example/p?", id="empty-query"),
    ],
)
def test_force_link_keeps_the_url_and_adds_one_parameter(url: str, kept: str) -> None:
    link = force_link(url, SECRET, TEST, "orange")
    fragment = urlsplit(url).fragment
    expected = f"{kept}{FORCE_PARAMETER}={spec_token(TEST, 'orange')}"
    assert link == expected + (f"#{fragment}" if fragment else "")
    assert forced_by_query(urlsplit(link).query, LinkSigner(SECRET)) == {TEST: "orange"}


def test_force_link_replaces_the_same_test_and_keeps_others() -> None:
    link = force_link("/?q=1", SECRET, TEST, "green")
    link = force_link(link, SECRET, "Banner", "shown")
    link = force_link(link, SECRET, TEST, "orange")
    assert qa_values(link) == [spec_token("Banner", "shown"), spec_token(TEST, "orange")]
    assert link.startswith("/?q=1&")
    query = urlsplit(link).query
    assert forced_by_query(query, LinkSigner(SECRET)) == {"Banner": "shown", TEST: "orange"}


def test_force_link_keeps_a_parameter_it_cannot_read() -> None:
    garbage = f"{FORCE_PARAMETER}=%%%"
    link = force_link(f"/?{garbage}", SECRET, TEST, "orange")
    assert link == f"/?{garbage}&{FORCE_PARAMETER}={spec_token(TEST, 'orange')}"


@pytest.mark.parametrize(
    ("test", "population", "forced"),
    [
        pytest.param(
            Experiment(TEST, ["green", "orange"], goal="Purchased"),
            "orange",
            {TEST: "orange"},
            id="experiment",
        ),
        pytest.param("Shown", True, {"Shown": "True"}, id="bool-population"),
        pytest.param("Size", 3, {"Size": "3"}, id="int-population"),
    ],
)
def test_force_link_takes_an_experiment_and_population_objects(
    test: object, population: object, forced: dict[str, str]
) -> None:
    link = force_link("/", SECRET, test, population)
    assert LinkSigner(SECRET).verify(qa_values(link)[0]) == forced


@pytest.mark.parametrize(
    ("url", "test", "population", "secret", "error", "message"),
    [
        pytest.param(b"/", TEST, "a", SECRET, TypeError, "url must be a str, not bytes", id="url"),
        pytest.param(
            "http://[::1/",
            TEST,
            "a",
            SECRET,
            ValueError,
            r"url 'http://\[::1/' is not a URL",
            id="bad-url",
        ),
        pytest.param(
            "/", 5, "a", SECRET, TypeError, "test must be a str, not int", id="test-type"
        ),
        pytest.param("/", "", "a", SECRET, ValueError, "test must not be empty", id="test-empty"),
        pytest.param(
            "/", TEST, "p" * 513, SECRET, ValueError, "population must be at most 512", id="long"
        ),
        pytest.param(
            "/", TEST, "a\x00b", SECRET, ValueError, "population must not contain a NUL", id="nul"
        ),
        pytest.param("/", TEST, "a", "", ValueError, "secret must not be empty", id="secret"),
        pytest.param("/", TEST, "a", [], ValueError, "secret must name at least one", id="none"),
    ],
)
def test_force_link_names_a_bad_argument(
    url: object,
    test: object,
    population: object,
    secret: Secret,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=message):
        force_link(url, secret, test, population)  # type: ignore[arg-type]


def _tamper(token: str, index: int) -> str:
    """``token`` with the character at ``index`` changed to another base64url one."""
    return token[:index] + ("A" if token[index] != "A" else "B") + token[index + 1 :]


TOKEN = spec_token(TEST, "orange")
SIGNATURE_AT = TOKEN.rindex(".") + 1


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param(TOKEN.rpartition(".")[0], id="unsigned"),
        pytest.param(TOKEN.rpartition(".")[0] + ".", id="empty-signature"),
        pytest.param(_tamper(TOKEN, 0), id="test-changed"),
        pytest.param(_tamper(TOKEN, TOKEN.index(".") + 1), id="population-changed"),
        pytest.param(_tamper(TOKEN, SIGNATURE_AT), id="signature-changed"),
        pytest.param(TOKEN[:-1], id="signature-cut"),
        pytest.param(spec_token(TEST, "orange", b"another site"), id="other-secret"),
        pytest.param(TOKEN.replace(".", "", 1), id="one-dot"),
        pytest.param("." + TOKEN, id="empty-test"),
        pytest.param(TOKEN + "\u00e9", id="not-ascii"),
        pytest.param("~".join([TOKEN] * (MAX_FORCED_TEXT // len(TOKEN) + 1)), id="too-long"),
        pytest.param("a+b.c/d." + TOKEN.rpartition(".")[2], id="not-base64url"),
        pytest.param(spec_token("a\x00b", "x"), id="signed-unstorable-name"),
        pytest.param("~~", id="only-separators"),
    ],
)
def test_verify_ignores_what_is_not_validly_signed(text: str | None) -> None:
    assert LinkSigner(SECRET).verify(text) == {}


def test_verify_keeps_the_valid_tokens_of_a_value() -> None:
    text = "~".join(
        [
            spec_token(TEST, "green"),
            _tamper(spec_token("Banner", "shown"), SIGNATURE_AT),
            spec_token("Size", "large"),
            spec_token(TEST, "orange"),  # a later token for the same test wins
        ]
    )
    assert LinkSigner(SECRET).verify(text) == {TEST: "orange", "Size": "large"}


def test_signed_unstorable_bytes_are_ignored() -> None:
    # A token signed by us can still hold what no name may be (made by hand).
    message = b64(b"\xff\xfe") + "." + b64(b"x")
    key = hashlib.sha256(b"manhattan.qa." + SECRET.encode()).digest()
    token = f"{message}.{b64(hmac.new(key, message.encode(), hashlib.sha256).digest())}"
    assert LinkSigner(SECRET).verify(token) == {}


@pytest.mark.parametrize(
    ("signing", "verifying", "forced"),
    [
        pytest.param(["new"], ["new", "old"], True, id="newest"),
        pytest.param(["old"], ["new", "old"], True, id="older-of-a-rotation"),
        pytest.param(["gone"], ["new", "old"], False, id="dropped-secret"),
        pytest.param(["new", "old"], ["new"], True, id="first-signs"),
        pytest.param(["old", "new"], ["new"], False, id="not-the-second"),
    ],
)
def test_rotation_first_signs_every_one_verifies(
    signing: list[str | bytes], verifying: list[str | bytes], forced: bool
) -> None:
    token = LinkSigner(signing).sign(TEST, "orange")
    assert LinkSigner(verifying).verify(token) == ({TEST: "orange"} if forced else {})


def test_value_joins_the_tokens_of_several_tests() -> None:
    signer = LinkSigner(SECRET)
    value = signer.value({TEST: "orange", "Banner": "shown"})
    assert value == f"{spec_token(TEST, 'orange')}~{spec_token('Banner', 'shown')}"
    assert signer.verify(value) == {TEST: "orange", "Banner": "shown"}


@pytest.mark.parametrize(
    ("query", "forced"),
    [
        pytest.param(None, {}, id="none"),
        pytest.param("", {}, id="empty"),
        pytest.param("a=1&b=2", {}, id="no-parameter"),
        pytest.param(f"x_{FORCE_PARAMETER}={TOKEN}", {}, id="other-name"),
        pytest.param(f"{FORCE_PARAMETER}={TOKEN}&a=1", {TEST: "orange"}, id="first"),
        pytest.param(
            f"a=1&{FORCE_PARAMETER}={quote(TOKEN, safe='')}", {TEST: "orange"}, id="quoted"
        ),
        pytest.param(
            f"{FORCE_PARAMETER}={TOKEN}&{FORCE_PARAMETER}={spec_token(TEST, 'green')}",
            {TEST: "green"},
            id="repeated-later-wins",
        ),
        pytest.param(
            f"{FORCE_PARAMETER}={spec_token('A', '1')}~{spec_token('B', '2')}",
            {"A": "1", "B": "2"},
            id="several-in-one",
        ),
        pytest.param(f"{FORCE_PARAMETER}=", {}, id="empty-value"),
        pytest.param(f"{FORCE_PARAMETER}={_tamper(TOKEN, 3)}", {}, id="tampered"),
    ],
)
def test_forced_by_query(query: str | None, forced: dict[str, str]) -> None:
    assert forced_by_query(query, LinkSigner(SECRET)) == forced


def test_the_package_exports_force_link() -> None:
    assert manhattan.experiments.force_link is force_link
    assert "force_link" in dir(manhattan.experiments)
