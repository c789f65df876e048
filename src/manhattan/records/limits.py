"""What a record's fields may hold so that every store can keep them.

The source (:mod:`manhattan.visitor.records`) refuses anything beyond these
limits when recording, and the backend (:mod:`manhattan.backend.fields`)
checks again what it reads, for a log may hold records no frontend of ours
wrote. Both use the one declaration here.

Standard library only, like the rest of :mod:`manhattan.records`.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_NAME_LENGTH", "MAX_SITE_ID", "MAX_TIMESTAMP", "MAX_VALUE", "name_problem"]

MAX_NAME_LENGTH: Final = 512
"""The most characters of a goal, test or population name (and a visitor
id). Every store indexes names of this length: PostgreSQL refuses b-tree
rows over about 2.7 kB, which much longer names would make."""

MAX_VALUE: Final = 1e15
"""The largest magnitude of a goal value. The backend keeps sums of squares
of per-visitor value totals as floats: bounded values keep those finite
(a visitor would need 10**140 hits to reach a float's range), and 1e15 is
still a million billion, in any currency."""

MAX_SITE_ID: Final = 2**31 - 1
"""The largest site id: the stores keep site ids as 32-bit integers."""

MAX_TIMESTAMP: Final = 253402300800.0
"""The first second of the year 10000: timestamps are seconds since the
epoch before it (and not negative)."""


def name_problem(name: str) -> str | None:
    """What keeps a store from holding ``name`` as a goal, test or
    population name (or a visitor id), or ``None`` if nothing does.

    The one check of names, at the source and again in the backend: not
    empty, at most :data:`MAX_NAME_LENGTH` characters, no NUL character
    (PostgreSQL text cannot hold one), no lone surrogate (not encodable as
    UTF-8, so no database takes it).
    """
    size = len(name)
    if 0 < size <= MAX_NAME_LENGTH and name.isascii() and "\x00" not in name:
        return None  # the common case, kept cheap
    if not size:
        return "must not be empty"
    if size > MAX_NAME_LENGTH:
        return f"must be at most {MAX_NAME_LENGTH} characters long, not {size}"
    if "\x00" in name:
        return "must not contain a NUL character"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (it holds a lone surrogate)"
    return None
