"""One experiment run by several workers at once: shards claimed safely, a dead worker's
shard finished by another, fair joins between teams.

The worker-process tests need PostgreSQL (the workers are separate processes reading the
test database); the scheduling ones run anywhere.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection, connections
from django.utils import timezone

from apps.core.tenancy import team_scope
from apps.experiments import scheduling, sharding
from apps.experiments.models import Experiment, Result, Score, Shard, ShardState, Status
from apps.experiments.runner import _claim, execute
from apps.experiments.services import experiment_start
from tests.experiments.conftest import make_lab

ROOT = Path(__file__).resolve().parents[2]

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (workers in other processes)"
)


def _rows(n):
    return [{"input": {"q": f"q{i}"}, "expected": f"echo: Q: q{i}"} for i in range(n)]


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] or ""
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _worker(log: Path, **env_extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DEBUG": "1",
        "PROMPTYARD_PROVIDER_URL_ALLOWLIST": "127.0.0.0/8",  # demo-echo on loopback
        **env_extra,
    }
    env.pop("PROMPTYARD_TASKS_BACKEND", None)
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "worker",
            "--queue-name",
            "*",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            "0.1",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _wait(predicate, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}\n{log.read_text() if log else ''}")


def _stop(*processes: subprocess.Popen) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _run(experiment) -> Experiment:
    return Experiment.objects.unscoped().get(pk=experiment.pk)


def _assert_every_cell_once(experiment, cells: int) -> None:
    results = Result.objects.unscoped().filter(experiment=experiment)
    keys = list(results.values_list("variant_id", "example_id", "repetition"))
    assert len(keys) == cells == len(set(keys))
    scores = Score.objects.unscoped().filter(experiment=experiment)
    assert scores.count() == cells == scores.values("result_id").distinct().count()
    run = _run(experiment)
    assert run.status == Status.COMPLETED, run.status_detail
    assert run.done_count == run.total_cells == cells and run.error_count == 0
    assert not Shard.objects.unscoped().filter(experiment=experiment).exclude(state=ShardState.DONE)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_it_runs_one_experiment_on_two_worker_processes_with_every_cell_once(
    acme, alice, demo_echo_server, tmp_path
):
    server = demo_echo_server(latency_ms=30)
    lab = make_lab(acme, alice, server.base_url, rows=_rows(400))
    experiment = lab.experiment(evaluators=[lab.evaluator()], concurrency=4)
    with team_scope(acme):
        experiment_start(team=acme, actor=alice, experiment=experiment)  # a ticket, on commit
    log = tmp_path / "workers.log"
    env = {"PROMPTYARD_EXPERIMENT_SHARD_CELLS": "25"}
    workers = [_worker(log, **env), _worker(log, **env)]
    try:
        _wait(lambda: _run(experiment).status == Status.COMPLETED, 120, "the run", log)
    finally:
        _stop(*workers)
    _assert_every_cell_once(experiment, 400)
    shards = Shard.objects.unscoped().filter(experiment=experiment)
    assert shards.count() == 16
    # Both processes ran shards of it.
    pids = {label.split(":")[1] for label in shards.values_list("worker", flat=True)}
    assert pids == {str(w.pid) for w in workers}, log.read_text()
    assert len(server.outcomes) == 400  # no cell was asked twice


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_shard_has_its_shard_finished_by_another(
    acme, alice, demo_echo_server, tmp_path
):
    server = demo_echo_server(latency_ms=50)
    lab = make_lab(acme, alice, server.base_url, rows=_rows(200))
    experiment = lab.experiment(evaluators=[lab.evaluator()], concurrency=4)
    with team_scope(acme):
        experiment_start(team=acme, actor=alice, experiment=experiment)
    log = tmp_path / "workers.log"
    env = {
        "PROMPTYARD_EXPERIMENT_SHARD_CELLS": "40",
        "PROMPTYARD_EXPERIMENT_SHARD_LEASE_SECONDS": "2",
    }
    results = Result.objects.unscoped().filter(experiment=experiment)
    first = _worker(log, **env)
    try:
        _wait(lambda: results.count() >= 10, 60, "the first worker to store some cells", log)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        _stop(first)
    held = Shard.objects.unscoped().filter(experiment=experiment, state=ShardState.RUNNING)
    dead_shards = set(held.values_list("pk", flat=True))
    assert dead_shards, "the worker died holding a shard"
    assert results.count() < 200
    assert _run(experiment).status == Status.RUNNING

    second = _worker(log, **env)
    try:
        _wait(lambda: _run(experiment).status == Status.COMPLETED, 120, "the run", log)
    finally:
        _stop(second)
    _assert_every_cell_once(experiment, 200)
    # The dead worker's shards were claimed again, by the second worker, and finished.
    for shard in Shard.objects.unscoped().filter(pk__in=dead_shards):
        assert shard.claims == 2 and shard.state == ShardState.DONE
        assert shard.worker.split(":")[1] == str(second.pid)
    # Only the calls in flight at the kill were made twice.
    assert len(server.outcomes) <= 200 + 2 * 4


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_take_each_shard_once(acme, alice, demo_echo, settings):
    settings.PROMPTYARD_EXPERIMENT_SHARD_CELLS = 1
    lab = make_lab(acme, alice, demo_echo, rows=_rows(60))
    experiment = lab.experiment()
    with team_scope(acme):
        experiment_start(team=acme, actor=alice, experiment=experiment, enqueue=False)
    experiment = _claim(experiment.pk)
    claimed: dict[str, list[int]] = {}
    start = threading.Barrier(4)

    def claimer(name: str) -> None:
        mine = claimed.setdefault(name, [])
        try:
            with team_scope(acme):
                start.wait()
                while (shard := sharding.shard_claim(experiment, name)) is not None:
                    mine.append(shard.pk)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    every = [pk for mine in claimed.values() for pk in mine]
    assert len(every) == 60 == len(set(every))
    assert sum(1 for mine in claimed.values() if mine) >= 2  # they really raced
    with team_scope(acme):
        for name, mine in claimed.items():
            assert set(
                Shard.objects.filter(worker=name, state=ShardState.RUNNING).values_list(
                    "pk", flat=True
                )
            ) == set(mine)


@pytest.mark.django_db
def test_a_run_cut_into_shards_completes_on_one_worker(acme, alice, demo_echo, settings):
    settings.PROMPTYARD_EXPERIMENT_SHARD_CELLS = 5
    lab = make_lab(acme, alice, demo_echo, rows=_rows(12))
    experiment = lab.experiment(evaluators=[lab.evaluator()], repetitions=2, concurrency=3)
    with team_scope(acme):
        experiment_start(team=acme, actor=alice, experiment=experiment, enqueue=False)
    summary = execute(experiment.pk)
    assert (
        summary["status"] == "completed" and summary["shards"] == 4
    )  # 3 examples (6 cells) a shard
    _assert_every_cell_once(experiment, 24)


@pytest.mark.django_db
def test_an_expired_lease_is_claimed_again_and_a_live_one_is_not(acme, alice, demo_echo):
    lab = make_lab(acme, alice, demo_echo, rows=_rows(3))
    experiment = lab.experiment()
    with team_scope(acme):
        experiment_start(team=acme, actor=alice, experiment=experiment, enqueue=False)
    experiment = _claim(experiment.pk)
    with team_scope(acme):
        shard = sharding.shard_claim(experiment, "dead")
        assert shard is not None and sharding.shard_claim(experiment, "other") is None
        Shard.objects.filter(pk=shard.pk).update(lease_until=timezone.now() - timedelta(seconds=1))
        again = sharding.shard_claim(experiment, "other")
        assert again.pk == shard.pk and again.claims == 2
        assert sharding.shards_renew([shard.pk], "dead") == 0  # the dead worker lost it


@pytest.mark.django_db
def test_a_free_worker_joins_the_team_with_fewest_shards_running(
    acme, alice, globex, dave, demo_echo, settings
):
    settings.PROMPTYARD_EXPERIMENT_SHARD_CELLS = 1
    runs = []
    for team, actor in ((acme, alice), (globex, dave)):
        lab = make_lab(team, actor, demo_echo, rows=_rows(4))
        experiment = lab.experiment()
        with team_scope(team):
            experiment_start(team=team, actor=actor, experiment=experiment, enqueue=False)
        runs.append(_claim(experiment.pk))
    acme_run, globex_run = runs
    with team_scope(acme):
        sharding.shard_claim(acme_run, "busy-1")
        sharding.shard_claim(acme_run, "busy-2")
    with team_scope(globex):
        sharding.shard_claim(globex_run, "busy-3")
    assert [run for run, _ in scheduling.help_order()] == [globex_run.pk, acme_run.pk]
    # A run with a cost cap keeps its one worker; a cancelled one takes no helper.
    Experiment.objects.unscoped().filter(pk=globex_run.pk).update(cost_cap=1)
    Experiment.objects.unscoped().filter(pk=acme_run.pk).update(cancel_requested=True)
    assert scheduling.help_order() == []
