"""The runner against demo-echo over real HTTP: cells, scores, resume, errors, cancel, cap."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from apps.core.tenancy import team_scope
from apps.experiments import runner as runner_module
from apps.experiments.models import Experiment, Result, Score, Status
from apps.experiments.runner import execute
from apps.experiments.services import experiment_cancel, experiment_start
from tests.experiments.conftest import make_lab


def start(lab, experiment):
    with team_scope(lab.team):
        experiment_start(team=lab.team, actor=lab.actor, experiment=experiment, enqueue=False)


def run(lab, experiment):
    start(lab, experiment)
    summary = execute(experiment.pk)
    experiment.refresh_from_db()
    return summary


def results(experiment):
    return Result.objects.unscoped().filter(experiment=experiment)


def test_it_runs_every_cell_once_and_scores_it(lab):
    evaluator = lab.evaluator()
    experiment = lab.experiment(evaluators=[evaluator], repetitions=2, concurrency=4)
    assert experiment.total_cells == 12
    summary = run(lab, experiment)
    assert summary["status"] == "completed"
    assert experiment.status == Status.COMPLETED
    assert experiment.done_count == 12 and experiment.error_count == 0
    assert experiment.finished_at and experiment.started_at
    rows = list(results(experiment))
    assert len({(r.variant_id, r.example_id, r.repetition) for r in rows}) == 12
    first = min(rows, key=lambda r: (r.position, r.repetition))
    assert first.output == "echo: Q: question 0"
    assert first.input == {"q": "question 0"} and first.expected == "echo: Q: question 0"
    assert first.input_tokens > 0 and first.latency_ms is not None and first.cost > 0
    scores = Score.objects.unscoped().filter(experiment=experiment)
    assert scores.count() == 12
    assert all(s.passed and s.source == "code" and s.evaluator_version == 1 for s in scores)
    assert experiment.cost_total == sum(r.cost for r in rows)


def test_it_resumes_without_repeating_stored_cells(lab):
    experiment = lab.experiment(evaluators=[lab.evaluator()])
    start(lab, experiment)
    # A worker died after storing two cells.
    with team_scope(lab.team):
        variant = experiment.variants.get()
        done = list(lab.dataset.example_rows.order_by("position")[:2])
        for example in done:
            Result.objects.create(
                experiment=experiment,
                variant=variant,
                example_id=example.example_id,
                position=example.position,
                repetition=0,
                input=example.input,
                output="stored before the kill",
            )
    summary = execute(experiment.pk)
    assert summary["calls"] == 4
    assert results(experiment).count() == 6
    assert results(experiment).filter(output="stored before the kill").count() == 2
    # Running the task again is harmless: nothing is left to do.
    with team_scope(lab.team):
        Experiment.objects.filter(pk=experiment.pk).update(status=Status.QUEUED)
    assert execute(experiment.pk)["calls"] == 0
    assert results(experiment).count() == 6


def test_it_records_failing_rows_as_errors_and_finishes(acme, alice, demo_echo_server):
    server = demo_echo_server()
    rows = [{"input": {"q": "fine"}}, {"input": {"other": 1}}, {"input": {"q": "later"}}]
    lab = make_lab(acme, alice, server.base_url, rows=rows)
    server.script("500")  # the first call fails with a server error (no retries configured)
    experiment = lab.experiment(
        evaluators=[lab.evaluator(kind="length", params={"max_length": 100})], concurrency=1
    )
    run(lab, experiment)
    assert experiment.status == Status.COMPLETED
    assert experiment.done_count == 3 and experiment.error_count == 2
    by_input = {str(r.input): r for r in results(experiment)}
    render_failure = by_input[str({"other": 1})]
    assert render_failure.error_kind == "render" and "Missing variable 'q'" in render_failure.error
    server_failure = by_input[str({"q": "fine"})]
    assert server_failure.error_kind == "server" and server_failure.output == ""
    assert by_input[str({"q": "later"})].output == "echo: Q: later"
    # Errors are not scored; the good row is.
    assert Score.objects.unscoped().filter(experiment=experiment).count() == 1


def test_it_stops_at_the_cost_cap_and_says_so(lab):
    # $0.001 a token. Each call reserves its worst case before it starts: the prompt's
    # byte bound (13 bytes + 16 of framing) plus max_tokens 10 = $0.039, and costs about
    # $0.009. A $0.06 cap admits three calls in a row; the fourth would risk crossing it.
    bounded = lab.version_with("Q: {{ q }}", max_tokens=10)
    experiment = lab.experiment(versions=[bounded], concurrency=1, cost_cap="0.06")
    summary = run(lab, experiment)
    assert summary["status"] == "capped"
    assert experiment.status == Status.CAPPED
    assert 1 <= experiment.done_count < experiment.total_cells
    assert experiment.cost_total <= Decimal("0.06")
    assert "cost cap" in experiment.status_detail and "$0.0600" in experiment.status_detail
    # Raising the cap and resuming finishes the run.
    from apps.experiments.services import experiment_resume

    with team_scope(lab.team):
        experiment_resume(
            team=lab.team, actor=lab.actor, experiment=experiment, cost_cap="10", enqueue=False
        )
    execute(experiment.pk)
    experiment.refresh_from_db()
    assert experiment.status == Status.COMPLETED and experiment.done_count == 6


def test_it_never_crosses_the_cost_cap_under_concurrency(acme, alice, demo_echo):
    """32 lanes at once: what is spent, judges included, stays within the cap exactly."""
    rows = [
        {"input": {"q": f"question {i}"}, "expected": f"echo: Q: question {i}"} for i in range(80)
    ]
    lab = make_lab(acme, alice, demo_echo, rows=rows)
    bounded = lab.version_with("Q: {{ q }}", max_tokens=8)
    experiment = lab.experiment(versions=[bounded], concurrency=32, cost_cap="0.5")
    summary = run(lab, experiment)
    assert summary["status"] == "capped"
    spent = sum(r.cost or 0 for r in results(experiment))
    assert 0 < spent <= Decimal("0.5")
    assert experiment.cost_total == spent
    assert experiment.done_count < experiment.total_cells


def test_a_capped_run_without_max_tokens_bounds_each_answer(lab):
    experiment = lab.experiment(concurrency=2, cost_cap="100")
    run(lab, experiment)
    assert experiment.status == Status.COMPLETED
    assert experiment.cost_total <= Decimal("100")


def test_it_cancels_a_queued_run_without_a_worker(lab):
    experiment = lab.experiment()
    start(lab, experiment)
    with team_scope(lab.team):
        experiment_cancel(team=lab.team, actor=lab.actor, experiment=experiment)
    experiment.refresh_from_db()
    assert experiment.status == Status.CANCELLED
    assert execute(experiment.pk)["status"] == "skipped"
    assert results(experiment).count() == 0


def test_it_cancels_a_running_experiment_cleanly(acme, alice, demo_echo_server, monkeypatch):
    server = demo_echo_server(latency_ms=50)
    rows = [{"input": {"q": f"q{i}"}} for i in range(40)]
    lab = make_lab(acme, alice, server.base_url, rows=rows)
    experiment = lab.experiment(concurrency=2)
    monkeypatch.setattr(runner_module, "PROGRESS_EVERY", 0.05)
    store = runner_module.ExperimentRunner._store

    def store_then_cancel(self, batch):
        store(self, batch)
        if self.experiment.status != Status.CANCELLED:
            with team_scope(lab.team):
                experiment_cancel(team=lab.team, actor=lab.actor, experiment=self.experiment)

    monkeypatch.setattr(runner_module.ExperimentRunner, "_store", store_then_cancel)
    summary = run(lab, experiment)
    assert summary["status"] == "cancelled"
    assert experiment.status == Status.CANCELLED
    assert "Cancelled (by alice@acme.test)" in experiment.status_detail
    assert 1 <= results(experiment).count() < 40
    assert experiment.done_count == results(experiment).count()


def test_it_slows_down_on_rate_limits_and_completes_every_row(acme, alice, demo_echo_server):
    server = demo_echo_server(rate_429=0.3, retry_after=0.05, seed=7)
    rows = [{"input": {"q": f"q{i}"}} for i in range(30)]
    lab = make_lab(acme, alice, server.base_url, rows=rows)
    experiment = lab.experiment(concurrency=8)
    summary = run(lab, experiment)
    assert experiment.status == Status.COMPLETED
    assert experiment.done_count == 30 and experiment.error_count == 0
    assert summary["rate_limited"] > 0 and "429" in "".join(server.outcomes)
    assert "concurrency went down" in experiment.status_detail


def _judge_version(lab, template, **settings):
    from apps.prompts.services import prompt_create, version_create

    with team_scope(lab.team):
        prompt = prompt_create(team=lab.team, actor=lab.actor, name=f"judge-{uuid.uuid4().hex[:6]}")
        version_create(
            team=lab.team,
            actor=lab.actor,
            prompt=prompt,
            kind="text",
            template=template,
            model_settings={"provider_id": lab.provider.pk, "model": "demo-echo", **settings},
            commit_message="judge",
        )
    return prompt


def test_it_scores_with_an_llm_judge(lab):
    # demo-echo repeats the prompt, so this judge "answers" with the JSON in its template.
    prompt = _judge_version(
        lab, '{"passed": true, "reasoning": "It answered {{ input.q }} as {{ output }}"}'
    )
    judge = lab.evaluator(
        name="judge", kind="llm_judge", params={"prompt": prompt.name, "version": 1}
    )
    experiment = lab.experiment(evaluators=[judge])
    run(lab, experiment)
    scores = list(Score.objects.unscoped().filter(experiment=experiment))
    assert len(scores) == 6
    assert all(s.passed is True and s.source == "llm" for s in scores)
    assert any("It answered question 0 as echo: Q: question 0" == s.explanation for s in scores)


@pytest.mark.parametrize(
    "template, judge_settings, message",
    [
        ("Judge this: {{ output }}", {}, "not JSON"),
        ("Judge {{ output }}", {"response_format": {"type": "json_object"}}, "no 'passed' field"),
    ],
)
def test_it_turns_malformed_judge_output_into_error_scores(lab, template, judge_settings, message):
    prompt = _judge_version(lab, template, **judge_settings)
    judge = lab.evaluator(
        name="judge", kind="llm_judge", params={"prompt": prompt.name, "version": 1}
    )
    experiment = lab.experiment(evaluators=[judge])
    run(lab, experiment)
    assert experiment.status == Status.COMPLETED and experiment.error_count == 0
    scores = list(Score.objects.unscoped().filter(experiment=experiment))
    assert len(scores) == 6
    assert all(s.label == "error" and s.passed is None and s.value is None for s in scores)
    assert message in scores[0].explanation


def test_it_skips_a_duplicate_task_while_another_worker_runs_the_experiment(lab):
    from django.utils import timezone

    experiment = lab.experiment()
    start(lab, experiment)
    with team_scope(lab.team):
        Experiment.objects.filter(pk=experiment.pk).update(
            status=Status.RUNNING, heartbeat_at=timezone.now()
        )
    assert execute(experiment.pk)["status"] == "skipped"
    assert results(experiment).count() == 0


def test_it_keeps_cells_another_worker_stored_meanwhile(lab, monkeypatch):
    # Another worker stores two cells after this one planned them: the batch holding them
    # is stored again skipping those, and every result still gets exactly one score.
    experiment = lab.experiment(evaluators=[lab.evaluator()], concurrency=2)
    start(lab, experiment)
    cells_for = runner_module.ExperimentRunner.cells_for

    def plan_then_race(self, shard):
        cells = cells_for(self, shard)
        for cell in cells[:2]:
            Result.objects.create(
                team=lab.team,
                experiment=experiment,
                variant_id=cell.variant_id,
                example_id=cell.example_id,
                position=cell.position,
                repetition=cell.repetition,
                input=cell.input,
                output="stored by another worker",
            )
        return cells

    monkeypatch.setattr(runner_module.ExperimentRunner, "cells_for", plan_then_race)
    assert execute(experiment.pk)["status"] == "completed"
    assert results(experiment).count() == 6
    assert results(experiment).filter(output="stored by another worker").count() == 2
    scores = Score.objects.unscoped().filter(experiment=experiment)
    assert sorted(scores.values_list("result_id", flat=True)) == sorted(
        results(experiment).values_list("pk", flat=True)
    )
