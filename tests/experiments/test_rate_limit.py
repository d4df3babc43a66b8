"""Adaptive concurrency against a real rate limit: demo-echo's token bucket answers 429
with Retry-After; the runner finds the limit instead of collapsing to one call."""

from __future__ import annotations

import pytest

from apps.core.tenancy import team_scope
from apps.experiments.models import Result, Status
from apps.experiments.runner import execute
from apps.experiments.services import experiment_start
from tests.experiments.conftest import make_lab


@pytest.mark.django_db(transaction=True)
def test_it_finds_a_rate_limit_without_collapsing_and_completes_every_row(
    acme, alice, demo_echo_server
):
    # 200 requests/s with 50 ms answers: about 10 calls in flight is the most it takes.
    server = demo_echo_server(latency_ms=50, limit_rps=200, limit_burst=20)
    rows = [{"input": {"q": f"q{i}"}, "expected": f"echo: Q: q{i}"} for i in range(600)]
    lab = make_lab(acme, alice, server.base_url, rows=rows)
    experiment = lab.experiment(concurrency=32)
    with team_scope(acme):
        experiment_start(team=acme, actor=alice, experiment=experiment, enqueue=False)
    summary = execute(experiment.pk)
    experiment.refresh_from_db()
    limited = server.outcomes.count("limited")
    assert experiment.status == Status.COMPLETED
    assert experiment.done_count == 600 and experiment.error_count == 0
    assert Result.objects.unscoped().filter(experiment=experiment).count() == 600
    assert limited > 0 and summary["rate_limited"] == limited  # the limit was met
    assert limited / len(server.outcomes) < 0.15  # and 429s stay a small share
    assert summary["lowest_concurrency"] >= 4  # the limit was found, not collapsed to one
