"""Experiments: split tests with a declared plan, and QA links to show one population.

Names are imported on first use, so that the middlewares, which read QA
links with :mod:`manhattan.experiments.links`, load nothing more.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from manhattan._lazy import exports

if TYPE_CHECKING:
    from manhattan.experiments.experiment import Experiment
    from manhattan.experiments.links import force_link

__all__ = ["Experiment", "force_link"]

__getattr__, __dir__ = exports(
    __name__,
    {
        "Experiment": "manhattan.experiments.experiment",
        "force_link": "manhattan.experiments.links",
    },
)
