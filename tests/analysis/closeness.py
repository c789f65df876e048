"""What the analysis tests share: how close to a reference is close enough."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable

REL = 1e-9
ABS = 1e-300  # below this SciPy and we both lose digits to underflow


def assert_all_close(
    cases: Iterable[tuple[object, float, float]], rel: float = REL, abs_: float = ABS
) -> None:
    """Every (input, got, want) agrees; the failure lists the disagreements."""
    bad = [
        (args, got, want)
        for args, got, want in cases
        if not math.isclose(got, want, rel_tol=rel, abs_tol=abs_)
    ]
    assert not bad, f"{len(bad)} mismatches, first ones: {bad[:5]}"


def log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    """A number spread evenly in log scale between ``lo`` and ``hi``."""
    return 10.0 ** rng.uniform(math.log10(lo), math.log10(hi))
