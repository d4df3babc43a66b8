"""A run interrupted by a transient database error is resumed by the worker, not failed."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django_tasks_db.models import DBTaskResult

from apps.core import worker as worker_module
from apps.core.tenancy import team_scope
from apps.core.worker import ResilientWorker
from apps.experiments.models import Experiment, Result, Status
from apps.experiments.runner import ExperimentRunner, execute
from apps.experiments.services import experiment_start
from tests.experiments.conftest import make_lab


def _worker() -> ResilientWorker:
    return ResilientWorker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="w",
        excluded_queue_names=[],
    )


@pytest.fixture
def locked_once(monkeypatch):
    """The second batch of results meets "database is locked" once."""
    monkeypatch.setattr(worker_module, "backoff", lambda attempt: 0.0)
    monkeypatch.setattr(worker_module, "_sleep", lambda seconds: None)
    real_store = ExperimentRunner._store
    calls = []

    def store(self, batch):
        calls.append(len(batch))
        if len(calls) == 2:
            raise OperationalError("database is locked")
        return real_store(self, batch)

    monkeypatch.setattr(ExperimentRunner, "_store", store)
    return calls


@pytest.mark.django_db(transaction=True)
def test_the_worker_resumes_a_run_a_database_error_interrupted(
    acme, alice, demo_echo_server, locked_once
):
    server = demo_echo_server(latency_ms=10)  # cells finish over several store windows
    rows = [{"input": {"q": f"q{i}"}, "expected": f"echo: Q: q{i}"} for i in range(60)]
    lab = make_lab(acme, alice, server.base_url, rows=rows)
    experiment = lab.experiment(evaluators=[lab.evaluator()], concurrency=2)
    with team_scope(acme):
        experiment_start(team=acme, actor=alice, experiment=experiment)
    _worker().run()
    experiment = Experiment.objects.unscoped().get(pk=experiment.pk)
    assert experiment.status == Status.COMPLETED, experiment.error
    cells = list(
        Result.objects.unscoped()
        .filter(experiment=experiment)
        .values_list("variant_id", "example_id", "repetition")
    )
    assert len(cells) == 60 == len(set(cells))
    ticket = DBTaskResult.objects.get(pk=experiment.task_id)
    assert ticket.status == "SUCCESSFUL" and len(ticket.worker_ids) == 2  # run twice
    # The helper tickets its claims enqueued (two shards) found nothing left to join.
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}


@pytest.mark.django_db(transaction=True)
def test_outside_the_worker_the_run_fails_and_can_be_resumed(
    acme, alice, demo_echo_server, locked_once
):
    rows = [{"input": {"q": f"q{i}"}, "expected": f"echo: Q: q{i}"} for i in range(20)]
    lab = make_lab(acme, alice, demo_echo_server(latency_ms=20).base_url, rows=rows)
    experiment = lab.experiment(concurrency=1)
    with team_scope(acme):
        experiment_start(team=acme, actor=alice, experiment=experiment, enqueue=False)
    with pytest.raises(OperationalError):
        execute(experiment.pk)
    assert Experiment.objects.unscoped().get(pk=experiment.pk).status == Status.FAILED
