"""Keeping the dashboard's buckets: ingestion and score writes mark the hours they touch
(an INSERT in their own transaction, nothing more), and the worker rebuilds each marked
hour from that hour's traces and scores, then its day from its hours.

Marks are appended, never updated, so concurrent writers never wait on one another. The
worker reads and deletes marks and rebuilds in one transaction: a mark committed after
that read is simply left for the next run, and an interrupted run rolls back with its
marks in place."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Sum

from apps.traces.dashboard import latency
from apps.traces.models import (
    BucketMark,
    Period,
    ScoreBucket,
    ScoreKind,
    Status,
    Trace,
    TraceBucket,
    TraceScore,
)

FLUSH_MARKS = 5000
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


def _hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def bucket_marks_record(*, team_id: int, moments: Iterable[datetime]) -> None:
    """Mark the hours holding these moments stale, for the team (the caller's transaction)."""
    hours = {_hour_of(m) for m in moments if m is not None}
    if hours:
        # The team is explicit: ingestion and the worker run outside any team scope.
        BucketMark.objects.unscoped().bulk_create(
            [BucketMark(team_id=team_id, hour=h) for h in sorted(hours)]
        )


@transaction.atomic
def buckets_flush(*, limit: int = FLUSH_MARKS) -> int:
    """Rebuild the buckets of every marked hour (and their days); returns the hours rebuilt."""
    # Every team's marks: this is the worker's housekeeping, outside any team scope.
    marks = list(
        # The worker's rebuild names the mark's team (no scope is entered).
        BucketMark.objects.unscoped().order_by("id").values_list("id", "team_id", "hour")[:limit]
    )
    if not marks:
        return 0
    BucketMark.objects.unscoped().filter(id__in=[m[0] for m in marks]).delete()  # as above
    hours = sorted({(team_id, _hour_of(hour)) for _, team_id, hour in marks})
    for team_id, hour in hours:
        _rebuild_hour(team_id, hour)
    for team_id, day in sorted({(t, h.replace(hour=0)) for t, h in hours}):
        _rebuild_day(team_id, day)
    return len(hours)


Key = tuple[str, int, str, str]


def _key(
    prompt_name: str | None,
    version: int | None,
    function_name: str | None,
    function_version: str | None,
) -> Key:
    return (prompt_name or "", version or 0, function_name or "", function_version or "")


KEY_FIELDS = ("prompt_name", "prompt_version_number", "function_name", "function_version")


def _rebuild_hour(team_id: int, hour: datetime) -> None:
    end = hour + HOUR
    # The worker names the team of each mark (no scope is entered): every read says it.
    TraceBucket.objects.unscoped().filter(team_id=team_id, period=Period.HOUR, start=hour).delete()
    # The worker's rebuild names the mark's team (no scope is entered).
    ScoreBucket.objects.unscoped().filter(team_id=team_id, period=Period.HOUR, start=hour).delete()
    rows = (
        Trace.objects.unscoped()  # the mark's team, as above
        .filter(team_id=team_id, start_time__gte=hour, start_time__lt=end)
        .values_list(*KEY_FIELDS, "status", "duration_ms", "input_tokens", "output_tokens", "cost")
    )
    buckets: dict[Key, TraceBucket] = {}
    for name, version, fn, fv, status, duration, tokens_in, tokens_out, cost in rows.iterator(
        chunk_size=2000
    ):
        key = _key(name, version, fn, fv)
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = TraceBucket(
                team_id=team_id,
                period=Period.HOUR,
                start=hour,
                **dict(zip(KEY_FIELDS, key, strict=True)),
                cost=Decimal(0),
                latency={},
            )
        bucket.traces += 1
        bucket.errors += status == Status.ERROR
        bucket.duration_ms_sum += duration or 0
        bucket.input_tokens += tokens_in or 0
        bucket.output_tokens += tokens_out or 0
        bucket.cost += cost or 0
        slot = str(latency.bin_of(duration))
        bucket.latency[slot] = bucket.latency.get(slot, 0) + 1
    TraceBucket.objects.unscoped().bulk_create(buckets.values())  # each names its team
    scores = (
        TraceScore.objects.unscoped()  # the mark's team, as above
        .filter(
            team_id=team_id,
            trace__start_time__gte=hour,
            trace__start_time__lt=end,
            kind__in=(ScoreKind.BOOLEAN, ScoreKind.NUMBER),
        )
        .values(*(f"trace__{f}" for f in KEY_FIELDS), "name", "kind")
        .annotate(count=Count("id"), total=Sum("value"))
    )
    # The worker's rebuild names the mark's team (no scope is entered).
    ScoreBucket.objects.unscoped().bulk_create(
        ScoreBucket(
            team_id=team_id,
            period=Period.HOUR,
            start=hour,
            **dict(zip(KEY_FIELDS, _key(*(row[f"trace__{f}"] for f in KEY_FIELDS)), strict=True)),
            name=row["name"],
            kind=row["kind"],
            count=row["count"],
            total=row["total"] or 0,
        )
        for row in scores
    )


def _rebuild_day(team_id: int, day: datetime) -> None:
    """A day's buckets: the sums of its hours'."""
    end = day + DAY
    # The worker's rebuild names the mark's team (no scope is entered).
    TraceBucket.objects.unscoped().filter(team_id=team_id, period=Period.DAY, start=day).delete()
    # The worker's rebuild names the mark's team (no scope is entered).
    ScoreBucket.objects.unscoped().filter(team_id=team_id, period=Period.DAY, start=day).delete()
    days: dict[Key, TraceBucket] = {}
    hours = TraceBucket.objects.unscoped().filter(  # the mark's team (see _rebuild_hour)
        team_id=team_id, period=Period.HOUR, start__gte=day, start__lt=end
    )
    for hour in hours:
        key = _key(*(getattr(hour, f) for f in KEY_FIELDS))
        bucket = days.get(key)
        if bucket is None:
            bucket = days[key] = TraceBucket(
                team_id=team_id,
                period=Period.DAY,
                start=day,
                **dict(zip(KEY_FIELDS, key, strict=True)),
                cost=Decimal(0),
                latency={},
            )
        bucket.traces += hour.traces
        bucket.errors += hour.errors
        bucket.duration_ms_sum += hour.duration_ms_sum
        bucket.input_tokens += hour.input_tokens
        bucket.output_tokens += hour.output_tokens
        bucket.cost += hour.cost
        bucket.latency = latency.merge([bucket.latency, hour.latency])
    TraceBucket.objects.unscoped().bulk_create(days.values())  # each names its team
    score_days: dict[tuple[str, int, str, str, str, str], ScoreBucket] = {}
    score_hours = ScoreBucket.objects.unscoped().filter(  # the mark's team, as above
        team_id=team_id, period=Period.HOUR, start__gte=day, start__lt=end
    )
    for score_hour in score_hours:
        score_key = (
            *_key(*(getattr(score_hour, f) for f in KEY_FIELDS)),
            score_hour.name,
            score_hour.kind,
        )
        score_day = score_days.get(score_key)
        if score_day is None:
            score_day = score_days[score_key] = ScoreBucket(
                team_id=team_id,
                period=Period.DAY,
                start=day,
                **dict(zip(KEY_FIELDS, score_key[:4], strict=True)),
                name=score_hour.name,
                kind=score_hour.kind,
            )
        score_day.count += score_hour.count
        score_day.total += score_hour.total
    ScoreBucket.objects.unscoped().bulk_create(score_days.values())  # each names its team
