"""The middleware options, declared once for every adapter.

:class:`Options` names each keyword option of the WSGI, ASGI and Django
middlewares, with its type, for type checkers (``**options:
Unpack[Options[CountPage, Request]]``) and for the adapters, which take them without
restating them. :class:`~manhattan.web.tracker.Tracker` applies the
defaults and checks every value, in one place; an adapter with options of
its own declares them in a subclass of :class:`Options` (the ASGI
``offload``) and reads them itself. Adding an option is one more key here
and its default and check in the tracker.

Internal: not part of the public API (see :mod:`manhattan`); the middleware guide
documents the options.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from typing import Any, Final, Generic, TypeAlias, TypedDict, TypeVar

# At run time too: typing.get_type_hints(Options) resolves it.
from manhattan.visitor.visitor import Visitor

CountPageT = TypeVar("CountPageT", bound=Callable[..., Any])
"""An adapter's ``count_page`` signature (its arguments differ per framework)."""
RequestT = TypeVar("RequestT")
"""What an adapter's ``exclude`` callable is given: its framework's request."""

Network: TypeAlias = str | IPv4Network | IPv6Network | IPv4Address | IPv6Address
"""An ``exclude`` network: ``"10.0.0.0/8"``, ``"2001:db8::/32"``, one address, or an object."""


class Options(TypedDict, Generic[CountPageT, RequestT], total=False):
    """The keyword options every middleware takes (all optional).

    docs/guides/middleware.md says what each does; the defaults are in brackets.
    """

    cookie_name: str
    """The visitor cookie's name, a cookie token [``"manhattan"``]."""
    pixel_path: str
    """Where the tracking pixel is served, a URL-safe path [``"/vpixel.gif"``]."""
    host_map: Mapping[str, int | str] | None
    """Request host (port and case ignored) -> site id; others are site 0 [``None``]."""
    buffer_writes: bool
    """Write a request's records as one batch at its end [``True``]."""
    secure: bool
    """Mark the cookie ``Secure`` [``False``]."""
    samesite: str | None
    """The cookie's ``SameSite``: ``"Strict"``, ``"Lax"``, ``"None"`` or ``None`` [``"Lax"``]."""
    max_age: int | None
    """The cookie's ``Max-Age`` in seconds, ``None`` for a session cookie [two years]."""
    domain: str | None
    """The cookie's ``Domain`` [``None``]."""
    path: str | None
    """The cookie's ``Path`` [``"/"``]."""
    count_page: CountPageT | None
    """The page-view rule of your own, in the adapter's signature [``None``: the default rule]."""
    record_headers: Iterable[str]
    """Request headers to keep with each page view [``()``]."""
    anonymize_ip: bool
    """Zero the host part of the client address before it is written [``False``]."""
    respect_gpc: bool
    """Log nothing about requests with ``Sec-GPC: 1`` or ``DNT: 1`` [``False``]."""
    visitor_class: type[Visitor]
    """The class of each request's visitor, ``Visitor`` or a subclass [``Visitor``]."""
    exclude: Callable[[RequestT], bool] | Iterable[Network] | None
    """Requests served normally but never recorded: a callable of the
    adapter's request, or client networks [``None``]."""


OPTION_NAMES: Final[frozenset[str]] = Options.__optional_keys__
"""The names of the options every middleware takes."""

POSITIONAL: Final = ("cookie_name", "pixel_path", "host_map", "buffer_writes")
"""The options 0.3's ``ManhattanMiddleware(app, log, secret, ...)`` took by
position after ``secret``, in its order: still accepted so."""


def unknown_options(given: Iterable[object], known: Collection[str]) -> str | None:
    """What is wrong with the names in ``given`` that ``known`` lacks, or ``None``.

    Each unknown name comes with the closest known one, if any is close (a
    typo such as ``anonymise_ip``); the known names are listed when one
    has none.
    """
    # Sorted by repr: a settings dict may hold keys that are not even str.
    unknown = sorted(set(given).difference(known), key=repr)
    if not unknown:
        return None
    # Imported only here, on the way to an error: the middleware's import stays lean.
    import difflib

    parts = []
    unmatched = False
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1) if isinstance(name, str) else []
        if close:
            parts.append(f"{name!r} (did you mean {close[0]!r}?)")
        else:
            parts.append(repr(name))
            unmatched = True
    noun = "option" if len(unknown) == 1 else "options"
    problem = f"unknown {noun} {', '.join(parts)}"
    if unmatched:
        problem += f"; the options are {', '.join(sorted(known))}"
    return problem


def gather(positional: tuple[Any, ...], options: Mapping[str, Any]) -> dict[str, Any]:
    """One mapping of the options a constructor was given, by position
    (:data:`POSITIONAL`) and by name.

    ``TypeError`` for more positional options than 0.3 took, or an option
    given both ways.
    """
    if len(positional) > len(POSITIONAL):
        raise TypeError(
            f"at most {len(POSITIONAL)} options follow secret by position "
            f"({', '.join(POSITIONAL)}), not {len(positional)}: name the others"
        )
    gathered = dict(zip(POSITIONAL, positional, strict=False))
    for name in options:
        if name in gathered:
            raise TypeError(f"option {name!r} given both by position and by name")
    gathered.update(options)
    return gathered
