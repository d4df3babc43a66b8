"""A run on a seeded random sample of a dataset's rows: pinned at creation, reproducible."""

from __future__ import annotations

from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.experiments.models import Result
from apps.experiments.runner import execute
from tests.conftest import bearer


def _create(api_client, raw, **extra):
    return api_client.post(
        reverse("api:experiment-list"),
        {
            "name": "sampled",
            "dataset_name": "questions",
            "variants": [{"prompt": "qa", "version": 1}],
            **extra,
        },
        format="json",
        **bearer(raw),
    )


def test_it_runs_a_seeded_sample_only(api_client, lab, api_key_for):
    raw = api_key_for(lab.team, lab.actor, scopes=["experiments:write"])
    first = _create(api_client, raw, sample_size=3, sample_seed=11, start=False).json()
    second = _create(api_client, raw, sample_size=3, sample_seed=11, start=False).json()
    other = _create(api_client, raw, sample_size=3, sample_seed=12, start=False).json()
    assert first["total_cells"] == 3 and len(first["sample"]) == 3
    assert first["sample"] == second["sample"]  # same seed, same rows
    assert other["sample"] != first["sample"]  # another seed, other rows (for these seeds)
    api_client.post(
        reverse("api:experiment-start", kwargs={"experiment_id": first["id"]}), **bearer(raw)
    )
    execute(first["id"])
    with team_scope(lab.team):
        ran = {
            str(e)
            for e in Result.objects.filter(experiment_id=first["id"]).values_list(
                "example_id", flat=True
            )
        }
    assert ran == set(first["sample"])


def test_it_runs_every_row_when_the_sample_is_as_large(api_client, lab, api_key_for):
    raw = api_key_for(lab.team, lab.actor, scopes=["experiments:write"])
    body = _create(api_client, raw, sample_size=50, start=False).json()
    assert body["total_cells"] == 6 and body["sample"] == []


def test_it_refuses_a_bad_sample_size_naming_the_field(api_client, lab, api_key_for):
    raw = api_key_for(lab.team, lab.actor, scopes=["experiments:write"])
    response = _create(api_client, raw, sample_size=0)
    assert response.status_code == 400
    assert "sample_size" in str(response.json())
