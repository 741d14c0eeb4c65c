"""The class report's histograms, drawn as inline SVG by the grader itself.

Drawn here rather than with matplotlib: importing matplotlib and drawing five PNGs
cost more than the rest of the class report; these are a few kilobytes of markup
each (less than the PNGs), stay sharp at any zoom and give every bar a tooltip.
"""

from __future__ import annotations

import math
from html import escape
from typing import Protocol

from autograder.outputs.words import TOTAL, points_range
from autograder.outputs.words import format_points as points


class Histogram(Protocol):
    """What a histogram is drawn from (``report.Distribution``)."""

    name: str
    max_points: float

    def bins(self) -> list[tuple[float, float, int]]: ...

    def stats(self) -> dict[str, float]: ...


#: Chart sizes in CSS pixels (the old PNGs' sizes): the total spans the row, notebooks share it.
CHART_SIZE = {"wide": (900, 260), "narrow": (460, 260)}
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 50, 12, 40, 42
_BAR, _MEAN, _MEDIAN, _TEXT, _MUTED, _GRID = "#0969da", "#b42318", "#1f2328", "#1f2328", "#57606a", "#d8dee4"
_FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'


def histogram_svg(distribution: Histogram) -> str:
    """A histogram of ``distribution`` (the bins of report.csv) as an ``<svg>`` element for inline HTML.

    One bar per bin, all as wide as a bin (the full-marks bin too) so the eye compares
    heights only; the students of a bin above its bar and in its tooltip; whole-number
    gridlines; mean and median as vertical lines. Self-contained: no script, no font,
    nothing fetched. Pure; every text is escaped.
    """
    bins = distribution.bins()
    stats = distribution.stats()
    width, height = CHART_SIZE["wide" if distribution.name == TOTAL else "narrow"]
    left, right = _MARGIN_LEFT, width - _MARGIN_RIGHT
    top, bottom = _MARGIN_TOP, height - _MARGIN_BOTTOM
    slot = (right - left) / len(bins)
    tallest = max(count for _, _, count in bins)
    step, y_max = _count_axis(tallest)
    full_marks_bin = bins[-1][1] <= bins[-1][0]  # a bin holding only the maximum

    def x_of(position: float) -> float:  # position in bins from the left
        return left + position * slot

    def y_of(count: float) -> float:
        return bottom - (bottom - top) * count / y_max

    label = _chart_label(distribution, stats)
    markers = (("mean", stats["mean"], _MEAN, ""), ("median", stats["median"], _MEDIAN, ' stroke-dasharray="4 3"'))
    parts = [
        # no xmlns: the HTML parser puts an inline <svg> in the SVG namespace, and the report holds no URL
        f'<svg class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(label)}" font-family="{escape(_FONT)}" '
        f'font-size="11" fill="{_TEXT}">',
        f"<title>{escape(label)}</title>",
        "<desc>Each bar counts the students whose score is at least its lower edge and below its upper "
        "edge; the last bar holds the maximum too. "
        + escape("; ".join(f"{_bin_words(low, high, full_marks_bin and i == len(bins) - 1)}: {_students(count)}"
                           for i, (low, high, count) in enumerate(bins) if count)) + ".</desc>",
        f'<text class="name" x="12" y="18" font-size="14" font-weight="700">'
        f"{escape(distribution.name)}</text>",
    ]
    # the count axis: whole students, a gridline per step
    for count in range(0, y_max + 1, step):
        y = y_of(count)
        if count:
            parts.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_GRID}" '
                         'stroke-width="1"/>')
        parts.append(f'<text class="y-tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{count}</text>')
    parts.append(f'<text transform="translate(12 {(top + bottom) / 2:.1f}) rotate(-90)" text-anchor="middle" '
                 f'fill="{_MUTED}">students</text>')
    # the bars: a group per bin whose tooltip names the bin and its students
    gap = min(2.0, slot * 0.1)
    for i, (low, high, count) in enumerate(bins):
        words = _bin_words(low, high, full_marks_bin and i == len(bins) - 1)
        y = y_of(count)
        parts.append(
            f'<g class="bin"><title>{escape(words)}: {_students(count)}</title>'
            f'<rect x="{x_of(i):.1f}" y="{top}" width="{slot:.1f}" height="{bottom - top}" fill="transparent"/>'
            f'<rect class="bin-bar" x="{x_of(i) + gap / 2:.1f}" y="{y:.1f}" width="{slot - gap:.1f}" '
            f'height="{bottom - y:.1f}" fill="{_BAR}"/></g>')
    parts.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="{_TEXT}" stroke-width="1"/>')
    # mean and median, over the bars
    for name, value, colour, dash in markers:
        x = x_of(_position(value, bins))
        parts.append(f'<line class="{name}" x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{bottom}" '
                     f'stroke="{colour}" stroke-width="1.5"{dash}/>')
    # each bin's students above its bar, where the widest number fits
    if len(str(tallest)) * 6.5 <= slot + 2:
        for i, (_, _, count) in enumerate(bins):
            if count:
                parts.append(f'<text class="count" x="{x_of(i + 0.5):.1f}" y="{y_of(count) - 3:.1f}" '
                             f'text-anchor="middle" font-size="10" stroke="#fff" stroke-width="3" '
                             f'paint-order="stroke">{count}</text>')
    # the points axis: bin edges, a few of them, and the maximum
    for position, text, bold in _point_ticks(bins, slot, full_marks_bin):
        x, weight = x_of(position), ' font-weight="700"' if bold else ""
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}" stroke="{_TEXT}"/>'
                     f'<text class="x-tick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle"{weight}>'
                     f"{escape(text)}</text>")
    parts.append(f'<text x="{(left + right) / 2:.1f}" y="{height - 6}" text-anchor="middle" fill="{_MUTED}">'
                 f"points (of {escape(points(distribution.max_points))})</text>")
    # the legend above the plot, right of the title, where it can never cover a bar
    for x, (name, value, colour, dash) in zip((right - 200, right - 100), markers):
        parts.append(f'<line x1="{x}" x2="{x + 18}" y1="14" y2="14" stroke="{colour}" stroke-width="1.5"{dash}/>'
                     f'<text x="{x + 23}" y="18">{name} {value:.1f}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _chart_label(distribution: Histogram, stats: dict) -> str:
    return (f"Histogram of {distribution.name} scores out of {points(distribution.max_points)}: "
            f"mean {stats['mean']:.1f}, median {points(stats['median'])}, {stats['students']} students")


def _students(count: int) -> str:
    return f"{count} student" if count == 1 else f"{count} students"


def _bin_words(low: float, high: float, full_marks: bool) -> str:
    if full_marks:
        return f"{points(low)} points (full marks)"
    return f"{points_range(low, high)} points"


def _count_axis(tallest: int) -> tuple[int, int]:
    """(step, top) of the students axis: whole numbers, at most 5 steps, top >= tallest."""
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if math.ceil(tallest / step) <= 5:
                return step, max(step, math.ceil(tallest / step) * step)
        magnitude *= 10


def _position(value: float, bins) -> float:
    """Where ``value`` points lies on the axis, in bins from the left (bins are drawn equally wide)."""
    width = bins[1][0] - bins[0][0] if len(bins) > 1 else 1
    i = min(len(bins) - 1, max(0, int(value // width)))
    low, high, _ = bins[i]
    if high <= low:  # the full-marks bin: its one value sits in the middle of its bar
        return i + 0.5
    return i + min(1.0, max(0.0, (value - low) / (high - low)))


def _point_ticks(bins, slot: float, full_marks_bin: bool) -> list[tuple[float, str, bool]]:
    """(position in bins, label, bold) of the points axis: bin edges at a round step, and the maximum.

    The maximum is bold: under the middle of the full-marks bar when it has one, else at
    the right end. A round tick too close to it is left out rather than overlap it.
    """
    width = bins[1][0] - bins[0][0] if len(bins) > 1 else 1
    widest = max(len(points(high)) for _, high, _ in bins)
    spacing = max(48.0, widest * 7 + 20)  # pixels between labels
    steps = sorted({width * m for m in (1, 2, 5, 10, 20, 50, 100)}
                   | {f * 10**k for k in range(6) for f in (1, 2, 5) if (f * 10**k) % width == 0})
    step = next((s for s in steps if s / width * slot >= spacing), steps[-1])
    every = max(1, round(step / width))
    last = len(bins) - 1
    maximum = (last + 0.5, points(bins[-1][0]), True) if full_marks_bin else (len(bins), points(bins[-1][1]), True)
    ticks = [(float(i), points(low), False) for i, (low, _, _) in enumerate(bins)
             if i % every == 0 and not (full_marks_bin and i == last)]
    ticks = [t for t in ticks if (maximum[0] - t[0]) * slot >= widest * 7 + 8]
    return ticks + [maximum]
