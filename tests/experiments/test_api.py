"""Experiments API: create, start, cancel, resume, read results; scopes."""

from __future__ import annotations

from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.experiments.models import Experiment, Status
from apps.experiments.runner import execute
from tests.conftest import bearer


def api(name, **kwargs):
    return reverse(f"api:{name}", kwargs=kwargs)


def test_it_creates_an_experiment_by_names_and_reads_its_results(api_client, lab, api_key_for):
    lab.evaluator(name="exact")
    raw = api_key_for(lab.team, lab.actor, scopes=["experiments:write"])
    response = api_client.post(
        api("experiment-list"),
        {
            "name": "api run",
            "dataset_name": "questions",
            "variants": [
                {"prompt": "qa", "version": 1},
                {"prompt": "qa", "tag": "latest", "overrides": {"temperature": 0}, "label": "t0"},
            ],
            "evaluators": ["exact"],
            "cost_cap": "15",  # each call reserves its worst case first (about $4 here)
            "start": False,
        },
        format="json",
        **bearer(raw),
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft" and body["total_cells"] == 12
    assert [v["label"] for v in body["variants"]] == ["qa v1", "t0"]
    assert body["variants"][0]["is_baseline"] is True
    assert body["evaluators"][0]["name"] == "exact" and body["cost_cap"] == 15
    experiment_id = body["id"]

    started = api_client.post(api("experiment-start", experiment_id=experiment_id), **bearer(raw))
    assert started.status_code == 200 and started.json()["status"] == "queued"
    execute(experiment_id)

    detail = api_client.get(api("experiment-detail", experiment_id=experiment_id), **bearer(raw))
    assert detail.json()["status"] == "completed" and detail.json()["done_count"] == 12
    summary = detail.json()["summary"]
    assert summary[0]["evaluators"]["exact"]["passed"] == 6

    results = api_client.get(
        api("experiment-results", experiment_id=experiment_id) + "?page_size=5", **bearer(raw)
    ).json()
    assert results["count"] == 12 and len(results["results"]) == 5
    first = results["results"][0]
    assert first["output"].startswith("echo: Q: question") and first["scores"][0]["passed"]


def test_it_cancels_and_resumes_through_the_api(api_client, lab, api_key_for):
    raw = api_key_for(lab.team, lab.actor, scopes=["experiments:write"])
    experiment = lab.experiment()
    url = api("experiment-start", experiment_id=experiment.pk)
    assert api_client.post(url, **bearer(raw)).json()["status"] == "queued"
    again = api_client.post(url, **bearer(raw))
    assert again.status_code == 409 and "only a draft" in again.json()["detail"]
    cancel = api_client.post(api("experiment-cancel", experiment_id=experiment.pk), **bearer(raw))
    assert cancel.json()["status"] == "cancelled"
    resume = api_client.post(
        api("experiment-resume", experiment_id=experiment.pk),
        {"cost_cap": "3"},
        format="json",
        **bearer(raw),
    )
    assert resume.status_code == 200 and resume.json()["status"] == "queued"
    assert resume.json()["cost_cap"] == 3.0


def test_it_needs_the_experiments_write_scope_to_write(api_client, lab, api_key_for):
    reader = api_key_for(lab.team, lab.actor, scopes=["experiments:read"])
    experiment = lab.experiment()
    assert api_client.get(api("experiment-list"), **bearer(reader)).status_code == 200
    refused = api_client.post(
        api("experiment-start", experiment_id=experiment.pk), **bearer(reader)
    )
    assert refused.status_code == 403
    with team_scope(lab.team):
        assert Experiment.objects.get(pk=experiment.pk).status == Status.DRAFT


def test_it_reports_bad_input_clearly(api_client, lab, api_key_for):
    raw = api_key_for(lab.team, lab.actor, scopes=["experiments:write"])
    response = api_client.post(
        api("experiment-list"),
        {"name": "x", "dataset": lab.dataset.pk, "variants": [{"prompt": "qa", "version": 9}]},
        format="json",
        **bearer(raw),
    )
    assert response.status_code == 400 and "no version 9" in response.json()["detail"]
    response = api_client.post(
        api("experiment-list"),
        {
            "name": "x",
            "dataset": lab.dataset.pk,
            "variants": [{"prompt": "qa", "version": 1}],
            "concurrency": 0,
        },
        format="json",
        **bearer(raw),
    )
    assert response.status_code == 400 and "Concurrency" in response.json()["detail"]


def test_it_manages_evaluators_through_the_api(api_client, lab, api_key_for):
    raw = api_key_for(lab.team, lab.actor, scopes=["experiments:write"])
    created = api_client.post(
        api("evaluator-list"),
        {"name": "short", "kind": "length", "params": {"max_length": 20}},
        format="json",
        **bearer(raw),
    )
    assert created.status_code == 201 and created.json()["params"]["unit"] == "chars"
    evaluator_id = created.json()["id"]
    patched = api_client.patch(
        api("evaluator-detail", evaluator_id=evaluator_id),
        {"params": {"max_length": 10}},
        format="json",
        **bearer(raw),
    )
    assert patched.json()["version"] == 2
    bad = api_client.post(
        api("evaluator-list"), {"name": "b", "kind": "nope"}, format="json", **bearer(raw)
    )
    assert bad.status_code == 400 and "Unknown evaluator kind" in bad.json()["detail"]
