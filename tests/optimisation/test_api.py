"""The optimisation API: create and start, read, cancel, resume, request promotion."""

from __future__ import annotations

import pytest

from apps.optimisation.engine import execute
from tests.conftest import bearer

pytestmark = pytest.mark.django_db(transaction=True)


def _body(world, **extra):
    return {
        "prompt_version_id": world.version.pk,
        "dataset": world.dataset.pk,
        "evaluators": [e.pk for e in world.evaluators],
        "max_rounds": 3,
        **extra,
    }


def test_it_creates_runs_reads_and_promotes_an_optimisation(demo_world, api_client, api_key_for):
    raw = api_key_for(
        demo_world.team, demo_world.alice, scopes=["experiments:write", "prompts:write"]
    )
    headers = bearer(raw)
    created = api_client.post("/api/v1/optimisations/", _body(demo_world), format="json", **headers)
    assert created.status_code == 201, created.content
    run = created.json()
    assert run["status"] == "queued"
    assert len(run["train_ids"]) == 20 and len(run["validation_ids"]) == 20
    execute(run["id"])
    read = api_client.get(f"/api/v1/optimisations/{run['id']}/", **headers).json()
    assert read["status"] == "succeeded"
    assert read["best_version"] == 4
    assert read["comparison"]["best"]["rate"] > read["comparison"]["start"]["rate"]
    assert read["rounds"] and read["candidates"][1]["version"] == 4
    promoted = api_client.post(
        f"/api/v1/optimisations/{run['id']}/promotion/", {}, format="json", **headers
    )
    assert promoted.status_code == 201, promoted.content
    assert promoted.json()["candidate_version"] == 4
    assert "held-out examples" in promoted.json()["description"]
    again = api_client.post(
        f"/api/v1/optimisations/{run['id']}/resume/", {}, format="json", **headers
    )
    assert again.status_code == 409
    assert again.json()["code"] == "conflict"


def test_it_cancels_and_resumes_through_the_api(demo_world, api_client, api_key_for):
    headers = bearer(api_key_for(demo_world.team, demo_world.alice, scopes=["experiments:write"]))
    run = api_client.post(
        "/api/v1/optimisations/", _body(demo_world), format="json", **headers
    ).json()
    cancelled = api_client.post(f"/api/v1/optimisations/{run['id']}/cancel/", **headers)
    assert cancelled.json()["status"] == "cancelled"
    resumed = api_client.post(f"/api/v1/optimisations/{run['id']}/resume/", **headers)
    assert resumed.json()["status"] == "queued"


def test_it_names_the_field_of_bad_input(demo_world, api_client, api_key_for):
    headers = bearer(api_key_for(demo_world.team, demo_world.alice, scopes=["experiments:write"]))
    response = api_client.post(
        "/api/v1/optimisations/", _body(demo_world, max_calls=3), format="json", **headers
    )
    assert response.status_code == 400
    assert "max_calls" in response.content.decode()
    unknown = api_client.post(
        "/api/v1/optimisations/", _body(demo_world, dataset=999999), format="json", **headers
    )
    assert unknown.status_code == 400 and "dataset" in unknown.content.decode()


def test_it_hides_another_teams_run(demo_world, api_client, api_key_for, globex, dave):
    run = demo_world.run()
    headers = bearer(api_key_for(globex, dave, scopes=["experiments:write"]))
    assert api_client.get(f"/api/v1/optimisations/{run.pk}/", **headers).status_code == 404


def test_it_refuses_a_read_only_key_to_create(demo_world, api_client, api_key_for):
    headers = bearer(api_key_for(demo_world.team, demo_world.alice, scopes=["experiments:read"]))
    response = api_client.post(
        "/api/v1/optimisations/", _body(demo_world), format="json", **headers
    )
    assert response.status_code == 403
