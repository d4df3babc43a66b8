"""Line charts drawn on the server as SVG (no script, no CDN): one line per version, a
dashed rule where a version first appears. Every text is escaped."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 170
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 24
PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


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
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" y2="{TOP + plot_h}" '
        'stroke="#d1d5db"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end" font-size="10" fill="#6b7280">'
        f"{escape(fmt(top))}</text>",
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" font-size="10" '
        'fill="#6b7280">0</text>',
    ]
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
        stroke = color(number)
        runs: list[list[tuple[float, float, float]]] = [[]]
        for i, value in enumerate(line):
            if value is None:
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append((x(i), y(value), value))
        parts.append(f'<g class="series" data-series="{escape(label)}">')
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{px:.1f},{py:.1f}" for px, py, _ in run)
                parts.append(
                    f'<polyline fill="none" stroke="{stroke}" stroke-width="1.5" points="{points}"/>'
                )
            for px, py, value in run:
                parts.append(
                    f'<circle cx="{px:.1f}" cy="{py:.1f}" r="2" fill="{stroke}">'
                    f"<title>{escape(label)}: {escape(fmt(value))}</title></circle>"
                )
        parts.append("</g>")
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above went through escape()
