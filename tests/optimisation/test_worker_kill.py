"""A real `manage.py db_worker` killed with SIGKILL mid-run, then resumed by another: the
run finishes and no stored evaluation or reflection is asked of the model again.

PostgreSQL only (the worker is a separate process reading the test database).
"""

from __future__ import annotations

import pytest
from django.db import connection

from apps.core.tenancy import team_scope
from apps.optimisation.models import Evaluation, OptimisationRun, Reflection, RunStatus
from apps.optimisation.services import optimisation_run_resume, optimisation_run_start
from tests.experiments.test_worker_kill import _wait, _worker
from tests.optimisation.conftest import make_demo_world

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (a worker in another process)"
)


@pytest.mark.django_db(transaction=True)
def test_it_resumes_after_a_killed_worker_without_repeating_stored_evaluations(
    acme, alice, bob, carol, erin, demo_echo_server, settings, tmp_path
):
    server = demo_echo_server(latency_ms=60)
    users = {"alice": alice, "bob": bob, "carol": carol, "erin": erin}
    world = make_demo_world(acme, users, server, settings)
    run = world.run(concurrency=2, max_rounds=3)
    evaluations = Evaluation.objects.unscoped().filter(run=run)
    reflections = Reflection.objects.unscoped().filter(run=run)
    log = tmp_path / "worker.log"

    with team_scope(acme):
        optimisation_run_start(team=acme, actor=alice, run=run)  # enqueued on commit
    first = _worker(log)
    try:
        _wait(lambda: evaluations.count() >= 10, 60, "the first worker to store evaluations")
        first.kill()  # SIGKILL
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    stored_at_kill = evaluations.count() + reflections.count()
    asked_at_kill = server.stats()["chat_requests"]
    assert OptimisationRun.objects.unscoped().get(pk=run.pk).status == RunStatus.RUNNING
    # Calls in flight at the kill were asked but never stored: those may be asked again.
    assert asked_at_kill - stored_at_kill <= run.concurrency

    settings.PROMPTYARD_OPTIMISATION_STALE_SECONDS = 0  # the dead worker's beat is stale
    with team_scope(acme):
        optimisation_run_resume(team=acme, actor=alice, run=run)
    second = _worker(log, "--batch")
    try:
        second.wait(120)
    finally:
        if second.poll() is None:
            second.kill()
    run = OptimisationRun.objects.unscoped().get(pk=run.pk)
    assert run.status == RunStatus.SUCCEEDED, log.read_text()[-3000:] + run.error
    stored = evaluations.count() + reflections.count()
    asked_after = server.stats()["chat_requests"] - asked_at_kill
    # Every call after the resume produced a row that was not stored before.
    assert asked_after == stored - stored_at_kill
    assert run.comparison["best"]["rate"] > run.comparison["start"]["rate"]
