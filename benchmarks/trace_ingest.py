"""Trace ingestion throughput with the real OpenTelemetry exporter, against its floor.

Run: ./scripts/with_postgres.sh .venv/bin/python benchmarks/trace_ingest.py

Migrates the PostgreSQL database from DATABASE_URL (spans partitioned by week), creates a
team and a traces:write key, starts the app under gunicorn (2 workers, 4 threads each) on
loopback, then sends spans in traces of 10 (one GenAI model call per trace, with messages
and token usage) through opentelemetry-sdk's BatchSpanProcessor (batches of 512) and the
real opentelemetry-exporter-otlp-proto-http exporter. PRODUCERS independent tracer
providers run side by side, as that many application processes would.

ROUNDS (>= 7) rounds, each sending BENCH_SPANS / ROUNDS spans twice, interleaved (the order
rotated): to /v1/traces (the subject: authenticate, decode, store, fold into traces) and to
/__bench__/v1/traces (the floor: the same exporters, HTTP and Django request cycle, which
reads the body and keeps nothing; PROMPTYARD_BENCHMARK_VIEWS=1). The figures are the
medians over the rounds, printed with their min–max, and the load average before and after.

An export counts as acknowledged when the exporter reports success (HTTP 200 after any
503/Retry-After retries); `stored` is the number of span rows in the database afterwards,
over all rounds. A round's rate is its acknowledged spans over the wall time from its first
span to its last acknowledged export. Last line:
trace_ingest spans=<n> acknowledged=<n> stored=<n> spans_per_s=<median> baseline_spans_per_s=<median>
ratio=<median> rate_min=… rate_max=… rounds=… load1=… online_scored=<n>

Throughout, an online rule is active (a built-in length check on 10 % of the traces,
BENCH_ONLINE_SAMPLE_RATE) and a worker process runs beside gunicorn doing what the real
worker does for traces, once a second: the rules' pass and the dashboard's bucket rebuild.
Ingestion never evaluates anything; `online_scored` is how many traces the rule scored,
counted after a final pass once the traffic stops.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.honest import (  # noqa: E402
    MIN_ROUNDS,
    interleaved,
    load_average,
    median,
    require_postgres,
    spread,
)

PYTHON = sys.executable
SPANS = int(os.environ.get("BENCH_SPANS", "200000"))
ROUNDS = max(MIN_ROUNDS, int(os.environ.get("BENCH_ROUNDS", MIN_ROUNDS)))
TRACE_SIZE = 10
BATCH = 512
ONLINE_SAMPLE_RATE = float(os.environ.get("BENCH_ONLINE_SAMPLE_RATE", "0.1"))
PRODUCERS = int(os.environ.get("BENCH_PRODUCERS", "4"))
WORKERS = 2
# Threads per worker: a request spends much of its time waiting on PostgreSQL (COPY,
# commit), during which another can parse; trace writes are bounded by the app's own
# writer semaphore (PROMPTYARD_TRACE_MAX_WRITERS).
THREADS = int(os.environ.get("BENCH_THREADS", "4"))


def log(message: str) -> None:
    print(f"== {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child(flag: str, env: dict) -> str:
    out = subprocess.run(
        [PYTHON, __file__, flag], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return out.stdout.strip().splitlines()[-1]


def load_into_database() -> None:
    """--load: a team, its prices and a traces:write key (runs with the benchmark's env)."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from apps.core.tenancy import team_scope
    from apps.teams.services import api_key_create
    from benchmarks.web import bench_team

    user, team = bench_team("bench-traces", "Bench traces")
    with team_scope(team):
        try:
            from apps.llm.models import ProviderConfig

            ProviderConfig.objects.get_or_create(
                team=team,
                name="bench",
                defaults={
                    "base_url": "http://127.0.0.1:9/v1",
                    "prices": {"gpt-bench": {"input": 0.5, "output": 1.5}},
                },
            )
        except ImportError:
            pass
        _, raw = api_key_create(team=team, actor=user, name="bench", scopes=["traces:write"])
        # An online rule is active throughout: the worker (--online-worker) scores a sample
        # of the traces while they are sent, off the ingestion path.
        from apps.experiments.models import Evaluator
        from apps.traces.models import OnlineRule
        from apps.traces.online.services import online_rule_create

        evaluator = Evaluator.objects.filter(name="bench length").first()
        if evaluator is None:
            from apps.experiments.services import evaluator_create

            evaluator = evaluator_create(
                team=team,
                actor=user,
                name="bench length",
                kind="length",
                params={"max_length": 2000},
            )
        if not OnlineRule.objects.filter(name="bench length").exists():
            online_rule_create(
                team=team,
                actor=user,
                name="bench length",
                evaluator=evaluator,
                sample_rate=ONLINE_SAMPLE_RATE,
                daily_calls=10_000_000,
            )
    print(json.dumps({"key": raw}))


def online_worker() -> None:
    """--online-worker: what `manage.py worker` runs for traces, in a loop until stopped:
    the online rules' pass and the dashboard's bucket rebuild, once a second."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from apps.traces.dashboard.services import buckets_flush
    from apps.traces.online.services import online_rules_run

    while True:
        online_rules_run()
        buckets_flush()
        time.sleep(1)


def online_drain() -> None:
    """--online-drain: finish the rule's pass over everything sent (as the worker would once
    the traces settle) and print how many traces it scored, of how many it sampled."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from datetime import timedelta

    from django.utils import timezone

    from apps.teams.models import Team
    from apps.traces.models import OnlineRule, TraceScore
    from apps.traces.online.services import online_rules_run

    later = timezone.now() + timedelta(minutes=1)
    while any(online_rules_run(now=later, limit=2000).values()):
        pass
    team = Team.objects.get(slug="bench-traces")
    rule = OnlineRule.objects.unscoped().get(team=team, name="bench length")  # the bench's team
    scored = TraceScore.objects.unscoped().filter(team=team, name=rule.name).count()  # same
    print(json.dumps({"scored": scored, "matched": rule.matched, "sampled": rule.sampled}))


def count_stored() -> None:
    """--count: span rows stored for the benchmark team."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from apps.teams.models import Team
    from apps.traces.models import Span

    team = Team.objects.get(slug="bench-traces")
    print(Span.objects.unscoped().filter(team=team).count())


def start_gunicorn(env: dict, port: int) -> subprocess.Popen:
    gunicorn = str(Path(PYTHON).with_name("gunicorn"))
    process = subprocess.Popen(
        [
            gunicorn,
            "config.wsgi:application",
            "--workers",
            str(WORKERS),
            "--threads",
            str(THREADS),
            "--bind",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
            "--timeout",
            "60",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/traces", timeout=1)
        except urllib.error.HTTPError:
            return process  # 405 for GET: the app answers
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not start")


class Counting:
    """Wraps the real exporter; counts spans whose export the server acknowledged."""

    def __init__(self, inner):
        self.inner = inner
        self.acknowledged = 0
        self.failed = 0
        self.last_ack = 0.0
        self.lock = threading.Lock()

    def export(self, spans):
        from opentelemetry.sdk.trace.export import SpanExportResult

        result = self.inner.export(spans)
        with self.lock:
            if result == SpanExportResult.SUCCESS:
                self.acknowledged += len(spans)
                self.last_ack = time.perf_counter()
            else:
                self.failed += len(spans)
        return result

    def shutdown(self):
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


def produce(tracer, traces: int, producer: int) -> None:
    user_messages = json.dumps([{"role": "user", "content": "Where is my order #1234?"}])
    answer = json.dumps([{"role": "assistant", "content": "It ships tomorrow."}])
    for n in range(traces):
        with tracer.start_as_current_span("support_bot.answer") as root:
            root.set_attribute("promptyard.function.name", "bench.answer")
            root.set_attribute("promptyard.function.version", "0123456789ab")
            root.set_attribute("input.value", f"question {producer}-{n}")
            for step in range(TRACE_SIZE - 2):
                with tracer.start_as_current_span(f"step {step}") as span:
                    span.set_attribute("step.index", step)
            with tracer.start_as_current_span("chat gpt-bench") as llm:
                llm.set_attribute("gen_ai.system", "openai")
                llm.set_attribute("gen_ai.request.model", "gpt-bench")
                llm.set_attribute("gen_ai.request.temperature", 0.2)
                llm.set_attribute("gen_ai.usage.input_tokens", 42)
                llm.set_attribute("gen_ai.usage.output_tokens", 7)
                llm.set_attribute("gen_ai.input.messages", user_messages)
                llm.set_attribute("gen_ai.output.messages", answer)
                llm.set_attribute("promptyard.prompt.name", "support-reply")
                llm.set_attribute("promptyard.prompt.version", 3)


def send(endpoint: str, key: str, spans: int) -> tuple[int, int, float]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    traces_total = spans // TRACE_SIZE
    shares = [
        traces_total // PRODUCERS + (1 if i < traces_total % PRODUCERS else 0)
        for i in range(PRODUCERS)
    ]
    providers, exporters = [], []
    for i in range(PRODUCERS):
        exporter = Counting(
            OTLPSpanExporter(
                endpoint=endpoint,
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
        )
        provider = TracerProvider(resource=Resource.create({"service.name": f"bench-{i}"}))
        # The queue holds the whole share: nothing is dropped client-side, so every span
        # reaches the server and either is acknowledged or counts as failed.
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_export_batch_size=BATCH,
                max_queue_size=spans + BATCH,
                schedule_delay_millis=100,
                export_timeout_millis=120_000,
            )
        )
        providers.append(provider)
        exporters.append(exporter)

    started = time.perf_counter()
    threads = [
        threading.Thread(target=produce, args=(providers[i].get_tracer("bench"), shares[i], i))
        for i in range(PRODUCERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for provider in providers:
        provider.force_flush(300_000)
    finished = max((e.last_ack for e in exporters), default=time.perf_counter())
    for provider in providers:
        provider.shutdown()
    acknowledged = sum(e.acknowledged for e in exporters)
    failed = sum(e.failed for e in exporters)
    return acknowledged, failed, max(finished - started, 1e-9)


def main() -> None:
    require_postgres()
    log(load_average())
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LOG_LEVEL": "ERROR",
        # Capacity, not the per-team quota: lift the team's limits for the one team here.
        "PROMPTYARD_TRACE_SPANS_RATE": "10000000/s",
        "PROMPTYARD_TRACE_BYTES_RATE": f"{1 << 32}/s",
        "PROMPTYARD_TRACE_TEAM_MAX_EXPORTS": "64",
        "PROMPTYARD_BENCHMARK_VIEWS": "1",
    }
    log("migrating")
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    key = json.loads(child("--load", env))["key"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    per_round = SPANS // ROUNDS // TRACE_SIZE * TRACE_SIZE
    log(f"gunicorn ({WORKERS} workers x {THREADS} threads) on {base}")
    server = start_gunicorn(env, port)
    log(f"an online rule is active (sampling {ONLINE_SAMPLE_RATE:.0%}); its worker runs alongside")
    online = subprocess.Popen(
        [PYTHON, __file__, "--online-worker"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )
    try:
        log(
            f"{ROUNDS} rounds of {per_round} spans to each side, in traces of {TRACE_SIZE}, "
            f"batches of {BATCH}, {PRODUCERS} producers"
        )

        def side(path: str):
            def run() -> dict:
                acknowledged, failed, seconds = send(f"{base}{path}", key, per_round)
                return {"ack": acknowledged, "failed": failed, "rate": acknowledged / seconds}

            return run

        def report(number: int, this_round: dict) -> None:
            log(
                f"round {number}: "
                + ", ".join(
                    f"{name} {r['rate']:.0f} spans/s ({r['failed']} failed)"
                    for name, r in this_round.items()
                )
            )

        results = interleaved(
            ROUNDS,
            {"ingest": side("/v1/traces"), "floor": side("/__bench__/v1/traces")},
            report=report,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
        online.terminate()
        online.wait(timeout=30)
    stored = int(child("--count", env))
    drained = json.loads(child("--online-drain", env))
    rates = [r["rate"] for r in results["ingest"]]
    floors = [r["rate"] for r in results["floor"]]
    ratios = [r / f for r, f in zip(rates, floors, strict=True)]
    acknowledged = sum(r["ack"] for r in results["ingest"])
    failed = sum(r["failed"] for r in results["ingest"])
    log(f"ingest spans/s: {spread(rates, '{:.0f}')}")
    log(f"floor spans/s (exporters + HTTP, nothing stored): {spread(floors, '{:.0f}')}")
    log(f"ingest / floor: {spread(ratios)}")
    log(f"failed exports: {failed} spans; stored {stored} of {acknowledged} acknowledged")
    log(
        f"online rule: scored {drained['scored']} traces of {drained['matched']} matched "
        f"({drained['sampled']} sampled at {ONLINE_SAMPLE_RATE:.0%})"
    )
    log(load_average())
    print(
        f"trace_ingest spans={per_round * ROUNDS} acknowledged={acknowledged} stored={stored} "
        f"spans_per_s={median(rates):.0f} baseline_spans_per_s={median(floors):.0f} "
        f"ratio={median(ratios):.2f} rate_min={min(rates):.0f} rate_max={max(rates):.0f} "
        f"rounds={ROUNDS} load1={os.getloadavg()[0]:.2f} online_scored={drained['scored']}"
    )


if __name__ == "__main__":
    if "--load" in sys.argv:
        load_into_database()
    elif "--online-worker" in sys.argv:
        online_worker()
    elif "--online-drain" in sys.argv:
        online_drain()
    elif "--count" in sys.argv:
        count_stored()
    else:
        main()
