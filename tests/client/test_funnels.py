"""``manhattan-client funnel`` and ``manhattan-export funnels`` against a
real query service over a real SQLite store filled by the real aggregator
(the stream below: its figures worked out by hand from the funnel rules)."""

from __future__ import annotations

import argparse
import csv
import io
import json
from collections.abc import Iterator

import pytest

from manhattan.backend.aggregate import Aggregator
from manhattan.backend.funnels import parse_funnel
from manhattan.backend.persistence import SQLStore
from manhattan.client import export, shell
from manhattan.client.funnels import FUNNEL_COLUMNS, rates, variant
from manhattan.server.service import QueryService, StoreQueries
from tests.backend.test_aggregate import DAY1, ROLLUPS, goal, pixel, split
from tests.cli_output import error_line

CHECKOUT = parse_funnel("Checkout|Viewed>Cart>Paid", 86400.0)
SIGNUP = parse_funnel("Signup|Viewed>Signed Up")


def visitor(vid: str, population: str, site: str, *steps: str) -> list[list[str]]:
    return [
        pixel(vid, site=site),
        split(vid, "Button", population, site=site),
        *(goal(vid, name, at=DAY1 + i, site=site) for i, name in enumerate(steps)),
    ]


@pytest.fixture
def address() -> Iterator[str]:
    """4 visitors reach Viewed, 2 of them Cart, 1 Paid: a (red, site 1)
    every step, b (blue, site 2) Viewed and Cart, c and d (red, site 1)
    Viewed only; nobody signs up."""
    aggregator = Aggregator(ROLLUPS, funnels=[CHECKOUT, SIGNUP])
    aggregator.add_all(
        [
            *visitor("a", "red", "1", "Viewed", "Cart", "Paid"),
            *visitor("b", "blue", "2", "Viewed", "Cart"),
            *visitor("c", "red", "1", "Viewed"),
            *visitor("d", "red", "1", "Viewed"),
        ]
    )
    with SQLStore("sqlite://") as store:
        store.declare_funnels([CHECKOUT, SIGNUP])
        store.commit(aggregator.drain())
        with QueryService(StoreQueries(store), "tcp://127.0.0.1:0") as service:
            yield service.address


@pytest.fixture
def empty_address() -> Iterator[str]:
    with SQLStore("sqlite://") as store, QueryService(store, "tcp://127.0.0.1:0") as service:
        yield service.address


# -- Pure parts ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("visitors", "expected"),
    [
        pytest.param([4, 2, 1], [(1.0, 1.0), (0.5, 0.5), (0.25, 0.5)], id="halving"),
        pytest.param([0, 0], [(None, None), (None, None)], id="nobody"),
        pytest.param([2, 0, 0], [(1.0, 1.0), (0.0, 0.0), (0.0, None)], id="none-after"),
        pytest.param([], [], id="no-steps"),
    ],
)
def test_rates(visitors: list[int], expected: list[tuple[float | None, float | None]]) -> None:
    assert rates(visitors) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Button/red", ("Button", "red"), id="plain"),
        pytest.param("A/B test/x", ("A/B test", "x"), id="slash-in-test"),
    ],
)
def test_variant(text: str, expected: tuple[str, str]) -> None:
    assert variant(text) == expected


@pytest.mark.parametrize("text", ["red", "/red", "Button/"])
def test_bad_variants(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="must be TEST/POPULATION"):
        variant(text)


# -- manhattan-client funnel ---------------------------------------------------------


def test_funnel_lists_the_declared_funnels(
    capsys: pytest.CaptureFixture[str], address: str
) -> None:
    assert shell.main(["--connect", address, "funnel"]) == 0
    assert capsys.readouterr() == (
        "Checkout: Viewed > Cart > Paid (within 86400 s)\nSignup: Viewed > Signed Up\n",
        "",
    )


def test_funnel_without_declarations(
    capsys: pytest.CaptureFixture[str], empty_address: str
) -> None:
    assert shell.main(["--connect", empty_address, "funnel"]) == 0
    assert capsys.readouterr().out.startswith("no funnel is declared")


@pytest.mark.parametrize(
    ("flags", "rows"),
    [
        pytest.param(
            [],
            [
                ("4", "100.0%", "100.0%", "Viewed"),
                ("2", "50.0%", "50.0%", "Cart"),
                ("1", "25.0%", "50.0%", "Paid"),
            ],
            id="all",
        ),
        pytest.param(
            ["--variant", "Button/blue"],
            [
                ("1", "100.0%", "100.0%", "Viewed"),
                ("1", "100.0%", "100.0%", "Cart"),
                ("0", "0.0%", "0.0%", "Paid"),
            ],
            id="population",
        ),
        pytest.param(
            ["--site", "1", "--rollup", "day", "--bucket", "2023-11-14"],
            [
                ("3", "100.0%", "100.0%", "Viewed"),
                ("1", "33.3%", "33.3%", "Cart"),
                ("1", "33.3%", "100.0%", "Paid"),
            ],
            id="site-day",
        ),
    ],
)
def test_funnel_shows_each_step(
    capsys: pytest.CaptureFixture[str], address: str, flags: list[str], rows: list[tuple[str, ...]]
) -> None:
    assert shell.main(["--connect", address, "funnel", "Checkout", *flags]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["visitors", "of", "first", "of", "previous", "step"]
    assert [tuple(line.split(maxsplit=3)) for line in lines[1:]] == rows
    assert err == ""


def test_a_step_nobody_reached_has_no_rate(
    capsys: pytest.CaptureFixture[str], address: str
) -> None:
    assert shell.main(["--connect", address, "funnel", "Signup", "--site", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines[1:]] == [
        ["1", "100.0%", "100.0%", "Viewed"],
        ["0", "0.0%", "0.0%", "Signed", "Up"],
    ]


def test_an_unknown_funnel_is_refused(capsys: pytest.CaptureFixture[str], address: str) -> None:
    assert shell.main(["--connect", address, "funnel", "Chekout"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "manhattan-client: QueryError: no funnel named 'Chekout' (did you mean 'Checkout'?)\n"
    )


def test_a_bad_variant_flag_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], address: str
) -> None:
    assert shell.main(["--connect", address, "funnel", "Checkout", "--variant", "red"]) == 2
    assert "must be TEST/POPULATION" in error_line(capsys.readouterr(), "manhattan-client")


# -- manhattan-export funnels --------------------------------------------------------


def exported(address: str, *argv: str) -> list[dict[str, str]]:
    out = io.StringIO()
    assert export.main(["--connect", address, "funnels", *argv], out) == 0
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def test_funnels_is_an_export() -> None:
    assert export.EXPORTERS["funnels"].columns == FUNNEL_COLUMNS


def test_export_every_funnel_at_every_site(address: str) -> None:
    rows = exported(address)
    assert list(rows[0]) == list(FUNNEL_COLUMNS)
    # Per funnel, all sites together ("") then sites 1 and 2.
    table = [(r["funnel"], r["site"], r["step"], r["visitors"]) for r in rows]
    assert table == [
        ("Checkout", "", "Viewed", "4"),
        ("Checkout", "", "Cart", "2"),
        ("Checkout", "", "Paid", "1"),
        ("Checkout", "1", "Viewed", "3"),
        ("Checkout", "1", "Cart", "1"),
        ("Checkout", "1", "Paid", "1"),
        ("Checkout", "2", "Viewed", "1"),
        ("Checkout", "2", "Cart", "1"),
        ("Checkout", "2", "Paid", "0"),
        ("Signup", "", "Viewed", "4"),
        ("Signup", "", "Signed Up", "0"),
        ("Signup", "1", "Viewed", "3"),
        ("Signup", "1", "Signed Up", "0"),
        ("Signup", "2", "Viewed", "1"),
        ("Signup", "2", "Signed Up", "0"),
    ]
    first = rows[0]
    assert (first["within"], first["rollup"], first["bucket"], first["step_number"]) == (
        "86400.0",
        "all",
        "0",
        "1",
    )
    assert (rows[2]["of_first"], rows[2]["of_previous"]) == ("0.25", "0.5")
    assert rows[9]["within"] == ""


def test_export_populations_as_jsonl(address: str) -> None:
    out = io.StringIO()
    argv = [
        "funnels",
        "--funnel",
        "Checkout",
        "--test",
        "Button",
        "--site",
        "1",
        "--format",
        "jsonl",
    ]
    assert export.main(["--connect", address, *argv], out) == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    paid = [(r["test"], r["population"], r["visitors"]) for r in rows if r["step"] == "Paid"]
    # Populations in the order tests() lists them (sorted); blue had nobody at site 1.
    assert paid == [("", "", 1), ("Button", "blue", 0), ("Button", "red", 1)]
    assert rows[3]["of_first"] is None  # blue at site 1: nobody at step 1
    assert rows[0]["site"] == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["--test", "Buton"], "QueryError: no test named 'Buton'", id="test"),
        pytest.param(["--funnel", "Chekout"], "did you mean 'Checkout'?", id="funnel"),
    ],
)
def test_export_refusals(
    capsys: pytest.CaptureFixture[str], address: str, argv: list[str], message: str
) -> None:
    out = io.StringIO()
    assert export.main(["--connect", address, "funnels", *argv], out) == 1
    assert message in error_line(capsys.readouterr(), "manhattan-export")
    assert out.getvalue() == ""
