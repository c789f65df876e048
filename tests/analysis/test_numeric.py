"""The shared numerical primitives, against closed forms.

SciPy checks them through :mod:`manhattan.analysis.special`, ``bayes`` and
``fisher``; these tests pin what each promises on its own.
"""

from __future__ import annotations

import functools
import itertools
import math

import pytest

from manhattan.analysis._numeric import (
    bd0,
    clear_caches,
    lentz,
    normal_cdf,
    normal_pdf,
    remember,
    stirlerr,
)


@pytest.mark.parametrize(
    ("b0", "a", "b", "value"),
    [
        # 1 + 1/(2 + 1/(2 + ...)) = sqrt(2); 1 + 1/(1 + 1/(1 + ...)) = the golden ratio.
        pytest.param(1.0, 1.0, 2.0, math.sqrt(2.0), id="sqrt-2"),
        pytest.param(1.0, 1.0, 1.0, (1.0 + math.sqrt(5.0)) / 2.0, id="golden-ratio"),
        # 2 + 1/(2 + 1/(2 + ...)) = 1 + sqrt(2)
        pytest.param(2.0, 1.0, 2.0, 1.0 + math.sqrt(2.0), id="silver-ratio"),
    ],
)
def test_lentz_evaluates_a_continued_fraction(b0: float, a: float, b: float, value: float) -> None:
    assert lentz(b0, itertools.repeat((a, b), 100)) == pytest.approx(value, rel=1e-14)


def test_lentz_says_when_the_terms_run_out_first() -> None:
    assert lentz(1.0, itertools.repeat((1.0, 2.0), 3)) is None


@pytest.mark.parametrize(
    "z", [pytest.param(z, id=str(z)) for z in (0.5, 1.0, 3.0, 14.9, 15.0, 40.0, 1e3)]
)
def test_stirlerr_is_lgamma_less_stirlings_formula(z: float) -> None:
    expected = math.lgamma(z) - ((z - 0.5) * math.log(z) - z + 0.5 * math.log(2 * math.pi))
    assert stirlerr(z) == pytest.approx(expected, rel=1e-9, abs=1e-13)


@pytest.mark.parametrize(
    ("x", "m"),
    [
        pytest.param(10.0, 10.5, id="close"),
        pytest.param(10.0, 30.0, id="far"),
        pytest.param(1e300, 1e-300, id="ratio-overflows"),
    ],
)
def test_bd0_is_the_deviance(x: float, m: float) -> None:
    expected = x * (math.log(x) - math.log(m)) + m - x
    assert bd0(x, m, x - m) == pytest.approx(expected, rel=1e-12)


def test_the_normal_density_and_distribution_at_known_points() -> None:
    assert normal_pdf(0.0) == pytest.approx(1.0 / math.sqrt(2.0 * math.pi), rel=1e-15)
    assert normal_cdf(0.0) == 0.5
    assert normal_cdf(1.959963984540054) == pytest.approx(0.975, rel=1e-14)
    assert normal_cdf(-1.959963984540054) == pytest.approx(0.025, rel=1e-13)


def test_clear_caches_empties_every_registered_cache() -> None:
    computed: list[int] = []

    @remember
    @functools.lru_cache(maxsize=4)
    def square(x: int) -> int:
        computed.append(x)
        return x * x

    assert square(3) == square(3) == 9
    assert computed == [3]  # the second came from the cache
    clear_caches()
    assert square.cache_info().currsize == 0
    assert square(3) == 9
    assert computed == [3, 3]
