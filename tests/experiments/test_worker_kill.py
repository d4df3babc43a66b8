"""A real `manage.py db_worker` killed with SIGKILL mid-run, then another: one result per cell.

PostgreSQL only (the worker is a separate process reading the test database).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from apps.core.tenancy import team_scope
from apps.experiments.models import Experiment, Result, Score, Status
from apps.experiments.services import experiment_resume, experiment_start
from tests.experiments.conftest import make_lab

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (a worker in another process)"
)


def _database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] or ""
    if s.get("PASSWORD"):
        auth += f":{s['PASSWORD']}"
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _worker(log: Path, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DEBUG": "1",
        "PROMPTYARD_PROVIDER_URL_ALLOWLIST": "127.0.0.0/8",  # demo-echo on loopback
    }
    env.pop("PROMPTYARD_TASKS_BACKEND", None)
    return subprocess.Popen(
        [
            sys.executable,
            "manage.py",
            "db_worker",
            "--no-reload",
            "--no-startup-delay",
            "--interval",
            "0.1",
            *extra,
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_it_keeps_one_result_per_cell_when_a_worker_is_killed_and_another_resumes(
    acme, alice, demo_echo_server, settings, tmp_path
):
    server = demo_echo_server(latency_ms=100)
    rows = [{"input": {"q": f"q{i}"}, "expected": f"echo: Q: q{i}"} for i in range(80)]
    lab = make_lab(acme, alice, server.base_url, rows=rows)
    evaluator = lab.evaluator()
    experiment = lab.experiment(evaluators=[evaluator], concurrency=4)
    log = tmp_path / "worker.log"
    results = Result.objects.unscoped().filter(experiment=experiment)

    with team_scope(acme):
        experiment_start(team=acme, actor=alice, experiment=experiment)  # enqueued on commit
    first = _worker(log)
    try:
        _wait(lambda: results.count() >= 12, 60, "the first worker to store some results")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    stored_at_kill = results.count()
    experiment.refresh_from_db()
    assert experiment.status == Status.RUNNING, log.read_text()
    assert 12 <= stored_at_kill < 80

    # The dead worker's heartbeat is stale at once with this setting: resume is allowed.
    settings.PROMPTYARD_EXPERIMENT_STALE_SECONDS = 0
    with team_scope(acme):
        experiment_resume(team=acme, actor=alice, experiment=experiment)
    second = _worker(log, "--batch")
    try:
        second.wait(90)
    finally:
        if second.poll() is None:
            second.kill()
    experiment = Experiment.objects.unscoped().get(pk=experiment.pk)
    assert experiment.status == Status.COMPLETED, log.read_text()
    cells = list(results.values_list("variant_id", "example_id", "repetition"))
    assert len(cells) == 80 == len(set(cells))
    assert experiment.done_count == 80
    scores = Score.objects.unscoped().filter(experiment=experiment)
    assert scores.count() == 80 == scores.values("result_id").distinct().count()
    # Nothing stored was asked again: at most the calls in flight at the kill were repeated.
    assert len(server.outcomes) <= 80 + 2 * experiment.concurrency
