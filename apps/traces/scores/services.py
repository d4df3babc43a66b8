"""Writing scores on traces and spans (the API, the SDK, people on the trace page, online
evaluators). One entry point, `scores_record`: validated, all or nothing, idempotent by
the client's id."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.teams.actors import Actor
from apps.teams.audit import actor_label, audit_record
from apps.teams.models import PERM_ANNOTATE, PERM_EDIT, ApiKeyScope, Team
from apps.teams.permissions import actor_person_id, require
from apps.traces import partitions
from apps.traces.dashboard.services import bucket_marks_record
from apps.traces.models import ScoreKind, ScoreSource, Span, Trace, TraceScore
from apps.traces.otlp import RawSpan
from apps.traces.scores import fields
from apps.traces.scores.fields import ScoreIn, score_parse


@dataclass
class Recorded:
    score: TraceScore
    created: bool


def _traces(team: Team, items: list[ScoreIn]) -> dict[str, Trace]:
    hexes = sorted({item.trace_hex for item in items})
    found = {
        t.trace_id: t
        # Services name their team: the API key's, the page's, or a worker's rule's.
        for t in Trace.objects.unscoped().filter(team=team, trace_id__in=hexes)
    }
    for item in items:
        if item.trace_hex not in found:
            raise NotFound(
                f"No trace {item.trace_hex} in this team (yet: send its spans first).",
                field=f"{item.where}trace_id",
            )
    return found


def _check_spans(team: Team, items: list[ScoreIn], traces: dict[str, Trace]) -> None:
    wanted = [(traces[i.trace_hex], i) for i in items if i.span_hex]
    if not wanted:
        return
    margin = 1_000_000
    chosen = {t.pk: t for t, _ in wanted}
    low = min(partitions.to_ns(t.start_time) for t in chosen.values()) - margin
    high = max(partitions.to_ns(t.end_time) for t in chosen.values()) + margin
    stored = set(
        Span.objects.unscoped()  # the traces were just read for the explicit team
        .filter(team=team, trace_id__in=list(chosen), span_id__in={i.span_hex for _, i in wanted})
        .filter(start_ns__gte=low, start_ns__lte=high)  # the traces' weeks only
        .values_list("trace_id", "span_id")
    )
    for trace, item in wanted:
        if (trace.pk, item.span_hex) not in stored:
            raise NotFound(
                f"Trace {item.trace_hex} has no span {item.span_hex}.",
                field=f"{item.where}span_id",
            )


def _apply(score: TraceScore, item: ScoreIn, now: datetime) -> None:
    score.kind = item.kind
    score.value = item.value
    score.category = item.category
    score.comment = item.comment
    score.source = item.source
    score.author = item.author
    score.updated_at = now


@transaction.atomic
def scores_record(
    *,
    team: Team,
    actor: Actor | None,
    items: list[ScoreIn],
    scope: str = ApiKeyScope.TRACES_WRITE,
    check_permission: bool = True,
) -> list[Recorded]:
    """Store the scores, all or none. A score whose client id is stored already updates
    that row (a retry, or a changed mind), as long as it scores the same trace, span and
    name; otherwise it is a 409 naming the id. Audited once per call."""
    if check_permission:
        require(actor, PERM_EDIT, team, scope=scope)
    if not items:
        return []
    traces = _traces(team, items)
    _check_spans(team, items, traces)
    now = timezone.now()
    person = actor_person_id(actor)
    client_ids = [i.client_id for i in items if i.client_id]
    existing = {
        s.client_id: s
        # The team is explicit (see _traces); locked so two retries update one after another.
        for s in TraceScore.objects.unscoped()
        .select_for_update()
        .filter(team=team, client_id__in=client_ids)
    }
    out: list[Recorded] = []
    fresh: list[TraceScore] = []
    for item in items:
        trace = traces[item.trace_hex]
        old = existing.get(item.client_id) if item.client_id else None
        if old is not None:
            if (old.trace_id, old.span_hex, old.name) != (trace.pk, item.span_hex, item.name):
                raise Conflict(
                    f"id {item.client_id!r} already scores another trace, span or name.",
                    field=f"{item.where}id",
                )
            _apply(old, item, now)
            old.save()
            out.append(Recorded(old, created=False))
            continue
        score = TraceScore(
            team=team,
            trace=trace,
            trace_hex=trace.trace_id,
            span_hex=item.span_hex,
            name=item.name,
            client_id=item.client_id,
            created_by_id=person,
            created_at=now,
        )
        _apply(score, item, now)
        fresh.append(score)
        out.append(Recorded(score, created=True))
    if fresh:
        try:
            with transaction.atomic():
                TraceScore.objects.unscoped().bulk_create(fresh)  # each row names its team
        except IntegrityError:
            # Another request stored one of these ids between our read and our write.
            raise Conflict("A score with one of these ids was just stored; send again.") from None
    bucket_marks_record(team_id=team.pk, moments=[t.start_time for t in traces.values()])
    audit_record(
        team=team,
        actor=actor,
        verb="scores.record",
        target_type="traces.tracescore",
        after={
            "created": len(fresh),
            "updated": len(out) - len(fresh),
            "names": sorted({i.name for i in items})[:20],
        },
    )
    return out


# Span events the SDK's `score_current_span` adds: a score travels with its span over
# OTLP, so it needs no trace to exist yet when the code scores it.
SCORE_EVENT = "promptyard.score"
EVENT_PREFIX = "promptyard.score."


def span_scores_ingest(*, team: Team, traces: dict[str, Trace], raw_spans: list[RawSpan]) -> int:
    """Store the scores carried by received spans' `promptyard.score` events (source sdk),
    inside the ingestion's transaction. A retried export stores nothing twice (each event's
    id is its client id); an event that is not a valid score is skipped, never the
    export. Returns how many were new."""
    rows: list[TraceScore] = []
    now = timezone.now()
    for raw in raw_spans:
        for event in raw.events:
            if event.get("name") != SCORE_EVENT:
                continue
            attrs = event.get("attributes") or {}
            body = {
                key[len(EVENT_PREFIX) :]: value
                for key, value in attrs.items()
                if key.startswith(EVENT_PREFIX)
            }
            body.update(trace_id=raw.trace_id, span_id=raw.span_id)
            if not body.get("id"):
                key = f"{raw.trace_id}:{raw.span_id}:{body.get('name')}:{event.get('time_ns')}"
                body["id"] = "event:" + hashlib.sha256(key.encode()).hexdigest()[:40]
            body.setdefault("source", "sdk")
            try:
                item = score_parse(body, default_source="sdk")
            except ValidationFailed:
                continue
            trace = traces[raw.trace_id]
            score = TraceScore(
                team=team,
                trace=trace,
                trace_hex=trace.trace_id,
                span_hex=item.span_hex,
                name=item.name,
                client_id=item.client_id,
                created_at=now,
            )
            _apply(score, item, now)
            rows.append(score)
    if rows:
        # Ingestion names its team; a resent event meets its own client id and is skipped.
        TraceScore.objects.unscoped().bulk_create(rows, ignore_conflicts=True)
    return len(rows)


# --- human verdicts: on the trace page, and from annotation queues -----------------------

VERDICT_NAME = "verdict"
QUEUE_VERDICT_PREFIX = "queue: "


def _passed(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in {"pass", "passed", "true", "1", "yes", "p"}:
        return True
    if text in {"fail", "failed", "false", "0", "no", "f"}:
        return False
    raise ValidationFailed("Choose pass or fail.", field="passed")


def verdict_save(
    *,
    team: Team,
    actor: Actor,
    trace: Trace,
    span_hex: str = "",
    passed: Any,
    reasoning: str = "",
) -> TraceScore:
    """A person's pass/fail verdict on a trace or one of its spans, read where it is: a
    human score named "verdict", one per person and target (saving again revises it).
    As in a queue that asks for it (the default), a Fail needs reasoning."""
    require(actor, PERM_ANNOTATE, team, scope=ApiKeyScope.ANNOTATIONS_WRITE)
    verdict = _passed(passed)
    reasoning = (reasoning or "").strip()
    if not verdict and not reasoning:
        raise ValidationFailed("Say why it fails: a Fail needs reasoning.", field="reasoning")
    if len(reasoning) > fields.COMMENT_MAX:
        raise ValidationFailed("The reasoning is too long.", field="reasoning")
    item = ScoreIn(
        trace_hex=trace.trace_id,
        span_hex=(span_hex or "").lower(),
        name=VERDICT_NAME,
        kind=ScoreKind.BOOLEAN,
        value=1.0 if verdict else 0.0,
        category="",
        comment=reasoning,
        source=ScoreSource.HUMAN,
        author=actor_label(actor)[: fields.AUTHOR_MAX],
        client_id=f"verdict:{actor_person_id(actor)}:{trace.trace_id}:{span_hex}",
        where="",
    )
    return scores_record(team=team, actor=actor, items=[item], check_permission=False)[0].score


def queue_verdict_record(*, team: Team, actor: Actor, item: Any, annotation: Any) -> None:
    """Mirror an annotation queue's verdict on a span onto its trace, as a human score
    named after the queue (one per annotation; a revised verdict updates it). Called by
    the annotations app when a verdict is saved (see apps/traces/hooks.py); an item that
    is not a span, or whose span is gone, is left alone."""
    span_pk = getattr(item, "span_id", None)
    if span_pk is None:
        return
    span = (
        # The item was read in the team's scope by annotations; the team is explicit here.
        Span.objects.unscoped()
        .filter(team=team, pk=span_pk)
        .select_related("trace")
        .only("span_id", "trace__trace_id", "trace__start_time", "trace__end_time")
        .first()
    )
    if span is None:
        return
    queue_name = getattr(getattr(item, "queue", None), "name", "") or "queue"
    score = ScoreIn(
        trace_hex=span.trace.trace_id,
        span_hex=span.span_id,
        name=(QUEUE_VERDICT_PREFIX + queue_name)[: fields.NAME_MAX],
        kind=ScoreKind.BOOLEAN,
        value=1.0 if annotation.passed else 0.0,
        category="",
        comment=annotation.reasoning or "",
        source=ScoreSource.HUMAN,
        author=(annotation.author_label or "")[: fields.AUTHOR_MAX],
        client_id=f"annotation:{annotation.pk}",
        where="",
    )
    scores_record(team=team, actor=actor, items=[score], check_permission=False)
