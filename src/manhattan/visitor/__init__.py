"""Visitors, their records and split-test population choice.

``Visitor`` and the value constants are importable from here, as in 0.3.
"""

from manhattan.visitor.populations import Populations, choose_population
from manhattan.visitor.records import (
    AVERAGE,
    CURRENCY,
    NUMERIC,
    PER,
    PERCENTAGE,
    RATE,
    SUM,
    Record,
)
from manhattan.visitor.visitor import Visitor

__all__ = [
    "AVERAGE",
    "CURRENCY",
    "NUMERIC",
    "PER",
    "PERCENTAGE",
    "RATE",
    "SUM",
    "Populations",
    "Record",
    "Visitor",
    "choose_population",
]
