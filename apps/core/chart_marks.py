"""How a chart tells its series apart without colour alone: each series index gets a
colour, a dash pattern and a marker shape, drawn the same in the chart and its legend
(WCAG 1.4.1: colour is never the only carrier of meaning). Shared by the server-drawn
SVG charts of experiments and of the traces dashboard. Every label is escaped."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import escape

PALETTE = ("#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04")
DASHES = ("", "6 3", "2 2", "8 3 2 3")
SHAPES = ("circle", "square", "triangle", "diamond")


@dataclass(frozen=True)
class Mark:
    color: str
    dash: str  # an SVG stroke-dasharray, '' for a solid line
    shape: str

    @property
    def dash_attr(self) -> str:
        return f' stroke-dasharray="{self.dash}"' if self.dash else ""


def mark(index: int) -> Mark:
    """Series `index`'s look: the first four differ in colour, dash and shape alike; the
    next four reuse the dashes with other colours and shapes, so any two of the first
    eight differ in at least two ways (a line chart draws all three; a histogram the
    colour and dash)."""
    return Mark(
        color=PALETTE[index % len(PALETTE)],
        dash=DASHES[index % len(DASHES)],
        shape=SHAPES[(index + index // len(SHAPES)) % len(SHAPES)],
    )


def marker(
    m: Mark, x: float, y: float, *, size: float = 3.0, title: str = "", attrs: str = ""
) -> str:
    """The series' point marker at (x, y). With a `title` it is focusable and says its
    value on hover and on keyboard focus (tabindex, and the title a screen reader reads);
    `attrs` are further attributes, already escaped."""
    if title:
        attrs += ' tabindex="0" class="point"'
    if m.shape == "square":
        tag = "rect"
        shape = (
            f'x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}" height="{2 * size:.1f}"'
        )
    elif m.shape in ("triangle", "diamond"):
        tag = "polygon"
        if m.shape == "triangle":
            corners = [(x, y - size * 1.2), (x - size, y + size), (x + size, y + size)]
        else:
            r = size * 1.3
            corners = [(x, y - r), (x + r, y), (x, y + r), (x - r, y)]
        shape = 'points="' + " ".join(f"{px:.1f},{py:.1f}" for px, py in corners) + '"'
    else:
        tag = "circle"
        shape = f'cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}"'
    opening = f'<{tag} {shape} fill="{m.color}"{attrs}'
    if title:
        return f"{opening}><title>{escape(title)}</title></{tag}>"
    return f"{opening}/>"


def swatch(m: Mark) -> str:
    """A small inline SVG of the series' line and marker, for legends and tables."""
    return (
        '<svg class="legend-mark" width="28" height="12" viewBox="0 0 28 12" aria-hidden="true">'
        f'<line x1="1" y1="6" x2="27" y2="6" stroke="{m.color}" stroke-width="2"{m.dash_attr}/>'
        + marker(m, 14, 6, size=3.5)
        + "</svg>"
    )


def legend(labels: list[str]) -> str:
    """An HTML legend under a chart: every label whole (it wraps), beside its mark."""
    items = "".join(
        f'<li data-series="{escape(label)}">{swatch(mark(i))} {escape(label)}</li>'
        for i, label in enumerate(labels)
    )
    return f'<ul class="chart-legend">{items}</ul>'
