"""Prompt chains: a chain version's steps run in order, each fed earlier outputs; in an
experiment the evaluators score the final output and, asked to, every step."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.experiments import comparison
from apps.experiments.models import Result, Score
from apps.experiments.runner import execute
from apps.experiments.services import VariantSpec, experiment_create, experiment_start
from apps.prompts.services import prompt_create, tag_move, version_create
from tests.conftest import bearer


def _text(lab, name, template):
    prompt = prompt_create(team=lab.team, actor=lab.actor, name=name)
    return version_create(
        team=lab.team,
        actor=lab.actor,
        prompt=prompt,
        kind="text",
        template=template,
        model_settings={"provider_id": lab.provider.pk, "model": "demo-echo"},
        commit_message="first",
    )


STEPS = [
    {"name": "summarise", "prompt": "summarise", "version": 1, "inputs": {}},
    {
        "name": "answer",
        "prompt": "answer",
        "tag": "staging",
        "inputs": {"summary": "{{ steps.summarise.output }}"},
    },
]


@pytest.fixture
def chain(lab):
    """qa-chain v1: summarise (pinned v1) then answer (by tag), fed the summary."""
    with team_scope(lab.team):
        _text(lab, "summarise", "Summarise: {{ q }}")
        answer = _text(lab, "answer", "Answer from {{ summary }}")
        tag_move(
            team=lab.team,
            actor=lab.actor,
            prompt=answer.prompt,
            tag_name="staging",
            version=answer,
        )
        prompt = prompt_create(team=lab.team, actor=lab.actor, name="qa-chain")
        return version_create(
            team=lab.team,
            actor=lab.actor,
            prompt=prompt,
            kind="chain",
            steps=STEPS,
            commit_message="two steps",
        )


def test_it_saves_a_chain_with_its_input_variables(lab, chain):
    assert chain.kind == "chain" and chain.template == ""
    assert [s["name"] for s in chain.steps] == ["summarise", "answer"]
    # q feeds the first step; the second's only variable is mapped from step one.
    assert chain.variables == ["q"]


def test_it_runs_a_two_step_chain_in_an_experiment_with_step_and_final_scores(lab, chain):
    has_answer = lab.evaluator(name="has-answer", kind="contains", params={"values": ["Answer"]})
    with team_scope(lab.team):
        experiment = experiment_create(
            team=lab.team,
            actor=lab.actor,
            name="chain run",
            dataset=lab.dataset,
            variants=[VariantSpec(prompt_version=chain)],
            evaluators=[has_answer],
            score_steps=True,
        )
        experiment_start(team=lab.team, actor=lab.actor, experiment=experiment, enqueue=False)
    summary = execute(experiment.pk)
    assert summary["status"] == "completed" and summary["calls"] == 12  # 6 rows x 2 steps
    with team_scope(lab.team):
        result = Result.objects.filter(experiment=experiment).order_by("position").first()
        scores = {s.evaluator_name: s.passed for s in Score.objects.filter(result=result)}
        loaded = comparison.load(experiment)
        rows = comparison.summarize(loaded).rows
    first, second = result.steps
    assert first["name"] == "summarise" and first["output"] == "echo: Summarise: question 0"
    assert second["output"] == "echo: Answer from echo: Summarise: question 0"
    assert result.output == second["output"]
    assert result.input_tokens == first["input_tokens"] + second["input_tokens"]
    assert scores == {
        "has-answer": True,
        "has-answer · summarise": False,
        "has-answer · answer": True,
    }
    rates = {r.evaluator: r.rate for r in rows}
    assert rates == {"has-answer": 1.0, "has-answer · summarise": 0.0, "has-answer · answer": 1.0}


def test_it_scores_only_the_final_output_unless_asked(lab, chain):
    has_answer = lab.evaluator(name="has-answer", kind="contains", params={"values": ["Answer"]})
    experiment = lab.experiment(versions=[chain], evaluators=[has_answer])
    with team_scope(lab.team):
        experiment_start(team=lab.team, actor=lab.actor, experiment=experiment, enqueue=False)
    execute(experiment.pk)
    with team_scope(lab.team):
        names = set(
            Score.objects.filter(experiment=experiment).values_list("evaluator_name", flat=True)
        )
    assert names == {"has-answer"}


def test_it_reports_a_step_whose_tag_was_deleted_when_the_run_starts(lab, chain):
    from apps.prompts.models import Tag

    experiment = lab.experiment(versions=[chain])
    with team_scope(lab.team):
        Tag.objects.filter(name="staging").delete()
        experiment_start(team=lab.team, actor=lab.actor, experiment=experiment, enqueue=False)
    execute(experiment.pk)
    with team_scope(lab.team):
        errors = set(Result.objects.filter(experiment=experiment).values_list("error", flat=True))
    assert errors == {"Step 2: answer has no tag 'staging'."}


@pytest.mark.parametrize(
    "steps, message",
    [
        ([], "A chain needs at least one step."),
        ([{"name": "a", "prompt": "qa-chain", "version": 1}], "a chain cannot include itself"),
        ([{"name": "a", "prompt": "summarise"}], "give either a version number or a tag"),
        ([{"name": "a", "prompt": "nope", "version": 1}], "there is no prompt named 'nope'"),
        (
            [
                {
                    "name": "a",
                    "prompt": "summarise",
                    "version": 1,
                    "inputs": {"q": "{{ steps.b.output }}"},
                }
            ],
            "uses steps.b, which is not an earlier step",
        ),
        ([{"name": "a", "prompt": "other-chain", "version": 1}], "chains do not nest"),
        ([{"name": f"s{i}", "prompt": "summarise", "version": 1} for i in range(9)], "at most 8"),
    ],
)
def test_it_refuses_bad_chains_naming_the_step(lab, chain, steps, message):
    with team_scope(lab.team):
        other = prompt_create(team=lab.team, actor=lab.actor, name="other-chain")
        version_create(
            team=lab.team,
            actor=lab.actor,
            prompt=other,
            kind="chain",
            steps=[{"name": "x", "prompt": "summarise", "version": 1}],
            commit_message="c",
        )
        with pytest.raises(ValidationFailed, match=message) as caught:
            version_create(
                team=lab.team,
                actor=lab.actor,
                prompt=chain.prompt,
                kind="chain",
                steps=steps,
                commit_message="bad",
            )
    assert caught.value.field == "steps"


def test_it_serves_a_chain_with_its_steps(api_client, lab, chain, api_key_for):
    with team_scope(lab.team):
        tag_move(
            team=lab.team, actor=lab.actor, prompt=chain.prompt, tag_name="staging", version=chain
        )
    raw = api_key_for(lab.team, lab.actor, scopes=["prompts:read"])
    url = reverse("api:prompt-serve", kwargs={"prompt_name": "qa-chain"}) + "?tag=staging"
    body = api_client.get(url, **bearer(raw)).json()
    assert body["kind"] == "chain" and body["steps"] == STEPS
    assert body["variables"] == ["q"]


def test_it_shows_a_chains_steps_on_its_version_page(client, lab, chain):
    client.force_login(lab.actor)
    url = reverse(
        "prompts:version",
        kwargs={"team_slug": "acme", "prompt_name": "qa-chain", "version_number": 1},
    )
    body = client.get(url).content.decode()
    assert "Steps" in body and "summarise</strong>" in body and "at tag" in body
    assert "{{ steps.summarise.output }}" in body


def test_it_opens_a_chain_in_the_playground_to_run_it(client, lab, chain):
    client.force_login(lab.actor)
    url = reverse("playground:index", kwargs={"team_slug": "acme"}) + f"?version={chain.pk}"
    body = client.get(url).content.decode()
    assert 'id="chain-note"' in body and 'id="chain-form"' in body
    assert "summarise</strong>" in body and 'name="var-q"' in body


def _ran(lab, chain, **options):
    has_answer = lab.evaluator(name="has-answer", kind="contains", params={"values": ["Answer"]})
    experiment = lab.experiment(versions=[chain], evaluators=[has_answer], **options)
    with team_scope(lab.team):
        experiment_start(team=lab.team, actor=lab.actor, experiment=experiment, enqueue=False)
    execute(experiment.pk)
    return experiment


def test_it_shows_each_steps_output_and_scores_on_the_results_page(client, lab, chain):
    experiment = _ran(lab, chain, score_steps=True)
    client.force_login(lab.actor)
    body = client.get(
        reverse("experiments:detail", kwargs={"team_slug": "acme", "experiment_id": experiment.pk})
    ).content.decode()
    assert body.count('class="result-steps"') == 6  # a chain cell per row
    first = body[body.index('class="result-steps"') :]
    first = first[: first.index("</details>")]
    assert 'data-step="summarise"' in first and 'data-step="answer"' in first
    assert "echo: Summarise: question 0" in first
    assert "echo: Answer from echo: Summarise: question 0" in first
    assert " tok</small>" in first and " ms · " in first
    # Per-step scores under their step: summarise fails "Answer", answer passes.
    summarise = first[first.index('data-step="summarise"') : first.index('data-step="answer"')]
    assert "has-answer · summarise: " in summarise and "pill-danger" in summarise
    answer = first[first.index('data-step="answer"') :]
    assert "has-answer · answer" in answer and "has-answer · summarise" not in answer


def test_it_shows_chain_steps_on_the_compare_page_in_few_queries(
    client, lab, chain, django_assert_max_num_queries
):
    experiment = _ran(lab, chain, score_steps=True)
    client.force_login(lab.actor)
    url = reverse(
        "experiments:compare", kwargs={"team_slug": "acme", "experiment_id": experiment.pk}
    )
    client.get(url)  # warm caches (sessions, team)
    with django_assert_max_num_queries(30):
        body = client.get(url).content.decode()
    assert body.count('class="result-steps"') == 6
    assert "echo: Answer from echo: Summarise: question 0" in body
    assert "has-answer · answer" in body


def test_it_carries_the_steps_in_the_api_results(api_client, lab, chain, api_key_for):
    experiment = _ran(lab, chain)
    raw = api_key_for(lab.team, lab.actor, scopes=["experiments:read"])
    url = reverse("api:experiment-results", kwargs={"experiment_id": experiment.pk})
    body = api_client.get(url, **bearer(raw)).json()
    first = body["results"][0]
    assert [s["name"] for s in first["steps"]] == ["summarise", "answer"]
    assert first["steps"][1]["output"] == first["output"]
