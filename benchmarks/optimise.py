"""Optimisation overhead: a GEPA run on the demo prompt against demo-echo (50 ms latency).

Run: ./scripts/with_postgres.sh .venv/bin/python benchmarks/optimise.py

The demo's support-reply v1, its golden set (40 order questions, split 20/20 on the spot) and
its two gating evaluators, demo-echo as its own process answering every call after
LATENCY_MS, the run's concurrency CONCURRENCY, at most MAX_ROUNDS rounds. Each round of the
benchmark runs a fresh optimisation (nothing stored to read back) through the worker's
code path (`apps.optimisation.engine.execute`, in this process) on PostgreSQL, and, as its
baseline, the same number of model calls through the gateway alone at the same concurrency
(no database, no GEPA: what this machine and the openai SDK allow at best). Subject and
baseline are interleaved, the order rotated; each figure is the median over ROUNDS (>= 7)
rounds with its min–max, and the load average is printed before and after.

overhead = wall time ÷ (model calls × latency ÷ concurrency): 1.0 would be every call in
flight with `concurrency` others all the time. GEPA's search is sequential by nature (a
reflection waits for its minibatch, the minibatch of the new candidate for the reflection),
so part of the overhead is the search's own critical path, not our code: the floor's
overhead (the same calls, all at once) is printed beside it.

Last line: optimise rounds= calls= start_pass_rate= best_val_pass_rate= seconds= overhead=
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.experiment_run import start_demo_echo  # noqa: E402
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
os.environ.setdefault("PROMPTYARD_PROVIDER_URL_ALLOWLIST", "127.0.0.0/8")

LATENCY_MS = 50  # the same as benchmarks/experiment_run.py (start_demo_echo uses it)
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", 8))
MAX_ROUNDS = int(os.environ.get("BENCH_MAX_ROUNDS", 5))
ROUNDS = max(MIN_ROUNDS, int(os.environ.get("BENCH_ROUNDS", MIN_ROUNDS)))


def setup_world(base_url: str):
    from django.conf import settings

    from apps.accounts.models import User
    from apps.core.tenancy import team_scope
    from apps.datasets import demo as datasets_demo
    from apps.experiments import services as experiment_services
    from apps.experiments.demo import EVALUATORS, POLICY_EVALUATORS
    from apps.prompts import demo as prompts_demo
    from apps.prompts.models import PromptVersion
    from apps.teams.services import _membership_add, team_create

    settings.PROMPTYARD_DEMO_ECHO_URL = base_url
    stamp = time.time_ns()
    alice = User.objects.create_user(email=f"bench-a-{stamp}@example.test", password="x")
    bob = User.objects.create_user(email=f"bench-b-{stamp}@example.test", password="x")
    team = team_create(actor=alice, name="Bench", slug=f"bench-{stamp % 10**9}")
    with team_scope(team):
        _membership_add(team=team, user=bob, role="editor")  # the demo's reviewer
    users = {"alice": alice, "bob": bob}
    datasets_demo.golden(team, users)
    prompts_demo.seed(team, users)
    with team_scope(team):
        evaluators = [
            experiment_services.evaluator_create(
                team=team, actor=alice, name=name, kind=kind, params=params, description=text
            )
            for name, kind, params, text in EVALUATORS
            if name in POLICY_EVALUATORS
        ]
        version = PromptVersion.objects.get(prompt__name="support-reply", number=1)
        dataset = datasets_demo.Dataset.objects.get(name=datasets_demo.GOLDEN_NAME)
    return team, alice, version, dataset, evaluators


def one_run(world, seed: int) -> dict:
    from apps.core.tenancy import team_scope
    from apps.optimisation.engine import execute
    from apps.optimisation.models import OptimisationRun
    from apps.optimisation.services import optimisation_run_create, optimisation_run_start

    team, alice, version, dataset, evaluators = world
    with team_scope(team):
        run = optimisation_run_create(
            team=team,
            actor=alice,
            prompt_version=version,
            dataset=dataset,
            evaluators=evaluators,
            max_rounds=MAX_ROUNDS,
            max_calls=500,
            concurrency=CONCURRENCY,
            seed=seed,
        )
        optimisation_run_start(team=team, actor=alice, run=run, enqueue=False)
    started = time.monotonic()
    execute(run.pk)
    seconds = time.monotonic() - started
    run = OptimisationRun.objects.unscoped().get(pk=run.pk)  # reason: benchmark read-back
    assert run.status == "succeeded", run.error
    ideal = run.calls_used * (LATENCY_MS / 1000) / CONCURRENCY
    return {
        "seconds": seconds,
        "calls": run.calls_used,
        "rounds": run.rounds_done,
        "start": run.comparison["start"]["rate"],
        "best": run.comparison["best"]["rate"],
        "overhead": seconds / ideal,
    }


def floor(base_url: str, calls: int) -> dict:
    """The same number of calls through the gateway alone, all at the run's concurrency."""
    import asyncio

    from apps.llm import gateway
    from apps.llm.model_settings import ModelSettings
    from apps.llm.models import ProviderConfig

    provider = ProviderConfig(
        pk=0, name="floor", base_url=base_url, models=["demo-echo"], is_demo=True
    )
    settings = ModelSettings(model="demo-echo")

    async def run() -> float:
        slots = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> None:
            async with slots:
                await gateway.acomplete(
                    provider,
                    settings=settings,
                    messages=[{"role": "user", "content": f"Where is order {i}?"}],
                    max_retries=0,
                )

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(calls)))
        wall = time.monotonic() - started
        await gateway.aclose_loop_clients()
        return wall

    seconds = asyncio.run(run())
    return {"seconds": seconds, "overhead": seconds / (calls * LATENCY_MS / 1000 / CONCURRENCY)}


def main() -> None:
    require_postgres()
    import django

    django.setup()
    from django.core.management import call_command

    log(load_average())
    call_command("migrate", verbosity=0)
    echo, base_url = start_demo_echo()
    try:
        world = setup_world(base_url)
        seeds = iter(range(10_000))
        last_calls = [100]

        def subject() -> dict:
            result = one_run(world, next(seeds))
            last_calls[0] = result["calls"]
            return result

        def baseline() -> dict:
            return floor(base_url, last_calls[0])

        def report(number: int, results: dict) -> None:
            s, b = results["optimise"], results["floor"]
            log(
                f"round {number}: {s['rounds']} GEPA rounds, {s['calls']} calls in "
                f"{s['seconds']:.2f} s (overhead {s['overhead']:.2f}); floor "
                f"{b['seconds']:.2f} s (overhead {b['overhead']:.2f}); pass rate "
                f"{s['start']:.2f} -> {s['best']:.2f}"
            )

        results = interleaved(ROUNDS, {"optimise": subject, "floor": baseline}, report=report)
    finally:
        echo.kill()
    runs, floors = results["optimise"], results["floor"]
    log(f"optimisation seconds: {spread([r['seconds'] for r in runs])}")
    log(f"overhead: {spread([r['overhead'] for r in runs])}")
    log(f"floor overhead (the same calls, all at once): {spread([f['overhead'] for f in floors])}")
    log(load_average())
    print(
        f"optimise rounds={median(r['rounds'] for r in runs):g} "
        f"calls={median(r['calls'] for r in runs):g} "
        f"start_pass_rate={median(r['start'] for r in runs):.2f} "
        f"best_val_pass_rate={median(r['best'] for r in runs):.2f} "
        f"seconds={median(r['seconds'] for r in runs):.2f} "
        f"overhead={median(r['overhead'] for r in runs):.2f}"
    )


if __name__ == "__main__":
    main()
