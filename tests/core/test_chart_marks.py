"""Charts that read without colour and without hovering a mouse: each series differs in
more than colour, axes carry units, every value is reachable by keyboard focus, long
labels are whole (wrapped, or in a legend), and every label is escaped."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from itertools import combinations
from types import SimpleNamespace as NS

from apps.core.chart_marks import legend, mark
from apps.experiments import charts
from apps.traces.dashboard import charts as dashboard_charts

LONG = "support-reply v4 (shorter answers, refunds handled well and politely) · demo-echo"
HOSTILE = "<script>alert(1)</script>"


def test_it_tells_the_first_eight_series_apart_in_two_ways_besides_colour_alone():
    looks = [mark(i) for i in range(8)]
    for a, b in combinations(looks, 2):
        differences = (a.color != b.color) + (a.dash != b.dash) + (a.shape != b.shape)
        assert differences >= 2, (a, b)
    assert len({(m.dash) for m in looks[:4]}) == 4 and len({m.shape for m in looks[:4]}) == 4


def test_it_keeps_legend_labels_whole_and_escaped():
    html = legend([LONG, HOSTILE])
    assert LONG in html
    assert HOSTILE not in html and "&lt;script&gt;" in html


def _stats():
    rng = random.Random(3)
    return [
        NS(label=label, latencies=[rng.gauss(mean, 30) for _ in range(50)], latency_p50=mean,
           latency_p95=mean + 50)
        for label, mean in (("v3 · gpt-4o-mini", 300), (LONG, 380))
    ]  # fmt: skip


def test_the_latency_chart_has_axes_with_units_focusable_bins_and_a_whole_legend():
    svg = str(charts.latency_histogram(_stats()))
    assert "latency per call (ms)" in svg and ">calls<" in svg
    assert svg.count(" ms</text>") >= 5  # ticks carry the unit
    assert 'tabindex="0"' in svg and "calls took" in svg
    assert 'class="chart-legend"' in svg and LONG in svg.split('class="chart-legend"')[1]
    assert 'stroke-dasharray="6 3"' in svg  # the second variant's outline is dashed


def test_the_pass_rate_chart_wraps_long_labels_and_says_each_value_on_focus():
    rows = [
        NS(judged=True, evaluator="contains-expected", label=label, variant_id=i, rate=0.5,
           ci_low=0.3, ci_high=0.7)
        for i, label in enumerate(["v3", LONG])
    ]  # fmt: skip
    summary = NS(rows=rows, evaluators=["contains-expected"], variants=[NS(pk=0), NS(pk=1)])
    svg = str(charts.pass_rate_chart(summary))
    assert "…" not in svg  # wrapped onto two lines, not cut
    assert svg.count("<tspan") == 3  # one line for v3, two for the long label
    assert svg.count('<g class="bar" tabindex="0">') == 2
    assert "pass rate (% of examples)" in svg


def test_the_dashboard_chart_marks_units_and_focusable_points():
    starts = [datetime(2026, 11, 30) + timedelta(hours=h) for h in range(6)]
    svg = str(
        dashboard_charts.line_chart(
            title="Latency p50",
            starts=starts,
            series={HOSTILE: [100, 120, None, 130, 90, 80], "v2": [None] * 3 + [50, 60, 70]},
            markers=[(starts[3], "v2")],
            fmt=lambda v: f"{v:,.0f} ms",
        )
    )
    assert ">0 ms<" in svg and ">130 ms<" in svg and ">65 ms<" in svg  # ticks with units
    assert svg.count('tabindex="0"') == 8  # every point, reachable by keyboard
    assert "v2, 11-30 05:00: 70 ms" in svg
    assert HOSTILE not in svg and "&lt;script&gt;" in svg
    assert "<rect" in svg or "<polygon" in svg  # the second series' markers are not circles
