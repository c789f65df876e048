"""SVG charts: escaped text, coordinates on scale, gaps for missing values."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import pytest

from manhattan.dashboard.charts import funnel_chart, interval_bar, line_chart

SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert(1)</script>"><img onerror=x>'


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup).replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def test_interval_bar_spans_the_interval_on_scale() -> None:
    svg = parse(interval_bar(0.25, 0.2, 0.3, 0.5, label=EVIL, width=100))
    rect = svg.find(f"{SVG}rect")
    point = svg.find(f"{SVG}line[@class='point']")
    assert rect is not None
    assert point is not None
    assert (float(rect.get("x", "")), float(rect.get("width", ""))) == (40.0, 20.0)
    assert point.get("x1") == "50"
    assert svg.findtext(f"{SVG}title") == EVIL  # escaped in the markup, text when parsed


@pytest.mark.parametrize(
    ("point", "low", "high", "top", "span"),
    [
        pytest.param(0.5, None, None, 1.0, (0.0, 100.0), id="open-ends"),
        pytest.param(2.0, 1.5, 3.0, 1.0, (100.0, 1.0), id="past-the-top-is-clamped"),
        pytest.param(0.0, 0.0, 0.0, 0.0, (0.0, 1.0), id="nothing-to-scale"),
        pytest.param(math.inf, -1.0, math.inf, 1.0, (0.0, 100.0), id="infinite"),
    ],
)
def test_interval_bar_edges(
    point: float, low: float | None, high: float | None, top: float, span: tuple[float, float]
) -> None:
    rect = parse(interval_bar(point, low, high, top, label="x", width=100)).find(f"{SVG}rect")
    assert rect is not None
    assert (float(rect.get("x", "")), float(rect.get("width", ""))) == span


def test_line_chart_draws_a_line_per_series_with_gaps() -> None:
    svg = parse(
        line_chart(
            ["d1", "d2", "d3", "d4"],
            {EVIL: [0.1, 0.2, None, 0.4], "b": [0.5, math.nan, 0.25, 0.0]},
            title="rates <per day>",
            percent=True,
        )
    )
    assert svg.findtext(f"{SVG}title") == "rates <per day>"
    lines = svg.findall(f"{SVG}polyline")
    assert [line.get("class") for line in lines] == [
        "series-0",
        "series-1",
    ]  # lone points: no line
    assert len(svg.findall(f"{SVG}circle")) == 6
    legends = [t.text for t in svg.findall(f"{SVG}text[@class='legend']")]
    assert legends == [EVIL, "b"]
    ticks = [t.text for t in svg.findall(f"{SVG}text[@class='tick']")]
    assert ticks == ["0.0%", "50.0%", "d1", "d3", "d4"]
    titles = [c.findtext(f"{SVG}title") for c in svg.findall(f"{SVG}circle")]
    assert f"{EVIL}, d4: 40.0%" in titles
    # The largest value is at the top of the plot, 0 at the bottom.
    ys = {c.findtext(f"{SVG}title"): float(c.get("cy", "")) for c in svg.findall(f"{SVG}circle")}
    assert (ys["b, d1: 50.0%"], ys["b, d4: 0.0%"]) == (12.0, 160.0)


def test_line_chart_of_one_label_and_of_nothing() -> None:
    one = parse(line_chart(["only"], {"a": [3.0]}, title="t"))
    circle = one.find(f"{SVG}circle")
    assert circle is not None
    assert circle.get("cx") == "338.0"
    assert [t.text for t in one.findall(f"{SVG}text[@class='tick']")] == ["0", "3", "only"]
    empty = parse(line_chart([], {}, title="t"))
    assert empty.findall(f"{SVG}circle") == []
    assert empty.findall(f"{SVG}polyline") == []


def test_funnel_chart_draws_a_bar_per_step_on_scale() -> None:
    svg = parse(funnel_chart([EVIL, "b", "c"], [200, 50, 0], title="f <1>", width=350))
    assert svg.findtext(f"{SVG}title") == "f <1>"
    steps = svg.findall(f"{SVG}g")
    assert [g.get("data-step") for g in steps] == [EVIL, "b", "c"]
    assert [g.get("data-value") for g in steps] == ["200", "50", "0"]
    # 200 wide of plot (350 minus the 150 of text), a quarter, and a sliver.
    widths = [float(g.find(f"{SVG}rect").get("width", "")) for g in steps]  # type: ignore[union-attr]
    assert widths == [200.0, 50.0, 1.0]
    labels = [g.findtext(f"{SVG}text[@class='legend']") for g in steps]
    assert labels == [
        "200 \N{MIDDLE DOT} 100.0%",
        "50 \N{MIDDLE DOT} 25.0%",
        "0 \N{MIDDLE DOT} 0.0%",
    ]
    assert steps[0].findtext(f"{SVG}text[@class='step-name']") == EVIL


def test_funnel_chart_of_nobody_and_of_no_steps() -> None:
    nobody = parse(funnel_chart(["a", "b"], [0, 0], title="t"))
    labels = [t.text for t in nobody.findall(f"{SVG}g/{SVG}text[@class='legend']")]
    assert labels == ["0 \N{MIDDLE DOT} \N{EN DASH}"] * 2
    assert parse(funnel_chart([], [], title="t")).findall(f"{SVG}g") == []
