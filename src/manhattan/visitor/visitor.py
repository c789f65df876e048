"""The ``Visitor``: what application code talks to during a request."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from manhattan.visitor import records
from manhattan.visitor.populations import (
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


class Visitor:
    """One visitor, identified by ``id``, recording events into ``log``.

    Records are buffered until :meth:`flush` (the middleware flushes at the
    end of every request); with ``buffer_writes=False`` each call writes at
    once. Subclasses may override :meth:`timestamp` to replay history.
    """

    RATE: ClassVar[str] = records.RATE
    AVERAGE: ClassVar[str] = records.AVERAGE
    SUM: ClassVar[str] = records.SUM
    PER: ClassVar[str] = records.PER
    NUMERIC: ClassVar[str] = records.NUMERIC
    CURRENCY: ClassVar[str] = records.CURRENCY
    PERCENTAGE: ClassVar[str] = records.PERCENTAGE

    __slots__ = ("_split_logged", "buffer", "buffer_writes", "id", "log", "site_id")

    def __init__(
        self, id: str, log: Log, site_id: int | str = "", buffer_writes: bool = True
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

    def page(self, request: Request, record_headers: Iterable[str] = ()) -> None:
        """Record a page view of ``request`` (a ``webob.Request``).

        ``record_headers`` names request headers to keep with the record.
        """
        # Imported here: manhattan.web builds on this package's records.
        from manhattan.web import environ as web_environ

        self.record(
            web_environ.page_record_from_environ(
                self._stamp(),
                self.id,
                self.site_id,
                request.environ,
                [(name, web_environ.header_key(name)) for name in record_headers],
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

    def split(self, test_name: str, populations: Populations = None) -> Any:
        """This visitor's population in split test ``test_name``.

        ``populations`` is ``None`` (``True`` or ``False``), a list or tuple,
        or a dict of population -> weight. The choice is deterministic per
        visitor and test, and the same as Manhattan 0.3 made. The assignment
        is recorded once per visitor object. ``test_name`` and every
        ``str(population)`` pass the same check as goal names.
        """
        records.check_name(test_name, "test_name")
        names, starts = check_populations(populations)
        selected = pick(draw(self.id, test_name), names, starts)
        key = (test_name, str(selected))
        if self._split_logged is None:
            self._split_logged = set()
        if key not in self._split_logged:
            # Both may raise: nothing is recorded, and the next call checks again.
            weights = weights_field(populations)
            stamp = self._stamp()
            self._split_logged.add(key)
            self.record(records.split_record(stamp, self.id, self.site_id, *key, weights))
        return selected

    def flush(self) -> None:
        """Write the buffered records to the log, in order, as one batch."""
        if self.buffer:
            batch, self.buffer = self.buffer, []
            self.log.write(batch)
