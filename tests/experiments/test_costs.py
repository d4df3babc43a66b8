"""Estimates before a run, unpriced models under a cap, and no duplicate variants."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.experiments.forms import ExperimentForm
from apps.experiments.services import VariantSpec, experiment_create
from tests.conftest import bearer


def api(name, **kwargs):
    return reverse(f"api:{name}", kwargs=kwargs)


def test_it_estimates_an_experiment_through_the_api_without_writing(api_client, lab, api_key_for):
    raw = api_key_for(lab.team, lab.actor, scopes=["experiments:write"])
    body = {
        "name": "estimate me",
        "dataset_name": "questions",
        "variants": [{"prompt": "qa", "version": 1}],
        "repetitions": 2,
        "cost_cap": "0.01",
    }
    response = api_client.post(api("experiment-estimate"), body, format="json", **bearer(raw))
    assert response.status_code == 200, response.json()
    estimate = response.json()
    assert (estimate["calls"], estimate["examples"]) == (12, 6)
    assert estimate["input_tokens"] > 0 and estimate["output_tokens"] == 12 * 256
    assert float(estimate["cost"]) > 0.01 and estimate["over_cap"] is True
    listed = api_client.get(api("experiment-list"), **bearer(raw)).json()
    assert listed["count"] == 0


def test_an_unpriced_model_under_a_cap_is_refused_unless_confirmed(lab):
    with team_scope(lab.team):
        lab.provider.prices = {}
        lab.provider.save()
        with pytest.raises(ValidationFailed) as refused:
            lab.experiment(cost_cap="1")
        assert refused.value.field == "cost_cap" and "has no price" in refused.value.message
        experiment = lab.experiment(cost_cap="1", allow_unpriced=True)
    assert experiment.cost_cap == 1


def test_naming_a_versions_own_model_adds_no_duplicate_variant(lab):
    second = lab.version_with("Other: {{ q }}")
    with team_scope(lab.team):
        form = ExperimentForm(
            {
                "name": "swap",
                "dataset": lab.dataset.pk,
                "versions": [lab.version.pk, second.pk],
                "models": ["saved", f"{lab.provider.pk}:demo-echo"],
                "other_models": "other-model",
                "other_provider": lab.provider.pk,
                "baseline": f"{lab.version.pk}|saved",
                "repetitions": 1,
                "concurrency": 2,
            },
            team=lab.team,
        )
        assert form.is_valid(), form.errors
        specs = form.variant_specs()
        # 2 versions x (their own model + one other): 4 variants, not 6.
        assert len(specs) == 4
        experiment = experiment_create(
            team=lab.team,
            actor=lab.actor,
            name="api dup",
            dataset=lab.dataset,
            variants=[VariantSpec(prompt_version=lab.version)] * 2,
        )
        assert experiment.variants.count() == 1
