"""QA links: a URL that shows its visitor a chosen population of a split test.

``force_link(url, secret, test, population)`` adds one signed query
parameter, :data:`FORCE_PARAMETER`, to ``url``. The middlewares (WSGI,
ASGI, Django) verify it with their own ``secret``, serve that population
of that test, record nothing about the test for the request, and keep the
choice for the browser's session in a cookie. Anything that does not
verify (no signature, a changed test or population, another site's
secret, a value cut short) is ignored as if it were not there: no error
page, no cookie.

The parameter's value is one or more *tokens* joined by ``~``; a token is
``<test>.<population>.<signature>``, the test and population names as
unpadded URL-safe base64 of their UTF-8 text and the signature
``HMAC-SHA256(SHA256(b"manhattan.qa." + secret), b"<test>.<population>")``
in the same base64 (names are base64 so that any name the records allow
travels unescaped in a URL and a cookie). Several tests are forced at once
by repeating the parameter (call :func:`force_link` on its own result) or
by one value holding several tokens; the cookie holds them the latter way.
A later token for the same test wins.

The secrets are those of the middleware: one secret, or a list of them
newest first (a rotation, see :func:`check_secrets`): the first signs,
every one verifies. This module uses only the standard library, so that
the middlewares can use it without loading the rest of the package.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Final, TypeAlias
from urllib.parse import parse_qsl, unquote_plus, urlsplit, urlunsplit

from manhattan.records.limits import name_problem

__all__ = [
    "FORCE_PARAMETER",
    "MAX_FORCED_TEXT",
    "LinkSigner",
    "Secret",
    "check_secrets",
    "force_link",
    "forced_by_query",
]

Secret: TypeAlias = str | bytes | list[str | bytes] | tuple[str | bytes, ...]
"""One secret, or a list of them, newest (the signing one) first."""

FORCE_PARAMETER: Final = "manhattan_qa"
"""The query parameter of a QA link."""

MAX_FORCED_TEXT: Final = 4000
"""The longest parameter value or cookie value read (and cookie written):
a browser keeps cookies of about 4 KiB at most, so a longer one would be
cut, and the work on a value from outside stays bounded."""

_SEPARATOR = "~"  # neither in base64url nor in a token: free in URLs and cookies
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_MARKER = FORCE_PARAMETER + "="


def check_secrets(secret: Secret) -> tuple[bytes, ...]:
    """``secret`` as a non-empty tuple of non-empty byte strings, newest first.

    A ``str`` or ``bytes`` is one secret; a list or tuple of them is a
    rotation (the first signs, all verify). Anything else is a ``TypeError``,
    an empty secret or list a ``ValueError``, each naming ``secret``. The
    visitor cookie (:mod:`manhattan.web.cookies`) takes its secrets the same way.
    """
    several = not isinstance(secret, str | bytes)
    if several and not isinstance(secret, list | tuple):
        raise TypeError(
            f"secret must be a str, bytes or a list of them, not {type(secret).__name__}"
        )
    items = secret if several else (secret,)
    if not items:
        raise ValueError("secret must name at least one secret, not an empty list")
    checked = []
    for index, item in enumerate(items):
        name = f"secret[{index}]" if several else "secret"
        if isinstance(item, str):
            item = item.encode("utf-8")
        if not isinstance(item, bytes):
            raise TypeError(f"{name} must be str or bytes, not {type(item).__name__}")
        if not item:
            raise ValueError(f"{name} must not be empty")
        checked.append(item)
    return tuple(checked)


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _decode_name(text: str) -> str | None:
    """The name a token part holds, or ``None`` if it holds no storable name."""
    try:
        name = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return name if name_problem(name) is None else None


def _checked_name(value: object, argument: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{argument} must be a str, not {type(value).__name__}")
    problem = name_problem(value)
    if problem is not None:
        raise ValueError(f"{argument} {problem}")
    return value


class LinkSigner:
    """Signs and verifies the tokens of QA links with ``secret`` (see
    :func:`check_secrets`): the first secret signs, every one verifies."""

    __slots__ = ("_keys",)

    def __init__(self, secret: Secret) -> None:
        # A key of its own, apart from the visitor cookie's: a signature made
        # for one can never pass as the other.
        self._keys = tuple(
            hashlib.sha256(b"manhattan.qa." + item).digest() for item in check_secrets(secret)
        )

    def _signature(self, key: bytes, message: str) -> str:
        return _encode(hmac.digest(key, message.encode("ascii"), "sha256"))

    def sign(self, test: str, population: str) -> str:
        """The token forcing ``population`` of ``test`` (both names as the records allow)."""
        message = f"{_encode(test.encode('utf-8'))}.{_encode(population.encode('utf-8'))}"
        return f"{message}.{self._signature(self._keys[0], message)}"

    def value(self, forced: Mapping[str, str]) -> str:
        """The tokens of every ``test -> population`` of ``forced``, as one
        parameter or cookie value."""
        return _SEPARATOR.join(self.sign(test, population) for test, population in forced.items())

    def verify(self, text: str | None) -> dict[str, str]:
        """The ``{test: population}`` that ``text`` validly forces.

        ``text`` holds tokens joined by ``~``; each token that is malformed,
        unsigned, or signed with no secret of ours is skipped, as is a
        ``text`` longer than :data:`MAX_FORCED_TEXT` or not ASCII.
        """
        forced: dict[str, str] = {}
        if not text or len(text) > MAX_FORCED_TEXT or not text.isascii():
            return forced
        for token in text.split(_SEPARATOR):
            message, dot, signature = token.rpartition(".")
            test_text, dot_inside, population_text = message.partition(".")
            if not (
                dot
                and dot_inside
                and _BASE64URL.fullmatch(test_text)
                and _BASE64URL.fullmatch(population_text)
                and self._known(message, signature)
            ):
                continue
            test = _decode_name(test_text)
            population = _decode_name(population_text)
            if test is not None and population is not None:
                forced[test] = population
        return forced

    def _known(self, message: str, signature: str) -> bool:
        return any(
            hmac.compare_digest(self._signature(key, message), signature) for key in self._keys
        )


def _values(query: str) -> list[str]:
    """The values of :data:`FORCE_PARAMETER` in a query string, in order."""
    return [value for name, value in parse_qsl(query) if name == FORCE_PARAMETER]


def forced_by_query(query: str | None, signer: LinkSigner) -> dict[str, str]:
    """The ``{test: population}`` that the QA parameters of a request's
    query string (WSGI's ``QUERY_STRING``) validly force; later ones win.

    A query without the parameter costs one substring test: this runs on
    every request.
    """
    forced: dict[str, str] = {}
    if query and _MARKER in query:
        for value in _values(query):
            forced.update(signer.verify(value))
    return forced


def _test_of(part: str) -> str | None:
    """The test a query string part ``manhattan_qa=<token>`` names, unverified."""
    name, _, value = part.partition("=")
    if unquote_plus(name) != FORCE_PARAMETER:
        return None
    test_text = unquote_plus(value).partition(".")[0]
    return _decode_name(test_text) if _BASE64URL.fullmatch(test_text) else None


def force_link(url: str, secret: Secret, test: object, population: object) -> str:
    """``url`` with a signed parameter that shows its visitor ``population``
    of split test ``test``.

    ``secret`` is the middleware's (one secret or a rotation list; the first
    signs). ``test`` is the test's name, or the
    :class:`~manhattan.experiments.Experiment` (its ``name`` is taken).
    ``population`` is the population or its name (``str()`` of it,
    as ``visitor.split`` records it); the middleware serves it only if it is
    one of the test's populations. The URL's other parameters and its
    fragment are kept as they are; a parameter already forcing ``test`` is
    replaced, one forcing another test kept, so calling ``force_link`` on
    its own result forces several tests. A relative URL (``/shop?x=1``)
    works as well.

    ``TypeError`` or ``ValueError`` names a bad argument. For example,
    ``force_link("https://shop.example/cart?x=1#top", secret, "Checkout
    Button", "orange")`` is ``https://shop.example/cart?x=1&manhattan_qa=
    Q2hlY2tvdXQgQnV0dG9u.b3Jhbmdl.<signature>#top`` (on one line).
    """
    if not isinstance(url, str):
        raise TypeError(f"url must be a str, not {type(url).__name__}")
    # Duck-typed: an Experiment is known by its name, without importing it here.
    name = getattr(test, "name", test) if not isinstance(test, str) else test
    test_name = _checked_name(name, "test")
    population = _checked_name(
        population if isinstance(population, str) else str(population), "population"
    )
    signer = LinkSigner(secret)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"url {url!r} is not a URL: {exc}") from None
    kept = [part for part in parts.query.split("&") if part and _test_of(part) != test_name]
    kept.append(f"{FORCE_PARAMETER}={signer.sign(test_name, population)}")
    return urlunsplit(parts._replace(query="&".join(kept)))
