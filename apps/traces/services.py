"""Every write to traces: ingestion, adding a trace to a dataset, retention."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from django.conf import settings
from django.db import DatabaseError, OperationalError, connection, models, transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.utils import timezone

from apps.core import jsonshape
from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.datasets.models import Dataset
from apps.datasets.services import AddedExamples, examples_add_unique
from apps.prompts.models import PromptVersion, Rollout, RolloutStatus
from apps.prompts.services import rollout_abort_by_guardrail
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import PERM_EDIT, PERM_VIEW, ApiKeyScope, Team
from apps.teams.permissions import require
from apps.traces import partitions, semconv
from apps.traces.cost import span_cost, team_prices
from apps.traces.dashboard.services import bucket_marks_record
from apps.traces.functions.fields import ATTR_SOURCE as FUNCTION_SOURCE
from apps.traces.functions.fields import Seen, function_seen
from apps.traces.functions.services import function_versions_record
from apps.traces.models import Period, ScoreBucket, Span, Status, Trace, TraceBucket, TraceScore
from apps.traces.otlp import RawSpan
from apps.traces.rollouts import rollout_comparison
from apps.traces.scores.services import SCORE_EVENT, span_scores_ingest

PREVIEW_CHARS = 2000
SPAN_BATCH_SIZE = 1000
TRACE_INSERT_BATCH = 1000
# Up to this many spans, one multi-row INSERT: a temporary table for COPY costs catalog
# writes and two more statements, more than it saves on a small batch (an SDK's flush of a
# few spans, a single-span export).
SMALL_SPAN_BATCH = 64
PURGE_CHUNK = 500
LOCK_NOT_AVAILABLE = "55P03"  # PostgreSQL's SQLSTATE for a lock_timeout


class IngestBusy(Exception):
    """Writing fell behind (no free writer slot, or the database timed out): nothing was
    stored, the client should retry after `retry_after` seconds."""

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


_writers = threading.BoundedSemaphore(getattr(settings, "PROMPTYARD_TRACE_MAX_WRITERS", 8))


def _ns_to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _prompt_versions(team: Team, pairs: set[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """(prompt name, version number) -> PromptVersion id, within the key's team only."""
    if not pairs:
        return {}
    names = {name for name, _ in pairs}
    numbers = {number for _, number in pairs}
    rows = (
        PromptVersion.objects.unscoped()  # the team is explicit: the API key's
        .filter(team=team, prompt__name__in=names, number__in=numbers)
        .values_list("prompt__name", "number", "id")
    )
    return {(name, number): pk for name, number, pk in rows if (name, number) in pairs}


def _set_write_timeout() -> None:
    """A write stuck behind locks or a saturated database becomes a 503, not a hang."""
    if connection.vendor == "postgresql":
        seconds = getattr(settings, "PROMPTYARD_TRACE_WRITE_TIMEOUT_S", 5)
        milliseconds = str(int(seconds * 1000))
        with connection.cursor() as cursor:
            # One round trip for both (set_config(..., true) is SET LOCAL).
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true), "
                "set_config('lock_timeout', %s, true)",
                [milliseconds, milliseconds],
            )


def spans_ingest(*, team: Team, actor: Actor, spans: list[RawSpan]) -> int:
    """Store decoded spans in bulk and fold them into their traces' summaries.

    All or nothing: either every span is stored (returns their count) or IngestBusy /
    DatabaseError is raised and nothing is. Attributes never decide the team."""
    require(actor, PERM_EDIT, team, scope=ApiKeyScope.TRACES_WRITE)
    if not spans:
        return 0
    wait = getattr(settings, "PROMPTYARD_TRACE_WRITER_WAIT_S", 0.5)
    if not _writers.acquire(timeout=wait):
        raise IngestBusy("Too many trace writes in progress; retry shortly.")
    try:
        return _write(team, spans)
    except DatabaseError as exc:
        raise IngestBusy(f"The trace store could not take the write ({exc.__class__.__name__}).")
    finally:
        _writers.release()


def spans_record(*, team: Team, spans: list[RawSpan]) -> int:
    """Store spans of an export accepted earlier (apps.traces.exports: its sender's key
    was checked then), in the caller's transaction; DatabaseError propagates for the
    task's retry."""
    if not spans:
        return 0
    return _write(team, spans)


def _write(team: Team, raw_spans: list[RawSpan]) -> int:
    prices = team_prices(team)
    rows: list[SimpleNamespace] = []
    by_trace: dict[str, list[SimpleNamespace]] = {}
    prompt_pairs: set[tuple[str, int]] = set()
    functions: Seen = {}
    for raw in raw_spans:
        fields = semconv.extract(raw.attributes, raw.events)
        function_seen(
            functions,
            name=fields.function_name,
            version_hash=fields.function_version,
            attributes=raw.attributes,
        )
        # The code is kept once, as the function version, not again on every span.
        raw.attributes.pop(FUNCTION_SOURCE, None)
        # Plain rows, not model instances: at thousands of spans a second, Model.__init__
        # is a visible share of the time. Their names are Span's attnames.
        span = SimpleNamespace(
            team_id=team.pk,
            trace_id=None,
            prompt_version_id=None,
            span_id=raw.span_id,
            parent_span_id=raw.parent_span_id,
            name=raw.name,
            kind=raw.kind,
            start_ns=raw.start_ns,
            end_ns=raw.end_ns,
            duration_ms=(raw.end_ns - raw.start_ns) / 1e6,
            status_code=raw.status_code,
            status_message=raw.status_message[:10_000],
            attributes=raw.attributes,
            events=raw.events,
            resource=raw.resource,
            model=fields.model,
            input_text=fields.input_text,
            output_text=fields.output_text,
            input_tokens=fields.input_tokens,
            output_tokens=fields.output_tokens,
            cost=span_cost(prices, fields.model, fields.input_tokens, fields.output_tokens),
            prompt_name=fields.prompt_name,
            prompt_version_number=fields.prompt_version_number,
            function_name=fields.function_name,
            function_version=fields.function_version,
        )
        # Not Span columns: folded into the trace's summary (see _fold).
        span.session_key, span.user_key = fields.session_id, fields.user_id
        if span.prompt_name and span.prompt_version_number:
            prompt_pairs.add((span.prompt_name, span.prompt_version_number))
        rows.append(span)
        by_trace.setdefault(raw.trace_id, []).append(span)

    with transaction.atomic():
        _set_write_timeout()
        versions = _prompt_versions(team, prompt_pairs)
        for span in rows:
            if span.prompt_name and span.prompt_version_number:
                span.prompt_version_id = versions.get(
                    (span.prompt_name, span.prompt_version_number)
                )
        trace_ids = sorted(by_trace)
        # Each trace's summary as if these were its only spans, inserted unless it exists
        # (sorted, so concurrent writers lock in one order). A trace inserted here has no
        # other spans (another writer of it waits on this row until commit) and its
        # summary is final; the others are locked and folded from their stored spans.
        summaries = {t: _summary(team, t, by_trace[t]) for t in trace_ids}
        created = _insert_summaries([summaries[trace_id] for trace_id in trace_ids])
        traces = {trace_id: summaries[trace_id] for trace_id in created}
        # A batch that repeats a span id stores it once: its fold counts what was stored.
        to_fold = [
            trace_id
            for trace_id in trace_ids
            if trace_id not in created or not _distinct_span_ids(by_trace[trace_id])
        ]
        if to_fold:
            traces.update(
                (t.trace_id, t)
                for t in Trace.objects.unscoped()  # the team is explicit, as above
                .select_for_update()
                .filter(team=team, trace_id__in=to_fold)
                .order_by("trace_id")
            )
        for trace_id, group in by_trace.items():
            pk = traces[trace_id].pk
            for span in group:
                span.trace_id = pk
        # The dashboard's hours before and after the fold (an earlier span moves a start).
        moments = [t.start_time for t in traces.values()]
        _insert_spans(rows)
        if to_fold:
            _fold(
                {trace_id: traces[trace_id] for trace_id in to_fold},
                {trace_id: by_trace[trace_id] for trace_id in to_fold},
            )
        moments += [t.start_time for t in traces.values()]
        bucket_marks_record(team_id=team.pk, moments=moments)
        function_versions_record(team=team, seen=functions)
        if any(event.get("name") == SCORE_EVENT for raw in raw_spans for event in raw.events):
            span_scores_ingest(team=team, traces=traces, raw_spans=raw_spans)
    return len(rows)


def _span_window(
    starts: list[datetime], ends: list[datetime], extra_ns: Sequence[int] = ()
) -> tuple[int, int]:
    """start_ns bounds that hold every stored span of traces with these starts and ends (a
    trace's are its spans' earliest start and latest end), and `extra_ns`: on PostgreSQL a
    read bounded so touches only the weeks' partitions it covers. The margin covers the
    microseconds a datetime rounds off."""
    margin = 1_000_000  # 1 ms
    low = min([partitions.to_ns(t) for t in starts] + list(extra_ns))
    high = max([partitions.to_ns(t) for t in ends] + list(extra_ns))
    return low - margin, high + margin


def _fold(traces: dict[str, Trace], by_trace: dict[str, list[SimpleNamespace]]) -> None:
    """Recompute each touched trace's totals from its stored spans (so a retried export
    never counts twice) and take names and previews from the spans just received."""
    pk_to_trace = {t.pk: t for t in traces.values()}
    team_id = next(iter(traces.values())).team_id  # one team's traces, read just before
    low, high = _span_window(
        [t.start_time for t in traces.values()],
        [t.end_time for t in traces.values()],
        [s.start_ns for group in by_trace.values() for s in group],
    )
    totals = (
        Span.objects.unscoped()  # the traces were just read for the explicit team
        .filter(team_id=team_id, trace_id__in=list(pk_to_trace))
        .filter(start_ns__gte=low, start_ns__lte=high)
        .values("trace_id")
        .annotate(
            n=Count("id"),
            start=Min("start_ns"),
            end=Max("end_ns"),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            cost=Sum("cost"),
            errors=Count("id", filter=Q(status_code=Status.ERROR)),
            oks=Count("id", filter=Q(status_code=Status.OK)),
        )
    )
    for row in totals:
        _apply_totals(pk_to_trace[row["trace_id"]], row)
    for trace_id, group in by_trace.items():
        _apply_names(traces[trace_id], group)
    _update_traces(list(traces.values()))


def _apply_totals(trace: Trace, row: Mapping[str, Any]) -> None:
    trace.span_count = row["n"]
    trace.start_time = _ns_to_datetime(row["start"])
    trace.end_time = _ns_to_datetime(row["end"])
    trace.duration_ms = (row["end"] - row["start"]) / 1e6
    trace.input_tokens = row["input_tokens"] or 0
    trace.output_tokens = row["output_tokens"] or 0
    trace.cost = row["cost"]
    trace.status = Status.ERROR if row["errors"] else Status.OK if row["oks"] else Status.UNSET


def _apply_names(trace: Trace, group: list[SimpleNamespace]) -> None:
    """Names and previews from the spans just received: the root's first, else the
    earliest span's where the trace has none yet."""
    root = next((s for s in group if not s.parent_span_id), None)
    ordered = sorted(group, key=lambda s: s.start_ns)
    if root is not None:
        trace.name = root.name
        if root.function_name:
            trace.function_name = root.function_name
            trace.function_version = root.function_version
        if root.input_text:
            trace.input_preview = root.input_text[:PREVIEW_CHARS]
        if root.output_text:
            trace.output_preview = root.output_text[:PREVIEW_CHARS]
    elif not trace.name:
        trace.name = ordered[0].name
    for span in ordered:
        if not trace.model and span.model:
            trace.model = span.model
        if not trace.prompt_name and span.prompt_name:
            trace.prompt_name = span.prompt_name
            trace.prompt_version_number = span.prompt_version_number
        if not trace.function_name and span.function_name:
            trace.function_name = span.function_name
            trace.function_version = span.function_version
        if not trace.input_preview and span.input_text:
            trace.input_preview = span.input_text[:PREVIEW_CHARS]
        if not trace.output_preview and span.output_text:
            trace.output_preview = span.output_text[:PREVIEW_CHARS]
        if not trace.session_id and span.session_key:
            trace.session_id = span.session_key
        if not trace.user_id and span.user_key:
            trace.user_id = span.user_key


def _summary(team: Team, trace_id: str, group: list[SimpleNamespace]) -> Trace:
    """A trace's summary from these spans alone: what _fold makes of a trace with no others
    (the same totals, computed here instead of read back)."""
    costs = [s.cost for s in group if s.cost is not None]
    inputs = [s.input_tokens for s in group if s.input_tokens is not None]
    outputs = [s.output_tokens for s in group if s.output_tokens is not None]
    totals = {
        "n": len(group),
        "start": min(s.start_ns for s in group),
        "end": max(s.end_ns for s in group),
        "input_tokens": sum(inputs) if inputs else None,
        "output_tokens": sum(outputs) if outputs else None,
        "cost": sum(costs) if costs else None,
        "errors": sum(1 for s in group if s.status_code == Status.ERROR),
        "oks": sum(1 for s in group if s.status_code == Status.OK),
    }
    trace = Trace(
        team=team,
        trace_id=trace_id,
        start_time=_ns_to_datetime(totals["start"]),
        end_time=_ns_to_datetime(totals["end"]),
    )
    _apply_totals(trace, totals)
    _apply_names(trace, group)
    return trace


def _distinct_span_ids(group: list[SimpleNamespace]) -> bool:
    return len({(s.span_id, s.start_ns) for s in group}) == len(group)


def _insert_summaries(traces: list[Trace]) -> set[str]:
    """Insert the summaries of traces not stored yet, in statements of at most
    TRACE_INSERT_BATCH rows (an export of single-span traces may hold tens of thousands; a
    statement with server-side binding takes 65,535 parameters); the trace ids inserted
    (each row's pk is set on its Trace)."""
    fields = [f for f in Trace._meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    trace_id = qn(_column(Trace._meta.get_field("trace_id")))
    head = "INSERT INTO {} ({}) VALUES ".format(
        qn(Trace._meta.db_table), ", ".join(qn(_column(f)) for f in fields)
    )
    tail = " ON CONFLICT ({}, {}) DO NOTHING RETURNING {}, {}".format(
        qn(_column(Trace._meta.get_field("team"))), trace_id, qn(_column(Trace._meta.pk)), trace_id
    )
    row_sql = "({})".format(", ".join(["%s"] * len(fields)))
    by_id = {t.trace_id: t for t in traces}
    created: set[str] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(traces), TRACE_INSERT_BATCH):
            rows = _values(traces[start : start + TRACE_INSERT_BATCH], fields)
            cursor.execute(
                head + ", ".join([row_sql] * len(rows)) + tail,
                [value for row in rows for value in row],
            )
            for pk, inserted in cursor.fetchall():
                by_id[inserted].pk = pk
                created.add(inserted)
    return created


TRACE_FOLD_FIELDS = (
    "name",
    "start_time",
    "end_time",
    "duration_ms",
    "status",
    "span_count",
    "model",
    "prompt_name",
    "prompt_version_number",
    "function_name",
    "function_version",
    "input_preview",
    "output_preview",
    "input_tokens",
    "output_tokens",
    "cost",
    "session_id",
    "user_id",
)


def _column(field: models.Field[Any, Any]) -> str:
    # Only a field without a database column (a reverse or generic relation) has none.
    assert field.column is not None, f"{field.name} is stored in a column"
    return field.column


def _update_traces(traces: list[Trace]) -> None:
    """One prepared UPDATE per trace, sent as a batch (bulk_update's CASE WHEN costs far
    more to build than to run)."""
    fields: list[models.Field[Any, Any]] = []
    for name in TRACE_FOLD_FIELDS:
        field = Trace._meta.get_field(name)
        assert isinstance(field, models.Field), f"{name} is one of Trace's own columns"
        fields.append(field)
    qn = connection.ops.quote_name
    sql = "UPDATE {} SET {} WHERE {} = %s".format(
        qn(Trace._meta.db_table),
        ", ".join(f"{qn(_column(f))} = %s" for f in fields),
        qn(_column(Trace._meta.pk)),
    )
    rows = [
        values + [trace.pk] for trace, values in zip(traces, _values(traces, fields), strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _values(traces: list[Trace], fields: list[models.Field[Any, Any]]) -> list[list[Any]]:
    """Each trace's values of these fields, as the database driver takes them."""
    if connection.vendor == "postgresql":
        # psycopg adapts these types itself; Django's per-value preparation is pure cost here.
        return [[getattr(trace, f.attname) for f in fields] for trace in traces]
    return [[f.get_db_prep_save(getattr(t, f.attname), connection) for f in fields] for t in traces]


def _insert_spans(rows: list[SimpleNamespace]) -> None:
    """Insert spans, skipping any already stored (a retried export).

    PostgreSQL: COPY into a transaction-local table, then INSERT … ON CONFLICT DO NOTHING,
    several times faster than a multi-row INSERT for wide rows with JSON; a small batch is
    one multi-row INSERT. Elsewhere: bulk_create."""
    fields = [f for f in Span._meta.concrete_fields if not f.primary_key]
    if connection.vendor != "postgresql":
        # Each row carries its team_id already; bulk_create need not consult the scope.
        Span.objects.unscoped().bulk_create(
            [Span(**{f.attname: getattr(row, f.attname) for f in fields}) for row in rows],
            batch_size=SPAN_BATCH_SIZE,
            ignore_conflicts=True,
        )
        return
    qn = connection.ops.quote_name
    columns = ", ".join(qn(_column(f)) for f in fields)
    table = qn(Span._meta.db_table)
    json_fields = {i for i, f in enumerate(fields) if isinstance(f, models.JSONField)}
    attnames = [f.attname for f in fields]

    def values_of(span: SimpleNamespace) -> list[Any]:
        values = [getattr(span, name) for name in attnames]
        for i in json_fields:
            values[i] = json.dumps(values[i], ensure_ascii=False)
        return values

    if len(rows) <= SMALL_SPAN_BATCH:
        row_sql = "({})".format(
            ", ".join("%s::jsonb" if i in json_fields else "%s" for i in range(len(fields)))
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) VALUES "
                + ", ".join([row_sql] * len(rows))
                + " ON CONFLICT DO NOTHING",
                [value for span in rows for value in values_of(span)],
            )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE traces_span_incoming ON COMMIT DROP AS "
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY traces_span_incoming ({columns}) FROM STDIN") as copy:
            for span in rows:
                copy.write_row(values_of(span))
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM traces_span_incoming "
            "ON CONFLICT DO NOTHING"
        )
        cursor.execute("DROP TABLE traces_span_incoming")


# --- from a trace to a dataset ------------------------------------------------------------


def _as_input(text: str) -> dict[str, Any]:
    """A dataset example's input is an object of variables: JSON objects pass through."""
    try:
        value = jsonshape.loads(text)
    except (ValueError, TypeError):
        value = None
    if isinstance(value, dict):
        return value
    return {"input": text}


def _as_expected(text: str) -> Any:
    try:
        return jsonshape.loads(text)
    except (ValueError, TypeError):
        return text


def trace_add_to_dataset(
    *, team: Team, actor: Actor, trace: Trace, dataset: Dataset, span: Span | None = None
) -> AddedExamples:
    """Turn the trace's root span (or the chosen span) into a dataset example, unless the
    dataset has that input and output already (AddedExamples says which)."""
    require(actor, PERM_VIEW, team)
    if span is None:
        low, high = _span_window([trace.start_time], [trace.end_time])
        span = (
            Span.objects.unscoped()  # the trace was found in the caller's team
            .filter(team=team, trace=trace, parent_span_id="")
            .filter(start_ns__gte=low, start_ns__lte=high)  # its weeks' partitions only
            .order_by("start_ns", "id")
            .first()
        )
    input_text = span.input_text if span is not None else trace.input_preview
    output_text = span.output_text if span is not None else trace.output_preview
    if not input_text and not output_text:
        raise ValidationFailed("This span has no input or output to add.", field="span")
    metadata: dict[str, Any] = {"trace_id": trace.trace_id}
    if span is not None:
        metadata.update(span_id=span.span_id, span_name=span.name)
        if span.model:
            metadata["model"] = span.model
        if span.prompt_name:
            metadata.update(prompt=span.prompt_name, prompt_version=span.prompt_version_number)
    source_ref = trace.trace_id if span is None else f"{trace.trace_id}:{span.span_id}"
    row = {
        "input": _as_input(input_text),
        "expected": _as_expected(output_text) if output_text else None,
        "metadata": metadata,
        "source_ref": source_ref,
    }
    return examples_add_unique(
        team=team,
        actor=actor,
        dataset=dataset,
        rows=[row],
        source="trace",
        message=f"Added from trace {trace.trace_id[:8]}",
    )


# --- retention ---------------------------------------------------------------------------


def _team_cutoff(team: Team, now: datetime) -> datetime | None:
    """Where the team's retention ends: traces that started before it go. On PostgreSQL,
    the start of the week holding the exact cutoff: a week's spans leave together (with
    their partition, once no team keeps them), so traces are kept at least the team's
    days and at most a week longer."""
    days = team.trace_retention_days
    if not days:
        return None
    cutoff = now - timedelta(days=days)
    return partitions.week_start(cutoff) if partitions.is_partitioned() else cutoff


def _spans_delete(team: Team, traces: list[tuple[int, datetime, datetime]]) -> None:
    """Delete the spans of these traces of `team` (id, start, end), as Django's cascade
    would, but naming the team and the weeks: every statement reads the (team, trace, …)
    index of only the partitions that hold them. Rows naming a span (SET_NULL) are
    cleared first."""
    pks = [pk for pk, _, _ in traces]
    low, high = _span_window([start for _, start, _ in traces], [end for _, _, end in traces])
    spans = Span.objects.unscoped().filter(  # the traces were read for the explicit team
        team=team, trace_id__in=pks, start_ns__gte=low, start_ns__lte=high
    )
    for rel in Span._meta.related_objects:  # QueueItem.span, SET_NULL (see partitions)
        rel.related_model._base_manager.filter(
            team=team, **{f"{rel.field.name}__in": spans.values("id")}
        ).update(**{rel.field.name: None})
    # Scores name their trace (a real foreign key: traces are not partitioned); the raw
    # DELETE of traces below would not cascade to them.
    TraceScore.objects.unscoped().filter(team=team, trace_id__in=pks).delete()  # explicit team
    table = connection.ops.quote_name(Span._meta.db_table)
    marks = ", ".join(["%s"] * len(pks))
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {table} WHERE team_id = %s AND trace_id IN ({marks}) "
            "AND start_ns >= %s AND start_ns <= %s",
            [team.pk, *pks, low, high],
        )
        cursor.execute(
            f"DELETE FROM {connection.ops.quote_name(Trace._meta.db_table)} "
            f"WHERE team_id = %s AND id IN ({marks})",
            [team.pk, *pks],
        )


def traces_purge_team(*, team: Team, now: datetime | None = None) -> int:
    """Delete the team's traces (and their spans) older than team.trace_retention_days (on
    PostgreSQL, from the start of that week: see _team_cutoff). A retention of 0 days keeps
    traces forever. Returns the number of traces deleted.

    Spans of weeks already dropped whole (traces_purge_expired) are simply gone; what is
    deleted here row by row is this team's share of weeks another team still keeps, and
    the few spans of old traces that ran into a newer week."""
    cutoff = _team_cutoff(team, now or timezone.now())
    if cutoff is None:
        return 0
    deleted = 0
    while True:
        chunk = list(
            # Retention runs for every team from a worker, outside any scope: the team is explicit.
            Trace.objects.unscoped()
            .filter(team=team, start_time__lt=cutoff)
            .order_by("-start_time", "-id")
            .values_list("pk", "start_time", "end_time")[:PURGE_CHUNK]
        )
        if not chunk:
            break
        with transaction.atomic():
            _spans_delete(team, chunk)
        deleted += len(chunk)
    _buckets_delete(team, cutoff)
    if deleted:
        audit_record(
            team=team,
            actor=None,
            verb="traces.purge",
            target_type="traces.trace",
            after={"deleted": deleted, "older_than": cutoff.isoformat()},
        )
    return deleted


def _buckets_delete(team: Team, cutoff: datetime) -> None:
    """The dashboard's sums of what retention removed go too: an hour or a day whose
    whole window is before the cutoff (a straddling day keeps its sum of what remains and
    went, until it is past)."""
    for period, width in ((Period.HOUR, timedelta(hours=1)), (Period.DAY, timedelta(days=1))):
        for model in (TraceBucket, ScoreBucket):
            # Retention runs for every team from a worker: the team is explicit.
            model.objects.unscoped().filter(
                team=team, period=period, start__lte=cutoff - width
            ).delete()


def _keeps(cutoff: datetime | None, partition: partitions.Partition) -> bool:
    """Whether a team with this cutoff still keeps some of the partition's week."""
    return cutoff is None or partition.upper > cutoff


def traces_purge_partitions(*, now: datetime | None = None) -> list[str]:
    """PostgreSQL: drop every week of spans that each team holding spans in it has let go
    (its upper end at or before the team's cutoff); returns the partitions dropped. The
    oldest weeks come first, and the scan stops at the first week the shortest retention
    still keeps. A team whose retention is 0 (forever) keeps its weeks: other teams' rows
    in them go row by row (traces_purge_team)."""
    if not partitions.is_partitioned():
        return []
    now = now or timezone.now()
    cutoffs = {team.pk: _team_cutoff(team, now) for team in Team.objects.all()}
    latest = max((c for c in cutoffs.values() if c is not None), default=None)
    dropped = []
    for partition in partitions.partitions():
        if latest is None or partition.upper > latest:
            break
        kept_by = [
            pk
            for pk in partitions.teams_in(partition)
            # A team gone from the table has no spans left to keep.
            if pk in cutoffs and _keeps(cutoffs[pk], partition)
        ]
        if kept_by:
            continue
        try:
            partitions.partition_drop(partition)
        except OperationalError as exc:
            if getattr(exc.__cause__, "sqlstate", "") != LOCK_NOT_AVAILABLE:
                raise
            continue  # lock_timeout: the table is busy now; dropped on the next run
        dropped.append(partition.name)
    return dropped


def traces_purge_expired(*, now: datetime | None = None) -> dict[str, int]:
    """Apply every team's retention; {team slug: traces deleted}. On PostgreSQL, first make
    the coming weeks' partitions and drop the weeks no team keeps, whole."""
    now = now or timezone.now()
    if partitions.is_partitioned():
        partitions.partitions_create(now=now)
        traces_purge_partitions(now=now)
    result = {}
    for team in Team.objects.all().order_by("pk"):
        count = traces_purge_team(team=team, now=now)
        if count:
            result[team.slug] = count
    return result


def rollout_guardrails_run() -> dict[str, int]:
    """Check every running rollout with a guardrail, in every team: abort those whose
    candidate errs more than the current arm beyond the margin, with significance (the
    reason goes into the tag history and the audit trail). Run by a worker on a schedule
    (apps.traces.tasks.rollout_guardrails_check)."""
    checked = aborted = 0
    # reason: the guardrail runs for every team; each rollout is then judged in its team.
    running = Rollout.objects.unscoped().filter(
        status=RolloutStatus.ACTIVE, guardrail_margin__isnull=False
    )
    running = running.select_related("team", "prompt", "base", "candidate")
    for rollout in running:
        with team_scope(rollout.team):
            checked += 1
            verdict = rollout_comparison(rollout).guardrail
            if verdict.abort:
                done = rollout_abort_by_guardrail(
                    team=rollout.team, rollout=rollout, reason=verdict.reason
                )
                aborted += done is not None
    return {"checked": checked, "aborted": aborted}
