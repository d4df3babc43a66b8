"""Experiments over your own code (promptyard.run_experiment) against the live server: a
local task scored by a Python and a server-side evaluator lands on the comparison page and
counts as promotion evidence; an interrupted run resumed stores no duplicates; retryable
failures are retried; each call is a span at /v1/traces."""

from __future__ import annotations

import asyncio
import threading

import promptyard
import pytest
from promptyard import Retryable, Variant, run_experiment, tracing
from promptyard.experiment_run import ExperimentError, source_hash

from apps.core.tenancy import team_scope
from apps.experiments import gate
from apps.experiments.models import Experiment, Result, Score, Status
from apps.experiments.runner import score_code_run
from apps.experiments.selectors import policy_for
from apps.experiments.services import policy_set, promotion_evidence_add
from apps.prompts import services as prompt_services
from apps.prompts.models import PromotionStatus
from apps.traces.models import Span
from tests.experiments.conftest import make_lab

pytestmark = pytest.mark.django_db(transaction=True)

ROWS = [{"input": {"q": f"question {i}"}, "expected": f"echo: Q: question {i}"} for i in range(8)]


def exact(output, expected):
    return output == expected


@pytest.fixture
def lab(acme, alice, demo_echo):
    return make_lab(acme, alice, demo_echo, rows=ROWS)


@pytest.fixture
def key(acme, alice, api_key_for):
    return api_key_for(acme, alice, scopes=["experiments:write", "traces:write"], name="ci")


def answer(example):
    return f"echo: Q: {example['q']}"


def test_it_records_a_local_task_scored_in_python_and_on_the_server_as_promotion_evidence(
    live_server, lab, key, acme, alice, bob, client
):
    server_exact = lab.evaluator(name="server-exact")
    candidate = lab.version_with("Q: {{ q }}", temperature=0.3)  # v2
    with team_scope(acme):
        first = prompt_services.promotion_request_create(
            team=acme, actor=bob, prompt=lab.prompt, tag_name="production", candidate=lab.version
        )
        prompt_services.promotion_approve(team=acme, actor=alice, promotion=first)
        policy_set(
            team=acme,
            actor=alice,
            prompt=lab.prompt,
            tag_name="production",
            dataset=lab.dataset,
            evaluators=[server_exact.pk],
            tolerance=0.0,
            rule="no_detectable_regression",
        )
    seen = []

    def pipeline(example, variant):
        seen.append((variant.label, variant.version))
        return answer(example)

    tracing.configure_tracing(api_key=key, base_url=live_server.url, schedule_delay_millis=50)
    try:
        run = run_experiment(
            dataset="questions",
            task=pipeline,
            evaluators=[exact, "server-exact"],
            name="rag pipeline",
            concurrency=4,
            variants=[
                Variant(label="production", prompt="qa", version=1, is_baseline=True),
                Variant(label="candidate", prompt="qa", version=2),
            ],
            api_key=key,
            base_url=live_server.url,
        )
    finally:
        tracing.shutdown_tracing()
    assert (run.created, run.ran, run.stored, run.errors, run.duplicates) == (True, 16, 16, 0, 0)
    assert sorted(set(seen)) == [("candidate", 2), ("production", 1)]
    # The server's evaluator runs on the worker: running until then.
    assert run.status == "running"
    assert score_code_run(run.experiment_id)["scores"] == 16

    with team_scope(acme):
        experiment = Experiment.objects.get(pk=run.experiment_id)
        assert (experiment.kind, experiment.status, experiment.done_count) == (
            "code",
            "completed",
            16,
        )
        names = sorted(
            Score.objects.filter(experiment=experiment)
            .values_list("evaluator_name", "source")
            .order_by()
            .distinct()
        )
        assert names == [("exact", "sdk"), ("server-exact", "code")]
        assert Score.objects.filter(experiment=experiment, passed=True).count() == 32
        link = experiment.evaluator_links.get(name="exact")
        assert (link.kind, link.params["source_hash"]) == ("sdk", source_hash(exact))
        # Every call is a span of its own at /v1/traces, named for the experiment.
        spans = Span.objects.filter(name="experiment rag pipeline")
        assert spans.count() == 16
        assert spans.first().attributes["promptyard.experiment.id"] == experiment.pk

    # The comparison page and its API read it like any experiment.
    client.force_login(alice)
    page = client.get(f"/t/{acme.slug}/experiments/{experiment.pk}/compare/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "exact" in body and "server-exact" in body and "candidate" in body
    detail = client.get(f"/t/{acme.slug}/experiments/{experiment.pk}/")
    assert 'id="experiment-kind"' in detail.content.decode()

    # Promotion evidence: the candidate (v2) is not worse than production (v1).
    with team_scope(acme):
        promotion = prompt_services.promotion_request_create(
            team=acme, actor=bob, prompt=lab.prompt, tag_name="production", candidate=candidate
        )
        promotion = promotion_evidence_add(
            team=acme, actor=bob, promotion=promotion, experiment=experiment
        )
        (item,) = gate.evidence_of(promotion, policy_for(lab.prompt, "production"))
        assert item.satisfies, item.problems
        assert {r.evaluator for r in item.rows} == {"exact", "server-exact"}
        approved = prompt_services.promotion_approve(team=acme, actor=alice, promotion=promotion)
        assert approved.status == PromotionStatus.APPROVED


class Interrupted(BaseException):
    """Like Ctrl-C in the middle of a run."""


def test_an_interrupted_run_resumed_by_name_stores_no_duplicates(live_server, lab, key, acme):
    calls = []
    lock = threading.Lock()

    def flaky(example):
        with lock:
            calls.append(example.id)
            if len(calls) == 10:
                raise Interrupted
        return answer(example)

    options = dict(
        dataset="questions",
        evaluators=[exact],
        name="resumable",
        repetitions=2,
        concurrency=1,
        batch_size=3,
        api_key=key,
        base_url=live_server.url,
    )
    with pytest.raises(Interrupted):
        run_experiment(task=flaky, **options)
    with team_scope(acme):
        experiment = Experiment.objects.get(name="resumable")
        stored_first = Result.objects.filter(experiment=experiment).count()
    assert 0 < stored_first < 16
    assert experiment.status == Status.RUNNING  # never finished

    again = run_experiment(task=answer, **options)
    assert (again.created, again.experiment_id) == (False, experiment.pk)
    assert again.skipped == stored_first
    assert again.ran == 16 - stored_first
    assert again.duplicates == 0
    with team_scope(acme):
        results = Result.objects.filter(experiment=experiment)
        assert results.count() == 16
        assert len({(r.example_id, r.repetition) for r in results}) == 16
        assert Score.objects.filter(experiment=experiment).count() == 16
        experiment.refresh_from_db()
        assert experiment.status == Status.COMPLETED

    # A third run with the same name has nothing left to do.
    third = run_experiment(task=answer, **options)
    assert (third.ran, third.skipped) == (0, 16)


def test_the_server_refuses_a_cell_recorded_twice(live_server, lab, key, acme):
    run = run_experiment(
        dataset="questions",
        task=answer,
        name="twice",
        finish=False,
        api_key=key,
        base_url=live_server.url,
    )
    from promptyard.experiment_run import _Api

    api = _Api(key, live_server.url)
    with team_scope(acme):
        result = Result.objects.filter(experiment_id=run.experiment_id).first()
    again = api.call(
        "POST",
        f"experiments/{run.experiment_id}/records/",
        json={
            "rows": [{"variant": "answer", "example_id": str(result.example_id), "output": "other"}]
        },
    )
    assert (again["stored"], again["duplicates"]) == (0, 1)
    with pytest.raises(ExperimentError, match="rows"):
        api.call(
            "POST",
            f"experiments/{run.experiment_id}/records/",
            json={"rows": [{"variant": "nope", "example_id": str(result.example_id)}]},
        )
    api.close()
    with team_scope(acme):
        assert Result.objects.filter(experiment_id=run.experiment_id).count() == 8
        assert Result.objects.get(pk=result.pk).output == result.output


def test_it_retries_retryable_failures_and_runs_async_tasks(live_server, lab, key, acme):
    attempts: dict[str, int] = {}

    async def shaky(example):
        attempts[example.id] = attempts.get(example.id, 0) + 1
        if attempts[example.id] == 1:
            raise Retryable("rate limited")
        if example["q"] == "question 3":
            raise ValueError("not retryable")
        await asyncio.sleep(0.001)
        return answer(example)

    run = run_experiment(
        dataset="questions",
        task=shaky,
        evaluators=[exact],
        name="retries",
        concurrency=8,
        api_key=key,
        base_url=live_server.url,
    )
    assert (run.ran, run.retries, run.errors, run.status) == (8, 8, 1, "completed")
    with team_scope(acme):
        failed = Result.objects.get(experiment_id=run.experiment_id, error__gt="")
        assert failed.error == "ValueError: not retryable"
        assert failed.input == {"q": "question 3"}  # the server's row, not the client's


def test_it_refuses_an_unknown_dataset_with_the_field(live_server, lab, key):
    with pytest.raises(ExperimentError, match="dataset_name"):
        run_experiment(dataset="nope", task=answer, api_key=key, base_url=live_server.url)


def test_the_package_exports_it():
    assert promptyard.run_experiment is run_experiment
