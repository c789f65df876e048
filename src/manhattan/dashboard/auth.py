"""HTTP Basic authentication of the dashboard.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import base64
import binascii
import hmac

AUTH_ENV = "MANHATTAN_DASHBOARD_AUTH"
"""The environment variable that may hold ``user:password``."""


def parse_credentials(text: str) -> tuple[str, str]:
    """``(user, password)`` of ``user:password``; :class:`ValueError` naming
    what is wrong (the password is never repeated in the message)."""
    user, colon, password = text.partition(":")
    if not colon:
        raise ValueError("credentials must be user:password (no ':' found)")
    if not user:
        raise ValueError("credentials must be user:password (the user is empty)")
    if not password:
        raise ValueError("credentials must be user:password (the password is empty)")
    return user, password


def credentials(auth: tuple[str, str] | str) -> tuple[str, str]:
    """``(user, password)`` of ``"user:password"`` or of a pair;
    :class:`ValueError` for an empty user or password, or a user with a
    ``:`` (HTTP Basic cannot carry it)."""
    if isinstance(auth, str):
        return parse_credentials(auth)
    if not (
        isinstance(auth, tuple) and len(auth) == 2 and all(isinstance(part, str) for part in auth)
    ):
        raise TypeError("auth must be (user, password) or 'user:password'")
    user, password = auth
    if ":" in user:
        raise ValueError("the user of auth cannot contain ':'")
    return parse_credentials(f"{user}:{password}")


class BasicAuth:
    """Checks ``Authorization`` headers against one user and password, in
    time that does not depend on how much of them matches."""

    realm = "Manhattan dashboard"

    def __init__(self, user: str, password: str) -> None:
        self._expected = f"{user}:{password}".encode()

    def allows(self, header: str | None) -> bool:
        """Whether ``header`` (the Authorization header, if any) carries the
        right credentials."""
        scheme, _, token = (header or "").strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        return hmac.compare_digest(given, self._expected)

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` header of a 401 reply."""
        return f'Basic realm="{self.realm}", charset="UTF-8"'
