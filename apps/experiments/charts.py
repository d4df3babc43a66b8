"""Server-rendered SVG charts: no script, no CDN, readable without CSS.

Every label is escaped; numbers are formatted here. Each chart carries a <title> and
<desc> so a screen reader gets the same figures as the table next to it.
"""

from __future__ import annotations

from django.utils.html import escape
from django.utils.safestring import mark_safe

from apps.core.chart_marks import legend, mark

# The bars say their variant in words; colour only groups them.
PALETTE = ["#64748b", "#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2"]
# A bar's label wraps onto a second line past this many characters (then the hover and
# focus title carries it whole).
LABEL_LINE = 62


def _pct(value) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


def _wrap(label: str) -> list[str]:
    """One line, or two split at a space near the middle (a third part is cut with "…":
    the bar's title says it whole)."""
    if len(label) <= LABEL_LINE:
        return [label]
    cut = label.rfind(" ", 0, LABEL_LINE)
    cut = cut if cut > LABEL_LINE // 2 else LABEL_LINE
    first, rest = label[:cut].rstrip(), label[cut:].lstrip()
    if len(rest) > LABEL_LINE:
        rest = rest[: LABEL_LINE - 1] + "…"
    return [first, rest]


def pass_rate_chart(summary) -> str:
    """Horizontal bars: pass rate per evaluator × variant with its 95 % Wilson interval."""
    rows = [r for r in summary.rows if r.judged]
    if not rows:
        return ""
    groups = summary.evaluators
    # Room for the longest label in full (about 6.5 px a character at 11 px): no label is
    # cut; on a narrow screen the whole chart scales down with its viewBox.
    longest = min(LABEL_LINE, max(len(f"{r.evaluator} · {r.label}") for r in rows))
    wrapped = sum(1 for r in rows if len(f"{r.evaluator} · {r.label}") > LABEL_LINE)
    label_w, bar_w, row_h, gap = max(120, min(420, int(longest * 6.5) + 12)), 320, 22, 10
    height = 30 + len(rows) * row_h + wrapped * 12 + len(groups) * gap + 40
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
    parts.append(
        f'<text x="{label_w + bar_w / 2:.1f}" y="{height - 6}" font-size="10" '
        'text-anchor="middle" fill="#64748b">pass rate (% of examples); whiskers: 95 % interval</text>'
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
            label = f"{name} · {r.label}"
            lines = _wrap(label)
            extra = 12 * (len(lines) - 1)
            mid = y + (row_h + extra) / 2
            value = f"{label}: {_pct(r.rate)} (95 % interval {_pct(r.ci_low)} to {_pct(r.ci_high)})"
            text_y = mid + 4 - 6 * (len(lines) - 1)
            spans = "".join(
                f'<tspan x="{label_w - 6}" dy="{0 if k == 0 else 12}">{escape(line)}</tspan>'
                for k, line in enumerate(lines)
            )
            parts.append(
                f'<g class="bar" tabindex="0"><title>{escape(value)}</title>'
                f'<text x="{label_w - 6}" y="{text_y:.1f}" font-size="11" '
                f'text-anchor="end">{spans}</text>'
                f'<rect x="{label_w}" y="{mid - (row_h - 6) / 2:.1f}" width="{w:.1f}" height="{row_h - 6}" fill="{color}" '
                f'opacity="0.8"/>'
                f'<line x1="{lo:.1f}" y1="{mid:.1f}" x2="{hi:.1f}" y2="{mid:.1f}" stroke="#0f172a" stroke-width="1.5"/>'
                f'<line x1="{lo:.1f}" y1="{mid - 5:.1f}" x2="{lo:.1f}" y2="{mid + 5:.1f}" stroke="#0f172a"/>'
                f'<line x1="{hi:.1f}" y1="{mid - 5:.1f}" x2="{hi:.1f}" y2="{mid + 5:.1f}" stroke="#0f172a"/>'
                f'<text x="{label_w + bar_w + 8}" y="{mid + 4:.1f}" font-size="11">{_pct(r.rate)}</text></g>'
            )
            y += row_h + extra
        y += gap
    parts.append("</svg>")
    return mark_safe("".join(parts))  # labels escaped above


def latency_histogram(variant_stats, bins: int = 20) -> str:
    """Latency distribution per variant: overlaid step outlines over shared bins, each
    variant with its own colour and dash (apps.core.chart_marks), axes with units, every
    bin focusable with its count, and a legend under the chart with labels whole."""
    series = [(s, s.latencies) for s in variant_stats if s.latencies]
    if not series:
        return ""
    low = min(min(v) for _, v in series)
    high = max(max(v) for _, v in series)
    if high <= low:
        high = low + 1
    step = (high - low) / bins
    width, height, left, bottom, top, right = 680, 236, 56, 44, 16, 16
    plot_w, plot_h = width - left - right, height - bottom - top
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
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="#94a3b8"/>',
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 6}" font-size="10" text-anchor="middle" '
        'fill="#64748b">latency per call (ms)</text>',
        f'<text x="12" y="{top + plot_h / 2:.1f}" font-size="10" text-anchor="middle" '
        f'fill="#64748b" transform="rotate(-90 12 {top + plot_h / 2:.1f})">calls</text>',
    ]
    for k in range(5):  # x ticks in ms
        x = left + plot_w * k / 4
        anchor = "start" if k == 0 else "end" if k == 4 else "middle"
        parts.append(
            f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 4}" stroke="#94a3b8"/>'
            f'<text x="{x:.1f}" y="{top + plot_h + 15}" font-size="10" text-anchor="{anchor}" '
            f'fill="#64748b">{low + (high - low) * k / 4:,.0f} ms</text>'
        )
    for share in (0.5, 1.0):  # y ticks in calls
        y = top + plot_h * (1 - share)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#eef0f3"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
            f'fill="#64748b">{peak * share:.3g}</text>'
        )
    for i, (s, c) in enumerate(counts):
        look = mark(i)
        points = []
        for b, n in enumerate(c):
            x0 = left + plot_w * b / bins
            x1 = left + plot_w * (b + 1) / bins
            yv = top + plot_h - plot_h * n / peak
            points += [f"{x0:.1f},{yv:.1f}", f"{x1:.1f},{yv:.1f}"]
        path = " ".join(points)
        parts.append(
            f'<g class="series" data-series="{escape(s.label)}">'
            f'<polyline points="{left},{top + plot_h} {path} {left + plot_w},{top + plot_h}" '
            f'fill="{look.color}" fill-opacity="0.12" stroke="{look.color}" stroke-width="1.5"'
            f"{look.dash_attr}/>"
        )
        for b, n in enumerate(c):
            if not n:
                continue
            x0 = left + plot_w * b / bins
            yv = top + plot_h - plot_h * n / peak
            lo, hi = low + step * b, low + step * (b + 1)
            said = f"{s.label}: {n} call{'s' if n != 1 else ''} took {lo:,.0f}–{hi:,.0f} ms"
            parts.append(
                f'<rect class="point" tabindex="0" x="{x0:.1f}" y="{yv:.1f}" '
                f'width="{plot_w / bins:.1f}" height="{top + plot_h - yv:.1f}" fill="transparent">'
                f"<title>{escape(said)}</title></rect>"
            )
        parts.append("</g>")
    parts.append("</svg>")
    parts.append(legend([s.label for s, _ in series]))
    return mark_safe("".join(parts))  # labels escaped above and in legend()
