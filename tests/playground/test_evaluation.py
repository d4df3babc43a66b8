"""Evaluating the playground's variants on a dataset with evaluators, and saving one with a
tag (or a promotion request citing the run) in one step."""

import json

import pytest
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.experiments.models import Experiment, Result
from apps.experiments.runner import execute
from apps.prompts.models import PromptVersion, Tag

pytestmark = pytest.mark.django_db


def _url(name, **kwargs):
    return reverse(f"playground:{name}", kwargs={"team_slug": "acme", **kwargs})


def _variant(prefix, provider, template, label):
    return {
        f"{prefix}-kind": "text",
        f"{prefix}-template": template,
        f"{prefix}-provider_model": f"{provider.pk}::demo-echo",
        f"{prefix}-label": label,
    }


def _evaluate(client, greeting, provider, people, **extra):
    dataset, evaluator = people
    data = {
        "version_id": greeting.pk,
        "variables_schema": json.dumps(greeting.variables_schema),
        "eval_prompt_id": greeting.prompt_id,
        "eval_dataset": dataset.pk,
        "eval_evaluators": [evaluator.pk],
        **_variant("v0", provider, greeting.template, "A"),
        # B always says warm: every row passes.
        **_variant("v1", provider, "Say hello to {{ name }}, warm always ({{ tone }})", "B"),
    }
    data.update(extra)
    return client.post(_url("evaluate"), data, HTTP_HX_REQUEST="true")


def test_it_evaluates_variants_with_scores_per_row_and_per_variant(
    client, acme, alice, greeting, echo_provider, people
):
    client.force_login(alice)
    response = _evaluate(client, greeting, echo_provider, people)
    assert response.status_code == 200, response.content
    with team_scope(acme):
        experiment = Experiment.objects.get()
        variants = list(experiment.variants.select_related("prompt_version").order_by("position"))
        # A is v1 itself (same content); B was saved as v2 for the run.
        assert [v.prompt_version.number for v in variants] == [1, 2]
        assert variants[0].is_baseline
        assert experiment.status == "queued" and experiment.total_cells == 8
    started = response.content.decode()
    assert f'data-evaluation-id="{experiment.pk}"' in started
    assert 'hx-trigger="load delay:1s"' in started and "Queued" in started  # it polls

    execute(experiment.pk)
    page = client.get(_url("evaluation", experiment_id=experiment.pk), HTTP_HX_REQUEST="true")
    body = page.content.decode()
    assert page.status_code == 200
    # Per variant: A passes the 2 warm rows of 4, B all 4.
    assert "50 % pass" in body and "(2/4)" in body
    assert "100 % pass" in body and "(4/4)" in body
    # Per row: outputs and each score.
    assert "Say hello to Ada in warm words" in body
    assert body.count("is-warm: pass") == 6 and body.count("is-warm: fail") == 2
    assert "hx-get" not in body  # finished: no more polling


def test_it_polls_while_the_run_is_going(client, acme, alice, greeting, echo_provider, people):
    client.force_login(alice)
    _evaluate(client, greeting, echo_provider, people)
    with team_scope(acme):
        experiment = Experiment.objects.get()
    body = client.get(_url("evaluation", experiment_id=experiment.pk)).content.decode()
    assert "hx-get" in body and 'hx-trigger="load delay:1s"' in body


def test_it_evaluates_a_seeded_sample(client, acme, alice, greeting, echo_provider, people):
    client.force_login(alice)
    _evaluate(client, greeting, echo_provider, people, eval_sample="2", eval_seed="7")
    _evaluate(client, greeting, echo_provider, people, eval_sample="2", eval_seed="7")
    with team_scope(acme):
        first, second = Experiment.objects.order_by("pk")
        assert len(first.sample) == 2 and first.sample == second.sample  # same seed, same rows
        assert first.total_cells == 4
    execute(first.pk)
    with team_scope(acme):
        ran = set(Result.objects.filter(experiment=first).values_list("example_id", flat=True))
    assert {str(e) for e in ran} == set(first.sample)


def test_it_refuses_an_evaluation_without_evaluators(
    client, acme, alice, greeting, echo_provider, people
):
    client.force_login(alice)
    response = _evaluate(client, greeting, echo_provider, people, eval_evaluators=[])
    body = response.content.decode()
    assert "Attach at least one evaluator." in body
    assert 'data-field-name="evaluators"' in body
    with team_scope(acme):
        assert not Experiment.objects.exists()


def test_it_refuses_evaluations_by_viewers(client, carol, greeting, echo_provider, people):
    client.force_login(carol)
    assert _evaluate(client, greeting, echo_provider, people).status_code == 403


def _save_data(greeting, provider, **extra):
    data = {
        "version_id": greeting.pk,
        "variables_schema": json.dumps(greeting.variables_schema),
        "kind": "text",
        "template": "Greet {{ name }} ({{ tone }})",
        "provider_model": f"{provider.pk}::demo-echo",
        "prompt_id": greeting.prompt_id,
        "commit_message": "shorter",
    }
    data.update(extra)
    return data


def test_it_saves_and_moves_an_unprotected_tag_in_one_step(
    client, acme, alice, greeting, echo_provider
):
    client.force_login(alice)
    response = client.post(_url("save"), _save_data(greeting, echo_provider, tag_name="staging"))
    body = response.json()
    assert body["ok"] and "greeting v2" in body["message"] and "staging" in body["message"]
    assert "promotion_url" not in body
    with team_scope(acme):
        assert Tag.objects.get(prompt=greeting.prompt, name="staging").version.number == 2


def test_it_opens_a_promotion_request_citing_the_run_for_a_protected_tag(
    client, acme, alice, greeting, echo_provider, people
):
    client.force_login(alice)
    _evaluate(client, greeting, echo_provider, people)
    with team_scope(acme):
        experiment = Experiment.objects.get()
    data = _save_data(
        greeting,
        echo_provider,
        template="Say hello to {{ name }}, warm always ({{ tone }})",
        tag_name="production",
        evidence=str(experiment.pk),
    )
    body = client.post(_url("save"), data).json()
    # The evaluation already saved this content as v2: saving reuses it, tags nothing.
    assert body["ok"] and "Already saved as greeting v2" in body["message"]
    assert "production is protected" in body["message"]
    with team_scope(acme):
        assert PromptVersion.objects.filter(prompt=greeting.prompt).count() == 2
        assert not Tag.objects.filter(prompt=greeting.prompt, name="production").exists()
    url = body["promotion_url"]
    assert url.endswith(f"?tag=production&evidence={experiment.pk}")
    form = client.get(url).content.decode()
    assert f'value="{experiment.pk}"' in form and "production" in form
