"""``manhattan-erase``'s work on the database: the erasure's intent, and
the one transaction that takes the visitors' contribution out.

An :class:`Intent` is everything an erasure will do to the database,
worked out before it changes anything: the counter deltas to subtract,
the visitor states to delete, the log pointer before and after, and the
temporary files that replace log files. :func:`prepare` stores it in the
``meta`` table (key :data:`INTENT_KEY`) and replaces the log pointer with
one no server accepts (it starts with :data:`UNFINISHED`), in one
transaction; :func:`apply` subtracts, deletes, sets the new pointer and
drops the intent, in another. Both run with the lease renewed in their
transaction (``guard``), as a server's commits do.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, insert, select, update

from manhattan.backend.model import Batch
from manhattan.backend.persistence import SQLStore
from manhattan.backend.persistence import schema as s
from manhattan.exceptions import ManhattanError

INTENT_KEY = "erase"
"""The ``meta`` key of an unfinished erasure's intent."""
UNFINISHED = "manhattan-erase unfinished"
"""How the log pointer starts while an erasure is unfinished."""

_KEY_COLUMNS = ("rollup", "bucket", "site", "goal", "test", "population")

Guard = Callable[[Connection], None]


class EraseError(ManhattanError, RuntimeError):
    """The database and the log disagree: nothing was changed."""


@dataclass
class Intent:
    """What one erasure does to the database (see the module's docstring).

    ``counts``: ``[rollup, bucket, site, goal, test, population, visitors,
    value total, sum of squares]`` to subtract; ``pages``: ``[rollup,
    bucket, site, path, views, visitors, entries]`` to subtract; ``crossovers`` and
    ``filtered``: per test and per reason, to subtract; ``renames``:
    ``[temporary file, log file]`` in the log's directory.
    """

    ids: list[str]
    old: str | None
    new: str | None
    renames: list[list[str]] = field(default_factory=list)
    counts: list[list[Any]] = field(default_factory=list)
    pages: list[list[Any]] = field(default_factory=list)
    crossovers: dict[str, int] = field(default_factory=dict)
    filtered: dict[str, int] = field(default_factory=dict)
    token: str = field(default_factory=lambda: secrets.token_hex(8))

    @classmethod
    def of(cls, batch: Batch, ids: list[str], old: str | None, new: str | None) -> Intent:
        """The intent of subtracting ``batch``'s separable parts."""
        return cls(
            ids=ids,
            old=old,
            new=new,
            # A counter the replay touched and left as it was changes nothing.
            counts=[[*key, *delta] for key, delta in sorted(batch.counts.items()) if any(delta)],
            pages=[[*key, *delta] for key, delta in sorted(batch.pages.items()) if any(delta)],
            crossovers={
                name: info.crossovers for name, info in batch.tests.items() if info.crossovers
            },
            filtered=dict(batch.filtered),
        )

    def to_json(self) -> str:
        """Its JSON text (floats round-trip exactly)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Intent:
        """An intent from :meth:`to_json` text."""
        return cls(**json.loads(text))


def load(store: SQLStore) -> Intent | None:
    """The unfinished erasure's intent stored in ``store``, if any."""
    found = store.load_pointers([INTENT_KEY]).get(INTENT_KEY)
    return None if found is None else Intent.from_json(found)


def page_paths(store: SQLStore) -> list[tuple[int, str, str]]:
    """``(site, day, path)`` of every path the page cap admitted, whatever
    the day: a replay meets the days it replays, not the newest."""
    found: list[tuple[int, str, str]] = []
    paths = s.page_paths.c

    def read(conn: Connection) -> None:
        rows = conn.execute(select(paths.site, paths.day, paths.path))
        found.extend((int(site), str(day), str(path)) for site, day, path in rows)

    store.commit(Batch(), guard=read)
    return found


def _pointer(conn: Connection) -> str | None:
    return conn.execute(s.POINTER).scalar()


def _set_pointer(conn: Connection, pointer: str | None) -> None:
    conn.execute(delete(s.meta).where(s.meta.c.key == "pointer"))
    if pointer is not None:
        conn.execute(insert(s.meta).values(key="pointer", value=pointer))


def _key(row: list[Any]) -> dict[str, Any]:
    return {f"k_{name}": value for name, value in zip(_KEY_COLUMNS, row, strict=False)}


_WHERE = and_(*(s.counts.c[name] == bindparam(f"k_{name}") for name in _KEY_COLUMNS))
_PAGE_COLUMNS = ("rollup", "bucket", "site", "path")
_PAGE_WHERE = and_(*(s.pages.c[name] == bindparam(f"p_{name}") for name in _PAGE_COLUMNS))
DAY_ROLLUP = "day"
"""The page rollup whose buckets are the days of the cap's admitted paths."""


def _page_key(row: list[Any]) -> dict[str, Any]:
    return {f"p_{name}": value for name, value in zip(_PAGE_COLUMNS, row, strict=False)}


def prepare(store: SQLStore, intent: Intent, guard: Guard) -> None:
    """Store ``intent`` and the unfinished pointer, once it is checked that
    the database still stands at ``intent.old`` and holds every count it
    subtracts; :class:`EraseError` (nothing changed) if not."""

    def work(conn: Connection) -> None:
        guard(conn)
        pointer = _pointer(conn)
        if pointer != intent.old:
            raise EraseError(
                f"the database's log pointer moved from {intent.old} to {pointer} "
                "while erasing: is a server counting this log?"
            )
        read = select(s.counts.c.visitors).where(_WHERE)
        for row in intent.counts:
            held = conn.execute(read, _key(row)).scalar()
            if held is None or held < row[6]:
                raise EraseError(
                    f"the database holds {held or 0} visitor(s) in counter {tuple(row[:6])}, "
                    f"fewer than the log files say the erased visitors added ({row[6]}): "
                    "it did not count this log (or not all of it)"
                )
        read = select(s.pages.c.views).where(_PAGE_WHERE)
        for row in intent.pages:
            held = conn.execute(read, _page_key(row)).scalar()
            if held is None or held < row[4]:
                raise EraseError(
                    f"the database holds {held or 0} view(s) of page {tuple(row[:4])}, "
                    f"fewer than the log files say the erased visitors made ({row[4]}): "
                    "it did not count this log (or not all of it)"
                )
        conn.execute(insert(s.meta).values(key=INTENT_KEY, value=intent.to_json()))
        _set_pointer(conn, f"{UNFINISHED} {intent.token} (was {intent.old})")

    store.commit(Batch(), guard=work)


def apply(store: SQLStore, intent: Intent, guard: Guard) -> bool:
    """Subtract the intent's counts, delete the visitors' states, set the
    new pointer and drop the intent, in one transaction; whether it did
    (``False``: done already, by an earlier run)."""
    done: list[bool] = []

    def work(conn: Connection) -> None:
        guard(conn)
        stored = conn.execute(select(s.meta.c.value).where(s.meta.c.key == INTENT_KEY)).scalar()
        if stored is None or Intent.from_json(stored).token != intent.token:
            done.append(False)
            return
        if intent.counts:
            counts = s.counts.c
            conn.execute(
                update(s.counts)
                .where(_WHERE)
                .values(
                    visitors=counts.visitors - bindparam("d_visitors"),
                    value_total=counts.value_total - bindparam("d_total"),
                    value_sumsq=counts.value_sumsq - bindparam("d_sumsq"),
                ),
                [
                    {**_key(row), "d_visitors": row[6], "d_total": row[7], "d_sumsq": row[8]}
                    for row in intent.counts
                ],
            )
            # A counter no visitor is left in holds nothing but rounding:
            # it goes, with the bucket name it may be all that is left of.
            conn.execute(
                delete(s.counts).where(_WHERE, s.counts.c.visitors <= 0),
                [_key(row) for row in intent.counts],
            )
        if intent.pages:
            _subtract_pages(conn, intent.pages)
        if intent.crossovers:
            conn.execute(
                update(s.tests)
                .where(s.tests.c.name == bindparam("k_name"))
                .values(crossovers=s.tests.c.crossovers - bindparam("d_crossovers")),
                [{"k_name": k, "d_crossovers": n} for k, n in sorted(intent.crossovers.items())],
            )
        if intent.filtered:
            conn.execute(
                update(s.filtered)
                .where(s.filtered.c.reason == bindparam("k_reason"))
                .values(events=s.filtered.c.events - bindparam("d_events")),
                [{"k_reason": k, "d_events": n} for k, n in sorted(intent.filtered.items())],
            )
        conn.execute(delete(s.visitors).where(s.visitors.c.id.in_(intent.ids)))
        _set_pointer(conn, intent.new)
        conn.execute(delete(s.meta).where(s.meta.c.key == INTENT_KEY))
        done.append(True)

    store.commit(Batch(), guard=work)
    return done[0]


def _subtract_pages(conn: Connection, rows: list[list[Any]]) -> None:
    """Subtract page deltas; a page row no view is left in goes, and so
    does the cap's admission of a path on a day when no view of it is left
    that day (what only the erased visitors viewed leaves no trace)."""
    pages = s.pages.c
    conn.execute(
        update(s.pages)
        .where(_PAGE_WHERE)
        .values(
            views=pages.views - bindparam("d_views"),
            visitors=pages.visitors - bindparam("d_visitors"),
            entries=pages.entries - bindparam("d_entries"),
        ),
        [
            {**_page_key(row), "d_views": row[4], "d_visitors": row[5], "d_entries": row[6]}
            for row in rows
        ],
    )
    conn.execute(
        delete(s.pages).where(_PAGE_WHERE, pages.views <= 0), [_page_key(r) for r in rows]
    )
    days = [row for row in rows if row[0] == DAY_ROLLUP]
    if days:
        paths = s.page_paths.c
        left = (
            select(pages.views)
            .where(
                pages.rollup == DAY_ROLLUP,
                pages.bucket == paths.day,
                pages.site == paths.site,
                pages.path == paths.path,
            )
            .exists()
        )
        conn.execute(
            delete(s.page_paths).where(
                paths.day == bindparam("p_bucket"),
                paths.site == bindparam("p_site"),
                paths.path == bindparam("p_path"),
                ~left,
            ),
            [{"p_bucket": row[1], "p_site": row[2], "p_path": row[3]} for row in days],
        )
