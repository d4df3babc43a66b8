"""Noisy neighbour: what one team's flood does to another team's latency.

Run: ./scripts/with_postgres.sh .venv/bin/python benchmarks/noisy_neighbour.py

Migrates the PostgreSQL database from DATABASE_URL and starts, on loopback, the app under
gunicorn (2 workers x 4 threads), two `manage.py worker` task workers and a demo-echo model
server (20 ms per answer), as `make run` does: the workers and demo-echo keep off the first
CPU (PROMPTYARD_WORKER_CPUS=auto, apps/core/cpus.py; BENCH_WORKER_CPUS sets another value).
Team A's flood client stands for A's applications, which run on hosts of their own: here it
keeps to the same background CPUs (BENCH_A_CLIENT_CPUS="" lets it run on any), so that B's
figures measure what the server does with A's traffic rather than the CPU A's client takes
from the machine. Team B's client runs on any CPU. Two teams:

- team A (the noisy one), in a process of its own: FLOOD_CLIENTS clients send OTLP/JSON
  batches of FLOOD_SPANS spans to /v1/traces as fast as the server answers (not waiting
  out a Retry-After), while A runs A_RUNS experiments of A_ROWS rows (concurrency 16);
- team B (the quiet one), from this process, one request at a time: B_REQUESTS fetches of
  a production prompt (GET /api/v1/prompts/<name>/?tag=production), B_REQUESTS single-span
  POSTs to /v1/traces (each kind for at most KIND_SECONDS once it has MIN_SAMPLES), then
  one 50-row experiment (concurrency 8), timed from its start (queued_at) to its end
  (finished_at), both written by the server; the part spent waiting for a worker is shown.

Each round measures B alone and B under A's load (A's flood and runs are stopped and
cancelled after), which first alternating round by round; ROUNDS (>= 7) rounds. Figures
(printed with their min–max over the rounds): the median over rounds of B's p99
fetch and ingest latencies and of its experiment's wall time, alone and under load; each
ratio is loaded / alone. A loaded phase ends once A's runs have stopped and the workers
have written every export A had accepted, so that a quiet phase after it is quiet. a_429s counts A's requests refused with 429 (its excess, refused by
a quota); A's other answers (200, 503, other errors) are printed before. The machine's load
average is printed with each phase. Last line:
noisy_neighbour b_fetch_p99_ratio=<x> b_ingest_p99_ratio=<x> b_experiment_ratio=<x> a_429s=<n>
rounds=<n> load1=<x> worker_cpus=<list or all> a_client_cpus=<list or all>
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable

from benchmarks.honest import MIN_ROUNDS, spread  # noqa: E402

ROUNDS = max(MIN_ROUNDS, int(os.environ.get("BENCH_ROUNDS", MIN_ROUNDS)))
B_REQUESTS = int(os.environ.get("BENCH_B_REQUESTS", "300"))
B_ROWS = 50
A_ROWS = int(os.environ.get("BENCH_A_ROWS", "3000"))
A_RUNS = int(os.environ.get("BENCH_A_RUNS", "2"))
FLOOD_CLIENTS = int(os.environ.get("BENCH_FLOOD_CLIENTS", "4"))
FLOOD_SPANS = int(os.environ.get("BENCH_FLOOD_SPANS", "3000"))
WARMUP_SECONDS = 3.0
KIND_SECONDS = float(os.environ.get("BENCH_KIND_SECONDS", "60"))
MIN_SAMPLES = 100
ECHO_LATENCY_MS = 20
GUNICORN_WORKERS = 2
GUNICORN_THREADS = 4
WORKER_CPUS = os.environ.get("BENCH_WORKER_CPUS", "auto")
A_CLIENT_CPUS = os.environ.get("BENCH_A_CLIENT_CPUS", "background")
TERMINAL = {"completed", "cancelled", "failed", "capped"}


def log(message: str) -> None:
    print(f"== {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


# --- OTLP/JSON bodies -------------------------------------------------------------------


def otlp_body(spans: int, service: str, trace_size: int = 30) -> bytes:
    """An OTLP/JSON export of `spans` spans in traces of `trace_size`; the trace ids start
    with TTTTTTTT, replaced per request so every request carries new traces."""
    now = time.time_ns()
    out = []
    for n in range(spans):
        trace = n // trace_size
        span = {
            "traceId": f"TTTTTTTT{trace:024x}",
            "spanId": f"{n + 1:016x}",
            "name": "chat gpt-flood" if n % trace_size == 0 else f"step {n % trace_size}",
            "kind": 1,
            "startTimeUnixNano": str(now - 5_000_000),
            "endTimeUnixNano": str(now),
            "attributes": [
                {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-flood"}},
                {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "42"}},
                {"key": "input.value", "value": {"stringValue": f"question {n}"}},
            ],
        }
        if n % trace_size:
            span["parentSpanId"] = f"{trace * trace_size + 1:016x}"
        out.append(span)
    document = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": service}}]
                },
                "scopeSpans": [{"scope": {"name": "bench"}, "spans": out}],
            }
        ]
    }
    return json.dumps(document, separators=(",", ":")).encode()


def fresh(body: bytes) -> bytes:
    return body.replace(b"TTTTTTTT", secrets.token_hex(4).encode())


# --- team A: the flood, in a process of its own -------------------------------------------


def flood(base_port: int, key: str) -> None:
    """--flood: send big batches until SIGTERM, then print the answers counted."""
    if A_CLIENT_CPUS and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpu_set(A_CLIENT_CPUS))
    body = otlp_body(FLOOD_SPANS, "flood")
    counts: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", base_port, timeout=120)
        while not stop.is_set():
            try:
                connection.request(
                    "POST",
                    "/v1/traces",
                    body=fresh(body),
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
                )
                response = connection.getresponse()
                response.read()
                status = str(response.status)
                if response.getheader("Connection", "").lower() == "close":
                    connection.close()
            except (OSError, http.client.HTTPException):
                status = "error"
                connection.close()
                time.sleep(0.05)
            with lock:
                counts[status] = counts.get(status, 0) + 1
            if status != "200":
                # A hostile client does not wait out a Retry-After; the short pause only
                # keeps this process's own CPU (it shares the machine) within reason.
                time.sleep(0.05)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(FLOOD_CLIENTS)]
    for thread in threads:
        thread.start()
    while not stop.is_set():
        time.sleep(0.1)
    for thread in threads:
        thread.join(timeout=130)
    print(json.dumps(counts), flush=True)


def cpu_set(value: str) -> set[int]:
    """The CPUs a BENCH_*_CPUS value names ("background": the task workers' CPUs)."""
    from apps.core.cpus import background_cpus

    available = set(os.sched_getaffinity(0))
    if value == "background":
        value = os.environ.get("PROMPTYARD_WORKER_CPUS", "")
    return background_cpus(value, available) or available


def cpu_label(value: str) -> str:
    if not hasattr(os, "sched_getaffinity"):
        return "all"
    cpus = cpu_set(value)
    return "all" if cpus == set(os.sched_getaffinity(0)) else ",".join(map(str, sorted(cpus)))


# --- the world (in this process, with Django set up) --------------------------------------


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def make_world(echo_url: str) -> dict:
    from apps.accounts.models import User
    from apps.core.tenancy import team_scope
    from apps.datasets.services import dataset_create, examples_bulk_create
    from apps.llm.models import ProviderConfig
    from apps.prompts.services import prompt_create, tag_move, version_create
    from apps.teams.services import api_key_create, team_create

    world = {}
    for label, rows in (("a", A_ROWS), ("b", B_ROWS)):
        stamp = time.time_ns() % 10**9
        user = User.objects.create_user(email=f"noisy-{label}-{stamp}@example.test", password="x")
        team = team_create(
            actor=user,
            name=f"Team {label.upper()}",
            slug=f"noisy-{label}-{stamp}",
            protected_tags=["locked"],  # the benchmark moves production itself
        )
        with team_scope(team):
            provider = ProviderConfig.objects.create(
                team=team,
                name="demo-echo",
                base_url=echo_url,
                models=["demo-echo"],
                is_demo=True,
                max_retries=3,
            )
            prompt = prompt_create(team=team, actor=user, name="support")
            version = version_create(
                team=team,
                actor=user,
                prompt=prompt,
                kind="text",
                template="Q: {{ q }}",
                model_settings={"provider_id": provider.pk, "model": "demo-echo"},
                commit_message="benchmark",
            )
            tag_move(team=team, actor=user, prompt=prompt, tag_name="production", version=version)
            dataset = dataset_create(team=team, actor=user, name="questions")
            examples_bulk_create(
                team=team,
                actor=user,
                dataset=dataset,
                rows=({"input": {"q": f"question {i}"}} for i in range(rows)),
            )
            dataset.refresh_from_db()
            _, traces_key = api_key_create(
                team=team, actor=user, name="traces", scopes=["traces:write"]
            )
            _, prompts_key = api_key_create(
                team=team,
                actor=user,
                name="prompts",
                scopes=["prompts:read"],
                environment="production",
            )
        world[label] = {
            "user": user,
            "team": team,
            "version": version,
            "dataset": dataset,
            "traces_key": traces_key,
            "prompts_key": prompts_key,
        }
    return world


def start_run(side: dict, name: str, concurrency: int):
    from apps.core.tenancy import team_scope
    from apps.experiments.services import VariantSpec, experiment_create, experiment_start

    team, user = side["team"], side["user"]
    with team_scope(team):
        experiment = experiment_create(
            team=team,
            actor=user,
            name=name,
            dataset=side["dataset"],
            variants=[VariantSpec(prompt_version=side["version"])],
            concurrency=concurrency,
        )
        experiment_start(team=team, actor=user, experiment=experiment)  # a ticket, on commit
    return experiment.pk


def run_state(pk: int) -> tuple:
    from apps.experiments.models import Experiment

    return (
        Experiment.objects.unscoped()
        .filter(pk=pk)
        .values_list(
            "status", "queued_at", "finished_at", "done_count", "total_cells", "started_at"
        )
        .get()
    )


def cancel_runs(side: dict, pks: list[int]) -> None:
    from apps.core.errors import Conflict
    from apps.core.tenancy import team_scope
    from apps.experiments.models import Experiment
    from apps.experiments.services import experiment_cancel

    with team_scope(side["team"]):
        for pk in pks:
            try:
                experiment_cancel(
                    team=side["team"], actor=side["user"], experiment=Experiment.objects.get(pk=pk)
                )
            except Conflict:
                pass  # it finished already
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if all(run_state(pk)[0] in TERMINAL for pk in pks):
            return
        time.sleep(0.1)
    raise SystemExit(f"team A's runs did not stop: {[run_state(pk) for pk in pks]}")


def drain_exports(side: dict) -> float:
    """Wait until the workers have written every export the team had accepted; seconds."""
    from apps.traces.models import TraceExport

    started = time.monotonic()
    while TraceExport.objects.unscoped().filter(team=side["team"]).exists():
        if time.monotonic() - started > 300:
            raise SystemExit("team A's accepted exports were not written within 300 s")
        time.sleep(0.1)
    return time.monotonic() - started


# --- team B's figures ---------------------------------------------------------------------


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))]


def timed_requests(port: int, requests) -> list[float]:
    """Latencies (ms) of the requests, one at a time; under a heavy load, the first ones
    that fit in KIND_SECONDS (at least MIN_SAMPLES), so the benchmark ends in bounded time."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    latencies: list[float] = []
    deadline = time.monotonic() + KIND_SECONDS
    try:
        for method, path, body, headers in requests:
            if len(latencies) >= MIN_SAMPLES and time.monotonic() > deadline:
                break
            started = time.perf_counter()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                raise SystemExit(f"team B got {response.status} for {method} {path}")
    finally:
        connection.close()
    return latencies


def measure_b(port: int, side: dict) -> dict:
    fetch_headers = {"Authorization": f"Bearer {side['prompts_key']}"}
    fetch = timed_requests(
        port,
        [("GET", "/api/v1/prompts/support/?tag=production", None, fetch_headers)] * B_REQUESTS,
    )
    span = otlp_body(1, "quiet", trace_size=1)
    ingest_headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {side['traces_key']}",
    }
    ingest = timed_requests(
        port,
        (("POST", "/v1/traces", fresh(span), ingest_headers) for _ in range(B_REQUESTS)),
    )
    pk = start_run(side, f"quiet {time.time_ns()}", concurrency=8)
    deadline = time.monotonic() + 600
    while True:
        status, queued_at, finished_at, done, total, started_at = run_state(pk)
        if status in TERMINAL:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"team B's run did not finish: {status} {done}/{total}")
        time.sleep(0.05)
    if status != "completed" or done != B_ROWS:
        raise SystemExit(f"team B's run ended {status} with {done} of {total} cells")
    return {
        "fetch_p99": p99(fetch),
        "ingest_p99": p99(ingest),
        "experiment_s": (finished_at - queued_at).total_seconds(),
        # How long it waited for a worker: what the fair shares bound (the rest of its
        # time under load is the CPU it shares with A's run on the other worker).
        "wait_s": (started_at - queued_at).total_seconds(),
    }


# --- servers --------------------------------------------------------------------------------


def wait_for(url: str, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not start")


def start_servers(env: dict, port: int, echo_port: int) -> list[subprocess.Popen]:
    manage = [PYTHON, "manage.py"]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    processes = [
        subprocess.Popen(
            [*manage, "demo_echo", "--port", str(echo_port), "--latency-ms", str(ECHO_LATENCY_MS)],
            cwd=ROOT,
            env=env,
            **quiet,
        ),
        subprocess.Popen(
            [
                str(Path(PYTHON).with_name("gunicorn")),
                "config.wsgi:application",
                "--workers",
                str(GUNICORN_WORKERS),
                "--threads",
                str(GUNICORN_THREADS),
                "--bind",
                f"127.0.0.1:{port}",
                "--timeout",
                "120",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        ),
    ]
    logs = Path(tempfile.mkdtemp(prefix="noisy-neighbour-"))
    log(f"task worker logs in {logs}")
    for i in range(2):  # as `make run`
        processes.append(
            subprocess.Popen(
                [*manage, "worker", "--queue-name", "*", "--no-reload", "--interval", "0.1"],
                cwd=ROOT,
                env=env,
                stdout=(logs / f"worker-{i + 1}.log").open("w"),
                stderr=subprocess.STDOUT,
            )
        )
    wait_for(f"http://127.0.0.1:{echo_port}/v1/models", "demo-echo")
    wait_for(f"http://127.0.0.1:{port}/accounts/login/", "gunicorn")
    return processes


def main() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit(
            "Run against PostgreSQL: ./scripts/with_postgres.sh .venv/bin/python "
            "benchmarks/noisy_neighbour.py"
        )
    port, echo_port = free_port(), free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECURE_SSL_REDIRECT": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "ERROR",
        # demo-echo listens on loopback, which providers reach only when the operator says so.
        "PROMPTYARD_PROVIDER_URL_ALLOWLIST": f"127.0.0.1:{echo_port}",
        "PROMPTYARD_WORKER_CPUS": WORKER_CPUS,
    }
    os.environ.update(env)
    log("migrating")
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    setup_django()
    log(f"teams A ({A_ROWS}-row dataset) and B ({B_ROWS} rows)")
    world = make_world(f"http://127.0.0.1:{echo_port}/v1")
    a, b = world["a"], world["b"]
    processes = start_servers(env, port, echo_port)
    alone: list[dict] = []
    loaded: list[dict] = []
    a_counts: dict[str, int] = {}
    a_done = 0
    try:
        measure_b(port, b)  # warm: connections, caches, the first run's imports

        def quiet_phase(round_number: int) -> None:
            alone.append(measure_b(port, b))
            log(f"round {round_number} alone:  {fmt(alone[-1])}; {load()}")

        def loaded_phase(round_number: int) -> None:
            nonlocal a_done
            flooder = subprocess.Popen(
                [PYTHON, __file__, "--flood", str(port), a["traces_key"]],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )
            runs = [start_run(a, f"heavy {round_number}.{i}", 16) for i in range(A_RUNS)]
            time.sleep(WARMUP_SECONDS)
            loaded.append(measure_b(port, b))
            log(f"round {round_number} loaded: {fmt(loaded[-1])}; {load()}")
            flooder.send_signal(signal.SIGTERM)
            counts = json.loads(flooder.communicate(timeout=180)[0].strip().splitlines()[-1])
            for status, n in counts.items():
                a_counts[status] = a_counts.get(status, 0) + n
            a_done += sum(run_state(pk)[3] for pk in runs)
            cancel_runs(a, runs)
            # What A had accepted is A's load too: B's quiet phase starts once it is written.
            drained = drain_exports(a)
            log(f"round {round_number} team A: answers {counts}; backlog written {drained:.1f} s")

        for round_number in range(1, ROUNDS + 1):
            # Alternate which phase comes first, so neither always follows a flood's tail.
            phases = [quiet_phase, loaded_phase]
            for phase in phases if round_number % 2 else phases[::-1]:
                phase(round_number)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    def median(runs, key):
        return statistics.median(r[key] for r in runs)

    figures = {
        key: (median(alone, key), median(loaded, key))
        for key in ("fetch_p99", "ingest_p99", "experiment_s", "wait_s")
    }
    for key, (quiet, noisy) in figures.items():
        log(f"B {key}: alone {quiet:.3f}, under A's load {noisy:.3f} (medians of {ROUNDS})")
        log(f"   alone {spread([r[key] for r in alone], '{:.3f}')}")
        log(f"   under A's load {spread([r[key] for r in loaded], '{:.3f}')}")
    refused = a_counts.get("429", 0)
    others = {k: v for k, v in a_counts.items() if k not in ("200", "429")}
    log(
        f"team A: {a_counts.get('200', 0)} batches of {FLOOD_SPANS} spans accepted, "
        f"{refused} refused with 429, other answers {others}; {a_done} experiment cells "
        "done under load"
    )
    ratio = {key: noisy / quiet for key, (quiet, noisy) in figures.items() if quiet}
    print(
        f"noisy_neighbour b_fetch_p99_ratio={ratio['fetch_p99']:.2f} "
        f"b_ingest_p99_ratio={ratio['ingest_p99']:.2f} "
        f"b_experiment_ratio={ratio['experiment_s']:.2f} a_429s={refused} "
        f"rounds={ROUNDS} load1={os.getloadavg()[0]:.2f} "
        f"worker_cpus={cpu_label('background')} a_client_cpus={cpu_label(A_CLIENT_CPUS)}",
        flush=True,
    )


def fmt(figures: dict) -> str:
    return (
        f"fetch p99 {figures['fetch_p99']:.1f} ms, ingest p99 {figures['ingest_p99']:.1f} ms, "
        f"50-row experiment {figures['experiment_s']:.2f} s "
        f"(of which {figures['wait_s']:.2f} s waiting for a worker)"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--flood":
        flood(int(sys.argv[2]), sys.argv[3])
    else:
        main()
