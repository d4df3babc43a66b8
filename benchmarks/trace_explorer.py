"""The trace explorer at 10,000,000 spans against the same pages at 100,000.

Run: ./scripts/with_postgres.sh .venv/bin/python benchmarks/trace_explorer.py
(BENCH_SPANS sets the size; the last line says which size ran.)

Two databases on the one PostgreSQL server, migrated (spans partitioned by week) and
filled by PostgreSQL itself (INSERT … SELECT generate_series: millions of rows through the
OTLP endpoint would take hours here): `big` holds BENCH_SPANS spans of the bench team in
traces of 10 over the last 8 weeks, plus a second team with a twentieth as many (so every
query has another team's rows to skip); `small` the same shape at BENCH_BASELINE_SPANS. The
weeks' partitions are made first, as the hourly task makes them ahead.

Each database gets its own gunicorn (1 worker); rounds (at least 7) interleave the two, the
order rotated; each round fetches every page BENCH_SAMPLES times over HTTP with a signed-in
session and takes its p50 and p99. Pages: the list (newest, a middle page through its
cursor, the oldest), a filter (status=error: 2 % of traces; first and middle pages), and a
trace's page (its span tree and root span). Each figure is the median of its per-round
values, printed with its min–max over the rounds.

Also: every page's SQL query count (in-process, big database) and the EXPLAIN (ANALYZE,
BUFFERS) of the list's middle page, the filter and the trace's spans at full size.

Last line: trace_explorer spans=… p99_ms=… list_p99_ms=… filter_p99_ms=… trace_p99_ms=…
baseline_spans=… baseline_p99_ms=… worst_ratio=… max_queries=… rounds=… load1=…
(p99_ms: the slowest page's median p99; list/filter: the slowest of their pages.)
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.parse
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

SPANS = int(os.environ.get("BENCH_SPANS", 10_000_000))
BASELINE_SPANS = int(os.environ.get("BENCH_BASELINE_SPANS", 100_000))
ROUNDS = max(MIN_ROUNDS, int(os.environ.get("BENCH_ROUNDS", MIN_ROUNDS)))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", 20))
TRACE_SIZE = 10
WEEKS = 8
PYTHON = sys.executable
GROUPS = {
    "list": ("list newest", "list middle", "list oldest"),
    "filter": ("filter first", "filter middle"),
    "trace": ("trace page",),
}
MODELS = ["gpt-4o-mini", "gpt-4o", "claude-3-5-haiku", "llama-3.1-8b", "mistral-small"]
NAMES = ["support_bot.answer", "triage.route", "summarise.ticket", "search.answer"]

TRACES_SQL = """
INSERT INTO traces_trace (team_id, trace_id, name, start_time, end_time, duration_ms, status,
    span_count, model, prompt_name, prompt_version_number, function_name, function_version,
    input_preview, output_preview, input_tokens, output_tokens, cost, session_id, user_id,
    created_at)
SELECT %(team)s, lpad(to_hex(%(offset)s + i), 32, '0'), (%(names)s::text[])[i %% 4 + 1],
    started, started + interval '120 milliseconds', 120,
    CASE WHEN i %% 50 = 0 THEN 'error' ELSE 'ok' END, %(size)s,
    (%(models)s::text[])[i %% 5 + 1], 'support-reply', 1 + i %% 3, 'bot.answer', 'v' || i %% 4,
    'Where is my order #' || i || '?', 'It ships tomorrow (' || i || ').', 420, 70, 0.00042,
    '', '', now()
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
    CASE WHEN k = 0 THEN t.name WHEN k = %(last)s THEN 'chat ' || t.model ELSE 'step ' || k END,
    'internal', base + k * 10000000, base + k * 10000000 + 10000000, 10,
    CASE WHEN k = 0 THEN t.status ELSE 'ok' END, '',
    CASE WHEN k = %(last)s THEN jsonb_build_object('gen_ai.system', 'openai',
            'gen_ai.request.model', t.model, 'gen_ai.usage.input_tokens', 420,
            'gen_ai.usage.output_tokens', 70)
        ELSE jsonb_build_object('step.index', k) END,
    '[]'::jsonb, '{"service.name": "bench"}'::jsonb,
    CASE WHEN k = %(last)s THEN t.model ELSE '' END,
    CASE WHEN k IN (0, %(last)s) THEN t.input_preview ELSE '' END,
    CASE WHEN k IN (0, %(last)s) THEN t.output_preview ELSE '' END,
    CASE WHEN k = %(last)s THEN 420 END, CASE WHEN k = %(last)s THEN 70 END,
    CASE WHEN k = %(last)s THEN 0.00042 END,
    CASE WHEN k = %(last)s THEN 'support-reply' ELSE '' END,
    CASE WHEN k = %(last)s THEN t.prompt_version_number END,
    CASE WHEN k = 0 THEN 'bot.answer' ELSE '' END, CASE WHEN k = 0 THEN t.function_version ELSE '' END,
    NULL, t.team_id, t.id
FROM (SELECT *, (extract(epoch FROM start_time) * 1000000)::bigint * 1000 AS base
      FROM traces_trace WHERE team_id = %(team)s) AS t
CROSS JOIN generate_series(0, %(last)s) AS k
"""


# --- in a child process, one per database (--prepare SPANS) --------------------------------


def fill(team, spans: int, offset: int) -> float:
    """`spans` spans of `team` in traces of TRACE_SIZE; seconds taken."""
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
                "names": NAMES,
                "size": TRACE_SIZE,
                "models": MODELS,
                "seconds": WEEKS * 7 * 86400 - 3600,
                "count": count,
            },
        )
        cursor.execute(SPANS_SQL, {"team": team.pk, "last": TRACE_SIZE - 1})
        cursor.execute("SET session_replication_role = DEFAULT")
    return time.perf_counter() - started


def prepare(spans: int, with_checks: bool) -> None:
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
    from apps.traces.models import Trace

    call_command("migrate", "--noinput", verbosity=0)
    now = timezone.now()
    monday = partitions.week_start(now - partitions.WEEK * WEEKS)
    while monday <= now:
        partitions.partition_create(monday)
        monday += partitions.WEEK
    user = User.objects.create_user(email="bench@example.test", password="x" * 20)
    team = team_create(actor=user, name="Bench", slug="bench")
    other_user = User.objects.create_user(email="other@example.test", password="x" * 20)
    other = team_create(actor=other_user, name="Other", slug="other")
    load_s = fill(team, spans, 0)
    load_s += fill(other, spans // 20, 1 << 40)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE traces_trace")
        cursor.execute("ANALYZE traces_span")
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('traces_trace'))")
        trace_size = cursor.fetchone()[0]
        cursor.execute(
            "SELECT pg_size_pretty(sum(pg_total_relation_size(inhrelid))) FROM pg_inherits "
            "WHERE inhparent = 'traces_span'::regclass"
        )
        span_size = cursor.fetchone()[0]
    mine = Trace.objects.unscoped().filter(team=team)
    count = mine.count()
    middle = mine.order_by("-start_time", "-id")[count // 2]
    errors = mine.filter(status="error")
    error_middle = errors.order_by("-start_time", "-id")[errors.count() // 2]

    def cursor_of(trace) -> str:
        return f"{partitions.to_ns(trace.start_time) // 1000}_{trace.pk}"

    base = f"/t/{team.slug}/traces/"
    pages = {
        "list newest": base,
        "list middle": base + "?" + urllib.parse.urlencode({"after": cursor_of(middle)}),
        "list oldest": base + "?last=1",
        "filter first": base + "?status=error",
        "filter middle": base
        + "?"
        + urllib.parse.urlencode({"status": "error", "after": cursor_of(error_middle)}),
        "trace page": f"{base}{middle.trace_id}/",
    }
    out = {
        "session": web.signed_in_session(user),
        "pages": pages,
        "load_s": load_s,
        "sizes": f"traces {trace_size}, spans {span_size}",
    }
    if with_checks:
        setup_test_environment()
        settings.ALLOWED_HOSTS = ["testserver", *settings.ALLOWED_HOSTS]
        client = Client()
        client.force_login(user)
        client.get(base)
        queries, explains = {}, {}
        for name, path in pages.items():
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path)
            assert response.status_code == 200, (name, response.status_code)
            queries[name] = len(captured)
            if name in ("list middle", "filter middle", "trace page"):
                marker = "LIMIT 51" if name != "trace page" else 'FROM "traces_span"'
                sql = next(
                    q["sql"]
                    for q in captured.captured_queries
                    if marker in q["sql"] and "EXPLAIN" not in q["sql"]
                )
                with connection.cursor() as cursor:
                    cursor.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + sql)
                    explains[name] = [row[0] for row in cursor.fetchall()]
        out["queries"], out["explains"] = queries, explains
    print(json.dumps(out))


# --- the benchmark ------------------------------------------------------------------------


def main() -> None:
    require_postgres()
    log(load_average())
    prepared, servers = web.prepare_databases(
        __file__, "bench_traces", {"big": SPANS, "small": BASELINE_SPANS}, "spans"
    )
    for side, figures in prepared.items():
        log(f"{side}: filled in {figures['load_s']:.0f} s; {figures['sizes']}")
    big = prepared["big"]
    log(f"queries per page at {SPANS:,} spans: {big['queries']}")
    for name, lines in big["explains"].items():
        log(f"EXPLAIN (ANALYZE, BUFFERS) of {name} at {SPANS:,} spans:")
        for line in lines:
            print(f"   {line}")

    processes, bases = [], {}
    try:
        for side, (env, port) in servers.items():
            session = prepared[side]["session"]
            processes.append(
                web.start_gunicorn(env, port, prepared[side]["pages"]["list newest"], session)
            )
            bases[side] = f"http://127.0.0.1:{port}"
        for side in bases:  # every page once, to warm the worker
            for path in prepared[side]["pages"].values():
                web.get(bases[side] + path, prepared[side]["session"])

        def measure(side: str):
            def run() -> dict[str, tuple[float, float]]:
                figures = {}
                for name, path in prepared[side]["pages"].items():
                    url = bases[side] + path
                    samples = [web.get(url, prepared[side]["session"]) for _ in range(SAMPLES)]
                    figures[name] = (percentile(samples, 50), percentile(samples, 99))
                return figures

            return run

        def report(number: int, this_round: dict) -> None:
            log(
                f"round {number}: "
                + "; ".join(
                    f"{side} "
                    + ", ".join(
                        f"{page} p99 {figures[1]:.1f}" for page, figures in this_round[side].items()
                    )
                    for side in ("big", "small")
                )
            )

        results = interleaved(
            ROUNDS, {"big": measure("big"), "small": measure("small")}, report=report
        )
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)

    def values(side: str, page: str, which: int) -> list[float]:
        return [r[page][which] for r in results[side]]

    log(f"{ROUNDS} rounds x {SAMPLES} requests per page, HTTP through gunicorn (1 worker each)")
    p99 = {}
    for side, spans in (("big", SPANS), ("small", BASELINE_SPANS)):
        p99[side] = {}
        for page in big["pages"]:
            p99[side][page] = median(values(side, page, 1))
            log(
                f"{page:>14} at {spans:>11,} spans: p50 {spread(values(side, page, 0), '{:.1f}')} ms;"
                f" p99 {spread(values(side, page, 1), '{:.1f}')} ms"
            )
    ratios = {page: p99["big"][page] / p99["small"][page] for page in p99["big"]}
    log(
        f"p99 ratio {SPANS:,} / {BASELINE_SPANS:,} spans: "
        + ", ".join(f"{p} {r:.2f}" for p, r in ratios.items())
    )
    group = {g: max(p99["big"][p] for p in pages) for g, pages in GROUPS.items()}
    log(load_average())
    print(
        f"trace_explorer spans={SPANS} p99_ms={max(p99['big'].values()):.1f} "
        f"list_p99_ms={group['list']:.1f} filter_p99_ms={group['filter']:.1f} "
        f"trace_p99_ms={group['trace']:.1f} baseline_spans={BASELINE_SPANS} "
        f"baseline_p99_ms={max(p99['small'].values()):.1f} worst_ratio={max(ratios.values()):.2f} "
        f"max_queries={max(big['queries'].values())} rounds={ROUNDS} load1={os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--prepare"]:
        prepare(int(sys.argv[2]), "--checks" in sys.argv)
    else:
        main()
