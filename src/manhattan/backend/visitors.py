"""The aggregator's visitor states: a bounded cache over the store's.

The memory half of :class:`~manhattan.backend.aggregate.Aggregator`
(which inherits :class:`VisitorStates`): states in use, states fetched
ahead of use, and which changed since the last drain.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from manhattan.backend.fields import name_problem
from manhattan.backend.state import VisitorState
from manhattan.records.vocabulary import UNREADABLE_STATE

Loader = Callable[[Sequence[str]], dict[str, str]]
"""Fetches the stored states of visitor ids (those without one are left out)."""


class VisitorStates:
    """Visitor states of an aggregator (the attributes below are its)."""

    visitors: dict[str, VisitorState]
    loader: Loader
    capacity: int
    filtered: Counter[str]
    _stored: dict[str, str | None]
    _dirty: set[str]

    def unknown(self, visitor_ids: Iterable[str]) -> list[str]:
        """Those of ``visitor_ids`` whose state is not in memory (to prefetch);
        ids no store can hold are left out (their records are skipped)."""
        cached, stored = self.visitors, self._stored
        unknown = {vid for vid in visitor_ids if vid not in cached and vid not in stored}
        return [vid for vid in unknown if name_problem(vid) is None]

    def adopt(self, states: dict[str, str], looked_up: Iterable[str] = ()) -> None:
        """Take serialized states fetched from the store (decoded on first use).

        ``looked_up`` are the ids that were asked for: those without a state
        are new visitors, so meeting them costs no second look-up.
        """
        stored = self._stored
        for vid in looked_up:
            stored.setdefault(vid, None)
        stored.update(states)

    def _state(self, visitor_id: str) -> VisitorState:
        visitors = self.visitors
        state = visitors.pop(visitor_id, None)
        if state is None:
            stored = self._stored
            if visitor_id in stored:
                text = stored.pop(visitor_id)
            else:
                text = self.loader([visitor_id]).get(visitor_id)
            state = VisitorState() if text is None else self._decode(text)
        visitors[visitor_id] = state  # most recently used last
        self._dirty.add(visitor_id)
        return state

    def _decode(self, text: str) -> VisitorState:
        try:
            return VisitorState.from_json(text)
        except ValueError:
            # A damaged row must not stop counting: the visitor starts afresh.
            self.filtered[UNREADABLE_STATE] += 1
            return VisitorState()

    def evict(self) -> None:
        """Drop the least recently used states beyond ``capacity`` (committed ones only)."""
        visitors = self.visitors
        excess = len(visitors) - self.capacity
        if excess > 0:
            for vid in list(visitors)[:excess]:
                if vid not in self._dirty:
                    del visitors[vid]
        self._stored.clear()
