"""Every read of traces, team-scoped (the default manager fails outside team_scope)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Avg, Count, Max, Min, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.core.distinct import team_distinct
from apps.core.errors import NotFound, ValidationFailed
from apps.core.pagination import KeysetPage, estimated_count, keyset_page
from apps.core.tenancy import TenancyError, current_team
from apps.teams.actors import Actor
from apps.teams.models import Team
from apps.traces import partitions
from apps.traces.hooks import SpanQueues
from apps.traces.models import Span, Status, Trace
from apps.traces.scores import selectors as score_selectors

PAGE_SIZE = 50
QUEUE_CHOICES_MAX = 500
SPANS_TO_ANNOTATE_MAX = 200
RANGES = {
    "1h": timedelta(hours=1),
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
FILTER_KEYS = (
    "range",
    "start",
    "end",
    "name",
    "status",
    "model",
    "prompt",
    "version",
    "function",
    "function_version",
    "q",
    "score",
    "review",
    "session",
    "user",
)


def _aware(value: str | None) -> datetime | None:
    try:
        moment = parse_datetime(value or "")
    except ValueError:  # well formed but impossible, like month 13: ignored like junk
        moment = None
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, UTC)
    return moment


def traces_filtered(params: Mapping[str, Any], *, now: datetime | None = None) -> QuerySet[Trace]:
    """Traces matching the list filters; every filter has an index starting (team, …).

    `params` is a QueryDict or dict of FILTER_KEYS. Unknown or empty values are ignored; a
    `score` filter that cannot be read is a ValidationFailed naming it."""
    get: Callable[[str], Any] = params.get
    qs = Trace.objects.all()
    now = now or timezone.now()
    span = RANGES.get(get("range") or "")
    if span is not None:
        qs = qs.filter(start_time__gte=now - span)
    start, end = _aware(get("start")), _aware(get("end"))
    if start is not None:
        qs = qs.filter(start_time__gte=start)
    if end is not None:
        qs = qs.filter(start_time__lte=end)
    if get("name"):
        qs = qs.filter(name=get("name").strip())
    if get("status") in Status.values:
        qs = qs.filter(status=get("status"))
    if get("model"):
        qs = qs.filter(model=get("model").strip())
    if get("prompt"):
        qs = qs.filter(prompt_name=get("prompt").strip())
    version = (get("version") or "").strip().lstrip("v")
    if version.isdigit():
        qs = qs.filter(prompt_version_number=int(version))
    if get("function"):
        qs = qs.filter(function_name=get("function").strip())
    if get("function_version"):
        qs = qs.filter(function_version=get("function_version").strip())
    q = (get("q") or "").strip()
    if q:
        qs = qs.filter(Q(input_preview__icontains=q) | Q(output_preview__icontains=q))
    if get("session"):
        qs = qs.filter(session_id=get("session").strip())
    if get("user"):
        qs = qs.filter(user_id=get("user").strip())
    review = get("review")
    if review in score_selectors.REVIEW_STATES:
        qs = score_selectors.traces_reviewed(qs, review)
    wanted = score_selectors.score_filter_parse(get("score"))
    if wanted is not None:
        qs = score_selectors.traces_with_score(qs, wanted)
    return qs.order_by("-start_time", "-id")


TRACE_ORDER = ("-start_time", "-id")


def traces_page(params: Mapping[str, Any], *, per_page: int = PAGE_SIZE) -> KeysetPage:
    """A keyset page of the explorer (newest first; after=/before=/from=/last=, see
    keyset_page): every filter but the text search reads an index starting (team, …,
    start_time, id), so an old page costs what the newest does. The count is the planner's
    estimate. `page=<cursor>` is what the explorer's links carried before: "after"."""
    qs = traces_filtered(params).defer("input_preview", "output_preview")
    params = dict(params.items())
    if params.get("page") and not params.get("after"):
        params["after"] = params["page"]
    return keyset_page(
        qs, order=TRACE_ORDER, params=params, per_page=per_page, count=estimated_count(qs)
    )


SESSION_ORDER = ("start_time", "id")


def session_page(
    session_id: str, params: Mapping[str, Any], *, per_page: int = PAGE_SIZE
) -> KeysetPage:
    """A session's traces in the order they happened (a keyset page through the (team,
    session, start, id) index); NotFound when the team has no trace in that session."""
    session_id = (session_id or "").strip()
    qs = Trace.objects.filter(session_id=session_id) if session_id else Trace.objects.none()
    page = keyset_page(qs, order=SESSION_ORDER, params=params, per_page=per_page)
    if not page.rows and not any(params.get(k) for k in ("after", "before", "from", "last")):
        raise NotFound("No such session.")
    return page


def filter_choices(limit: int = 100) -> dict[str, list[str]]:
    """Values for the filter inputs' suggestions: hops over the distinct values of the
    (team, name / model / prompt / function, …) indexes, not a read of the traces."""
    team = current_team()
    if team is None:
        raise TenancyError("filter_choices() runs in a team scope")

    def distinct(field: str) -> list[str]:
        return team_distinct(Trace, field, team_id=team.pk, limit=limit)

    return {
        "names": distinct("name"),
        "models": distinct("model"),
        "prompts": distinct("prompt_name"),
        "functions": distinct("function_name"),
        "users": distinct("user_id"),
    }


def trace_get(trace_id: str) -> Trace:
    trace = Trace.objects.filter(trace_id=(trace_id or "").lower()).first()
    if trace is None:
        raise NotFound("No such trace.")
    return trace


def _spans_of(trace: Trace) -> QuerySet[Span]:
    """The trace's spans, read within its time window: on PostgreSQL only the weeks'
    partitions that hold them are searched (a trace's start and end are its spans' earliest
    start and latest end; the margin covers the microseconds a datetime rounds off)."""
    margin = 1_000_000
    return Span.objects.filter(
        trace=trace,
        start_ns__gte=partitions.to_ns(trace.start_time) - margin,
        start_ns__lte=partitions.to_ns(trace.end_time) + margin,
    )


def span_get(trace: Trace, span_id: str) -> Span:
    span = _spans_of(trace).filter(span_id=(span_id or "").lower()).first()
    if span is None:
        raise NotFound("No such span.")
    return span


TREE_FIELDS = (
    "id",
    "team_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "kind",
    "start_ns",
    "end_ns",
    "duration_ms",
    "status_code",
    "model",
    "input_tokens",
    "output_tokens",
    "cost",
    "prompt_name",
    "prompt_version_number",
)


def trace_spans(trace: Trace) -> QuerySet[Span]:
    return _spans_of(trace).order_by("start_ns", "id")


def tree_spans(trace: Trace) -> list[Span]:
    """The trace's spans with only the columns the tree draws; a selected span is read in
    full on its own (`span_get`)."""
    return list(trace_spans(trace).only(*TREE_FIELDS))


def spans_to_annotate(trace: Trace, span: Span | None) -> list[Span]:
    """The chosen span, or else the trace's model calls (a trace without any: its root)."""
    if span is not None:
        return [span]
    spans = list(trace_spans(trace).select_related("trace"))
    model_calls = [s for s in spans if s.model][:SPANS_TO_ANNOTATE_MAX]
    if model_calls:
        return model_calls
    root = root_span(spans)
    # Ingestion stores a trace with its spans and retention deletes them together.
    assert root is not None, "a stored trace has at least one span"
    return [root]


def root_span(spans: list[Span]) -> Span | None:
    ids = {s.span_id for s in spans}
    for span in spans:
        if not span.parent_span_id or span.parent_span_id not in ids:
            return span
    return spans[0] if spans else None


@dataclass
class TreeRow:
    span: Span
    depth: int
    offset_pct: float
    width_pct: float
    has_children: bool
    closes: range  # how many open <details> end after this row


def span_tree(spans: list[Span]) -> list[TreeRow]:
    """Depth-first rows with their timeline bars; iterative, so deep or cyclic parent
    chains (spans are outside data) cannot blow the stack or loop."""
    if not spans:
        return []
    by_id = {s.span_id: s for s in spans}
    children: dict[str, list[Span]] = defaultdict(list)
    roots: list[Span] = []
    for span in spans:
        parent = span.parent_span_id
        if parent and parent in by_id and parent != span.span_id:
            children[parent].append(span)
        else:
            roots.append(span)
    t0 = min(s.start_ns for s in spans)
    total = max(max(s.end_ns for s in spans) - t0, 1)

    order: list[tuple[Span, int]] = []
    seen: set[str] = set()

    def walk(starts: list[Span]) -> None:
        stack = [(s, 0) for s in reversed(starts)]
        while stack:
            span, depth = stack.pop()
            if span.span_id in seen:
                continue
            seen.add(span.span_id)
            order.append((span, depth))
            for child in reversed(children.get(span.span_id, ())):
                if child.span_id not in seen:
                    stack.append((child, depth + 1))

    walk(roots)
    if len(seen) < len(by_id):  # parent cycles: show the stragglers at the top level
        walk([s for s in spans if s.span_id not in seen])

    rows = []
    for index, (span, depth) in enumerate(order):
        next_depth = order[index + 1][1] if index + 1 < len(order) else 0
        has_children = next_depth > depth
        offset = (span.start_ns - t0) / total * 100
        width = max((span.end_ns - span.start_ns) / total * 100, 0.3)
        rows.append(
            TreeRow(
                span=span,
                depth=depth,
                offset_pct=round(min(offset, 99.7), 3),
                width_pct=round(min(width, 100 - min(offset, 99.7)), 3),
                has_children=has_children,
                closes=range(depth + (1 if has_children else 0) - next_depth),
            )
        )
    return rows


def function_groups(params: Mapping[str, Any], *, limit: int = 200) -> list[Mapping[str, Any]]:
    """Traces grouped by function name and version: a code change shows as a new row."""
    qs = traces_filtered({k: v for k, v in params.items() if k in ("range", "start", "end")})
    return list(
        qs.exclude(function_name="")
        .values("function_name", "function_version")
        .annotate(
            traces=Count("id"),
            errors=Count("id", filter=Q(status=Status.ERROR)),
            avg_ms=Avg("duration_ms"),
            cost=Sum("cost"),
            first_seen=Min("start_time"),
            last_seen=Max("start_time"),
        )
        .order_by("function_name", "-last_seen")[:limit]
    )


# --- annotation queues, when an app provides them (see hooks) -----------------------------


def queue_choices(sender: SpanQueues | None, *, team: Team, actor: Actor) -> list[Any] | None:
    """The queues the actor may send spans to, by name; None when they may send none."""
    if sender is None or not sender.may_send(actor, team):
        return None
    queues = sorted(sender.queues(team=team, actor=actor), key=lambda queue: queue.name)
    return queues[:QUEUE_CHOICES_MAX]


def queue_for_field(
    sender: SpanQueues | None,
    value: Any,
    *,
    team: Team,
    actor: Actor,
    field: str = "queue_id",
) -> Any:
    """The queue a form names by id; a refusal names `field`."""
    if sender is None:
        raise ValidationFailed("Annotation queues are not available.", field=field)
    value = str(value or "")
    if not (value.isascii() and value.isdigit()):  # nothing chosen, or a tampered form
        raise ValidationFailed("Choose an annotation queue.", field=field)
    try:
        return sender.queue_get(team=team, actor=actor, queue_id=int(value))
    except NotFound as exc:
        raise ValidationFailed(exc.message, field=field) from None
