"""Every version is measurable: one saved without a model ("None (choose when running)")
runs with the team's default model, or the model the run chooses; and the new-experiment
form picks its baseline explicitly among version × model variants."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.experiments.forms import ExperimentForm
from apps.experiments.models import Experiment, Result
from apps.experiments.runner import execute
from apps.experiments.services import VariantSpec, experiment_create, experiment_start
from apps.llm.services import team_defaults_set
from apps.prompts.services import version_create


def url(name, **kwargs):
    return reverse(f"experiments:{name}", kwargs={"team_slug": "acme", **kwargs})


def _version_without_model(lab, template="Q: {{ q }}"):
    with team_scope(lab.team):
        return version_create(
            team=lab.team,
            actor=lab.actor,
            prompt=lab.prompt,
            kind="text",
            template=template,
            model_settings={},  # "None (choose when running)"
            commit_message="no model",
        )


def _set_default(lab, model="demo-echo"):
    with team_scope(lab.team):
        team_defaults_set(team=lab.team, actor=lab.actor, provider=lab.provider, model=model)
    lab.team.refresh_from_db()


def test_a_version_without_a_model_runs_with_the_team_default(lab):
    bare = _version_without_model(lab)
    _set_default(lab)
    with team_scope(lab.team):
        experiment = experiment_create(
            team=lab.team,
            actor=lab.actor,
            name="defaults",
            dataset=lab.dataset,
            variants=[VariantSpec(prompt_version=bare)],
        )
        variant = experiment.variants.get()
        assert variant.settings == {"provider_id": lab.provider.pk, "model": "demo-echo"}
        experiment_start(team=lab.team, actor=lab.actor, experiment=experiment, enqueue=False)
    execute(experiment.pk)
    with team_scope(lab.team):
        outputs = list(Result.objects.filter(experiment=experiment).values_list("output", "error"))
    assert len(outputs) == 6 and all(out and not err for out, err in outputs)


def test_without_a_default_the_refusal_says_the_way_out(lab):
    bare = _version_without_model(lab)
    with team_scope(lab.team), pytest.raises(ValidationFailed) as refused:
        experiment_create(
            team=lab.team,
            actor=lab.actor,
            name="nothing",
            dataset=lab.dataset,
            variants=[VariantSpec(prompt_version=bare)],
        )
    assert "choose a model for the run, or set the team's default model" in refused.value.message


def test_a_model_chosen_for_the_run_needs_no_default(lab):
    bare = _version_without_model(lab)
    with team_scope(lab.team):
        experiment = experiment_create(
            team=lab.team,
            actor=lab.actor,
            name="chosen",
            dataset=lab.dataset,
            variants=[
                VariantSpec(
                    prompt_version=bare,
                    overrides={"provider_id": lab.provider.pk, "model": "demo-echo"},
                )
            ],
        )
        assert experiment.variants.get().settings["model"] == "demo-echo"


def _post(client, lab, **data):
    body = {
        "name": "pick",
        "dataset": lab.dataset.pk,
        "repetitions": 1,
        "concurrency": 2,
        "action": "draft",
        **data,
    }
    return client.post(url("new"), body)


def test_the_form_makes_the_chosen_baseline_the_baseline_not_the_list_order(client, lab, alice):
    newer = lab.version_with("Other: {{ q }}")  # v2, listed first (newest first)
    client.force_login(alice)
    page = client.get(url("new")).content.decode()
    assert page.index(f'name="versions" value="{newer.pk}"') < page.index(
        f'name="versions" value="{lab.version.pk}"'
    )
    response = _post(
        client,
        lab,
        versions=[newer.pk, lab.version.pk],
        models=["saved"],
        baseline=f"{lab.version.pk}|saved",
    )
    assert response.status_code == 302
    experiment = Experiment.objects.unscoped().get(name="pick")
    with team_scope(lab.team):
        baseline = experiment.variants.get(is_baseline=True)
        assert experiment.variants.count() == 2
    assert baseline.prompt_version_id == lab.version.pk


def test_the_form_refuses_two_variants_without_a_baseline(client, lab, alice):
    newer = lab.version_with("Other: {{ q }}")
    client.force_login(alice)
    response = _post(client, lab, versions=[newer.pk, lab.version.pk], models=["saved"])
    assert response.status_code == 200
    body = response.content.decode()
    assert "Choose the baseline: the variant the others are compared with." in body
    assert not Experiment.objects.unscoped().filter(name="pick").exists()
    # The page lists both variants, each with its baseline radio.
    assert body.count('name="baseline"') == 2


def test_each_variant_is_a_version_on_a_model(client, lab, alice):
    bare = _version_without_model(lab)
    with team_scope(lab.team):
        lab.provider.models = ["demo-echo", "demo-echo-large"]
        lab.provider.save()
    _set_default(lab)
    client.force_login(alice)
    response = _post(
        client,
        lab,
        versions=[bare.pk, lab.version.pk],
        models=[f"{lab.provider.pk}:demo-echo", f"{lab.provider.pk}:demo-echo-large"],
        baseline=f"{bare.pk}|{lab.provider.pk}:demo-echo",
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    experiment = Experiment.objects.unscoped().get(name="pick")
    with team_scope(lab.team):
        variants = {
            (v.prompt_version_id, v.settings["model"]): v.is_baseline
            for v in experiment.variants.all()
        }
    assert variants == {
        (bare.pk, "demo-echo"): True,
        (bare.pk, "demo-echo-large"): False,
        (lab.version.pk, "demo-echo"): False,
        (lab.version.pk, "demo-echo-large"): False,
    }


def test_the_form_preselects_the_team_default_model(client, lab, alice):
    bare = _version_without_model(lab)
    _set_default(lab)
    client.force_login(alice)
    page = client.get(url("new") + f"?version={bare.pk}").content.decode()
    default_key = f"{lab.provider.pk}:demo-echo"
    assert f'value="{default_key}"' in page
    checked = page.split(f'value="{default_key}"')[1].split(">")[0]
    assert "checked" in checked
    assert "demo · demo-echo (team default)" in page
    # The variants plan: the one variant is the baseline, on the default model.
    assert f'value="{bare.pk}|{default_key}" id="baseline-1" checked' in page
    assert "demo · demo-echo" in page.split('id="variant-plan"')[1]


def test_the_estimate_updates_with_the_variants_and_their_baseline(client, lab, alice):
    newer = lab.version_with("Other: {{ q }}")
    client.force_login(alice)
    response = client.get(
        url("estimate"),
        {
            "dataset": lab.dataset.pk,
            "versions": [lab.version.pk, newer.pk],
            "models": ["saved"],
            "baseline": f"{newer.pk}|saved",
            "repetitions": 1,
            "concurrency": 1,
        },
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "12 model calls" in body
    plan = body.split('id="variant-plan" hx-swap-oob="true"')[1]
    assert "qa v1" in plan and "qa v2" in plan
    assert re.search(rf'value="{newer.pk}\|saved" id="baseline-\d" checked', plan)
    assert not re.search(rf'value="{lab.version.pk}\|saved" id="baseline-\d" checked', plan)
    # Without a baseline yet, the plan asks for one (no error while filling in the form).
    response = client.get(
        url("estimate"),
        {
            "dataset": lab.dataset.pk,
            "versions": [lab.version.pk, newer.pk],
            "repetitions": 1,
            "concurrency": 1,
        },
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert 'id="baseline-hint"' in body and "Choose the baseline" not in body


def test_the_ci_evaluation_runs_versions_without_a_model_on_the_team_default(lab):
    from apps.experiments.services import ci_evaluation_start
    from apps.prompts.services import tag_move

    bare = _version_without_model(lab)
    other = _version_without_model(lab, template="Other: {{ q }}")
    lab.evaluator()
    _set_default(lab)
    with team_scope(lab.team):
        lab.team.protected_tags = []
        lab.team.save()
        tag_move(team=lab.team, actor=lab.actor, prompt=lab.prompt, tag_name="prod", version=bare)
        created = ci_evaluation_start(
            team=lab.team,
            actor=lab.actor,
            prompt_name="qa",
            dataset_ref="questions",
            baseline_tag="prod",
            candidate_version=other.number,
        )
        settings = [v.settings for v in created.experiment.variants.order_by("position")]
    assert settings == [{"provider_id": lab.provider.pk, "model": "demo-echo"}] * 2


def test_the_experiment_form_can_be_built_without_a_request(lab):
    """The form also serves code (no request): its models come from the team given."""
    with team_scope(lab.team):
        form = ExperimentForm(team=lab.team)
        keys = [key for key, _ in form.fields["models"].choices]
    assert keys == ["saved", f"{lab.provider.pk}:demo-echo"]
