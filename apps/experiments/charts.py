"""Server-rendered SVG charts: no script, no CDN, readable without CSS.

Every label is escaped; numbers are formatted here. Each chart carries a <title> and
<desc> so a screen reader gets the same figures as the table next to it.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import mark_safe

PALETTE = ["#64748b", "#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2"]


def _pct(value) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def pass_rate_chart(summary) -> str:
    """Horizontal bars: pass rate per evaluator × variant with its 95 % Wilson interval."""
    rows = [r for r in summary.rows if r.judged]
    if not rows:
        return ""
    groups = summary.evaluators
    # Room for the longest label in full (about 6.5 px a character at 11 px): no label is
    # cut; on a narrow screen the whole chart scales down with its viewBox.
    longest = max(len(f"{r.evaluator} · {r.label}") for r in rows)
    label_w, bar_w, row_h, gap = max(120, min(420, int(longest * 6.5) + 12)), 320, 22, 10
    height = 30 + len(rows) * row_h + len(groups) * gap + 24
    width = label_w + bar_w + 90
    variant_index = {v.pk: i for i, v in enumerate(summary.variants)}
    parts = [
        f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="100%" '
        f'style="max-width:{width}px;height:auto" viewBox="0 0 {width} {height}" aria-labelledby="pr-title pr-desc">',
        '<title id="pr-title">Pass rate per evaluator and variant, with 95 % intervals</title>',
        '<desc id="pr-desc">'
        + escape(
            "; ".join(
                f"{r.evaluator}, {r.label}: {_pct(r.rate)} ({_pct(r.ci_low)} to {_pct(r.ci_high)})"
                for r in rows
            )
        )
        + "</desc>",
    ]
    for tick in (0, 25, 50, 75, 100):
        x = label_w + bar_w * tick / 100
        parts.append(
            f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{height - 20}" stroke="#e2e8f0"/>'
            f'<text x="{x:.1f}" y="14" font-size="10" text-anchor="middle" fill="#64748b">{tick} %</text>'
        )
    y = 24
    for name in groups:
        group = [r for r in rows if r.evaluator == name]
        if not group:
            continue
        for r in group:
            color = PALETTE[variant_index.get(r.variant_id, 0) % len(PALETTE)]
            w = bar_w * (r.rate or 0)
            lo, hi = label_w + bar_w * (r.ci_low or 0), label_w + bar_w * (r.ci_high or 0)
            mid = y + row_h / 2
            label = f"{name} · {r.label}"
            if len(label) > 62:  # beyond the widest label column; the hover title is whole
                label = label[:61] + "…"
            value = f"{label}: {_pct(r.rate)} (95 % interval {_pct(r.ci_low)} to {_pct(r.ci_high)})"
            parts.append(
                f'<g class="bar"><title>{escape(value)}</title>'
                f'<text x="{label_w - 6}" y="{mid + 4:.1f}" font-size="11" '
                f'text-anchor="end">{escape(label)}</text>'
                f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_h - 6}" fill="{color}" '
                f'opacity="0.8"/>'
                f'<line x1="{lo:.1f}" y1="{mid:.1f}" x2="{hi:.1f}" y2="{mid:.1f}" stroke="#0f172a" stroke-width="1.5"/>'
                f'<line x1="{lo:.1f}" y1="{mid - 5:.1f}" x2="{lo:.1f}" y2="{mid + 5:.1f}" stroke="#0f172a"/>'
                f'<line x1="{hi:.1f}" y1="{mid - 5:.1f}" x2="{hi:.1f}" y2="{mid + 5:.1f}" stroke="#0f172a"/>'
                f'<text x="{label_w + bar_w + 8}" y="{mid + 4:.1f}" font-size="11">{_pct(r.rate)}</text></g>'
            )
            y += row_h
        y += gap
    parts.append("</svg>")
    return mark_safe("".join(parts))  # labels escaped above


def latency_histogram(variant_stats, bins: int = 20) -> str:
    """Latency distribution per variant: overlaid step outlines over shared bins."""
    series = [(s, s.latencies) for s in variant_stats if s.latencies]
    if not series:
        return ""
    low = min(min(v) for _, v in series)
    high = max(max(v) for _, v in series)
    if high <= low:
        high = low + 1
    step = (high - low) / bins
    width, height, left, bottom, top = 680, 220, 50, 30, 16
    plot_w, plot_h = width - left - 150, height - bottom - top
    counts = []
    for s, values in series:
        c = [0] * bins
        for v in values:
            c[min(bins - 1, int((v - low) / step))] += 1
        counts.append((s, c))
    peak = max(max(c) for _, c in counts) or 1
    parts = [
        f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="100%" '
        f'style="max-width:{width}px;height:auto" viewBox="0 0 {width} {height}" aria-labelledby="lat-title lat-desc">',
        '<title id="lat-title">Latency distribution per variant</title>',
        '<desc id="lat-desc">'
        + escape(
            "; ".join(
                f"{s.label}: p50 {s.latency_p50:.0f} ms, p95 {s.latency_p95:.0f} ms"
                for s, _ in series
            )
        )
        + "</desc>",
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#94a3b8"/>',
        f'<text x="{left}" y="{height - 8}" font-size="10" fill="#64748b">{low:.0f} ms</text>',
        f'<text x="{left + plot_w}" y="{height - 8}" font-size="10" text-anchor="end" fill="#64748b">{high:.0f} ms</text>',
        f'<text x="{left - 6}" y="{top + 8}" font-size="10" text-anchor="end" fill="#64748b">{peak}</text>',
    ]
    for i, (s, c) in enumerate(counts):
        color = PALETTE[i % len(PALETTE)]
        points = []
        for b, n in enumerate(c):
            x0 = left + plot_w * b / bins
            x1 = left + plot_w * (b + 1) / bins
            yv = top + plot_h - plot_h * n / peak
            points += [f"{x0:.1f},{yv:.1f}", f"{x1:.1f},{yv:.1f}"]
        path = " ".join(points)
        parts.append(
            f'<polyline points="{left},{top + plot_h} {path} {left + plot_w},{top + plot_h}" '
            f'fill="{color}" fill-opacity="0.15" stroke="{color}" stroke-width="1.5"/>'
        )
        label = s.label if len(s.label) <= 22 else s.label[:21] + "…"
        ly = top + 12 + i * 16
        parts.append(
            f'<rect x="{left + plot_w + 12}" y="{ly - 9}" width="10" height="10" fill="{color}"/>'
            f'<text x="{left + plot_w + 26}" y="{ly}" font-size="11">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # labels escaped above
