"""Checking a page's query parameters (pure): every value is checked here
before anything reaches the query socket."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

from manhattan.exceptions import ParameterError as ParameterError
from manhattan.exceptions import UnknownNameError as UnknownNameError

MAX_VALUE_LENGTH = 1000
"""The longest query parameter value accepted (test names are not longer)."""


def read_params(items: Iterable[tuple[str, str]], allowed: Sequence[str]) -> dict[str, str]:
    """The query parameters as a dict, each one of ``allowed``, given once,
    not overly long."""
    params: dict[str, str] = {}
    for name, value in items:
        if name not in allowed:
            takes = ", ".join(allowed) if allowed else "none"
            raise ParameterError(f"unknown query parameter {name!r} (this page takes: {takes})")
        if name in params:
            raise ParameterError(f"query parameter {name!r} is given more than once")
        if len(value) > MAX_VALUE_LENGTH:
            raise ParameterError(
                f"query parameter {name!r} is longer than {MAX_VALUE_LENGTH} characters"
            )
        params[name] = value
    return params


def site_param(value: str | None, sites: Sequence[int]) -> int | None:
    """The site a ``site`` parameter names among ``sites``; ``None`` (all
    sites) when absent or empty."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 10:
        raise ParameterError(f"site must be a site id (a whole number), not {value!r}")
    site = int(value)
    if site not in sites:
        known = ", ".join(map(str, sites)) or "none"
        raise UnknownNameError(f"no site {site} (sites with counts: {known})")
    return site


def choice_param(name: str, value: str | None, choices: Sequence[str], default: str) -> str:
    """``value`` when it is one of ``choices``; ``default`` when absent."""
    if value is None:
        return default
    if value not in choices:
        close = difflib.get_close_matches(value, choices, n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownNameError(
            f"no {name} named {value!r} ({guess}this page shows {', '.join(choices)})"
        )
    return value


def required_param(name: str, value: str | None, what: str) -> str:
    """``value``, which must be given and not empty (the name of a test)."""
    if not value:
        raise ParameterError(f"query parameter {name!r} is missing: which {what}?")
    return value
