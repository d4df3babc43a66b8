"""Experiment throughput: 1,000 examples against demo-echo (50 ms latency), concurrency 32.

Run: ./scripts/with_postgres.sh .venv/bin/python benchmarks/experiment_run.py

One variant, one built-in evaluator (exact match), WORKERS (default 2, BENCH_WORKERS)
`manage.py worker` processes sharing the run's shards (apps/experiments/sharding.py) and its
concurrency (32 in flight in all, split between them), PostgreSQL from DATABASE_URL.
demo-echo runs as its own process. Rows per second are measured over the run itself (the
experiment's started_at -> finished_at, as recorded by the workers); the ideal is
concurrency / latency = 32 / 0.05 s = 640 rows/s.

The baseline is the gateway alone: the same number of `acomplete` calls at the same
concurrency against the same demo-echo, no database and no runner (what this machine and
the openai SDK allow at best). ROUNDS (>= 7) rounds run the floor and a fresh experiment
each, interleaved, the order rotated; each figure is its median over the rounds, printed
with its min–max, and the load average before and after. `wall_s` is what a user waits
for: with BENCH_WARM_WORKERS=1 (default) the workers run before the rounds, as `make run`
keeps them (their start-up is printed once) and the wall time is from the start click to the
experiment done; with 0, from the worker processes' start (Python and Django start-up
included) to the experiment done.

The rate-limited figure (a real rate limit, not random 429s) is
benchmarks/experiment_rate_limited.py.

Then RATE_LIMITED_ROUNDS (BENCH_429_ROUNDS, default 1) runs against a demo-echo that
answers 20 % of calls with 429 (Retry-After: 1) at random: every row must complete; their
median wall time is printed before the last line.

Last line: experiment_run rows=… concurrency=… latency_ms=… rows_per_s=… ideal_rows_per_s=…
efficiency=… floor_efficiency=… of_floor=… per_worker_of_floor=… wall_s=… workers=… rounds=…
load1=…
(efficiency: the run's rows/s over the ideal; floor_efficiency: the gateway alone's in one
process; of_floor: the first over the second, per round, median; per_worker_of_floor: the
run's rows/s per worker over the one-process gateway's rate, per round, median.)
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.honest import (  # noqa: E402
    MIN_ROUNDS,
    interleaved,
    load_average,
    log,
    median,
    require_postgres,
    spread,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "0")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
# demo-echo listens on loopback, which provider URLs may reach only when the operator says so.
os.environ.setdefault("PROMPTYARD_PROVIDER_URL_ALLOWLIST", "127.0.0.0/8")

ROWS = int(os.environ.get("BENCH_ROWS", 1000))
CONCURRENCY = 32
LATENCY_MS = 50
ROUNDS = max(MIN_ROUNDS, int(os.environ.get("BENCH_ROUNDS", MIN_ROUNDS)))
RATE_LIMITED_ROUNDS = int(os.environ.get("BENCH_429_ROUNDS", 1))
WORKERS = int(os.environ.get("BENCH_WORKERS", 2))
# Workers running before the rounds, as `make run` keeps them (1), or started for each run
# with their start-up in its wall time (0).
WARM = os.environ.get("BENCH_WARM_WORKERS", "1") == "1"
IDEAL = CONCURRENCY / (LATENCY_MS / 1000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manage(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "manage.py"), *args], cwd=ROOT, **popen)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a running process (Linux /proc), 0 where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def start_demo_echo(*extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = manage(
        "demo_echo",
        "--port",
        str(port),
        "--latency-ms",
        str(LATENCY_MS),
        *extra,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}/v1"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("demo-echo did not start")


def gateway_floor(base_url: str, calls: int = ROWS) -> dict:
    """The model calls alone: `acomplete` at the same concurrency against the same demo-echo,
    no database, no runner. What the machine and the openai SDK allow at best."""
    import asyncio

    from apps.llm import gateway
    from apps.llm.model_settings import ModelSettings
    from apps.llm.models import ProviderConfig

    provider = ProviderConfig(
        pk=0, name="floor", base_url=base_url, models=["demo-echo"], is_demo=True
    )
    settings = ModelSettings(model="demo-echo")

    async def run() -> tuple[float, float]:
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> None:
            async with slots:
                await gateway.acomplete(
                    provider,
                    settings=settings,
                    messages=[{"role": "user", "content": f"Q: question {i}"}],
                    max_retries=0,
                )

        await asyncio.gather(*(one(i) for i in range(CONCURRENCY)))  # connections open
        cpu, wall = time.process_time(), time.monotonic()
        await asyncio.gather(*(one(i) for i in range(calls)))
        result = time.process_time() - cpu, time.monotonic() - wall
        await gateway.aclose_loop_clients()
        return result

    cpu, wall = asyncio.run(run())
    return {"rate": calls / wall, "cpu_ms": cpu / calls * 1000}


def setup_world():
    from apps.accounts.models import User
    from apps.core.tenancy import team_scope
    from apps.datasets.services import dataset_create, examples_bulk_create
    from apps.experiments.services import evaluator_create
    from apps.prompts.services import prompt_create
    from apps.teams.services import team_create

    user = User.objects.create_user(email=f"bench-{time.time_ns()}@example.test", password="x")
    team = team_create(actor=user, name="Bench", slug=f"bench-{time.time_ns() % 10**9}")
    with team_scope(team):
        prompt = prompt_create(team=team, actor=user, name="bench")
        dataset = dataset_create(team=team, actor=user, name="bench")
        examples_bulk_create(
            team=team,
            actor=user,
            dataset=dataset,
            rows=(
                {"input": {"q": f"question {i}"}, "expected": f"echo: Q: question {i}"}
                for i in range(ROWS)
            ),
        )
        dataset.refresh_from_db()
        evaluator = evaluator_create(team=team, actor=user, name="exact", kind="exact_match")
    return user, team, prompt, dataset, evaluator


def start_workers(count: int) -> tuple[list[subprocess.Popen], float]:
    """`count` long-lived `manage.py worker` processes, as `make run` keeps them, and the
    seconds until they had all started (their CPU use settled)."""
    log_path = Path(f"/tmp/bench-workers-{os.getpid()}.log")
    started = time.monotonic()
    procs = [
        manage(
            "worker",
            "--queue-name",
            "*",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            "0.05",
            stdout=log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        for _ in range(count)
    ]
    last = [cpu_seconds(p.pid) for p in procs]
    while time.monotonic() - started < 60:
        time.sleep(0.5)
        now = [cpu_seconds(p.pid) for p in procs]
        if all(b - a < 0.1 for a, b in zip(last, now, strict=True)) and min(now) > 0.5:
            break
        last = now
    return procs, time.monotonic() - started - 0.5


def stop_workers(procs: list[subprocess.Popen]) -> None:
    import signal

    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def run_once(
    label: str,
    world,
    base_url: str,
    *,
    workers: int = WORKERS,
    concurrency: int = CONCURRENCY,
    rows: int = ROWS,
    running: list[subprocess.Popen] | None = None,
) -> dict:
    """One experiment run by `workers` fresh `manage.py worker` processes (start-up
    included in `worker_wall_s`), stopped once the run is done; or by the `running` ones
    (`worker_wall_s` then is from the start click to the run done)."""
    import signal
    from collections import Counter

    from django_tasks_db.models import DBTaskResult

    from apps.core.tenancy import team_scope
    from apps.experiments.models import Experiment, Result, Shard, Status
    from apps.experiments.services import VariantSpec, experiment_create, experiment_start
    from apps.llm.models import ProviderConfig
    from apps.prompts.services import version_create

    user, team, prompt, dataset, evaluator = world
    with team_scope(team):
        provider = ProviderConfig.objects.create(
            team=team,
            name=f"demo-echo {label}",
            base_url=base_url,
            models=["demo-echo"],
            is_demo=True,
        )
        version = version_create(
            team=team,
            actor=user,
            prompt=prompt,
            kind="text",
            template="Q: {{ q }}",
            model_settings={"provider_id": provider.pk, "model": "demo-echo"},
            commit_message=label,
        )
        experiment = experiment_create(
            team=team,
            actor=user,
            name=label,
            dataset=dataset,
            variants=[VariantSpec(prompt_version=version)],
            evaluators=[evaluator],
            concurrency=concurrency,
        )
        experiment_start(team=team, actor=user, experiment=experiment)  # enqueued on commit
    log_path = Path(f"/tmp/bench-workers-{os.getpid()}.log")
    started = time.monotonic()
    if running:
        procs = running
    else:
        procs = [
            manage(
                "worker",
                "--queue-name",
                "*",
                "--no-reload",
                "--no-startup-delay",
                "--interval",
                "0.05",
                stdout=log_path.open("ab"),
                stderr=subprocess.STDOUT,
            )
            for _ in range(workers)
        ]
    cpu_before = [cpu_seconds(p.pid) for p in procs]
    runs = Experiment.objects.unscoped().filter(pk=experiment.pk)
    cpu = 0.0
    try:
        deadline = started + 900
        while runs.values_list("status", flat=True).first() in (Status.QUEUED, Status.RUNNING):
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"{label}: a worker exited; see {log_path}")
            if time.monotonic() > deadline:
                raise SystemExit(f"{label}: not done after 900 s; see {log_path}")
            time.sleep(0.02)
        wall = time.monotonic() - started
        # The workers record their tasks' summaries just after the run is done.
        # (A ticket gives a turn to whichever run is fairest: not always its own.)
        settle = time.monotonic() + 10
        busy = DBTaskResult.objects.filter(status="RUNNING")
        while busy.exists() and time.monotonic() < settle:
            time.sleep(0.02)
    finally:
        if running:
            cpu = sum(cpu_seconds(p.pid) - b for p, b in zip(procs, cpu_before, strict=True))
        else:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
            for p in procs:
                _, _, usage = os.wait4(p.pid, 0)
                p.returncode = 0
                cpu += usage.ru_utime + usage.ru_stime
    experiment = runs.get()
    results = Result.objects.unscoped().filter(experiment=experiment)
    stored = results.count()
    errors = results.exclude(error="").count()
    if experiment.status != Status.COMPLETED or stored != rows:
        raise SystemExit(
            f"{label}: status {experiment.status}, {stored} rows, error {experiment.error!r}"
        )
    summaries = [
        t.return_value
        for t in DBTaskResult.objects.filter(return_value__experiment=experiment.pk)
        if isinstance(t.return_value, dict) and t.return_value.get("calls")
    ]
    lowest = [s["lowest_concurrency"] for s in summaries if s.get("lowest_concurrency")]
    run_seconds = (experiment.finished_at - experiment.started_at).total_seconds()
    return {
        "rows": stored,
        "errors": errors,
        "run_s": run_seconds,
        "worker_wall_s": wall,
        "worker_cpu_s": cpu,
        "rows_per_s": stored / run_seconds,
        "requests": sum(s.get("requests", 0) for s in summaries),
        "rate_limited": sum(s.get("rate_limited", 0) for s in summaries),
        "lowest_concurrency": min(lowest) if lowest else None,
        "shards": dict(
            Counter(
                w.split(":")[1]
                for w in Shard.objects.unscoped()
                .filter(experiment=experiment)
                .values_list("worker", flat=True)
            )
        ),
        "detail": experiment.status_detail,
    }


def main() -> None:
    require_postgres()
    import django

    django.setup()
    from django.core.management import call_command

    log(f"{load_average()}; {WORKERS} worker processes")
    call_command("migrate", verbosity=0)
    world = setup_world()
    counter = iter(range(1, 1000))
    running, startup = start_workers(WORKERS) if WARM else (None, float("nan"))
    if WARM:
        log(
            f"{WORKERS} workers started before the rounds (as make run keeps them) in {startup:.2f} s"
        )

    echo, url = start_demo_echo()
    try:

        def floor() -> dict:
            result = gateway_floor(url)
            return {**result, "efficiency": result["rate"] / IDEAL}

        def run() -> dict:
            echo_before = cpu_seconds(echo.pid)
            result = run_once(f"clean {next(counter)}", world, url, running=running)
            result["echo_cpu_s"] = cpu_seconds(echo.pid) - echo_before
            result["efficiency"] = result["rows_per_s"] / IDEAL
            return result

        def report(number: int, this_round: dict) -> None:
            r, f = this_round["run"], this_round["floor"]
            log(
                f"round {number}: run {r['rows_per_s']:.0f} rows/s (efficiency "
                f"{r['efficiency']:.2f}, wall {r['worker_wall_s']:.2f} s "
                f"{'from the start click' if WARM else 'incl. worker start-up'}, "
                f"workers' CPU {r['worker_cpu_s'] / r['rows'] * 1000:.2f} ms/row, shards by "
                f"worker {r['shards']}); gateway alone "
                f"{f['rate']:.0f} calls/s (efficiency {f['efficiency']:.2f}, "
                f"{f['cpu_ms']:.2f} ms CPU/call)"
            )

        results = interleaved(ROUNDS, {"floor": floor, "run": run}, report=report)
    finally:
        echo.kill()
    limited = []
    echo, url = start_demo_echo("--rate-429", "0.2", "--retry-after", "1", "--seed", "1")
    try:
        for number in range(RATE_LIMITED_ROUNDS):
            limited.append(run_once(f"rate-limited {number + 1}", world, url, running=running))
            log(f"20% 429 run {number + 1}: {limited[-1]['run_s']:.2f} s; {limited[-1]['detail']}")
    finally:
        echo.kill()
        if running:
            stop_workers(running)

    runs, floors = results["run"], results["floor"]
    of_floor = [r["efficiency"] / f["efficiency"] for r, f in zip(runs, floors, strict=True)]
    per_worker = [r["rows_per_s"] / WORKERS / f["rate"] for r, f in zip(runs, floors, strict=True)]
    log(f"{ROUNDS} rounds, interleaved:")
    log(f"run rows/s: {spread([r['rows_per_s'] for r in runs], '{:.0f}')}")
    log(f"run efficiency: {spread([r['efficiency'] for r in runs])}")
    log(f"gateway alone efficiency: {spread([f['efficiency'] for f in floors])}")
    log(f"run efficiency / gateway alone: {spread(of_floor)}")
    log(f"run rows/s per worker / gateway alone in one process: {spread(per_worker)}")
    log(
        "gateway alone CPU per call (ms): "
        + spread([f["cpu_ms"] for f in floors])
        + "; worker CPU per row incl. start-up (ms): "
        + spread([r["worker_cpu_s"] / r["rows"] * 1000 for r in runs])
    )
    log(
        "wall time a user waits, "
        + (
            "from the start click, workers running (s): "
            if WARM
            else "worker start-up included (s): "
        )
        + spread([r["worker_wall_s"] for r in runs])
    )
    log(load_average())
    clean_s = median(r["run_s"] for r in runs)
    limited_s = median(r["run_s"] for r in limited) if limited else float("nan")
    print(
        f"20% 429 runs: {len(limited)}, rows {[r['rows'] for r in limited]}, errors "
        f"{[r['errors'] for r in limited]}, median run {limited_s:.2f} s"
    )
    print(
        f"wall_time_clean_s={clean_s:.2f} wall_time_429_s={limited_s:.2f} "
        f"all_rows_completed={all(r['rows'] == ROWS and r['errors'] == 0 for r in limited)}"
    )
    rate = median(r["rows_per_s"] for r in runs)
    print(
        f"experiment_run rows={ROWS} concurrency={CONCURRENCY} latency_ms={LATENCY_MS} "
        f"rows_per_s={rate:.1f} ideal_rows_per_s={IDEAL:.0f} "
        f"efficiency={median(r['efficiency'] for r in runs):.2f} "
        f"floor_efficiency={median(f['efficiency'] for f in floors):.2f} "
        f"of_floor={median(of_floor):.2f} per_worker_of_floor={median(per_worker):.2f} "
        f"wall_s={median(r['worker_wall_s'] for r in runs):.2f} "
        f"workers={WORKERS} warm={int(WARM)} startup_s={startup:.2f} rounds={ROUNDS} "
        f"load1={os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
