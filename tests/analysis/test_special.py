"""Special functions against SciPy, exact rationals and closed forms.

Every figure the experiment analysis shows goes through these functions, so
each is checked on a few hundred seeded random inputs per regime against
SciPy (a test-only dependency) to 1e-9 relative error, plus the edge cases.
Where SciPy itself is off (a few incomplete-beta corners,
Student t near 0) the reference is exact rational arithmetic, a
high-precision ``decimal`` series, or a closed form instead.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from decimal import Decimal, localcontext

import pytest
from scipy import special as sp
from scipy import stats

from manhattan.analysis import special
from manhattan.analysis.special import (
    betainc,
    chi2_sf,
    norm_cdf,
    norm_pdf,
    norm_ppf,
    norm_sf,
    t_sf,
    t_two_sided,
)
from tests.analysis.closeness import assert_all_close, log_uniform

# -- Normal ----------------------------------------------------------------


def normal_points(regime: str) -> list[float]:
    rng = random.Random(f"normal-{regime}")
    if regime == "central":
        return [rng.gauss(0.0, 2.0) for _ in range(200)]
    if regime == "tails":
        return [rng.uniform(-40.0, 40.0) for _ in range(200)]
    # Beyond |x| = 38.5 the lower tail underflows: see test_normal_far_tails.
    return [0.0, -0.0, 1e-300, -1e-300, 1.0, -1.0, 8.3, -8.3, 37.5, -37.5, 38.4, -38.4]


@pytest.mark.parametrize(
    "regime",
    [
        pytest.param("central", id="central"),
        pytest.param("tails", id="tails"),
        pytest.param("edges", id="edges"),
    ],
)
def test_normal_functions_match_scipy(regime: str) -> None:
    points = normal_points(regime)
    assert_all_close((x, norm_cdf(x), float(sp.ndtr(x))) for x in points)
    assert_all_close((x, norm_sf(x), float(stats.norm.sf(x))) for x in points)
    assert_all_close((x, norm_pdf(x), float(stats.norm.pdf(x))) for x in points)


@pytest.mark.parametrize(
    ("x", "cdf", "sf", "pdf"),
    [
        pytest.param(0.0, 0.5, 0.5, 1 / math.sqrt(2 * math.pi), id="zero"),
        pytest.param(math.inf, 1.0, 0.0, 0.0, id="plus-inf"),
        pytest.param(-math.inf, 0.0, 1.0, 0.0, id="minus-inf"),
        # Phi(-40) = 3.7e-350 underflows: only the far side is representable.
        pytest.param(40.0, 1.0, 0.0, 0.0, id="plus-40"),
        pytest.param(-40.0, 0.0, 1.0, 0.0, id="minus-40"),
    ],
)
def test_normal_far_tails(x: float, cdf: float, sf: float, pdf: float) -> None:
    assert norm_cdf(x) == cdf
    assert norm_sf(x) == sf
    assert norm_pdf(x) == pytest.approx(pdf, rel=1e-15, abs=1e-300)


def test_normal_tail_keeps_relative_precision() -> None:
    # Mills' ratio: sf(x) = pdf(x) / x * (1 - 1/x^2 + 3/x^4 - 15/x^6 + ...),
    # an independent restatement; at x = 37 the omitted terms are below 2e-15.
    x = 37.0
    series = 1 - 1 / x**2 + 3 / x**4 - 15 / x**6 + 105 / x**8 - 945 / x**10
    expected = math.exp(-x * x / 2) / math.sqrt(2 * math.pi) / x * series
    assert norm_sf(x) == pytest.approx(expected, rel=1e-13)
    assert norm_cdf(-x) == pytest.approx(expected, rel=1e-13)


def ppf_points(regime: str) -> list[float]:
    rng = random.Random(f"ppf-{regime}")
    if regime == "uniform":
        return [rng.random() or 0.5 for _ in range(200)]
    if regime == "log-tails":
        points = []
        for _ in range(150):
            p = log_uniform(rng, 1e-323, 0.5)
            points.append(p)
            if 1.0 - p < 1.0:
                points.append(1.0 - p)
        return points
    return [
        5e-324,
        1e-320,
        1e-310,
        2.2250738585072014e-308,
        1e-300,
        1e-299,
        1e-20,
        0.024249999999999997,
        0.02425,
        0.25,
        0.5 - 2**-54,
        0.5,
        0.5 + 2**-53,
        0.5 + 1e-12,
        0.975,
        1 - 1e-10,
        1 - 2**-53,
    ]


@pytest.mark.parametrize(
    "regime",
    [
        pytest.param("uniform", id="uniform"),
        pytest.param("log-tails", id="log-tails"),
        pytest.param("edges", id="edges"),
    ],
)
def test_norm_ppf_matches_scipy(regime: str) -> None:
    assert_all_close((p, norm_ppf(p), float(sp.ndtri(p))) for p in ppf_points(regime))


def test_norm_ppf_inverts_the_cdf() -> None:
    rng = random.Random("ppf-roundtrip")
    points = [log_uniform(rng, 1e-300, 0.5) for _ in range(100)]
    points += [1 - p for p in points if p > 1e-15]
    # The cdf's own condition number is |x| * pdf / cdf ~ x^2 in the tail.
    assert_all_close(((p, norm_cdf(norm_ppf(p)), p) for p in points), rel=1e-12)


def test_norm_ppf_exact_values() -> None:
    assert norm_ppf(0.5) == 0.0
    assert norm_ppf(0.975) == pytest.approx(1.959963984540054, rel=1e-15)
    assert norm_ppf(0.025) == pytest.approx(-1.959963984540054, rel=1e-15)


# -- Incomplete beta -----------------------------------------------------------


def beta_points(regime: str) -> list[tuple[float, float, float]]:
    rng = random.Random(f"beta-{regime}")
    points = []
    if regime == "small":
        for _ in range(150):
            points.append((log_uniform(rng, 1e-3, 10), log_uniform(rng, 1e-3, 10), rng.random()))
    elif regime == "mixed":
        for _ in range(200):
            a, b = log_uniform(rng, 1e-3, 1e8), log_uniform(rng, 1e-3, 1e8)
            mean = a / (a + b)
            sd = math.sqrt(a * b / (a + b) ** 2 / (a + b + 1))
            x = (
                rng.gauss(mean, sd * rng.choice([0.5, 2.0, 10.0]))
                if rng.random() < 0.6
                else rng.random()
            )
            points.append((a, b, min(max(x, 0.0), 1.0)))
    elif regime == "large":
        for _ in range(150):
            a, b = log_uniform(rng, 1e4, 1e8), log_uniform(rng, 1e4, 1e8)
            mean = a / (a + b)
            sd = math.sqrt(a * b / (a + b) ** 2 / (a + b + 1))
            points.append((a, b, min(max(mean + rng.gauss(0.0, 5.0) * sd, 0.0), 1.0)))
    elif regime == "posteriors":
        # Beta(1 + conversions, 1 + failures), as the Bayesian analysis uses.
        for _ in range(100):
            n = int(log_uniform(rng, 10, 1e8))
            k = min(n, int(n * log_uniform(rng, 1e-5, 1)))
            a, b = 1.0 + k, 1.0 + n - k
            sd = math.sqrt(a * b / (a + b) ** 2 / (a + b + 1))
            points.append((a, b, min(max(a / (a + b) + rng.gauss(0.0, 3.0) * sd, 0.0), 1.0)))
    else:
        points = [
            (2.0, 3.0, 0.0),
            (2.0, 3.0, 1.0),
            (1e-5, 1e-5, 0.5),
            (1e-5, 1e-5, 1e-300),
            (1e-5, 1e-5, 1e-310),  # (a + b) x underflows
            (1e-5, 1e-5, 1 - 2**-53),
            (1e-5, 1e8, 1e-7),
            (1e8, 1e-5, 1 - 1e-7),
            (1e6, 1e-4, 1 - 1e-5),
            (1e10, 1.0, 1e-310),  # x**a underflows, a / ((a + b) x) overflows
            (1e8, 1e8, 0.5),
            (1e8, 1e8, 0.50001),
            (3e8, 3e8, 0.4999),
            (0.5, 1e15, 1e-15),
            (1e15, 0.5, 1 - 1e-15),
            (1.0, 1.0, 0.3),
            (5.0, 1.0, 0.7),
        ]
    return points


@pytest.mark.parametrize(
    "regime",
    [
        pytest.param("small", id="small"),
        pytest.param("mixed", id="mixed"),
        pytest.param("large", id="large"),
        pytest.param("posteriors", id="posteriors"),
        pytest.param("edges", id="edges"),
    ],
)
def test_betainc_matches_scipy(regime: str) -> None:
    assert_all_close(
        ((a, b, x), betainc(a, b, x), float(sp.betainc(a, b, x)))
        for a, b, x in beta_points(regime)
    )


@pytest.mark.parametrize(
    ("a", "b", "x", "expected"),
    [
        # I_x(1, 1) = x; I_x(a, 1) = x**a; I_x(1, b) = 1 - (1 - x)**b.
        pytest.param(1.0, 1.0, 0.3, 0.3, id="uniform"),
        pytest.param(5.0, 1.0, 0.7, 0.7**5, id="power"),
        pytest.param(1.0, 1e8, 1e-8, -math.expm1(1e8 * math.log1p(-1e-8)), id="one-minus-power"),
        # I_{1/2}(a, a) = 1/2 by symmetry.
        pytest.param(1e8, 1e8, 0.5, 0.5, id="symmetric-1e8"),
        pytest.param(0.5, 0.5, 0.5, 0.5, id="symmetric-arcsine"),
        # Arcsine law: I_x(1/2, 1/2) = 2/pi asin(sqrt(x)).
        pytest.param(0.5, 0.5, 0.1, 2 / math.pi * math.asin(math.sqrt(0.1)), id="arcsine"),
    ],
)
def test_betainc_closed_forms(a: float, b: float, x: float, expected: float) -> None:
    assert betainc(a, b, x) == pytest.approx(expected, rel=1e-13)


def decimal_lgamma(z: Decimal) -> Decimal:
    """log Gamma(z) to ~1e-22 absolute: recurrence up to z >= 40, then Stirling's series."""
    shift = Decimal(0)
    while z < 40:
        shift += z.ln()
        z += 1
    two_pi = Decimal("6.28318530717958647692528676655900576839433879875021164194989")
    result = (z - Decimal("0.5")) * z.ln() - z + two_pi.ln() / 2
    bernoulli = [(1, 12), (-1, 360), (1, 1260), (-1, 1680), (1, 1188), (-691, 360360)]
    power = z
    for num, den in bernoulli:
        result += Decimal(num) / Decimal(den) / power
        power *= z * z
    return result - shift


def decimal_betainc_series(a: float, b: float, x: float) -> Decimal:
    """I_x(a, b) = x^a / B(a, b) * sum((1 - b)_j / j! x^j / (a + j)), in decimals."""
    da, db, dx = Decimal(a), Decimal(b), Decimal(x)
    front = (
        da * dx.ln() - decimal_lgamma(da) - decimal_lgamma(db) + decimal_lgamma(da + db)
    ).exp()
    total, term, j = Decimal(0), Decimal(1), 0
    while True:
        part = term / (da + j)
        total += part
        # Past j = b x the terms only shrink.
        if j > b * x and abs(part) < Decimal("1e-45") * abs(total):
            return front * total
        j += 1
        term *= (j - db) / j * dx


def decimal_betainc(a: float, b: float, x: float) -> float:
    """An independent high-precision I_x(a, b), for inputs where a series converges.

    The series in x (or, for 1 - I_y(b, a), in y = 1 - x) cancels about
    b x / ln 10 digits and needs about 1 / -log10(x) terms per digit: the
    cheaper one is summed with enough digits to spare.
    """
    y = float(1 - Decimal(x))  # exact: x is a binary fraction

    def cost(b_: float, x_: float) -> tuple[float, float]:
        digits = b_ * x_ / math.log(10)
        return (digits + 50) / -math.log10(x_), digits

    (direct, direct_digits), (other, other_digits) = cost(b, x), cost(a, y)
    with localcontext() as ctx:
        if direct <= other:
            ctx.prec = 60 + int(direct_digits)
            return float(decimal_betainc_series(a, b, x))
        ctx.prec = 60 + int(other_digits)
        return float(1 - decimal_betainc_series(b, a, y))


@pytest.mark.parametrize(
    ("a", "b", "x"),
    [
        # SciPy (Boost) is off by ~2e-9 relative at these two.
        pytest.param(17.0, 68255018.0, 2.528247304108659e-07, id="binomial-sum"),
        pytest.param(2316.6258432855657, 29.711470637258078, 0.7292719285436103, id="far-tail"),
        # The textbook continued fraction loses 8 digits here (a + b large, x
        # close to 1): Student t with 4.5e8 degrees of freedom looks like it.
        pytest.param(225436020.8308677, 0.1759620548059043, 0.9999999824942877, id="huge-a"),
        pytest.param(0.0017348519080218735, 275148896.7057598, 4.715537319153046e-10, id="huge-b"),
        pytest.param(
            6.683177052831782e-05, 20673.006826356883, 3.836081001704907e-09, id="tiny-a"
        ),
        pytest.param(7.601363786424717, 0.02, 0.9196476569916402, id="tiny-b"),
    ],
)
def test_betainc_matches_high_precision_series(a: float, b: float, x: float) -> None:
    assert betainc(a, b, x) == pytest.approx(decimal_betainc(a, b, x), rel=1e-12)


# -- Student t -------------------------------------------------------------------


def t_points(regime: str) -> list[tuple[float, float]]:
    rng = random.Random(f"t-{regime}")
    points = []
    if regime == "named-df":
        for df in (0.5, 1.0, 2.5, 30.0, 1e6, 1e9):
            for _ in range(40):
                kind = rng.random()
                if kind < 0.4:
                    t = rng.gauss(0.0, 3.0)
                elif kind < 0.7:
                    t = rng.uniform(-50.0, 50.0)
                else:
                    t = rng.choice([-1.0, 1.0]) * log_uniform(rng, 1e-3, 1e150)
                # SciPy loses digits near t = 0 (2e-10 at t = 7e-8, df = 1);
                # tiny t is checked against closed forms below.
                if abs(t) >= 1e-3:
                    points.append((t, df))
            points += [(0.0, df), (1e150, df), (-1e150, df)]
    else:
        for _ in range(200):
            df = log_uniform(rng, 0.05, 1e12)
            points.append((rng.gauss(0.0, 4.0) or 1.0, df))
    return points


@pytest.mark.parametrize(
    "regime",
    [pytest.param("named-df", id="named-df"), pytest.param("fractional-df", id="fractional-df")],
)
def test_t_matches_scipy(regime: str) -> None:
    points = t_points(regime)
    assert_all_close(((t, df), t_sf(t, df), float(stats.t.sf(t, df))) for t, df in points)
    assert_all_close(
        ((t, df), t_two_sided(t, df), min(1.0, 2 * float(stats.t.sf(abs(t), df))))
        for t, df in points
    )


def cauchy_sf(t: float) -> float:
    return math.atan2(1.0, t) / math.pi


def t2_sf(t: float) -> float:
    """Student t with 2 degrees of freedom: 1/2 - t / (2 sqrt(t^2 + 2)), without cancellation."""
    if t < 0:
        return 1.0 - t2_sf(-t)
    r = t * math.sqrt(1 + 2 / (t * t)) if t > 1 else math.sqrt(t * t + 2)
    return 1.0 / ((r + t) * r)


@pytest.mark.parametrize(
    "t",
    [
        pytest.param(t, id=f"{t:g}")
        for t in (1e-8, -6.7e-8, 1e-3, 0.5, 3.0, -3.0, 1e10, 1e160, -1e160, 1e300, math.inf)
    ],
)
def test_t_closed_forms(t: float) -> None:
    assert t_sf(t, 1) == pytest.approx(cauchy_sf(t), rel=1e-13, abs=1e-300)
    assert t_sf(t, 2) == pytest.approx(t2_sf(t), rel=1e-13, abs=1e-300)


def test_t_is_normal_for_infinite_df() -> None:
    for t in (-3.0, 0.0, 1.5, 30.0):
        assert t_sf(t, math.inf) == norm_sf(t)
    assert t_two_sided(1.959963984540054, math.inf) == pytest.approx(0.05, rel=1e-14)


def test_t_symmetry_and_bounds() -> None:
    assert t_sf(0.0, 3.0) == 0.5
    assert t_two_sided(0.0, 3.0) == 1.0
    assert t_two_sided(-2.0, 7.5) == t_two_sided(2.0, 7.5)
    assert t_sf(-math.inf, 4.0) == 1.0


# -- Chi-square ----------------------------------------------------------------


def chi2_points(regime: str) -> list[tuple[float, float]]:
    rng = random.Random(f"chi2-{regime}")
    if regime == "grid":
        return [(x, k) for k in (1.0, 2.0, 3.0, 10.0, 100.0) for x in range(0, 2001, 10)]
    if regime == "far-tail":
        # Where SciPy's value is ~1e-300, and a little short of it.
        return [
            (float(stats.chi2.isf(p, k)), k)
            for k in (1.0, 2.0, 3.0, 10.0, 100.0, 1000.0)
            for p in (1e-300, 1e-250, 1e-100, 1e-20)
        ]
    points = []
    for _ in range(200):
        k = log_uniform(rng, 0.1, 1e5)
        x = max(0.0, k + rng.gauss(0.0, 1.0) * math.sqrt(2 * k) * rng.choice([0.3, 1.0, 5.0]))
        points.append((x, k))
    return points


@pytest.mark.parametrize(
    "regime",
    [
        pytest.param("grid", id="grid"),
        pytest.param("far-tail", id="far-tail"),
        pytest.param("random", id="random"),
    ],
)
def test_chi2_matches_scipy(regime: str) -> None:
    assert_all_close(
        ((x, k), chi2_sf(x, k), float(stats.chi2.sf(x, k))) for x, k in chi2_points(regime)
    )


@pytest.mark.parametrize(
    "x", [pytest.param(x, id=f"{x:g}") for x in (0.0, 1e-300, 0.5, 3.84, 50.0, 700.0, 1300.0)]
)
def test_chi2_closed_forms(x: float) -> None:
    # k = 2 is exponential; k = 1 is a squared normal.
    assert chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-13, abs=1e-300)
    assert chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-12, abs=1e-300)


def test_chi2_limits() -> None:
    assert chi2_sf(0.0, 3.0) == 1.0
    assert chi2_sf(math.inf, 3.0) == 0.0


# -- Bad input ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "name"),
    [
        pytest.param(lambda: norm_cdf(math.nan), "x", id="cdf-nan"),
        pytest.param(lambda: norm_sf("high"), "x", id="sf-text"),  # type: ignore[arg-type]
        pytest.param(lambda: norm_pdf(None), "x", id="pdf-none"),  # type: ignore[arg-type]
        pytest.param(lambda: norm_ppf(0.0), "p", id="ppf-0"),
        pytest.param(lambda: norm_ppf(1.0), "p", id="ppf-1"),
        pytest.param(lambda: norm_ppf(-0.5), "p", id="ppf-negative"),
        pytest.param(lambda: norm_ppf(math.nan), "p", id="ppf-nan"),
        pytest.param(lambda: betainc(0.0, 1.0, 0.5), "a", id="beta-a-0"),
        pytest.param(lambda: betainc(1.0, -1.0, 0.5), "b", id="beta-b-negative"),
        pytest.param(lambda: betainc(1.0, math.inf, 0.5), "b", id="beta-b-inf"),
        pytest.param(lambda: betainc(1.0, 1.0, 1.5), "x", id="beta-x-above"),
        pytest.param(lambda: betainc(1.0, 1.0, -0.1), "x", id="beta-x-below"),
        pytest.param(lambda: betainc(1.0, 1.0, math.nan), "x", id="beta-x-nan"),
        pytest.param(lambda: t_sf(1.0, 0.0), "df", id="t-df-0"),
        pytest.param(lambda: t_sf(1.0, -3.0), "df", id="t-df-negative"),
        pytest.param(lambda: t_sf(1.0, math.nan), "df", id="t-df-nan"),
        pytest.param(lambda: t_sf(math.nan, 3.0), "t", id="t-nan"),
        pytest.param(lambda: t_two_sided(math.nan, 3.0), "t", id="t2-nan"),
        pytest.param(lambda: chi2_sf(-1.0, 3.0), "x", id="chi2-x-negative"),
        pytest.param(lambda: chi2_sf(1.0, 0.0), "k", id="chi2-k-0"),
        pytest.param(lambda: chi2_sf(1.0, math.inf), "k", id="chi2-k-inf"),
    ],
)
def test_bad_input_names_the_argument(call: Callable[[], float], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must"):
        call()


@pytest.mark.parametrize(
    "call",
    [
        # The fraction at the mean of Beta(1e8, 1e8) needs ~2,500 terms.
        pytest.param(lambda: betainc(1e8, 1e8, 0.5), id="beta-fraction"),
        # Q(a, x) for x just below a + 1 (series) and just above (fraction).
        pytest.param(lambda: chi2_sf(2e6, 2e6), id="gamma-series"),
        pytest.param(lambda: chi2_sf(2e6 + 3e3, 2e6), id="gamma-fraction"),
    ],
)
def test_non_convergence_is_an_error(
    call: Callable[[], float], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(special, "_MAX_TERMS", 20)
    with pytest.raises(ArithmeticError, match="no convergence in 20 terms"):
        call()
