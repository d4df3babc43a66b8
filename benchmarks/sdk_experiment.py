"""Experiments over your own code: how close `promptyard.run_experiment` comes to the ideal.

Run: ./scripts/with_postgres.sh .venv/bin/python benchmarks/sdk_experiment.py

Starts the app under gunicorn (2 workers x 4 threads) on loopback against PostgreSQL
(DATABASE_URL) with a dataset of 1,000 examples, then, in interleaved rounds (the order
rotated each round, >= 7 rounds):
  1. the subject: `run_experiment` of a task that sleeps 50 ms, concurrency 32, with a
     Python evaluator, under a fresh name each round: opening the experiment, fetching
     the examples, running, uploading results and scores in batches while the tasks run,
     and finishing (wall time of the whole call);
  2. the floor: the same 1,000 calls of the same task in a 32-thread pool with no server
     at all (what the task alone costs on this machine).
The ideal is 32 / 0.05 s = 640 rows/s; efficiency = rows/s over the ideal. Each figure is
the median over the rounds (with min–max); the load average is printed before and after.
Every round's experiment is checked: 1,000 results and 1,000 scores stored, completed.

Last line: sdk_experiment rows=1000 rows_per_s=… ideal_rows_per_s=640 efficiency=…
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "sdk"))

from benchmarks.honest import (  # noqa: E402
    MIN_ROUNDS,
    interleaved,
    load_average,
    log,
    median,
    require_postgres,
    spread,
)
from benchmarks.web import free_port  # noqa: E402

PYTHON = sys.executable
ROWS = 1000
SLEEP = 0.05
CONCURRENCY = 32
IDEAL = CONCURRENCY / SLEEP  # 640 rows/s
ROUNDS = max(MIN_ROUNDS, int(os.environ.get("BENCH_ROUNDS", MIN_ROUNDS)))
WORKERS, THREADS = 2, 4


def load_into_database() -> None:
    """--load: a team, a dataset of ROWS examples and an experiments:write key."""
    import django

    django.setup()
    from apps.core.tenancy import team_scope
    from apps.datasets.services import dataset_create, examples_bulk_create
    from apps.teams.services import api_key_create
    from benchmarks.web import bench_team

    user, team = bench_team("bench-sdk", "Bench SDK")
    with team_scope(team):
        from apps.datasets.models import Dataset

        if not Dataset.objects.filter(name="golden").exists():
            dataset = dataset_create(team=team, actor=user, name="golden")
            examples_bulk_create(
                team=team,
                actor=user,
                dataset=dataset,
                rows=[
                    {"input": {"question": f"question {i}"}, "expected": f"answer {i}"}
                    for i in range(ROWS)
                ],
            )
        _, raw = api_key_create(team=team, actor=user, name="bench", scopes=["experiments:write"])
    print(json.dumps({"key": raw}))


def count_stored(name: str) -> dict:
    """--count NAME: what the server stored for the experiment called NAME."""
    import django

    django.setup()
    from apps.experiments.models import Experiment, Result, Score

    # reason: a benchmark's check, outside any request.
    experiment = Experiment.objects.unscoped().get(name=name)
    return {
        "status": experiment.status,
        "results": Result.objects.unscoped().filter(experiment=experiment).count(),
        "scores": Score.objects.unscoped().filter(experiment=experiment).count(),
    }


def start_gunicorn(env: dict, port: int) -> subprocess.Popen:
    gunicorn = str(Path(PYTHON).with_name("gunicorn"))
    process = subprocess.Popen(
        [gunicorn, "config.wsgi:application", "--workers", str(WORKERS), "--threads"]
        + [str(THREADS), "--bind", f"127.0.0.1:{port}", "--timeout", "60"]
        + ["--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/experiments/", timeout=1)
        except urllib.error.HTTPError:
            return process  # 401/403 without a key: the app answers
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise SystemExit("gunicorn did not start")


def task(example):
    time.sleep(SLEEP)
    return f"answer {example['question'].split()[-1]}"


def exact(output, expected):
    return output == expected


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
    }
    log("migrating")
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    out = subprocess.run(
        [PYTHON, __file__, "--load"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    key = json.loads(out.stdout.strip().splitlines()[-1])["key"]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log(f"gunicorn ({WORKERS} workers x {THREADS} threads) on {base}")
    server = start_gunicorn(env, port)

    from promptyard import run_experiment

    names: list[str] = []
    phases: list[dict[str, float]] = []

    def subject() -> float:
        name = f"bench {len(names)} {time.time():.0f}"
        names.append(name)
        started = time.perf_counter()
        run = run_experiment(
            dataset="golden",
            task=task,
            evaluators=[exact],
            name=name,
            concurrency=CONCURRENCY,
            api_key=key,
            base_url=base,
        )
        seconds = time.perf_counter() - started
        phases.append(run.phases)
        if (run.ran, run.stored, run.errors, run.status) != (ROWS, ROWS, 0, "completed"):
            raise SystemExit(f"round {name}: {run}")
        return ROWS / seconds

    def floor() -> float:
        started = time.perf_counter()
        examples = [{"question": f"question {i}"} for i in range(ROWS)]
        with concurrent.futures.ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(task, examples))
        return ROWS / (time.perf_counter() - started)

    def report(number: int, this_round: dict) -> None:
        log(
            f"round {number}: run_experiment {this_round['subject']:.0f} rows/s, "
            f"task alone {this_round['floor']:.0f} rows/s"
        )

    try:
        log(
            f"{ROUNDS} rounds: {ROWS} examples, a task sleeping {SLEEP * 1000:.0f} ms, "
            f"concurrency {CONCURRENCY} (ideal {IDEAL:.0f} rows/s)"
        )
        results = interleaved(ROUNDS, {"subject": subject, "floor": floor}, report=report)
    finally:
        server.terminate()
        server.wait()
    for name in names:
        counted = subprocess.run(
            [PYTHON, __file__, "--count", name],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        stored = json.loads(counted.stdout.strip().splitlines()[-1])
        if stored != {"status": "completed", "results": ROWS, "scores": ROWS}:
            raise SystemExit(f"{name}: stored {stored}")
    log(f"every round stored {ROWS} results and {ROWS} scores, completed")
    subject_rates = results["subject"]
    floor_rates = results["floor"]
    log(f"run_experiment rows/s: {spread(subject_rates, '{:.0f}')}")
    log(f"task alone (no server) rows/s: {spread(floor_rates, '{:.0f}')}")
    log(f"efficiency: {spread([r / IDEAL for r in subject_rates], '{:.3f}')}")
    for phase in ("open", "first_examples", "tasks", "last_upload", "finish"):
        log(f"run_experiment {phase} seconds: {spread([p[phase] for p in phases], '{:.3f}')}")
    log(load_average())
    rate = median(subject_rates)
    print(
        f"sdk_experiment rows={ROWS} rows_per_s={rate:.0f} ideal_rows_per_s={IDEAL:.0f} "
        f"efficiency={rate / IDEAL:.3f}"
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        load_into_database()
    elif len(sys.argv) > 2 and sys.argv[1] == "--count":
        print(json.dumps(count_stored(sys.argv[2])))
    else:
        main()
