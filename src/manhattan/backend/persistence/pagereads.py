"""The store's part of the page dimension (see :mod:`manhattan.backend.pages`):
the ``pages``, ``entry_pages`` and ``page_totals`` queries, and the read of
the paths the cap admitted.

The tables are ``pages(rollup, bucket, site, path, views, visitors,
entries)`` and ``page_paths(day, site, path)``
(:mod:`~manhattan.backend.persistence.schema`), added after schema version
1 without changing it, like the leases: ``create_all`` adds them to an
existing database.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import Select, bindparam, exists, func, select

from manhattan.backend.model import QueryError
from manhattan.backend.pages import KEEP_DAYS
from manhattan.backend.persistence import schema as s
from manhattan.backend.persistence.engine import Prepared
from manhattan.backend.persistence.queries import Names, check_site, unknown_message

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

MAX_PAGES_LIMIT: Final = 1000
"""The most rows one ``pages`` or ``entry_pages`` answer holds."""


_p = s.pages
_scope = (
    _p.c.rollup == bindparam("rollup"),
    _p.c.bucket == bindparam("bucket"),
    _p.c.site == bindparam("site"),
)
READS: Final[Mapping[str, Select[Any]]] = {
    "pages": select(_p.c.path, _p.c.views, _p.c.visitors)
    .where(*_scope)
    .order_by(_p.c.views.desc(), _p.c.path)
    .limit(bindparam("limit")),
    "entry_pages": select(_p.c.path, _p.c.entries)
    .where(*_scope, _p.c.entries > 0)
    .order_by(_p.c.entries.desc(), _p.c.path)
    .limit(bindparam("limit")),
    "page_totals": select(_p.c.bucket, func.sum(_p.c.views))
    .where(_p.c.rollup == bindparam("rollup"), _p.c.site == bindparam("site"))
    .group_by(_p.c.bucket)
    .order_by(_p.c.bucket),
    "page_rollups": s._distinct(_p.c.rollup),
    "page_bucket": select(
        exists().where(_p.c.rollup == bindparam("rollup"), _p.c.bucket == bindparam("bucket"))
    ),
    "page_buckets": s._distinct(_p.c.bucket, _p.c.rollup == bindparam("rollup")),
    "newest_paths": select(s.page_paths.c.site, s.page_paths.c.day, s.page_paths.c.path).where(
        s.page_paths.c.day.in_(
            select(s.page_paths.c.day)
            .group_by(s.page_paths.c.day)
            .order_by(s.page_paths.c.day.desc())
            .limit(KEEP_DAYS)
        )
    ),
}
"""The fixed reads of pages, by name."""


def paths_of_days(size: int) -> Select[Any]:
    """(site, day, path) of the admitted paths of the days in the IN list."""
    table = s.page_paths
    return select(table.c.site, table.c.day, table.c.path).where(
        table.c.day.in_([bindparam(f"in{i}") for i in range(size)])
    )


def _limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGES_LIMIT:
        raise QueryError(f"limit must be an int from 1 to {MAX_PAGES_LIMIT}, not {limit!r}")
    return limit


def _rollup(rollup_key: object) -> str:
    if not isinstance(rollup_key, str) or not rollup_key:
        raise QueryError(f"rollup_key must be a non-empty str, not {rollup_key!r}")
    return rollup_key


class PageReads:
    """What :class:`~manhattan.backend.persistence.SQLStore` answers of pages
    (a mixin: it uses the store's connections and reads)."""

    if TYPE_CHECKING:
        _reader: Engine
        _prepared: dict[Hashable, Prepared]

        def _cursor(self, snapshot: bool = False) -> AbstractContextManager[Any]: ...
        def _query_in(
            self,
            cursor: Any,
            build: Callable[[int], Select[Any]],
            values: Sequence[Any],
            params: Mapping[str, Any] = ...,
        ) -> list[Any]: ...
        def _refuse_unknown(self, cursor: Any, names: Names) -> None: ...

    def _page_read(self, cursor: Any, name: str, params: Mapping[str, Any]) -> list[Any]:
        prepared = self._prepared.get(("pages", name))
        if prepared is None:
            prepared = self._prepared["pages", name] = Prepared(READS[name], self._reader.dialect)
        cursor.execute(prepared.sql, prepared.args(params))
        return list(cursor.fetchall())

    def _refuse_page_names(self, cursor: Any, rollup: str, bucket: str | None, site: int) -> None:
        """:class:`QueryError` for a rollup pages are not kept for, a
        bucket of it where no page was counted, or a site the store never
        counted; nothing while no page was counted at all (an empty answer)."""
        rollups = [str(name) for (name,) in self._page_read(cursor, "page_rollups", {})]
        if not rollups:
            return
        if rollup not in rollups:
            kept = ", ".join(map(repr, rollups))
            raise QueryError(f"pages are kept for the rollups {kept} only, not {rollup!r}")
        params = {"rollup": rollup, "bucket": bucket}
        if bucket is not None and not self._page_read(cursor, "page_bucket", params)[0][0]:
            buckets = [str(b) for (b,) in self._page_read(cursor, "page_buckets", params)]
            raise QueryError(unknown_message("bucket", bucket, buckets, Names(rollup=rollup)))
        self._refuse_unknown(cursor, Names(site=site))

    def pages(
        self,
        site_id: int | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        limit: int = 50,
    ) -> list[tuple[str, int, int]]:
        """``[(path, page views, visitors), ...]`` of bucket ``str(bucket_id)``
        of page rollup ``rollup_key`` at ``site_id`` (``None``: all sites),
        most viewed first (see :meth:`~manhattan.backend.model.Queries.pages`)."""
        params = self._page_params(site_id, rollup_key, bucket_id, limit)
        with self._cursor() as cursor:
            rows = self._page_read(cursor, "pages", params)
            if not rows:
                self._refuse_page_names(cursor, params["rollup"], params["bucket"], params["site"])
        return [(str(path), int(views), int(visitors)) for path, views, visitors in rows]

    def entry_pages(
        self,
        site_id: int | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        limit: int = 50,
    ) -> list[tuple[str, int]]:
        """``[(path, visits that began on it), ...]``, most first; arguments
        as in :meth:`pages`."""
        params = self._page_params(site_id, rollup_key, bucket_id, limit)
        with self._cursor() as cursor:
            rows = self._page_read(cursor, "entry_pages", params)
            if not rows:
                self._refuse_page_names(cursor, params["rollup"], params["bucket"], params["site"])
        return [(str(path), int(entries)) for path, entries in rows]

    def page_totals(
        self, site_id: int | None = None, rollup_key: str = "day"
    ) -> list[tuple[str, int]]:
        """``[(bucket, page views), ...]`` of every bucket of page rollup
        ``rollup_key`` at ``site_id`` (``None``: all sites), oldest first."""
        rollup, site = _rollup(rollup_key), check_site(site_id)
        with self._cursor() as cursor:
            rows = self._page_read(cursor, "page_totals", {"rollup": rollup, "site": site})
            if not rows:
                self._refuse_page_names(cursor, rollup, None, site)
        return [(str(bucket), int(views)) for bucket, views in rows]

    @staticmethod
    def _page_params(
        site_id: object, rollup_key: object, bucket_id: object, limit: object
    ) -> dict[str, Any]:
        return {
            "rollup": _rollup(rollup_key),
            "bucket": str(bucket_id),
            "site": check_site(site_id),
            "limit": _limit(limit),
        }

    def load_page_paths(self, days: Sequence[str] | None) -> list[tuple[int, str, str]]:
        """``(site, day, path)`` of the paths the cap admitted on ``days``
        (``None``: the :data:`KEEP_DAYS` newest days stored); see
        :class:`~manhattan.backend.pages.PathCap`."""
        with self._cursor(snapshot=True) as cursor:
            if days is None:
                rows = self._page_read(cursor, "newest_paths", {})
            elif days:
                rows = self._query_in(cursor, paths_of_days, list(days))
            else:
                rows = []
        return [(int(site), str(day), str(path)) for site, day, path in rows]
