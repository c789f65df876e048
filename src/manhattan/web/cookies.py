"""The signed visitor cookie, compatible with Manhattan 0.3's.

The cookie holds ``<id>.<sig>`` with ``sig = hex(HMAC-SHA1(key, id))`` and
``key = SHA1(b"manhattan.signer." + secret)``. A value that fails any check
is no cookie at all: the visitor simply gets a fresh id. Several secrets
make a rotation: the first signs, every one verifies, so changing the secret
keeps every visitor's id.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

# The QA links share the secrets, and their check: one declaration, down there.
from manhattan.experiments.links import Secret, check_secrets

__all__ = [
    "DEFAULT_MAX_AGE",
    "MAX_COOKIE_LENGTH",
    "SAMESITE_VALUES",
    "CookieSigner",
    "Secret",
    "check_secrets",
    "find_cookie",
    "new_visitor_id",
    "set_cookie_header",
]

MAX_COOKIE_LENGTH = 256
"""Longer values are not ours (ours are 81 characters) and are not verified."""

SAMESITE_VALUES = ("Strict", "Lax", "None")
DEFAULT_MAX_AGE = 2 * 365 * 24 * 3600

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_ATTRIBUTE = re.compile(r"[\x21-\x3a\x3c-\x7e]+")  # printable ASCII without ';'


def new_visitor_id() -> str:
    """A fresh visitor id: 20 random bytes from the OS as 40 hex characters."""
    return secrets.token_hex(20)


class _Key:
    """One secret's HMAC-SHA1 key, kept as its hashed pads."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, secret: bytes) -> None:
        key = hashlib.sha1(b"manhattan.signer." + secret).digest()  # noqa: S324 - 0.3's scheme
        # HMAC (RFC 2104) resumed from the hashed pads: the per-request cost is
        # two hash copies, half of what hmac.digest() costs here (it looks the
        # digest up by name on every call). Tests check it equals hmac.
        block = key.ljust(64, b"\0")
        self._inner = hashlib.sha1(bytes(byte ^ 0x36 for byte in block))  # noqa: S324
        self._outer = hashlib.sha1(bytes(byte ^ 0x5C for byte in block))  # noqa: S324

    def signature(self, visitor_id: bytes) -> str:
        inner = self._inner.copy()
        inner.update(visitor_id)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()


class CookieSigner:
    """Signs visitor ids with the first of ``secret`` and verifies cookie
    values with any of them (see :func:`check_secrets`)."""

    __slots__ = ("_older", "_signing")

    def __init__(self, secret: Secret) -> None:
        self._signing, *older = (_Key(item) for item in check_secrets(secret))
        self._older = tuple(older)

    def signature(self, visitor_id: str) -> str:
        """The lowercase hex signature: ``hex(HMAC-SHA1(key, visitor_id))``."""
        return self._signing.signature(visitor_id.encode("utf-8"))

    def sign(self, visitor_id: str) -> str:
        """The cookie value for ``visitor_id``."""
        return f"{visitor_id}.{self.signature(visitor_id)}"

    def verify(self, value: str | None) -> str | None:
        """The visitor id in a cookie value, or ``None`` if it is not validly signed."""
        return self.identify(value)[0]

    def identify(self, value: str | None) -> tuple[str | None, bool]:
        """``(visitor id or None, stale)`` for a cookie value.

        ``stale`` is true when the value is signed with an older secret: the
        visitor keeps their id, and their cookie should be signed anew.
        """
        if not value or len(value) > MAX_COOKIE_LENGTH or not value.isascii():
            return None, False
        visitor_id, dot, signature = value.lower().rpartition(".")
        if not dot or not visitor_id:
            return None, False
        raw_id = visitor_id.encode("ascii")
        if hmac.compare_digest(self._signing.signature(raw_id), signature):
            return visitor_id, False
        for key in self._older:
            if hmac.compare_digest(key.signature(raw_id), signature):
                return visitor_id, True
        return None, False


def find_cookie(header: str | None, name: str) -> str | None:
    """The first value of cookie ``name`` in a ``Cookie`` request header.

    Plain string scanning (no regex, no full parse): this runs on every
    request, and only one cookie is wanted.
    """
    if not header:
        return None
    key = name + "="
    at = header.find(key)
    while at >= 0:
        # The name must start a cookie: at the header's start or after "; ".
        before = header[:at].rstrip(" \t")
        if not before or before[-1] == ";":
            end = header.find(";", at)
            value = header[at + len(key) : end if end >= 0 else len(header)]
            return value.strip(" \t").strip('"')
        at = header.find(key, at + 1)
    return None


def set_cookie_header(
    name: str,
    value: str,
    *,
    max_age: int | None = DEFAULT_MAX_AGE,
    path: str | None = "/",
    domain: str | None = None,
    secure: bool = False,
    samesite: str | None = "Lax",
) -> str:
    """A ``Set-Cookie`` header value for an HttpOnly cookie.

    Every attribute is checked: a value that would corrupt the header is a
    ``ValueError`` naming it.
    """
    if not _TOKEN.fullmatch(name):
        raise ValueError(f"cookie_name must be a cookie token, not {name!r}")
    if not _ATTRIBUTE.fullmatch(value) or '"' in value or "," in value or "\\" in value:
        raise ValueError(f"cookie value {value!r} has characters a cookie cannot hold")
    parts = [f"{name}={value}"]
    if max_age is not None:
        if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
            raise ValueError(f"max_age must be a non-negative int of seconds, not {max_age!r}")
        parts.append(f"Max-Age={max_age}")
    for attribute, text in (("Path", path), ("Domain", domain)):
        if text is not None:
            if not isinstance(text, str) or not _ATTRIBUTE.fullmatch(text):
                raise ValueError(f"cookie {attribute.lower()} {text!r} is not a valid attribute")
            parts.append(f"{attribute}={text}")
    if secure:
        parts.append("Secure")
    parts.append("HttpOnly")
    if samesite is not None:
        if samesite not in SAMESITE_VALUES:
            raise ValueError(
                f"samesite must be one of {SAMESITE_VALUES} or None, not {samesite!r}"
            )
        if samesite == "None" and not secure:
            raise ValueError("samesite='None' needs secure=True (browsers drop it otherwise)")
        parts.append(f"SameSite={samesite}")
    return "; ".join(parts)
