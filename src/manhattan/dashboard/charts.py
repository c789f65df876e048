"""Server-side SVG charts: pure functions from numbers to markup.

Every text that reaches the markup (population and goal names, labels) is
escaped here, so a chart is safe to embed in a page as it is.

Internal: not part of the public API (see :mod:`manhattan`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from markupsafe import Markup, escape

PALETTE_SIZE = 6
"""Series are coloured by the CSS classes ``series-0`` to ``series-5``."""


def _number(value: float) -> str:
    """A coordinate, short: SVG needs no more than two decimals."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def interval_bar(
    point: float,
    low: float | None,
    high: float | None,
    top: float,
    *,
    label: str,
    width: int = 160,
    height: int = 14,
) -> Markup:
    """A horizontal bar from ``low`` to ``high`` with a tick at ``point``,
    on a scale from 0 to ``top``; an open end (``None``) runs to the edge.

    ``label`` becomes the bar's tooltip (an SVG ``<title>``).
    """
    scale = width / top if top > 0 and math.isfinite(top) else 0.0

    def x(value: float) -> float:
        return _clamp(value * scale, 0.0, float(width)) if math.isfinite(value) else width

    start = 0.0 if low is None else x(low)
    end = float(width) if high is None else x(high)
    tick = x(point)
    middle = height / 2
    # Safe: every text in it went through escape(), the rest are numbers.
    return Markup(  # noqa: S704
        f'<svg class="interval" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">'
        f"<title>{escape(label)}</title>"
        f'<line class="axis" x1="0" y1="{_number(middle)}" x2="{width}" '
        f'y2="{_number(middle)}"/>'
        f'<rect class="range" x="{_number(start)}" y="2" '
        f'width="{_number(max(end - start, 1.0))}" height="{height - 4}"/>'
        f'<line class="point" x1="{_number(tick)}" y1="0" x2="{_number(tick)}" y2="{height}"/>'
        "</svg>"
    )


def line_chart(
    labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    *,
    title: str,
    percent: bool = False,
    width: int = 640,
    height: int = 200,
) -> Markup:
    """A line per series over the x ``labels`` (one value per label; ``None``
    leaves a gap), the y axis from 0 to the largest value, a legend below.

    ``percent`` shows values (shares from 0 to 1) as percentages.
    """
    left, right, top, bottom = 48, 12, 12, 40
    legend = 18 * len(series)
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for row in series.values() for v in row if v is not None and math.isfinite(v)]
    peak = max(values, default=0.0) or 1.0
    step = plot_w / (len(labels) - 1) if len(labels) > 1 else 0.0

    def show(value: float) -> str:
        # Digits, a dot, a comma and a percent sign: nothing to escape.
        return f"{value:.1%}" if percent else f"{value:,.6g}"

    def xy(index: int, value: float) -> tuple[float, float]:
        x = left + (index * step if len(labels) > 1 else plot_w / 2)
        return x, top + plot_h - value / peak * plot_h

    parts = [
        f'<svg class="chart" role="img" width="{width}" height="{height + legend}" '
        f'viewBox="0 0 {width} {height + legend}">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
        f'y2="{top + plot_h}"/>',
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}"/>',
        f'<text class="tick" x="{left - 4}" y="{top + plot_h}" text-anchor="end">'
        f"{escape(show(0.0))}</text>",
        f'<text class="tick" x="{left - 4}" y="{top + 8}" text-anchor="end">'
        f"{escape(show(peak))}</text>",
    ]
    # First, middle and last labels: enough to read the axis, never crowded.
    # Charts of many days and series draw thousands of points: each label
    # is escaped and each x placed once, and points have one decimal.
    shown_labels = [escape(label) for label in labels]
    xs = [f"{xy(index, 0.0)[0]:.1f}" for index in range(len(labels))]
    # The first label starts at its point and the last ends there, so that
    # neither runs past the edge.
    last = len(labels) - 1
    for index in sorted({0, len(labels) // 2, last} if labels else set()):
        x, _ = xy(index, 0.0)
        anchor = "start" if index == 0 and last else "end" if index == last and last else "middle"
        parts.append(
            f'<text class="tick" x="{_number(x)}" y="{top + plot_h + 16}" '
            f'text-anchor="{anchor}">{shown_labels[index]}</text>'
        )
    for number, (name, row) in enumerate(series.items()):
        css = f"series-{number % PALETTE_SIZE}"
        shown_name = escape(name)
        segments: list[list[str]] = [[]]
        dots = []
        for index, value in enumerate(row):
            if value is None or not math.isfinite(value):
                segments.append([])
                continue
            cy = f"{xy(index, value)[1]:.1f}"
            segments[-1].append(f"{xs[index]},{cy}")
            dots.append(
                f'<circle class="{css}" cx="{xs[index]}" cy="{cy}" r="2.5">'
                f"<title>{shown_name}, {shown_labels[index]}: {show(value)}</title>"
                "</circle>"
            )
        for segment in segments:
            if len(segment) > 1:
                parts.append(f'<polyline class="{css}" points="{" ".join(segment)}"/>')
        parts.extend(dots)
        row_y = height + 18 * number + 4
        parts.append(
            f'<rect class="{css}" x="{left}" y="{row_y}" width="12" height="12"/>'
            f'<text class="legend" x="{left + 18}" y="{row_y + 10}">{shown_name}</text>'
        )
    parts.append("</svg>")
    # Safe: every text in it went through escape(), the rest are numbers.
    return Markup("".join(parts))  # noqa: S704


def funnel_chart(
    steps: Sequence[str],
    visitors: Sequence[int],
    *,
    title: str,
    width: int = 640,
) -> Markup:
    """A funnel: a horizontal bar per step, as long as its visitors on a
    scale from 0 to the most visitors of any step, the step's name above it
    and its visitors and share of the first step's after it.

    A funnel counts visitors in order, so the first step has the most; the
    scale still takes the largest, so a bar never runs past the edge.
    """
    row, bar, text_w = 36, 16, 150
    plot_w = width - text_w
    peak = max(visitors, default=0) or 1
    first = visitors[0] if visitors else 0
    height = row * len(steps) + 4
    parts = [
        f'<svg class="funnel" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (step, count) in enumerate(zip(steps, visitors, strict=True)):
        y = row * index
        length = max(count / peak * plot_w, 1.0)
        share = f"{count / first:.1%}" if first else "\N{EN DASH}"
        parts.append(
            f'<g class="step" data-step="{escape(step)}" data-value="{count}">'
            f"<title>{escape(step)}: {count:,} visitors ({share} of the first step)</title>"
            f'<text class="step-name" x="0" y="{y + 12}">{escape(step)}</text>'
            f'<rect class="bar" x="0" y="{y + 16}" width="{_number(length)}" height="{bar}"/>'
            f'<text class="legend" x="{_number(length + 6)}" y="{y + 28}">'
            f"{count:,} \N{MIDDLE DOT} {share}</text>"
            "</g>"
        )
    parts.append("</svg>")
    # Safe: every text in it went through escape(), the rest are numbers.
    return Markup("".join(parts))  # noqa: S704
