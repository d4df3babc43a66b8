"""The quality dashboard: the team's overview, one page per prompt (a line per version) and
per function (a line per code version). Reads buckets only (apps/traces/dashboard)."""

from __future__ import annotations

from apps.core.web import render_page
from apps.traces.dashboard import charts, selectors
from apps.traces.models import Period


def _pct(value: float) -> str:
    return f"{value * 100:.1f} %"


def _ms(value: float) -> str:
    return f"{value:,.0f} ms"


def _money(value: float) -> str:
    return f"${value:,.4f}"


METRICS = (
    ("traces", "Traces", lambda v: f"{v:,.0f}"),
    ("error_rate", "Error rate", _pct),
    ("p50", "Latency p50", _ms),
    ("p95", "Latency p95", _ms),
    ("tokens", "Tokens", lambda v: f"{v:,.0f}"),
    ("cost", "Cost", _money),
)


def _charts(dash: selectors.Dashboard) -> list[dict]:
    time_format = "%m-%d" if dash.period == Period.DAY else "%m-%d %H:00"
    out = []
    metrics = list(METRICS) + [
        (f"score:{name}", f"Score {name}", lambda v: f"{v:.2f}") for name in dash.score_names
    ]
    for metric, label, fmt in metrics:
        out.append(
            {
                "label": label,
                "svg": charts.line_chart(
                    title=label,
                    starts=dash.starts,
                    series=selectors.metric_values(dash, metric),
                    markers=dash.markers,
                    fmt=fmt,
                    time_format=time_format,
                ),
            }
        )
    return out


def _render(request, dash: selectors.Dashboard, kind: str):
    legend = [(charts.legend_mark(i), line) for i, line in enumerate(dash.series)]
    context = {
        "dash": dash,
        "kind": kind,
        "charts": _charts(dash),
        "legend": legend,
        "ranges": list(selectors.RANGES),
    }
    return render_page(request, "traces/dashboard.html", context, partial="board")


def dashboard_team(request):
    return _render(request, selectors.dashboard(kind="team", params=request.GET), "team")


def dashboard_prompt(request, prompt_name):
    dash = selectors.dashboard(kind="prompt", name=prompt_name, params=request.GET)
    return _render(request, dash, "prompt")


def dashboard_function(request, function_name):
    dash = selectors.dashboard(kind="function", name=function_name, params=request.GET)
    return _render(request, dash, "function")
