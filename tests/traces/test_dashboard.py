"""The dashboard's buckets equal a direct count of the traces and scores they sum, on
generated data; its pages read buckets only, in a bounded number of queries."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.core.tenancy import team_scope
from apps.traces.dashboard import latency
from apps.traces.dashboard.services import buckets_flush
from apps.traces.models import BucketMark, ScoreBucket, Trace, TraceBucket, TraceScore
from apps.traces.scores.fields import scores_parse
from apps.traces.scores.services import scores_record
from tests.traces.helpers import hex_id, ingest, raw_span

pytestmark = pytest.mark.django_db


def _generate(team, actor, *, traces=120, seed=7, hours=30):
    """Traces over `hours` hours: two prompt versions (v2 from half-way), two function
    versions, errors, tokens and a few spans each; scores on most of them."""
    rng = random.Random(seed)
    now = timezone.now()
    base = int((now - timedelta(hours=hours)).timestamp() * 1e9)
    spans, scores = [], []
    for n in range(1, traces + 1):
        trace_id, root = hex_id(n, 16), hex_id(n, 8)
        offset_ms = rng.uniform(0, hours * 3600 * 1000 - 5000)
        version = 1 if offset_ms < hours * 1800 * 1000 else 2
        attrs = {
            "promptyard.prompt.name": "reply",
            "promptyard.prompt.version": version,
            "promptyard.function.name": "bot.answer",
            "promptyard.function.version": f"code{version}",
            "gen_ai.request.model": "gpt-test",
            "gen_ai.usage.input_tokens": rng.randint(10, 500),
            "gen_ai.usage.output_tokens": rng.randint(10, 200),
        }
        spans.append(
            raw_span(
                trace_id,
                root,
                name="answer",
                start_ms=offset_ms,
                duration_ms=rng.uniform(5, 3000),
                attrs=attrs,
                status="error" if rng.random() < 0.1 else "ok",
                base_ns=base,
            )
        )
        spans.append(
            raw_span(
                trace_id,
                hex_id(10_000 + n, 8),
                parent=root,
                name="chat",
                start_ms=offset_ms + 1,
                duration_ms=3,
                attrs={"gen_ai.usage.input_tokens": 7},
                base_ns=base,
            )
        )
        if rng.random() < 0.8:
            scores.append({"trace_id": trace_id, "name": "thumbs", "value": rng.random() < 0.7})
        if rng.random() < 0.5:
            scores.append({"trace_id": trace_id, "name": "rating", "value": rng.randint(1, 5)})
    rng.shuffle(spans)
    for i in range(0, len(spans), 37):  # several exports; a trace's spans may straddle two
        ingest(team, actor, spans[i : i + 37])
    items, _ = scores_parse(scores)
    with team_scope(team):
        scores_record(team=team, actor=actor, items=items)


def _direct(team):
    """Per (hour, version): the sums, read straight from traces and scores."""
    out = defaultdict(
        lambda: {"traces": 0, "errors": 0, "in": 0, "out": 0, "cost": Decimal(0), "hist": {}}
    )
    with team_scope(team):
        for t in Trace.objects.all():
            hour = t.start_time.replace(minute=0, second=0, microsecond=0)
            row = out[(hour, t.prompt_version_number or 0, t.function_version)]
            row["traces"] += 1
            row["errors"] += t.status == "error"
            row["in"] += t.input_tokens
            row["out"] += t.output_tokens
            row["cost"] += t.cost or 0
            slot = str(latency.bin_of(t.duration_ms))
            row["hist"][slot] = row["hist"].get(slot, 0) + 1
        scores = defaultdict(lambda: [0, 0.0])
        for s in TraceScore.objects.select_related("trace"):
            hour = s.trace.start_time.replace(minute=0, second=0, microsecond=0)
            key = (hour, s.trace.prompt_version_number or 0, s.trace.function_version, s.name)
            scores[key][0] += 1
            scores[key][1] += s.value
    return out, scores


def test_buckets_equal_a_direct_count(acme, alice):
    _generate(acme, alice)
    with team_scope(acme):
        assert BucketMark.objects.exists()  # ingestion and scores marked their hours
    assert buckets_flush() > 0
    direct, direct_scores = _direct(acme)
    with team_scope(acme):
        hours = {
            (b.start, b.prompt_version_number, b.function_version): b
            for b in TraceBucket.objects.filter(period="h")
        }
        assert set(hours) == set(direct)
        for key, row in direct.items():
            b = hours[key]
            assert (b.traces, b.errors, b.input_tokens, b.output_tokens) == (
                row["traces"],
                row["errors"],
                row["in"],
                row["out"],
            ), key
            assert b.cost == row["cost"] and b.latency == row["hist"]
        score_hours = {
            (b.start, b.prompt_version_number, b.function_version, b.name): (b.count, b.total)
            for b in ScoreBucket.objects.filter(period="h")
        }
        assert score_hours == {k: (v[0], pytest.approx(v[1])) for k, v in direct_scores.items()}
        # A day is the sum of its hours.
        for day in TraceBucket.objects.filter(period="d"):
            same = [
                b
                for k, b in hours.items()
                if k[0].date() == day.start.date()
                and k[1:] == (day.prompt_version_number, day.function_version)
            ]
            assert day.traces == sum(b.traces for b in same)
            assert day.latency == latency.merge(b.latency for b in same)
        assert not BucketMark.objects.exists()


def test_a_late_span_moving_a_trace_start_rebuilds_both_hours(acme, alice):
    now = timezone.now().replace(minute=30)
    base = int(now.timestamp() * 1e9)
    trace_id = hex_id(1, 16)
    ingest(acme, alice, [raw_span(trace_id, hex_id(1, 8), name="a", base_ns=base)])
    buckets_flush()
    # A span from an hour earlier arrives: the trace now starts in the earlier hour.
    ingest(
        acme,
        alice,
        [raw_span(trace_id, hex_id(2, 8), parent=hex_id(1, 8), start_ms=-3_600_000, base_ns=base)],
    )
    buckets_flush()
    with team_scope(acme):
        hours = {b.start: b.traces for b in TraceBucket.objects.filter(period="h")}
    assert sum(hours.values()) == 1
    assert list(hours) == [(now - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)]


def test_rebuilding_twice_changes_nothing(acme, alice):
    _generate(acme, alice, traces=30, seed=3)
    buckets_flush()
    with team_scope(acme):
        before = sorted(TraceBucket.objects.values_list("period", "start", "traces", "cost"))
        BucketMark.objects.create(team=acme, hour=TraceBucket.objects.first().start)
    buckets_flush()
    with team_scope(acme):
        assert (
            sorted(TraceBucket.objects.values_list("period", "start", "traces", "cost")) == before
        )


def test_the_pages_read_buckets_in_few_queries(client, acme, alice, django_assert_max_num_queries):
    _generate(acme, alice, traces=60, seed=5)
    buckets_flush()
    client.force_login(alice)
    for url in (
        "/t/acme/traces/dashboard/",
        "/t/acme/traces/dashboard/prompts/reply/",
        "/t/acme/traces/dashboard/functions/bot.answer/?range=30d",
        "/t/acme/traces/dashboard/prompts/reply/?range=24h",
    ):
        client.get(url)
        with django_assert_max_num_queries(10) as captured:
            response = client.get(url)
        assert response.status_code == 200, url
        assert not [q for q in captured.captured_queries if "traces_span" in q["sql"]], url
        assert not [q for q in captured.captured_queries if '"traces_trace"' in q["sql"]], url
    page = client.get("/t/acme/traces/dashboard/prompts/reply/").content.decode()
    assert 'data-series="v1"' in page and 'data-series="v2"' in page
    assert 'class="version-change"' in page  # v2's first hour is marked
    assert "Score thumbs" in page and "Latency p95" in page
    overview = client.get("/t/acme/traces/dashboard/").content.decode()
    assert "/t/acme/traces/dashboard/prompts/reply/" in overview


def test_an_unknown_prompt_is_a_404_and_outsiders_see_nothing(client, acme, alice, dave):
    _generate(acme, alice, traces=5, seed=1)
    buckets_flush()
    client.force_login(alice)
    assert client.get("/t/acme/traces/dashboard/prompts/nobody/").status_code == 404
    client.force_login(dave)
    assert client.get("/t/acme/traces/dashboard/prompts/reply/").status_code == 404
    assert client.get("/t/globex/traces/dashboard/prompts/reply/").status_code == 404
    assert "reply" not in client.get("/t/globex/traces/dashboard/").content.decode()


def test_latency_percentiles_are_within_half_a_bin():
    durations = list(range(1, 1001))
    histogram = {}
    for d in durations:
        slot = str(latency.bin_of(d))
        histogram[slot] = histogram.get(slot, 0) + 1
    exact = sorted(durations)[int(0.95 * len(durations)) - 1]
    assert abs(latency.percentile(histogram, 95) - exact) / exact < 0.13
    assert latency.percentile({}, 50) is None


def test_names_with_slashes_link_from_the_overview(client, acme, alice):
    ingest(
        acme,
        alice,
        [
            raw_span(
                hex_id(1, 16),
                hex_id(1, 8),
                attrs={"promptyard.function.name": "svc/handler.<locals>.run"},
            )
        ],
    )
    buckets_flush()
    client.force_login(alice)
    overview = client.get("/t/acme/traces/dashboard/").content.decode()
    assert "/t/acme/traces/dashboard/functions/svc/handler.%3Clocals%3E.run/" in overview
    page = client.get("/t/acme/traces/dashboard/functions/svc/handler.%3Clocals%3E.run/")
    assert page.status_code == 200
