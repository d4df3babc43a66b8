"""What the dashboard pages show, read from buckets only: one query for the traces'
buckets and one for the scores' per page, whatever the number of spans behind them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from apps.core.errors import NotFound
from apps.traces.dashboard import latency
from apps.traces.models import Period, ScoreBucket, ScoreKind, TraceBucket

# range -> (length, bucket width)
RANGES: dict[str, tuple[timedelta, str]] = {
    "24h": (timedelta(hours=24), Period.HOUR),
    "7d": (timedelta(days=7), Period.HOUR),
    "30d": (timedelta(days=30), Period.DAY),
}
DEFAULT_RANGE = "7d"
WIDTH: dict[str, timedelta] = {Period.HOUR: timedelta(hours=1), Period.DAY: timedelta(days=1)}
Key = tuple[str, int, str, str]  # prompt name, prompt version, function name, version


@dataclass
class Totals:
    traces: int = 0
    errors: int = 0
    duration_ms_sum: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    latency: dict[str, int] = field(default_factory=dict)
    scores: dict[str, list[float]] = field(default_factory=dict)  # name -> [count, total]
    score_kinds: dict[str, str] = field(default_factory=dict)

    def add(self, bucket: TraceBucket) -> None:
        self.traces += bucket.traces
        self.errors += bucket.errors
        self.duration_ms_sum += bucket.duration_ms_sum
        self.input_tokens += bucket.input_tokens
        self.output_tokens += bucket.output_tokens
        self.cost += float(bucket.cost or 0)
        self.latency = latency.merge([self.latency, bucket.latency])

    def add_score(self, bucket: ScoreBucket) -> None:
        count_total = self.scores.setdefault(bucket.name, [0, 0.0])
        count_total[0] += bucket.count
        count_total[1] += bucket.total
        self.score_kinds[bucket.name] = bucket.kind

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.traces if self.traces else None

    @property
    def p50(self) -> float | None:
        return latency.percentile(self.latency, 50)

    @property
    def p95(self) -> float | None:
        return latency.percentile(self.latency, 95)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def score(self, name: str) -> float | None:
        """The mean of a numeric score, the pass rate of a boolean one."""
        count, total = self.scores.get(name, (0, 0.0))
        return total / count if count else None

    def score_rows(self) -> list[tuple[str, str, float | None, int]]:
        return [
            (name, self.score_kinds[name], self.score(name), int(self.scores[name][0]))
            for name in sorted(self.scores)
        ]


@dataclass
class Series:
    """One line of the charts: a prompt version or a function version."""

    label: str
    key: Key
    first_seen: datetime
    points: dict[datetime, Totals] = field(default_factory=lambda: defaultdict(Totals))
    totals: Totals = field(default_factory=Totals)


@dataclass
class Dashboard:
    title: str
    range: str
    period: str
    starts: list[datetime]
    series: list[Series]
    totals: Totals
    score_names: list[str]
    markers: list[tuple[datetime, str]]  # a version's first bucket in the range


def _window(range_name: str, now: datetime) -> tuple[str, datetime, datetime, str]:
    range_name = range_name if range_name in RANGES else DEFAULT_RANGE
    length, period = RANGES[range_name]
    end = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    if period == Period.DAY:
        end = end.replace(hour=0) + timedelta(days=1)
    return range_name, end - length, end, period


def _starts(start: datetime, end: datetime, period: str) -> list[datetime]:
    step = WIDTH[period]
    first = start.replace(minute=0, second=0, microsecond=0)
    if period == Period.DAY:
        first = first.replace(hour=0)
    out = []
    moment = first
    while moment < end:
        out.append(moment)
        moment += step
    return out


def _label(kind: str, key: Key) -> str:
    prompt_name, version, function_name, function_version = key
    if kind == "prompt":
        return f"v{version}" if version else "(no version)"
    if kind == "function":
        return function_version[:8] or "(no version)"
    return prompt_name or function_name or "(none)"


def dashboard(
    *,
    kind: str,
    name: str = "",
    params: Mapping[str, Any],
    now: datetime | None = None,
) -> Dashboard:
    """The dashboard of a prompt (`kind="prompt"`: one line per version), a function
    (`"function"`: per function version) or the team (`"team"`: per prompt or function).
    NotFound for a prompt or function with no traces at all."""
    range_name, start, end, period = _window(str(params.get("range") or ""), now or timezone.now())
    buckets: QuerySet[TraceBucket] = TraceBucket.objects.filter(
        period=period, start__gte=start, start__lt=end
    )
    scores: QuerySet[ScoreBucket] = ScoreBucket.objects.filter(
        period=period, start__gte=start, start__lt=end
    )
    if kind == "prompt":
        buckets, scores = buckets.filter(prompt_name=name), scores.filter(prompt_name=name)
    elif kind == "function":
        buckets, scores = buckets.filter(function_name=name), scores.filter(function_name=name)

    def key_of(bucket: TraceBucket | ScoreBucket) -> Key:
        if kind == "prompt":
            return ("", bucket.prompt_version_number, "", "")
        if kind == "function":
            return ("", 0, "", bucket.function_version)
        prompt = bucket.prompt_name
        return (prompt, 0, "" if prompt else bucket.function_name, "")

    series: dict[Key, Series] = {}
    totals = Totals()
    for bucket in buckets.order_by("start"):
        key = key_of(bucket)
        line = series.get(key)
        if line is None:
            line = series[key] = Series(label=_label(kind, key), key=key, first_seen=bucket.start)
        line.points[bucket.start].add(bucket)
        line.totals.add(bucket)
        totals.add(bucket)
    if kind != "team" and not series and not _exists(kind, name):
        raise NotFound(f"No traces of this {kind} yet.")
    names: set[str] = set()
    for score in scores:
        scored_line = series.get(key_of(score))
        if scored_line is None:
            continue
        scored_line.points[score.start].add_score(score)
        scored_line.totals.add_score(score)
        totals.add_score(score)
        names.add(score.name)
    ordered = sorted(series.values(), key=lambda s: (s.first_seen, s.label))
    markers: list[tuple[datetime, str]] = []
    if kind in ("prompt", "function"):
        markers = [(s.first_seen, s.label) for s in ordered[1:] if s.first_seen > start]
    return Dashboard(
        title=name,
        range=range_name,
        period=period,
        starts=_starts(start, end, period),
        series=ordered,
        totals=totals,
        score_names=sorted(names),
        markers=markers,
    )


def _exists(kind: str, name: str) -> bool:
    """Whether the prompt or function has any bucket at all (an old one, out of range)."""
    field_name = "prompt_name" if kind == "prompt" else "function_name"
    return TraceBucket.objects.filter(**{field_name: name}).exists()


def metric_values(dash: Dashboard, metric: str) -> dict[str, list[float | None]]:
    """{series label: the metric per bucket start} for one chart."""
    out = {}
    for line in dash.series:
        values = []
        for moment in dash.starts:
            point = line.points.get(moment)
            values.append(_metric(point, metric) if point is not None else None)
        out[line.label] = values
    return out


def _metric(point: Totals, metric: str) -> float | None:
    if metric.startswith("score:"):
        return point.score(metric[len("score:") :])
    if metric == "traces":
        return float(point.traces)
    if metric == "error_rate":
        return point.error_rate
    if metric == "p50":
        return point.p50
    if metric == "p95":
        return point.p95
    if metric == "tokens":
        return float(point.tokens)
    if metric == "cost":
        return point.cost
    raise ValueError(metric)


SCORE_KINDS = {ScoreKind.BOOLEAN: "pass rate", ScoreKind.NUMBER: "mean"}
