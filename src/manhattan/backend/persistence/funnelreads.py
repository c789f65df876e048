"""The store's part of ordered funnels: the declarations it keeps, and the
``funnels()`` and ``funnel()`` queries (see
:mod:`manhattan.backend.funnels`).

The declarations are one row of the ``meta`` table (key ``funnels``, a JSON
list), so no table changes. A funnel's counts are those of its step goals,
in the ``counts`` table like every goal's.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final

from manhattan.backend.funnels import (
    Funnel,
    funnels_from_json,
    funnels_to_json,
    merged,
    unknown_funnel,
)
from manhattan.backend.model import QueryError, Variant
from manhattan.backend.persistence import schema as s
from manhattan.backend.persistence.engine import StoreError
from manhattan.backend.persistence.queries import Names, counter_key, names_of

if TYPE_CHECKING:
    from sqlalchemy import Connection, Select

FUNNELS_KEY: Final = "funnels"
FUNNELS_LOCK: Final = 0x4D414E4846
"""The PostgreSQL advisory lock that serialises funnel declarations."""
"""The ``meta`` row of the funnel declarations."""


class FunnelReads:
    """What :class:`~manhattan.backend.persistence.SQLStore` knows of funnels
    (a mixin: it uses the store's connections and reads)."""

    if TYPE_CHECKING:
        url: str
        _upserts: dict[str, str]

        def _cursor(self, snapshot: bool = False) -> AbstractContextManager[Any]: ...
        def _write(self) -> AbstractContextManager[Connection]: ...
        def _commit_errors(self) -> AbstractContextManager[None]: ...
        def _query_in(
            self,
            cursor: Any,
            build: Callable[[int], Select[Any]],
            values: Sequence[Any],
            params: Mapping[str, Any] = ...,
        ) -> list[Any]: ...
        def _refuse_unknown(self, cursor: Any, names: Names) -> None: ...

    def declare_funnels(self, funnels: Sequence[Funnel]) -> None:
        """Record the funnels a counting server declares, so that queries
        know them: each redeclared one replaces its old definition, and
        those not declared again stay listed (their counts stay too)."""
        with self._commit_errors(), self._write() as conn:
            if conn.dialect.name == "postgresql":
                # Workers starting together each read, merge and write the
                # list: one at a time, or one's funnels could be lost.
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({FUNNELS_LOCK})")
            stored = conn.execute(s.meta_values(1), {"in0": FUNNELS_KEY}).first()
            try:
                known = funnels_from_json(None if stored is None else stored[1])
            except ValueError:
                known = []  # a damaged row: the declaration made now replaces it
            text = funnels_to_json(merged(known, funnels))
            conn.exec_driver_sql(self._upserts["meta"], [(FUNNELS_KEY, text)])

    def _funnels(self, cursor: Any) -> list[Funnel]:
        rows = self._query_in(cursor, s.meta_values, [FUNNELS_KEY])
        try:
            return funnels_from_json(rows[0][1] if rows else None)
        except ValueError as exc:
            raise StoreError(
                f"damaged funnel declarations in the store at {self.url}: {exc}"
            ) from None

    def funnels(self) -> list[dict[str, Any]]:
        """Every declared funnel as ``{"name", "steps", "within"}`` (seconds
        or ``None``), in declaration order."""
        with self._cursor() as cursor:
            return [funnel.as_dict() for funnel in self._funnels(cursor)]

    def funnel(
        self,
        name: str,
        variant: Variant | None = None,
        rollup_key: str = "all",
        bucket_id: Any = 0,
        site_id: int | None = None,
    ) -> list[tuple[str, int]]:
        """``[(step, visitors who reached it in order)]`` of funnel ``name``
        (in ``variant``'s population if given), from one read."""
        if not isinstance(name, str):
            raise QueryError(f"a funnel name must be a str, not {type(name).__name__}")
        if not name:
            raise QueryError("a funnel name must not be empty")
        key = counter_key(name, variant, rollup_key, bucket_id, site_id)
        params = {"rollup": key.rollup, "bucket": key.bucket, "site": key.site, "test": key.test}
        with self._cursor(snapshot=True) as cursor:
            declared = self._funnels(cursor)
            funnel = next((f for f in declared if f.name == name), None)
            if funnel is None:
                raise QueryError(unknown_funnel(name, declared))
            rows = self._query_in(cursor, s.slice_rows, funnel.goals, params)
            visitors = {
                goal: int(n) for population, goal, n, _ in rows if population == key.population
            }
            if not visitors:
                # Nobody reached a step here: a misspelled rollup, bucket,
                # site, test or population, or a true zero.
                self._refuse_unknown(cursor, names_of(key)._replace(goals=()))
        return [
            (step, visitors.get(goal, 0))
            for step, goal in zip(funnel.steps, funnel.goals, strict=True)
        ]
