"""Spans partitioned by week on PostgreSQL: retention drops whole weeks, rows only where a
week is shared with a team that keeps it. Run with ./scripts/with_postgres.sh."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.core.tenancy import team_scope
from apps.teams.models import AuditEvent
from apps.traces import partitions
from apps.traces.models import Span, Trace
from apps.traces.services import traces_purge_expired
from tests.traces.helpers import hex_id, ingest, raw_span

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="partitions exist on PostgreSQL only"
    ),
]

DAY_NS = 86_400 * 1_000_000_000


def _trace(team, actor, n, *, days_ago: float, spans: int = 3) -> str:
    trace_id = hex_id(n, 16)
    base = time.time_ns() - int(days_ago * DAY_NS)
    root = hex_id(n * 100, 8)
    ingest(
        team,
        actor,
        [raw_span(trace_id, root, name=f"run-{n}", duration_ms=100, base_ns=base)]
        + [
            raw_span(trace_id, hex_id(n * 100 + i, 8), parent=root, start_ms=i, base_ns=base)
            for i in range(1, spans)
        ],
    )
    return trace_id


def _partition_of(team, trace_id) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT s.tableoid::regclass::text FROM traces_span s "
            "JOIN traces_trace t ON t.id = s.trace_id WHERE t.team_id = %s AND t.trace_id = %s",
            [team.pk, trace_id],
        )
        return {row[0] for row in cursor.fetchall()}


def _week(days_ago: float) -> datetime:
    return partitions.week_start(timezone.now() - timedelta(days=days_ago))


def test_it_keeps_spans_in_the_partition_of_their_week(acme, alice):
    assert partitions.is_partitioned()
    recent = _trace(acme, alice, 1, days_ago=0.01)
    assert _partition_of(acme, recent) == {partitions.week_name(_week(0.01))}
    # Weeks ahead exist before their first span; a span from long ago goes to the default.
    names = {p.name for p in partitions.partitions()}
    assert partitions.week_name(_week(-21)) in names
    old = _trace(acme, alice, 2, days_ago=400)
    assert _partition_of(acme, old) == {partitions.DEFAULT}


def test_it_moves_rows_out_of_the_default_partition_when_their_week_is_made(acme, alice):
    old = _trace(acme, alice, 3, days_ago=70)
    assert _partition_of(acme, old) == {partitions.DEFAULT}
    made = partitions.partition_create(_week(70))
    assert _partition_of(acme, old) == {made.name}
    with team_scope(acme):
        assert Span.objects.filter(trace__trace_id=old).count() == 3


def test_it_drops_a_week_whole_once_every_team_in_it_lets_it_go(acme, alice, globex, dave):
    from apps.annotations import services as annotation_services
    from apps.annotations.models import QueueItem

    week = partitions.partition_create(_week(60))
    old_acme = _trace(acme, alice, 4, days_ago=60)
    old_globex = _trace(globex, dave, 5, days_ago=60)
    recent = _trace(acme, alice, 6, days_ago=1)
    assert _partition_of(acme, old_acme) == _partition_of(globex, old_globex) == {week.name}
    with team_scope(acme):
        queue = annotation_services.queue_create(team=acme, actor=alice, name="review")
        span = Span.objects.filter(trace__trace_id=old_acme).order_by("start_ns").first()
        annotation_services.queue_add_spans(team=acme, actor=alice, queue=queue, spans=[span])

    purged = traces_purge_expired()

    assert purged == {"acme": 1, "globex": 1}
    assert week.name not in {p.name for p in partitions.partitions()}  # dropped, not emptied
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [week.name])
        assert cursor.fetchone()[0] is None
    with team_scope(acme):
        assert list(Trace.objects.values_list("trace_id", flat=True)) == [recent]
        item = QueueItem.objects.get(queue=queue)
        assert item.span_id is None and item.snapshot  # the item keeps what it showed
    assert Span.objects.unscoped().filter(team=acme).count() == 3
    assert AuditEvent.objects.unscoped().filter(team=acme, verb="traces.purge").exists()


def test_it_deletes_rows_of_a_week_another_team_still_keeps(acme, alice, globex, dave):
    globex.trace_retention_days = 365
    globex.save()
    week = partitions.partition_create(_week(60))
    old_acme = _trace(acme, alice, 7, days_ago=60)
    old_globex = _trace(globex, dave, 8, days_ago=60)

    assert traces_purge_expired() == {"acme": 1}

    assert week.name in {p.name for p in partitions.partitions()}
    assert _partition_of(globex, old_globex) == {week.name}
    assert not Trace.objects.unscoped().filter(team=acme, trace_id=old_acme).exists()
    assert Span.objects.unscoped().filter(team=acme).count() == 0
    assert Span.objects.unscoped().filter(team=globex).count() == 3


def test_it_keeps_a_week_for_a_team_that_keeps_traces_forever(acme, alice):
    acme.trace_retention_days = 0
    acme.save()
    week = partitions.partition_create(_week(400))
    _trace(acme, alice, 9, days_ago=400)
    assert traces_purge_expired() == {}
    assert week.name in {p.name for p in partitions.partitions()}


def test_it_keeps_the_week_of_the_cutoff_until_all_of_it_has_passed(acme, alice):
    """30 days' retention: traces are kept at least 30 days and at most a week longer."""
    cutoff = timezone.now() - timedelta(days=30)
    monday = partitions.week_start(cutoff)
    if cutoff - monday < timedelta(hours=2):
        pytest.skip("the cutoff is right at the start of its week")
    partitions.partition_create(monday)
    partitions.partition_create(monday - partitions.WEEK)
    past_cutoff_same_week = _trace(acme, alice, 10, days_ago=30 + 1 / 24)
    week_before = _trace(acme, alice, 11, days_ago=(timezone.now() - monday).days + 2)
    traces_purge_expired()
    with team_scope(acme):
        remaining = set(Trace.objects.values_list("trace_id", flat=True))
    assert past_cutoff_same_week in remaining and week_before not in remaining


def test_it_reads_a_trace_through_the_team_index_of_its_week_only(acme, alice):
    trace_id = _trace(acme, alice, 12, days_ago=0.01)
    partitions.partition_create(_week(60))
    from apps.traces import selectors

    with team_scope(acme):
        trace = selectors.trace_get(trace_id)
        sql, params = selectors.trace_spans(trace).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    touched = {p.name for p in partitions.partitions() if p.name in plan}
    assert touched == {partitions.week_name(_week(0.01))}, plan
    # Whichever of the week's team-first indexes the planner prefers for a dozen rows.
    assert "Index Cond: ((team_id = " in plan, plan
