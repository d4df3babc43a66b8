"""The quality dashboard at 1,000,000 spans over 30 days.

Run: ./scripts/with_postgres.sh .venv/bin/python benchmarks/dashboard.py
(BENCH_SPANS sets the size; the last line says which size ran.)

One database, migrated (spans partitioned by week) and filled by PostgreSQL itself
(INSERT … SELECT generate_series): BENCH_SPANS spans of the bench team in traces of 10
over the last 30 days, six prompt versions (one every 5 days) and three function versions following one
another in time, 2 % errors, varied durations, tokens and costs; a third of the traces
carry a boolean `thumbs` score and a sixth a numeric `rating`. A second team holds a
twentieth as many (its buckets are there for every query to skip).

Then every hour of both teams is marked stale and the worker's rebuild (buckets_flush)
is timed: that is what keeping 30 days of buckets costs from nothing.

The pages (team overview 7d, prompt 7d, prompt 30d, function 24h) are served by gunicorn
(1 worker) over HTTP with a signed-in session. Rounds (at least 7) fetch every page
BENCH_SAMPLES times each, the page order rotated round by round; each round's p50 and p99
per page are kept, and each figure printed is the median over the rounds with its min–max.
Query counts are taken in-process (Django's test client) on the same database.

Last line: dashboard spans=… p50_ms=… p99_ms=… queries=… (the slowest page's median p50
and p99; the most queries any page made) rebuild_s=… rounds=… load1=…
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from benchmarks import web  # noqa: E402
from benchmarks.honest import (  # noqa: E402
    MIN_ROUNDS,
    interleaved,
    load_average,
    log,
    median,
    percentile,
    require_postgres,
    spread,
)

SPANS = int(os.environ.get("BENCH_SPANS", 1_000_000))
ROUNDS = max(MIN_ROUNDS, int(os.environ.get("BENCH_ROUNDS", MIN_ROUNDS)))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", 20))
TRACE_SIZE = 10
DAYS = 30
PYTHON = sys.executable

TRACES_SQL = """
INSERT INTO traces_trace (team_id, trace_id, name, start_time, end_time, duration_ms, status,
    span_count, model, prompt_name, prompt_version_number, function_name, function_version,
    input_preview, output_preview, input_tokens, output_tokens, cost, session_id, user_id,
    created_at)
SELECT %(team)s, lpad(to_hex(%(offset)s + i), 32, '0'), 'support_bot.answer',
    started, started + make_interval(secs => (50 + (i * 37) %% 2000) / 1000.0),
    50 + (i * 37) %% 2000, CASE WHEN i %% 50 = 0 THEN 'error' ELSE 'ok' END, %(size)s,
    'gpt-4o-mini', 'support-reply', 1 + (6 * i) / (%(count)s + 1), 'bot.answer',
    'code' || (1 + (3 * i) / (%(count)s + 1)),
    'Where is my order #' || i || '?', 'It ships tomorrow.', 300 + i %% 200, 50 + i %% 40,
    0.00042, 's' || i / 4, 'u' || i %% 997, now()
FROM (
    SELECT i, now() - make_interval(secs => %(seconds)s::float8 * (%(count)s - i) / %(count)s)
        AS started
    FROM generate_series(1, %(count)s) AS i
) AS numbered
"""

SPANS_SQL = """
INSERT INTO traces_span (span_id, parent_span_id, name, kind, start_ns, end_ns, duration_ms,
    status_code, status_message, attributes, events, resource, model, input_text, output_text,
    input_tokens, output_tokens, cost, prompt_name, prompt_version_number, function_name,
    function_version, prompt_version_id, team_id, trace_id)
SELECT lpad(to_hex(t.id * 16 + k), 16, '0'),
    CASE WHEN k = 0 THEN '' ELSE lpad(to_hex(t.id * 16), 16, '0') END,
    CASE WHEN k = 0 THEN t.name ELSE 'step ' || k END,
    'internal', base + k * 1000000, base + k * 1000000 + 1000000, 1,
    CASE WHEN k = 0 THEN t.status ELSE 'ok' END, '',
    jsonb_build_object('step.index', k), '[]'::jsonb, '{"service.name": "bench"}'::jsonb,
    CASE WHEN k = %(last)s THEN t.model ELSE '' END, '', '',
    CASE WHEN k = %(last)s THEN t.input_tokens END, CASE WHEN k = %(last)s THEN t.output_tokens END,
    CASE WHEN k = %(last)s THEN t.cost END,
    CASE WHEN k = %(last)s THEN t.prompt_name ELSE '' END,
    CASE WHEN k = %(last)s THEN t.prompt_version_number END,
    CASE WHEN k = 0 THEN t.function_name ELSE '' END,
    CASE WHEN k = 0 THEN t.function_version ELSE '' END,
    NULL, t.team_id, t.id
FROM (SELECT *, (extract(epoch FROM start_time) * 1000000)::bigint * 1000 AS base
      FROM traces_trace WHERE team_id = %(team)s) AS t
CROSS JOIN generate_series(0, %(last)s) AS k
"""

SCORES_SQL = """
INSERT INTO traces_tracescore (team_id, trace_id, trace_hex, span_hex, name, kind, value,
    category, comment, source, author, client_id, created_at, updated_at)
SELECT team_id, id, trace_id, '', 'thumbs', 'boolean', CASE WHEN id %% 5 = 0 THEN 0 ELSE 1 END,
    '', '', 'sdk', '', '', now(), now()
FROM traces_trace WHERE team_id = %(team)s AND id %% 3 = 0
UNION ALL
SELECT team_id, id, trace_id, '', 'rating', 'number', 1 + id %% 5, '', '', 'api', '', '',
    now(), now()
FROM traces_trace WHERE team_id = %(team)s AND id %% 6 = 1
"""

MARKS_SQL = """
INSERT INTO traces_bucketmark (team_id, hour)
SELECT DISTINCT team_id, date_trunc('hour', start_time) FROM traces_trace
"""


def fill(team, spans: int, offset: int) -> float:
    from django.db import connection

    count = max(1, spans // TRACE_SIZE)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        # Loading only: skip the per-row foreign-key triggers (rows are consistent by
        # construction); a superuser setting, which the throwaway server grants.
        cursor.execute("SET session_replication_role = replica")
        cursor.execute(
            TRACES_SQL,
            {
                "team": team.pk,
                "offset": offset,
                "size": TRACE_SIZE,
                "seconds": DAYS * 86400 - 600,
                "count": count,
            },
        )
        cursor.execute(SPANS_SQL, {"team": team.pk, "last": TRACE_SIZE - 1})
        cursor.execute(SCORES_SQL, {"team": team.pk})
        cursor.execute("SET session_replication_role = DEFAULT")
    return time.perf_counter() - started


def prepare(spans: int) -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.teams.services import team_create
    from apps.traces import partitions
    from apps.traces.dashboard.services import buckets_flush
    from apps.traces.models import TraceBucket

    call_command("migrate", "--noinput", verbosity=0)
    now = timezone.now()
    monday = partitions.week_start(now - partitions.WEEK * 5)
    while monday <= now:
        partitions.partition_create(monday)
        monday += partitions.WEEK
    user = User.objects.create_user(email="bench@example.test", password="x" * 20)
    team = team_create(actor=user, name="Bench", slug="bench")
    other_user = User.objects.create_user(email="other@example.test", password="x" * 20)
    other = team_create(actor=other_user, name="Other", slug="other")
    load_s = fill(team, spans, 0) + fill(other, spans // 20, 1 << 40)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE traces_trace")
        cursor.execute("ANALYZE traces_span")
        cursor.execute("ANALYZE traces_tracescore")
        cursor.execute("SELECT count(*) FROM traces_span WHERE team_id = %s", [team.pk])
        span_count = cursor.fetchone()[0]
        cursor.execute(MARKS_SQL)
        cursor.execute("SELECT count(*) FROM traces_bucketmark")
        marks = cursor.fetchone()[0]
    started = time.perf_counter()
    rebuilt = 0
    while True:
        done = buckets_flush()
        if not done:
            break
        rebuilt += done
    rebuild_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE traces_tracebucket")
        cursor.execute("ANALYZE traces_scorebucket")
    buckets = TraceBucket.objects.unscoped().filter(team=team).count()  # the bench's team
    base = f"/t/{team.slug}/traces/dashboard/"
    pages = {
        "overview 7d": base,
        "prompt 7d": base + "prompts/support-reply/",
        "prompt 30d": base + "prompts/support-reply/?range=30d",
        "function 24h": base + "functions/bot.answer/?range=24h",
    }
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
    client = Client()
    client.force_login(user)
    client.get(base)
    queries = {}
    for name, path in pages.items():
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path)
        assert response.status_code == 200, (name, response.status_code)
        if name.startswith("prompt"):  # a new version every 5 days: marked on the chart
            assert b"version-change" in response.content, name
        queries[name] = len(captured)
    print(
        json.dumps(
            {
                "session": web.signed_in_session(user),
                "pages": pages,
                "load_s": load_s,
                "spans": span_count,
                "marks": marks,
                "rebuilt_hours": rebuilt,
                "rebuild_s": rebuild_s,
                "buckets": buckets,
                "queries": queries,
            }
        )
    )


def main() -> None:
    require_postgres()
    log(load_average())
    log(f"{SPANS:,} spans over {DAYS} days (+{SPANS // 20:,} of another team)")
    prepared_by_side, servers = web.prepare_databases(
        __file__, "bench_dashboard", {"big": SPANS}, "spans"
    )
    prepared = prepared_by_side["big"]
    env, port = servers["big"]
    log(
        f"filled in {prepared['load_s']:.0f} s: {prepared['spans']:,} spans of the bench team; "
        f"{prepared['marks']:,} stale hours rebuilt by the worker in {prepared['rebuild_s']:.1f} s "
        f"into {prepared['buckets']:,} hour and day buckets of the bench team"
    )
    log(f"queries per page: {prepared['queries']}")
    session = prepared["session"]
    process = web.start_gunicorn(env, port, prepared["pages"]["overview 7d"], session)
    base = f"http://127.0.0.1:{port}"
    try:
        for path in prepared["pages"].values():  # every page once, to warm the worker
            web.get(base + path, session)

        def page(path: str):
            def run() -> tuple[float, float]:
                samples = [web.get(base + path, session) for _ in range(SAMPLES)]
                return percentile(samples, 50), percentile(samples, 99)

            return run

        def report(number: int, this_round: dict) -> None:
            log(
                f"round {number}: "
                + ", ".join(f"{p} p50 {f[0]:.1f} p99 {f[1]:.1f}" for p, f in this_round.items())
            )

        results = interleaved(
            ROUNDS, {n: page(p) for n, p in prepared["pages"].items()}, report=report
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
    log(f"{ROUNDS} rounds x {SAMPLES} requests per page, HTTP through gunicorn (1 worker)")
    p50, p99 = {}, {}
    for name, figures in results.items():
        p50[name] = median(f[0] for f in figures)
        p99[name] = median(f[1] for f in figures)
        log(
            f"{name:>13}: p50 {spread([f[0] for f in figures], '{:.1f}')} ms; "
            f"p99 {spread([f[1] for f in figures], '{:.1f}')} ms; "
            f"{prepared['queries'][name]} queries"
        )
    log(load_average())
    print(
        f"dashboard spans={prepared['spans']} p50_ms={max(p50.values()):.1f} "
        f"p99_ms={max(p99.values()):.1f} queries={max(prepared['queries'].values())} "
        f"rebuild_s={prepared['rebuild_s']:.1f} rounds={ROUNDS} load1={os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--prepare"]:
        prepare(int(sys.argv[2]))
    else:
        main()
