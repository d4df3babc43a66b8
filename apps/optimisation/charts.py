"""The score curve of an optimisation run: an SVG line per round, no script.

Every label is escaped; each chart carries a <title> and <desc> with the same figures as
the table beside it."""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def score_curve(start: float | None, rounds: list) -> SafeString | str:
    """Best train score after each round (round 0: the start)."""
    points = [(0, start)] + [(r.number, r.best_train_score) for r in rounds]
    points = [(n, v) for n, v in points if v is not None]
    if not points:
        return ""
    width, height, left, top, plot_w, plot_h = 420, 200, 44, 16, 356, 150
    last = max(max(n for n, _ in points), 1)

    def x(n: float) -> float:
        return left + plot_w * n / last

    def y(v: float) -> float:
        return top + plot_h * (1 - v)

    desc = "; ".join(f"round {n}: {_pct(v)}" for n, v in points)
    parts = [
        f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="100%" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="curve-title curve-desc">',
        '<title id="curve-title">Best score on the train split after each round</title>',
        f'<desc id="curve-desc">{escape(desc)}</desc>',
    ]
    for tick in (0, 50, 100):
        ty = y(tick / 100)
        parts.append(
            f'<line x1="{left}" y1="{ty:.1f}" x2="{left + plot_w}" y2="{ty:.1f}" '
            f'stroke="#e2e8f0"/><text x="{left - 6}" y="{ty + 4:.1f}" font-size="10" '
            f'text-anchor="end" fill="#64748b">{tick} %</text>'
        )
    for n, _ in points:
        parts.append(
            f'<text x="{x(n):.1f}" y="{top + plot_h + 16}" font-size="10" '
            f'text-anchor="middle" fill="#64748b">{n}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 2}" font-size="10" '
        'text-anchor="middle" fill="#64748b">round</text>'
    )
    line = " ".join(f"{x(n):.1f},{y(v):.1f}" for n, v in points)
    parts.append(f'<polyline points="{line}" fill="none" stroke="#2563eb" stroke-width="2"/>')
    for n, v in points:
        parts.append(
            f'<circle cx="{x(n):.1f}" cy="{y(v):.1f}" r="3.5" fill="#2563eb" tabindex="0" '
            f'aria-label="{escape(f"round {n}: {_pct(v)}")}">'
            f"<title>{escape(f'round {n}: {_pct(v)}')}</title></circle>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # numbers formatted and labels escaped above
