"""Line charts drawn on the server as SVG (no script, no CDN): one line per version, each
with its own colour, dash and marker shape (apps.core.chart_marks), a dashed rule where a
version first appears, value ticks with their units, and every point focusable with its
value. Every text is escaped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.core.chart_marks import mark, marker, swatch

WIDTH, HEIGHT = 640, 170
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 12, 24


def legend_mark(index: int) -> SafeString:
    """The series' line and marker as drawn in the charts, for the totals table."""
    return mark_safe(swatch(mark(index)))  # noqa: S308 - colours and numbers only


def line_chart(
    *,
    title: str,
    starts: Sequence[date],
    series: dict[str, list[float | None]],
    markers: Sequence[tuple[date, str]] = (),
    fmt: Callable[[float], str] = lambda v: f"{v:,.0f}",
    time_format: str = "%m-%d %H:%M",
) -> SafeString:
    values = [v for line in series.values() for v in line if v is not None]
    top = max(values) if values else 1.0
    top = top if top > 0 else 1.0
    n = max(len(starts), 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: int) -> float:
        return LEFT + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h * (1 - v / top)

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for share in (0.0, 0.5, 1.0):  # gridlines with their values, units included
        gy = TOP + plot_h * (1 - share)
        parts.append(
            f'<line x1="{LEFT}" y1="{gy:.1f}" x2="{WIDTH - RIGHT}" y2="{gy:.1f}" '
            f'stroke="{"#d1d5db" if share == 0 else "#eef0f3"}"/>'
            f'<text x="{LEFT - 4}" y="{gy + (8 if share == 1 else 3):.1f}" text-anchor="end" '
            f'font-size="10" fill="#6b7280">{escape(fmt(top * share))}</text>'
        )
    if starts:
        for i in sorted({0, n // 2, n - 1}):
            anchor = "start" if i == 0 else "end" if i == n - 1 else "middle"
            parts.append(
                f'<text x="{x(i):.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}" font-size="10" '
                f'fill="#6b7280">{escape(starts[i].strftime(time_format))}</text>'
            )
    index = {moment: i for i, moment in enumerate(starts)}
    for moment, label in markers:
        found = index.get(moment)
        if found is None:
            continue
        i = found
        parts.append(
            f'<g class="version-change"><line x1="{x(i):.1f}" y1="{TOP}" x2="{x(i):.1f}" '
            f'y2="{TOP + plot_h}" stroke="#6b7280" stroke-dasharray="3 3"/>'
            f'<text x="{x(i) + 3:.1f}" y="{TOP + 9}" font-size="10" fill="#374151">'
            f"{escape(label)}</text></g>"
        )
    for number, (label, line) in enumerate(series.items()):
        look = mark(number)
        runs: list[list[tuple[float, float, float, int]]] = [[]]
        for i, value in enumerate(line):
            if value is None:
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append((x(i), y(value), value, i))
        parts.append(f'<g class="series" data-series="{escape(label)}">')
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{px:.1f},{py:.1f}" for px, py, _, _ in run)
                parts.append(
                    f'<polyline fill="none" stroke="{look.color}" stroke-width="1.5"'
                    f'{look.dash_attr} points="{points}"/>'
                )
            for px, py, value, i in run:
                when = starts[i].strftime(time_format) if starts else ""
                parts.append(marker(look, px, py, size=2.5, title=f"{label}, {when}: {fmt(value)}"))
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above went through escape()
