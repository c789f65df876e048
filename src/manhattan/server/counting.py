"""What a server counts, from its settings: one builder of aggregators.

``manhattan-server`` counts with the aggregators :func:`counting` builds,
and ``manhattan-erase`` replays a visitor through the very same ones, so
that what it takes out of the counts is what the server put in. A new
setting of the aggregator is added here, once, for both.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from manhattan.backend import rollups as builtin_rollups
from manhattan.backend.aggregate import Aggregator
from manhattan.backend.complexgoals import parse_complex_goal
from manhattan.backend.funnels import Funnel, parse_funnel, parse_window
from manhattan.backend.live import LiveVisitors
from manhattan.backend.pages import PageCounter, PathLoader, default_page_rollups
from manhattan.server.config import WEEK_STARTS, ConfigError, Settings


@dataclass(frozen=True)
class Counting:
    """A server's way of counting: :meth:`aggregator` makes a fresh
    aggregator (a worker started again after a lost lease needs one);
    ``funnels`` are its declared funnels, for the store to list."""

    new: Callable[[PathLoader | None], Aggregator]
    funnels: tuple[Funnel, ...]

    def aggregator(self, loader: PathLoader | None = None) -> Aggregator:
        """A fresh aggregator; ``loader`` reads the page paths the store
        admitted (see :class:`~manhattan.backend.pages.PathCap`)."""
        return self.new(loader)


def counting(settings: Settings, *, live: LiveVisitors | None = None) -> Counting:
    """How ``settings`` count (rollups, complex goals, funnels, pages,
    crawler list, capacity), each aggregator telling ``live`` of the
    visitors it sees; :class:`ConfigError` naming what is wrong, at once."""
    try:
        rollups = builtin_rollups.build_rollups(
            settings.rollups,
            tz=settings.timezone,
            first_weekday=WEEK_STARTS[settings.week_start],
            networks=settings.networks,
        )
        complex_goals = [parse_complex_goal(spec) for spec in settings.complex]
        within = None if settings.within is None else parse_window(settings.within)
        funnels = tuple(parse_funnel(spec, within) for spec in settings.funnel)
        page_rollups = (
            default_page_rollups(rollups)
            if settings.page_rollups is None
            else settings.page_rollups
        )

        def new(loader: PathLoader | None = None) -> Aggregator:
            pages = None
            if page_rollups:
                pages = PageCounter(
                    rollups,
                    page_rollups,
                    max_paths=settings.max_paths_per_day,
                    keep=settings.keep_query_params,
                    loader=loader,
                )
            return Aggregator(
                rollups,
                complex_goals,
                is_crawler=builtin_rollups.is_crawler,
                capacity=settings.capacity,
                live=live,
                funnels=funnels,
                pages=pages,
            )

        new()  # what is wrong with them, now
    except (TypeError, ValueError) as exc:
        raise ConfigError(str(exc)) from None
    return Counting(new, funnels)
