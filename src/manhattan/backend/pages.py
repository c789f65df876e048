"""The page dimension: page views, unique visitors and entry pages per path.

Pure logic, fed by the aggregator (:class:`~manhattan.backend.aggregate.Aggregator`
calls :meth:`PageCounter.view` for each counted page record of a human
visitor, so bots and crawlers never reach it) and drained into the
:class:`~manhattan.backend.model.Batch` it commits.

Paths (:func:`normalize_path`) are what a page record's URL names, reduced
so that one page is one path:

- the scheme, host and port are dropped, and so is the fragment;
- the query string is dropped, except the parameters named in the keep list
  (``--keep-query-params``), which stay as ``name=value``, sorted;
- percent-encoding is normalised (RFC 3986 section 6.2.2): escapes of
  unreserved characters (letters, digits, ``-._~``) are decoded, other
  escapes get upper-case hex digits, and characters that need one
  (spaces, non-ASCII as UTF-8, control characters, a ``%`` that starts no
  escape) get one, so every path is ASCII;
- trailing slashes are dropped (``/a/`` and ``/a`` are one page), but ``/``
  stays ``/``, and an empty path is ``/``;
- case is kept: paths are case-sensitive, as HTTP is (``/About`` and
  ``/about`` are two pages);
- a path is cut to :data:`MAX_PATH_CHARS` characters (never inside an escape).

Counting, per page rollup (``all`` and ``day`` by default: ``all`` and the
time rollups may be page rollups) and per site plus all sites:

- page views: every page record;
- visitors: a visitor counts once per path per bucket; each visitor's
  state remembers the buckets of at most :data:`MAX_VISITOR_PATHS` paths
  (the one counted longest ago is forgotten first), so a visitor who
  comes back to a forgotten path within the same bucket counts as a
  visitor of it again (only visitors with more distinct paths than that, in practice
  crawlers that load the pixel, are ever over-counted);
- entry pages: the first page of a visit, where a visit is a visitor's run
  of page views with no gap longer than :data:`VISIT_GAP` seconds (30
  minutes, as analytics tools commonly have it), whatever the site.

The cap: :class:`PathCap` keeps at most ``max_paths`` distinct paths per
site per day; the others count as :data:`OTHER`.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Final

from manhattan.backend.model import ALL_SITES, PageKey, Rollup
from manhattan.backend.rollups._bounded import remember
from manhattan.backend.state import MULTIPLE_SITES, PageMarks, VisitorState

OTHER: Final = "(other)"
"""The path of every page beyond the cap of paths per site per day."""

MAX_PATH_CHARS: Final = 512
"""The longest path kept, in characters (of its normalised, ASCII form)."""

MAX_VISITOR_PATHS: Final = 64
"""The most paths whose buckets one visitor's state remembers."""

VISIT_GAP: Final = 30 * 60.0
"""Seconds without a page view that end a visit: the next page is an entry page."""

DEFAULT_PAGE_ROLLUPS: Final = ("all", "day")
DEFAULT_MAX_PATHS: Final = 1000

CACHE_SIZE: Final = 20_000
"""URLs whose normalised path is kept (see :func:`remember`)."""

KEEP_DAYS: Final = 3
"""Days whose paths :class:`PathCap` keeps in memory (the newest seen)."""

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
# Characters a path or query keeps as they are: unreserved, sub-delims, ":@/?".
_LITERAL = frozenset(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/?")
_HEX = frozenset(string.hexdigits)

PathLoader = Callable[[Sequence[str] | None], Iterable[tuple[int, str, str]]]
"""Reads the stored ``(site, day, path)`` rows of the cap for the given days
(``None``: the :data:`KEEP_DAYS` newest days stored)."""


def _escape_byte(byte: int) -> str:
    return f"%{byte:02X}"


def normalize_part(text: str) -> str:
    """``text`` with its percent-encoding normalised (see the module's
    docstring); never raises."""
    if text.isascii() and all(char in _LITERAL for char in text):
        return text  # the usual case: nothing to escape or decode
    out: list[str] = []
    i, size = 0, len(text)
    while i < size:
        char = text[i]
        if char == "%" and i + 2 < size and text[i + 1] in _HEX and text[i + 2] in _HEX:
            decoded = chr(int(text[i + 1 : i + 3], 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + text[i + 1 : i + 3].upper())
            i += 3
            continue
        if char in _LITERAL:
            out.append(char)
        else:
            # A lone surrogate (from an undecodable log line) escapes as its bytes.
            out.extend(_escape_byte(b) for b in char.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _cut(path: str) -> str:
    """``path`` cut to :data:`MAX_PATH_CHARS`, dropping an escape the cut splits."""
    if len(path) <= MAX_PATH_CHARS:
        return path
    cut = path[:MAX_PATH_CHARS]
    percent = cut.rfind("%", len(cut) - 2)
    return cut[:percent] if percent >= 0 else cut


def normalize_path(url: str, keep: frozenset[str] = frozenset()) -> str:
    """The page path of a page record's ``url`` (see the module's docstring);
    ``keep`` are the query parameters kept. Never raises."""
    url = url.partition("#")[0]
    path, question, query = url.partition("?")
    scheme_end = path.find("://")
    if scheme_end > 0 and "/" not in path[:scheme_end]:
        slash = path.find("/", scheme_end + 3)
        path = "/" if slash < 0 else path[slash:]
    elif path.startswith("//"):
        slash = path.find("/", 2)
        path = "/" if slash < 0 else path[slash:]
    path = normalize_part(path).rstrip("/")
    if not path.startswith("/"):
        path = "/" + path
    if question and keep:
        kept = []
        for parameter in query.split("&"):
            name = parameter.partition("=")[0]
            if normalize_part(name) in keep or name in keep:
                kept.append(normalize_part(parameter))
        if kept:
            path += "?" + "&".join(sorted(kept))
    return _cut(path)


def utc_day(timestamp: float) -> str:
    """The UTC date of ``timestamp`` (ISO): the cap's day without a ``day`` rollup."""
    try:
        return datetime.fromtimestamp(timestamp, UTC).date().isoformat()
    except (OverflowError, OSError, ValueError):
        return "0000-00-00"  # out of the calendar: one day for all of them


class PathCap:
    """At most ``max_paths`` distinct paths per site per day; others are :data:`OTHER`.

    Guarantee: with one counting process the paths stored for one site and
    day are never more than ``max_paths`` (plus :data:`OTHER`), across
    restarts: the store's paths of its :data:`KEEP_DAYS` newest days are
    loaded (:meth:`refresh`) before anything is counted, which covers the
    day a restart resumes in. With ``W`` workers counting into one database
    (stream partitions), each worker admits new paths only while the paths
    it knows of (the store's, re-read after each of its commits, and those
    it admitted since) are fewer than ``max_paths``: at most ``W *
    max_paths`` per site and day, and ``max_paths`` plus what the others
    admitted within one flush interval in practice. A day older than every
    day kept in memory (its records came over :data:`KEEP_DAYS` days late,
    after newer ones) admits no path at all: its pages count as
    :data:`OTHER`, so the bound holds for it as well.
    """

    def __init__(self, max_paths: int, loader: PathLoader | None = None) -> None:
        if isinstance(max_paths, bool) or not isinstance(max_paths, int) or max_paths < 1:
            raise ValueError(f"max_paths must be a whole number of at least 1, not {max_paths!r}")
        self.max_paths = max_paths
        self.loader = loader
        self.known: dict[tuple[int, str], set[str]] = {}
        self.added: set[tuple[int, str, str]] = set()
        # Days before this one were dropped from memory (or never loaded,
        # although maybe stored): they admit no path.
        self.open_from = ""
        self._loaded = False

    def admit(self, site: int, day: str, path: str) -> str:
        """``path``, or :data:`OTHER` once ``site`` has its fill of paths on ``day``."""
        known = self.known.get((site, day))
        if known is None:
            known = self.known[(site, day)] = set()
            if day < self.open_from:
                known.add(OTHER)  # marks the day full
        if path in known:
            return path
        if OTHER in known or len(known) >= self.max_paths:
            known.add(OTHER)
            return OTHER
        known.add(path)
        self.added.add((site, day, path))
        return path

    def drain(self) -> set[tuple[int, str, str]]:
        """The ``(site, day, path)`` admitted since the last drain, to store."""
        added, self.added = self.added, set()
        return added

    def refresh(self) -> None:
        """Learn the paths the store holds: at the first call those of its
        :data:`KEEP_DAYS` newest days, then those of the days kept in memory
        (what other workers admitted meanwhile), after dropping days beyond
        the :data:`KEEP_DAYS` newest. Call when all that was admitted is
        committed; what the loader raises reaches the caller."""
        days = sorted({day for _, day in self.known}, reverse=True)
        kept = days[:KEEP_DAYS]
        if len(days) > KEEP_DAYS:
            self.open_from = max(self.open_from, kept[-1])
            self.known = {key: paths for key, paths in self.known.items() if key[1] >= kept[-1]}
        if self.loader is None:
            return
        rows = list(self.loader(sorted(kept) if self._loaded else None))
        if not self._loaded:
            self._loaded = True
            stored = sorted({day for _, day, _ in rows})
            if len(stored) >= KEEP_DAYS:
                # Older days may be stored as well: they take no new path.
                self.open_from = max(self.open_from, stored[0])
        for site, day, path in rows:
            known = self.known.setdefault((site, day), set())
            if path not in known and OTHER not in known and len(known) >= self.max_paths:
                known.add(OTHER)
            known.add(path)


Delta = list[int]
"""``[views, visitors in each page rollup..., entries in each page rollup...]``."""


class PageCounter:
    """Counts page views, visitors and entry pages (see the module's docstring).

    ``rollups`` are the aggregator's; ``page_rollups`` the names of those
    pages are counted in: ``all`` and rollups that are not ``per_visitor``
    (their buckets come from the aggregator's timed buckets).
    ``max_paths`` and ``loader`` make the :class:`PathCap`; ``keep`` are
    the query parameters a path keeps.
    """

    def __init__(
        self,
        rollups: Sequence[Rollup],
        page_rollups: Sequence[str] = DEFAULT_PAGE_ROLLUPS,
        *,
        max_paths: int = DEFAULT_MAX_PATHS,
        keep: Iterable[str] = (),
        loader: PathLoader | None = None,
    ) -> None:
        names = [rollup.name for rollup in rollups]
        timed = [rollup.name for rollup in rollups if not rollup.per_visitor]
        if not page_rollups:
            raise ValueError("pages need at least one page rollup")
        if len(set(page_rollups)) != len(page_rollups):
            raise ValueError(f"page rollups must be unique, got {list(page_rollups)}")
        for name in page_rollups:
            if name != "all" and name not in timed:
                kind = "a rollup per visitor" if name in names else "not a configured rollup"
                allowed = ", ".join(["all", *(n for n in timed if n != "all")])
                raise ValueError(
                    f"page rollup {name!r} is {kind}: pages are counted in 'all' and "
                    f"time rollups ({allowed})"
                )
        self.page_rollups = tuple(page_rollups)
        # Where each page rollup's bucket is in the timed buckets (None: 'all').
        self._where = [None if name == "all" else timed.index(name) for name in page_rollups]
        self._day = timed.index("day") if "day" in timed else None
        self.keep = frozenset(keep)
        self.cap = PathCap(max_paths, loader)
        self._paths: dict[str, str] = {}
        self._timed: tuple[str, ...] | None = None
        self._buckets: tuple[str, ...] = ()
        self._today = ""
        # The cap's paths of the last (site, day) seen (a copy when it has none).
        self._known_site: int | None = None
        self._known_day = ""
        self._known: set[str] = set()
        self._spread: dict[int, tuple[int, int]] = {}
        # (sites, buckets) -> path -> delta
        self._deltas: dict[tuple[tuple[int, ...], tuple[str, ...]], dict[str, Delta]] = {}
        self._table: dict[str, Delta] = {}
        self._table_sites: tuple[int, ...] = ()
        self._table_buckets: tuple[str, ...] = ()

    def path(self, url: str) -> str:
        """The normalised path of ``url``, cached."""
        path = self._paths.get(url)
        if path is None:
            path = remember(self._paths, url, normalize_path(url, self.keep), CACHE_SIZE)
        return path

    def _buckets_of(self, timed: tuple[str, ...]) -> None:
        # One tuple for as long as the timed buckets are one tuple.
        self._timed = timed
        self._buckets = tuple("0" if i is None else timed[i] for i in self._where)
        if self._day is not None:
            self._today = timed[self._day]

    def view(
        self, state: VisitorState, url: str, timestamp: float, site: int, timed: tuple[str, ...]
    ) -> None:
        """Count a page view of ``url`` at ``timestamp`` on ``site`` by a
        human visitor, whose timed buckets are ``timed``. Never raises."""
        # The hot path: what holds for many events in a row is looked up once.
        if timed is not self._timed:
            self._buckets_of(timed)
        buckets = self._buckets
        path = self._paths.get(url)
        if path is None:
            path = self.path(url)
        day = self._today if self._day is not None else utc_day(timestamp)
        if site != self._known_site or day != self._known_day:
            self._known_site, self._known_day = site, day
            self._known = self.cap.known.get((site, day), set())
        if path not in self._known:
            path = self.cap.admit(site, day, path)
            self._known = self.cap.known[(site, day)]  # made by admit if new
        marks = state.pages
        if marks is None:
            marks = state.pages = PageMarks()
            marks.site = site
        entry = marks.last is None or timestamp - marks.last > VISIT_GAP
        if marks.last is None or timestamp > marks.last:
            marks.last = timestamp
        if marks.site == site:
            # One site so far: the marks stand for the site's and all sites' counts.
            spread = self._spread.get(site)
            if spread is None:
                spread = self._spread[site] = (site, ALL_SITES)
            self._add(marks.marks, path, spread, path, buckets, entry)
            return
        if marks.site != MULTIPLE_SITES:
            first = marks.site
            for key, held in list(marks.marks.items()):
                marks.marks[f"{first} {key}"] = held
            marks.site = MULTIPLE_SITES
        self._add(marks.marks, path, (ALL_SITES,), path, buckets, entry)
        self._add(marks.marks, f"{site} {path}", (site,), path, buckets, entry)

    def _add(
        self,
        marks: dict[str, tuple[str, ...]],
        key: str,
        sites: tuple[int, ...],
        path: str,
        buckets: tuple[str, ...],
        entry: bool,
    ) -> None:
        last = marks.get(key)
        if last is not buckets:
            if last is not None:
                del marks[key]  # put back last: the most recently counted
                if len(last) != len(buckets):
                    last = None  # stored under other page rollups: counts afresh
            marks[key] = buckets
            if len(marks) > MAX_VISITOR_PATHS:
                del marks[next(iter(marks))]
        # The deltas of consecutive views mostly share their sites and buckets.
        if sites is self._table_sites and buckets is self._table_buckets:
            table = self._table
        else:
            found = self._deltas.get((sites, buckets))
            if found is None:
                found = self._deltas[(sites, buckets)] = {}
            table = found
            self._table, self._table_sites, self._table_buckets = table, sites, buckets
        delta = table.get(path)
        if delta is None:
            delta = table[path] = [0] * (1 + 2 * len(buckets))
        delta[0] += 1
        if last is not buckets:
            for i, bucket in enumerate(buckets):
                if last is None or last[i] != bucket:
                    delta[1 + i] += 1
        if entry:
            size = len(buckets)
            for i in range(size + 1, 2 * size + 1):
                delta[i] += 1

    def drain(self) -> tuple[dict[PageKey, list[int]], set[tuple[int, str, str]]]:
        """The page deltas ``{(rollup, bucket, site, path): [views, visitors,
        entries]}`` and the paths the cap admitted, since the last drain."""
        rows: dict[PageKey, list[int]] = {}
        names = self.page_rollups
        size = len(names)
        for (sites, buckets), table in self._deltas.items():
            for path, delta in table.items():
                for i, bucket in enumerate(buckets):
                    change = (delta[0], delta[1 + i], delta[1 + size + i])
                    for site in sites:
                        key = PageKey(names[i], bucket, site, path)
                        row = rows.get(key)
                        if row is None:
                            rows[key] = list(change)
                        else:
                            for j in range(3):
                                row[j] += change[j]
        self._deltas = {}
        self._table_sites = ()  # the cached table was drained with the others
        return rows, self.cap.drain()

    def refresh(self) -> None:
        """:meth:`PathCap.refresh`: after each commit, and before counting."""
        self.cap.refresh()
        self._known_site = None  # its sets may be others now


def default_page_rollups(rollups: Sequence[Rollup]) -> tuple[str, ...]:
    """Those of :data:`DEFAULT_PAGE_ROLLUPS` that are among ``rollups``."""
    names = {rollup.name for rollup in rollups}
    return tuple(name for name in DEFAULT_PAGE_ROLLUPS if name in names)
