"""Evaluating a chain from the playground's chain panel: the chain (this version or the one
at a tag) over a dataset or a seeded sample, evaluators on its final output and on each
step, as an ordinary experiment; and filling the chain's inputs from a dataset row."""

import pytest
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.experiments.models import Experiment, Score
from apps.experiments.runner import execute

pytestmark = pytest.mark.django_db


def _url(name, **kwargs):
    return reverse(f"playground:{name}", kwargs={"team_slug": "acme", **kwargs})


@pytest.fixture
def questions(acme, alice, chain):
    """Dataset `questions` (3 rows of `q`) and a `contains` evaluator looking for "Answer":
    the chain's final output has it, its first step's output does not."""
    from apps.datasets.services import dataset_create, examples_bulk_create
    from apps.experiments.services import evaluator_create

    with team_scope(acme):
        dataset = dataset_create(team=acme, actor=alice, name="questions")
        examples_bulk_create(
            team=acme,
            actor=alice,
            dataset=dataset,
            rows=[{"input": {"q": q}} for q in ["why <i>blue</i>?", "how far?", "who?"]],
        )
        dataset.refresh_from_db()
        evaluator = evaluator_create(
            team=acme,
            actor=alice,
            name="says-answer",
            kind="contains",
            params={"values": ["Answer"]},
        )
    return dataset, evaluator


def _evaluate(client, chain, questions, *, htmx=True, **extra):
    dataset, evaluator = questions
    data = {
        "version_id": chain.pk,
        "eval_dataset": dataset.pk,
        "eval_evaluators": [evaluator.pk],
        "eval_score_steps": "1",
        **extra,
    }
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(_url("chain_evaluate"), data, **headers)


def test_it_evaluates_a_chain_with_scores_per_row_and_per_step(
    client, acme, alice, chain, questions
):
    client.force_login(alice)
    response = _evaluate(client, chain, questions)
    assert response.status_code == 200, response.content
    with team_scope(acme):
        experiment = Experiment.objects.get()
        variant = experiment.variants.get()
        assert variant.prompt_version_id == chain.pk and variant.label == "chain · v1"
        assert experiment.score_steps and experiment.total_cells == 3
        assert experiment.status == "queued"
    started = response.content.decode()
    assert f'data-evaluation-id="{experiment.pk}"' in started
    assert 'hx-trigger="load delay:1s"' in started  # it polls while the run goes

    execute(experiment.pk)
    with team_scope(acme):
        names = set(
            Score.objects.filter(experiment=experiment).values_list("evaluator_name", flat=True)
        )
    assert names == {"says-answer", "says-answer · summarise", "says-answer · answer"}

    body = client.get(
        _url("evaluation", experiment_id=experiment.pk), HTTP_HX_REQUEST="true"
    ).content.decode()
    # Per variant: the final output and the answer step always pass, the first step never.
    assert body.count("100 % pass") == 2 and "0 % pass" in body and "(0/3)" in body
    assert 'data-score="says-answer · summarise"' in body
    # Per row: each step's output with its own score, escaped; the final one scored too.
    assert body.count('data-step="summarise"') == 3 and body.count('data-step="answer"') == 3
    assert "echo: Summarise: why &lt;i&gt;blue&lt;/i&gt;?" in body and "<i>blue" not in body
    # A step's score shows under its step only, not with the final output's.
    assert body.count("says-answer · summarise: fail") == 3
    assert body.count("says-answer · answer: pass") == 3
    assert body.count("says-answer: pass") == 3
    detail = reverse(
        "experiments:detail", kwargs={"team_slug": "acme", "experiment_id": experiment.pk}
    )
    assert f'href="{detail}"' in body
    # The run is evidence for the chain version itself: its promotion request cites it.
    promote = reverse(
        "prompts:promotion_create",
        kwargs={"team_slug": "acme", "prompt_name": "qa-chain", "version_number": 1},
    )
    assert f'href="{promote}?evidence={experiment.pk}"' in body
    assert "hx-get" not in body  # finished: no more polling


def test_it_evaluates_the_final_output_only_unless_steps_are_asked_for(
    client, acme, alice, chain, questions
):
    client.force_login(alice)
    _evaluate(client, chain, questions, eval_score_steps="")
    with team_scope(acme):
        experiment = Experiment.objects.get()
    assert not experiment.score_steps
    execute(experiment.pk)
    with team_scope(acme):
        names = set(
            Score.objects.filter(experiment=experiment).values_list("evaluator_name", flat=True)
        )
    assert names == {"says-answer"}


def test_it_evaluates_the_version_at_a_chain_tag(client, acme, alice, chain, questions):
    from apps.prompts.services import version_create

    with team_scope(acme):
        newer = version_create(
            team=acme,
            actor=alice,
            prompt=chain.prompt,
            kind="chain",
            steps=[{"name": "summarise", "prompt": "summarise", "version": 1}],
            commit_message="one step",
        )
    client.force_login(alice)
    body = client.get(_url("index") + f"?version={newer.pk}").content.decode()
    assert 'id="chain-evaluate-form"' in body and 'value="tag:staging"' in body
    _evaluate(client, newer, questions, ref="tag:staging")
    with team_scope(acme):
        variant = Experiment.objects.get().variants.get()
    assert variant.prompt_version_id == chain.pk and variant.label == "staging · v1"


def test_it_evaluates_a_seeded_sample(client, acme, alice, chain, questions):
    client.force_login(alice)
    _evaluate(client, chain, questions, eval_sample="2", eval_seed="7")
    with team_scope(acme):
        experiment = Experiment.objects.get()
    assert experiment.total_cells == 2 and len(experiment.sample) == 2
    assert "sample of 2, seed 7" in experiment.name


def test_it_opens_the_evaluation_page_without_javascript(client, acme, alice, chain, questions):
    client.force_login(alice)
    response = _evaluate(client, chain, questions, htmx=False)
    with team_scope(acme):
        experiment = Experiment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _url("evaluation", experiment_id=experiment.pk)
    page = client.get(response["Location"]).content.decode()
    assert f'data-evaluation-id="{experiment.pk}"' in page
    assert f'href="{_url("index")}?version={chain.pk}"' in page  # back to the chain


def test_it_names_the_field_a_chain_evaluation_lacks(client, acme, alice, chain, questions):
    client.force_login(alice)
    response = _evaluate(client, chain, questions, eval_evaluators=[])
    body = response.content.decode()
    assert response.status_code == 200  # htmx swaps the error in place
    assert 'data-field-name="eval_evaluators"' in body and "Attach at least one evaluator" in body
    # Without JavaScript: the page again, with the error and a 400.
    response = _evaluate(client, chain, questions, htmx=False, eval_dataset="")
    body = response.content.decode()
    assert response.status_code == 400
    assert 'data-field-name="eval_dataset"' in body and 'id="chain-evaluate-form"' in body
    response = _evaluate(client, chain, questions, ref="tag:nope")
    assert "has no tag" in response.content.decode()
    with team_scope(acme):
        assert not Experiment.objects.exists()


def test_it_refuses_chain_evaluations_to_viewers_and_other_teams(
    client, acme, carol, dave, greeting, chain, questions
):
    client.force_login(carol)
    assert _evaluate(client, chain, questions).status_code == 403
    body = client.get(_url("index") + f"?version={chain.pk}").content.decode()
    assert 'id="chain-evaluate-form"' not in body
    client.force_login(dave)
    assert _evaluate(client, chain, questions).status_code == 404
    with team_scope(acme):
        assert not Experiment.objects.exists()


def test_it_refuses_to_evaluate_a_text_version_as_a_chain(
    client, alice, greeting, chain, questions
):
    client.force_login(alice)
    assert _evaluate(client, greeting, questions).status_code == 404


def test_it_fills_a_chains_inputs_from_a_dataset_row(client, acme, alice, chain, questions):
    from apps.datasets.selectors import examples_at_revision

    dataset, _ = questions
    with team_scope(acme):
        first = examples_at_revision(dataset).order_by("position").first()
    client.force_login(alice)
    body = client.get(_url("index") + f"?version={chain.pk}").content.decode()
    assert 'name="fill_dataset"' in body
    # Choosing the dataset lists its rows; the typed inputs are kept.
    listed = client.post(
        _url("chain_inputs"),
        {"version_id": chain.pk, "fill_dataset": dataset.pk, "var-q": "typed"},
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert listed.count(f'value="{dataset.pk}:') == 3 and "typed</textarea>" in listed
    # Choosing a row fills the inputs from it (escaped).
    filled = client.post(
        _url("chain_inputs"),
        {
            "version_id": chain.pk,
            "fill_dataset": dataset.pk,
            "fill": "1",
            "example_choice": f"{dataset.pk}:{first.example_id}",
            "var-q": "typed",
        },
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "why &lt;i&gt;blue&lt;/i&gt;?</textarea>" in filled
    assert 'id="chain-inputs"' in filled and 'id="chain-form"' not in filled  # the fragment


def test_it_fills_a_chains_inputs_without_javascript(client, acme, alice, chain, questions):
    from apps.datasets.selectors import examples_at_revision

    dataset, _ = questions
    with team_scope(acme):
        first = examples_at_revision(dataset).order_by("position").first()
    client.force_login(alice)
    page = client.post(
        _url("chain_inputs"),
        {
            "version_id": chain.pk,
            "fill_dataset": dataset.pk,
            "fill": "1",
            "example_choice": f"{dataset.pk}:{first.example_id}",
        },
    )
    body = page.content.decode()
    assert page.status_code == 200 and 'id="chain-form"' in body
    assert "why &lt;i&gt;blue&lt;/i&gt;?</textarea>" in body
    assert "<noscript>" in body and 'formaction="' + _url("chain_inputs") + '"' in body


def test_it_ignores_a_row_of_another_dataset_and_reports_a_missing_one(
    client, acme, alice, chain, questions, people
):
    dataset, _ = questions
    other, _ = people
    client.force_login(alice)
    stale = client.post(
        _url("chain_inputs"),
        {
            "version_id": chain.pk,
            "fill_dataset": dataset.pk,
            "fill": "1",
            "example_choice": f"{other.pk}:00000000-0000-0000-0000-000000000000",
            "var-q": "kept",
        },
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "kept</textarea>" in stale and "could not be found" not in stale
    missing = client.post(
        _url("chain_inputs"),
        {
            "version_id": chain.pk,
            "fill_dataset": dataset.pk,
            "fill": "1",
            "example_choice": f"{dataset.pk}:00000000-0000-0000-0000-000000000000",
        },
        HTTP_HX_REQUEST="true",
    ).content.decode()
    assert "That example could not be found." in missing


def test_it_keeps_chain_inputs_of_other_teams_hidden(client, dave, chain, questions):
    dataset, _ = questions
    client.force_login(dave)
    response = client.post(
        _url("chain_inputs"), {"version_id": chain.pk, "fill_dataset": dataset.pk}
    )
    assert response.status_code == 404


def test_it_serves_a_chain_evaluations_step_scores_in_the_api(
    client, api_client, acme, alice, chain, questions, api_key_for
):
    """A playground evaluation is an ordinary experiment: the experiments API reads it,
    each result with its steps and the final and per-step scores."""
    from tests.conftest import bearer

    client.force_login(alice)
    _evaluate(client, chain, questions)
    with team_scope(acme):
        experiment = Experiment.objects.get()
    execute(experiment.pk)
    raw = api_key_for(acme, alice, scopes=["experiments:read"])
    url = reverse("api:experiment-results", kwargs={"experiment_id": experiment.pk})
    body = api_client.get(url, **bearer(raw)).json()
    assert len(body["results"]) == 3
    first = body["results"][0]
    assert [s["name"] for s in first["steps"]] == ["summarise", "answer"]
    verdicts = {s["evaluator_name"]: s["passed"] for s in first["scores"]}
    assert verdicts == {
        "says-answer": True,
        "says-answer · summarise": False,
        "says-answer · answer": True,
    }
    summary = api_client.get(
        reverse("api:experiment-comparison", kwargs={"experiment_id": experiment.pk}),
        **bearer(raw),
    ).json()
    assert {e["name"] for e in summary["evaluators"]} >= {"says-answer · summarise"}


def test_it_shows_a_chain_evaluations_steps_in_queries_that_do_not_grow_with_rows(
    client, acme, alice, chain, questions
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(alice)
    _evaluate(client, chain, questions, eval_sample="1")
    _evaluate(client, chain, questions)
    with team_scope(acme):
        one_row, three_rows = Experiment.objects.order_by("pk")
    counts = []
    for experiment in (one_row, three_rows):
        execute(experiment.pk)
        with CaptureQueriesContext(connection) as queries:
            body = client.get(
                _url("evaluation", experiment_id=experiment.pk), HTTP_HX_REQUEST="true"
            ).content.decode()
        counts.append(len(queries))
    assert body.count('data-step="answer"') == 3
    assert counts[0] == counts[1]  # each step's scores come with the rows' (prefetched)
