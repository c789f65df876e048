"""The ``Visitor``: what application code talks to during a request."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

from manhattan.visitor import records
from manhattan.visitor.environ import header_key, page_record_from_environ
from manhattan.visitor.populations import (
    Declaration,
    Declared,
    Populations,
    check_populations,
    draw,
    pick,
    weights_field,
)
from manhattan.visitor.records import check_site_id

if TYPE_CHECKING:
    from webob import Request

    from manhattan.log import Log


END_MARKER_SECONDS: Final = 3600.0
"""How often, at most, one process records an ended experiment's end marker."""


class EndMarkers:
    """When this process last recorded each ended experiment's end marker.

    The backend learns that a test ended from a split record whose plan
    names a winner (see :data:`manhattan.records.layout.SPLIT_PLAN`).
    Once per process would do, but the request that records it may be one
    whose records are discarded (a privacy signal, an excluded client) or
    lost: so again every :data:`END_MARKER_SECONDS`, which costs a record
    an hour. The backend keeps the earliest.
    """

    def __init__(self, seconds: float = END_MARKER_SECONDS) -> None:
        self.seconds = seconds
        self._last: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def due(self, key: tuple[str, str], now: float) -> bool:
        """Whether the marker of ``key`` (test, plan) is due at ``now``
        (monotonic seconds); if so, it counts as recorded now."""
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last < self.seconds:
                return False
            self._last[key] = now
            return True


END_MARKERS = EndMarkers()
"""This process's end markers (one registry: every visitor shares it)."""

_UNFORCED: Final = object()


class Visitor:
    """One visitor, identified by ``id``, recording events into ``log``.

    Records are buffered until :meth:`flush` (the middleware flushes at the
    end of every request); with ``buffer_writes=False`` each call writes at
    once. Subclasses may override :meth:`timestamp` to replay history.
    ``forced`` maps test names to the population (as ``str(population)``)
    this visitor is shown in them, recording nothing about those tests (a
    QA link: the middlewares pass it).
    """

    RATE: ClassVar[str] = records.RATE
    AVERAGE: ClassVar[str] = records.AVERAGE
    SUM: ClassVar[str] = records.SUM
    PER: ClassVar[str] = records.PER
    NUMERIC: ClassVar[str] = records.NUMERIC
    CURRENCY: ClassVar[str] = records.CURRENCY
    PERCENTAGE: ClassVar[str] = records.PERCENTAGE

    __slots__ = ("_split_logged", "buffer", "buffer_writes", "forced", "id", "log", "site_id")

    def __init__(
        self,
        id: str,
        log: Log,
        site_id: int | str = "",
        buffer_writes: bool = True,
        *,
        forced: Mapping[str, str] | None = None,
    ) -> None:
        if not isinstance(id, str):
            raise TypeError(f"id must be a str, not {type(id).__name__}")
        if not id:
            raise ValueError("id must not be empty")
        self.id = id
        self.log = log
        self.site_id = check_site_id(site_id)
        self.buffer_writes = buffer_writes
        self.buffer: list[records.Record] = []
        self._split_logged: set[tuple[str, str]] | None = None
        if forced is not None and not isinstance(forced, Mapping):
            raise TypeError(
                f"forced must be a mapping of test name to population, not {type(forced).__name__}"
            )
        self.forced: dict[str, str] | None = dict(forced) if forced else None

    def timestamp(self) -> float:
        """Seconds since the epoch for the next record; override to replay history."""
        return time.time()

    def _stamp(self) -> str:
        return records.format_timestamp(self.timestamp())

    def record(self, record: records.Record) -> None:
        """Queue a prebuilt record (adapters use this); writes at once when unbuffered."""
        if self.buffer_writes:
            self.buffer.append(record)
        else:
            self.log.write([record])

    def record_first(self, record: records.Record) -> None:
        """Queue a prebuilt record before the buffered ones; writes at once when unbuffered.

        For the middleware's page view: it is built when the response
        starts, but the view began before anything the app recorded.
        """
        if self.buffer_writes:
            self.buffer.insert(0, record)
        else:
            self.log.write([record])

    def page(self, request: Request, record_headers: Iterable[str] = ()) -> None:
        """Record a page view of ``request`` (a ``webob.Request``).

        ``record_headers`` names request headers to keep with the record.
        """
        self.record(
            page_record_from_environ(
                self._stamp(),
                self.id,
                self.site_id,
                request.environ,
                [(name, header_key(name)) for name in record_headers],
            )
        )

    def pixel(self) -> None:
        """Record that this visitor's browser loaded the tracking pixel."""
        self.record(records.pixel_record(self._stamp(), self.id, self.site_id))

    def goal(
        self,
        name: str,
        value: records.Value | None = None,
        value_type: str | None = None,
        value_format: str | None = None,
    ) -> None:
        """Record a conversion on goal ``name``, with an optional value.

        ``value_type`` is one of ``RATE``, ``AVERAGE``, ``SUM``, ``PER`` and
        ``value_format`` one of ``NUMERIC``, ``CURRENCY``, ``PERCENTAGE``.
        ``name`` is a non-empty str of at most
        :data:`~manhattan.visitor.records.MAX_NAME_LENGTH` characters without
        NUL or lone surrogates; ``value`` a finite number of magnitude at
        most :data:`~manhattan.visitor.records.MAX_VALUE`. A value without a
        value type is kept: it adds to the goal's value totals, while
        ``goal_value`` reports such a goal's count, as 0.3 did.
        """
        record = records.goal_record(
            self._stamp(),
            self.id,
            self.site_id,
            records.check_name(name, "goal name"),
            records.format_value(value),
            records.check_choice(value_type, records.VALUE_TYPE_NAMES, "value_type"),
            records.check_choice(value_format, records.VALUE_FORMAT_NAMES, "value_format"),
        )
        self.record(record)

    def split(self, test_name: str | Declared, populations: Populations = None) -> Any:
        """This visitor's population in split test ``test_name``.

        ``populations`` is ``None`` (``True`` or ``False``), a list or tuple,
        or a dict of population -> weight. The choice is deterministic per
        visitor and test, and the same as Manhattan 0.3 made. The assignment
        is recorded once per visitor object. ``test_name`` and every
        ``str(population)`` pass the same check as goal names.

        ``test_name`` may instead be a declared experiment
        (:class:`manhattan.experiments.Experiment`, with no ``populations``):
        the same choice, recorded with the experiment's plan; once it has a
        winner, the winner for everyone, and nothing recorded but the end
        marker (see :class:`EndMarkers`). A test in ``forced`` gets the
        forced population, if it is one of the test's, and nothing recorded.
        """
        if type(test_name) is not str:
            declaration = getattr(test_name, "declaration", None)
            if isinstance(declaration, Declaration):
                if populations is not None:
                    raise TypeError("split(experiment) takes no populations: it declares them")
                return self._split_declared(declaration)
        test = records.check_name(test_name, "test_name")
        names, starts = check_populations(populations)
        if self.forced is not None:
            forced = self._forced(test, names if populations is None else populations)
            if forced is not _UNFORCED:
                return forced
        selected = pick(draw(self.id, test), names, starts)
        self._record_split(test, selected, populations, "")
        return selected

    def _forced(self, test_name: str, populations: Iterable[Any]) -> Any:
        """The forced population of ``test_name`` among ``populations`` (a
        dict's keys, zero weights included: QA may look at a population
        before it gets visitors), or ``_UNFORCED``."""
        assert self.forced is not None
        wanted = self.forced.get(test_name)
        if wanted is not None:
            for population in populations:
                if str(population) == wanted:
                    return population
        return _UNFORCED

    def _split_declared(self, declaration: Declaration) -> Any:
        test = declaration.test
        if self.forced is not None and test in self.forced:
            forced = declaration.texts.get(self.forced[test], _UNFORCED)
            if forced is not _UNFORCED:
                return forced
        if declaration.ended:
            # Stamped first: a timestamp() that raises leaves the marker due.
            stamp = self._stamp()
            if END_MARKERS.due((test, declaration.plan), time.monotonic()):
                record = records.split_record(
                    stamp,
                    self.id,
                    self.site_id,
                    test,
                    declaration.winner_text,
                    declaration.weights,
                    declaration.plan,
                )
                self.record(record)
            return declaration.winner
        selected = pick(draw(self.id, test), declaration.choices, declaration.starts)
        self._record_split(test, selected, declaration.weights, declaration.plan)
        return selected

    def _record_split(
        self, test: str, selected: Any, weights: Populations | str, plan: str
    ) -> None:
        """Record ``selected`` in ``test`` unless this visitor object did;
        ``weights`` is the field, or the populations to make it from."""
        key = (test, str(selected))
        if self._split_logged is None:
            self._split_logged = set()
        if key not in self._split_logged:
            # Both may raise: nothing is recorded, and the next call checks again.
            field = weights if isinstance(weights, str) else weights_field(weights)
            stamp = self._stamp()
            self._split_logged.add(key)
            self.record(records.split_record(stamp, self.id, self.site_id, *key, field, plan))

    def flush(self) -> None:
        """Write the buffered records to the log, in order, as one batch."""
        if self.buffer:
            batch, self.buffer = self.buffer, []
            self.log.write(batch)
