"""Reading scores: a trace's, a page of traces', the team's score names, the explorer's
score filter, and the scores of filtered traces for export. Team-scoped."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet

from apps.core.distinct import team_distinct
from apps.core.errors import ValidationFailed
from apps.core.tenancy import TenancyError, current_team
from apps.traces.models import ScoreKind, ScoreSource, Trace, TraceScore

# "thumbs" (has a thumbs score), "thumbs=false", "thumbs:good", "rating>=4", "rating<0.5".
SCORE_FILTER = re.compile(
    r"^\s*(?P<name>[^=:<>!]+?)\s*(?:(?P<op>=|:|!=|<=|>=|<|>)\s*(?P<value>.+?))?\s*$"
)
NUMBER_OPS = {"<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}


@dataclass(frozen=True)
class ScoreFilter:
    name: str
    op: str = ""
    value: str = ""

    def q(self) -> Q:
        """The condition on a TraceScore row."""
        q = Q(name=self.name)
        if not self.op:
            return q
        text = self.value.strip()
        if self.op in NUMBER_OPS:
            number = _number(text)
            return (
                q
                & Q(kind__in=(ScoreKind.NUMBER, ScoreKind.BOOLEAN))
                & Q(**{f"value__{NUMBER_OPS[self.op]}": number})
            )
        same = _equal(text)
        return q & ~same if self.op == "!=" else q & same


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValidationFailed(f"{text!r} is not a number.", field="score") from None


def _equal(text: str) -> Q:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return Q(kind=ScoreKind.BOOLEAN, value=1.0 if lowered == "true" else 0.0)
    try:
        number = float(text)
    except ValueError:
        return Q(kind=ScoreKind.CATEGORY, category=text)
    return (Q(kind__in=(ScoreKind.NUMBER, ScoreKind.BOOLEAN)) & Q(value=number)) | Q(
        kind=ScoreKind.CATEGORY, category=text
    )


def score_filter_parse(text: str | None) -> ScoreFilter | None:
    """The explorer's `score` filter, or None when empty; a 400 naming `score` when it
    cannot be read."""
    text = (text or "").strip()
    if not text:
        return None
    match = SCORE_FILTER.match(text)
    if match is None or (match.group("op") and not match.group("value")):
        raise ValidationFailed(
            "Write a score filter as name, name=value or name>=number.", field="score"
        )
    parsed = ScoreFilter(
        match.group("name").strip(), match.group("op") or "", match.group("value") or ""
    )
    if parsed.op in NUMBER_OPS:
        _number(parsed.value)
    return parsed


def traces_with_score(qs: QuerySet[Trace], wanted: ScoreFilter) -> QuerySet[Trace]:
    """Traces that have a score matching the filter (through the (team, trace, name)
    index, per trace of the page being read)."""
    return qs.filter(
        Exists(
            TraceScore.objects.filter(team_id=OuterRef("team_id"), trace=OuterRef("pk")).filter(
                wanted.q()
            )
        )
    )


REVIEW_STATES = {
    "annotated": "Annotated",
    "not_yet": "Not yet annotated",
    "failed": "Failed by a person",
}


def traces_reviewed(qs: QuerySet[Trace], state: str) -> QuerySet[Trace]:
    """Traces by human review: with a person's verdict (on the page or from a queue),
    without one, or with a Fail among them."""
    human = TraceScore.objects.filter(
        team_id=OuterRef("team_id"), trace=OuterRef("pk"), source=ScoreSource.HUMAN
    )
    if state == "annotated":
        return qs.filter(Exists(human))
    if state == "not_yet":
        return qs.filter(~Exists(human))
    return qs.filter(Exists(human.filter(kind=ScoreKind.BOOLEAN, value=0.0)))


def trace_scores(trace: Trace) -> list[TraceScore]:
    """The trace's scores (its own and its spans'), oldest first."""
    return list(TraceScore.objects.filter(trace=trace).order_by("created_at", "id"))


def scores_by_trace(traces: Iterable[Trace]) -> dict[int, list[TraceScore]]:
    """{trace pk: its scores} for a page of traces, in one query."""
    pks = [t.pk for t in traces]
    out: dict[int, list[TraceScore]] = defaultdict(list)
    if not pks:
        return out
    rows = (
        TraceScore.objects.filter(trace_id__in=pks)
        .only("trace_id", "span_hex", "name", "kind", "value", "category", "source")
        .order_by("trace_id", "name", "created_at", "id")
    )
    for score in rows:
        out[score.trace_id].append(score)
    return out


def scores_attach(traces: list[Trace]) -> None:
    """Give each trace of a page its scores as `score_list` (one query for the page)."""
    found = scores_by_trace(traces)
    for trace in traces:
        trace.score_list = found.get(trace.pk, [])  # type: ignore[attr-defined]


def score_names(limit: int = 100) -> list[str]:
    """The team's score names, for suggestions: a hop over the (team, name) index."""
    team = current_team()
    if team is None:
        raise TenancyError("score_names() runs in a team scope")
    return team_distinct(TraceScore, "name", team_id=team.pk, limit=limit)


def scores_filtered(params: Mapping[str, Any]) -> QuerySet[TraceScore]:
    """Scores for the list API and the export: by name, source, trace and time."""
    qs = TraceScore.objects.all()
    get = params.get
    if get("name"):
        qs = qs.filter(name=str(get("name")).strip())
    if get("source"):
        qs = qs.filter(source=str(get("source")).strip())
    if get("trace_id"):
        qs = qs.filter(trace_hex=str(get("trace_id")).strip().lower())
    if get("since"):
        qs = qs.filter(created_at__gte=get("since"))
    return qs.order_by("-created_at", "-id")


EXPORT_MAX = 100_000
EXPORT_COLUMNS = (
    "trace_id",
    "span_id",
    "name",
    "kind",
    "value",
    "comment",
    "source",
    "author",
    "id",
    "created_at",
    "updated_at",
    "trace_name",
    "prompt_name",
    "prompt_version",
    "function_name",
    "function_version",
)


def score_export_rows(traces: QuerySet[Trace], *, limit: int) -> Iterable[list[Any]]:
    """The scores of the traces the explorer's filters select (newest traces first), one
    row each with the trace's prompt and function: at most `limit` rows, read in chunks."""
    qs = (
        TraceScore.objects.filter(trace__in=traces.values("pk"))
        .select_related("trace")
        .order_by("-trace__start_time", "trace_id", "created_at", "id")[:limit]
    )
    for s in qs.iterator(chunk_size=1000):
        t = s.trace
        yield [
            s.trace_hex,
            s.span_hex,
            s.name,
            s.kind,
            s.json_value,
            s.comment,
            s.source,
            s.author,
            s.client_id,
            s.created_at.isoformat(),
            s.updated_at.isoformat(),
            t.name,
            t.prompt_name,
            t.prompt_version_number or "",
            t.function_name,
            t.function_version,
        ]
