"""Budgets inside a run: every cell and every judge call runs under a time limit, a template
over its operation budget and a ReDoS pattern are bounded; a cell over a limit is stored as
an error that says so, and the rest of the run completes."""

from __future__ import annotations

from apps.experiments.models import Result, Score, Status
from tests.experiments.conftest import make_lab
from tests.experiments.test_runner import _judge_version, run


def results(experiment):
    return {r.position: r for r in Result.objects.unscoped().filter(experiment=experiment)}


def test_it_times_out_a_slow_cell_and_completes_the_rest(acme, alice, demo_echo_server, settings):
    settings.PROMPTYARD_CELL_TIMEOUT_SECONDS = 1
    server = demo_echo_server(timeout_sleep=30)  # far past the cell's limit
    rows = [{"input": {"q": f"question {i}"}} for i in range(4)]
    lab = make_lab(acme, alice, server.base_url, rows=rows)
    server.script("ok", "timeout")  # the second call (one at a time: row 2) never answers
    experiment = lab.experiment(
        evaluators=[lab.evaluator(kind="length", params={"max_length": 100})], concurrency=1
    )
    summary = run(lab, experiment)
    assert summary["status"] == "completed" and experiment.status == Status.COMPLETED
    assert experiment.done_count == 4 and experiment.error_count == 1
    by_position = results(experiment)
    slow = [r for r in by_position.values() if r.error]
    assert len(slow) == 1
    assert slow[0].error_kind == "timeout"
    assert "timed out after 1 s" in slow[0].error
    finished = [r for r in by_position.values() if not r.error]
    assert sorted(r.output for r in finished) == sorted(
        f"echo: Q: {r.input['q']}" for r in finished
    )
    # The timed-out cell has no score; the three others are scored.
    assert Score.objects.unscoped().filter(experiment=experiment).count() == 3


def test_it_times_out_a_slow_judge_and_keeps_the_cell(acme, alice, demo_echo_server, settings):
    settings.PROMPTYARD_EVALUATOR_TIMEOUT_SECONDS = 1
    server = demo_echo_server(timeout_sleep=30)
    lab = make_lab(acme, alice, server.base_url, rows=[{"input": {"q": "only"}}])
    judge_prompt = _judge_version(lab, '{"passed": true, "reasoning": "{{ output }}"}')
    judge = lab.evaluator(
        name="judge", kind="llm_judge", params={"prompt": judge_prompt.name, "version": 1}
    )
    server.script("ok", "timeout")  # the model answers; its judge does not
    experiment = lab.experiment(evaluators=[judge], concurrency=1)
    run(lab, experiment)
    assert experiment.status == Status.COMPLETED and experiment.error_count == 0
    (result,) = results(experiment).values()
    assert result.output == "echo: Q: only"
    score = Score.objects.unscoped().get(experiment=experiment)
    assert score.label == "error" and "judge timed out after 1 s" in score.explanation


def test_it_stores_a_render_over_budget_as_an_error_and_goes_on(acme, alice, demo_echo):
    rows = [{"input": {"q": "fine", "n": 10}}, {"input": {"q": "hostile", "n": 1000}}]
    template = "{% for a in range(n) %}{% for b in range(n) %}{% endfor %}{% endfor %}Q: {{ q }}"
    lab = make_lab(acme, alice, demo_echo, rows=rows, template=template)
    experiment = lab.experiment(concurrency=1)
    run(lab, experiment)
    assert experiment.status == Status.COMPLETED and experiment.error_count == 1
    by_input = {r.input["q"]: r for r in results(experiment).values()}
    assert by_input["fine"].output == "echo: Q: fine"
    hostile = by_input["hostile"]
    assert hostile.error_kind == "render"
    assert "over budget" in hostile.error and "loop iterations" in hostile.error


def test_it_scores_a_redos_pattern_in_linear_time_during_a_run(acme, alice, demo_echo):
    rows = [{"input": {"q": "a" * 26 + "!"}}, {"input": {"q": "aaa"}}]
    lab = make_lab(acme, alice, demo_echo, rows=rows, template="{{ q }}")
    evaluator = lab.evaluator(name="redos", kind="regex", params={"pattern": "(a+)+$"})
    experiment = lab.experiment(evaluators=[evaluator], concurrency=1)
    run(lab, experiment)
    assert experiment.status == Status.COMPLETED and experiment.error_count == 0
    passed = {
        s.result.input["q"]: s.passed
        for s in Score.objects.unscoped().filter(experiment=experiment).select_related("result")
    }
    assert passed == {"a" * 26 + "!": False, "aaa": True}
