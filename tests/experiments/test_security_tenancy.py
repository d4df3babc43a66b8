"""Security review: ids of another team's objects in POST bodies are refused.

tests/test_tenant_isolation.py walks URLs; this sends acme's ids in the bodies of
globex's own requests (API and HTML forms), one foreign id at a time.
"""

from __future__ import annotations

import pytest

from apps.core.tenancy import team_scope
from apps.experiments.models import Experiment
from tests.conftest import bearer
from tests.isolation_world import build_world


@pytest.fixture
def acme_world(acme, alice, bob):
    return build_world(acme, alice, bob)


@pytest.fixture
def globex_world(globex, dave, acme_world):
    return build_world(globex, dave, dave)


def _ids(world):
    o = world.objects
    return {
        "dataset": o["dataset"].pk,
        "version": o["version"].pk,
        "evaluator": o["evaluator"].pk,
        "provider": o["provider"].pk,
        "experiment": o["experiment"].pk,
    }


def _experiment_body(ids):
    return {
        "name": "probe",
        "dataset": ids["dataset"],
        "variants": [
            {
                "prompt_version_id": ids["version"],
                "overrides": {"provider_id": ids["provider"], "model": "m"},
            }
        ],
        "evaluators": [str(ids["evaluator"])],
        "start": False,
    }


def _globex_experiments(globex):
    with team_scope(globex):
        return Experiment.objects.count()


@pytest.mark.django_db
@pytest.mark.parametrize("foreign", ["dataset", "version", "evaluator", "provider"])
def test_it_refuses_another_teams_ids_in_an_experiment_api_body(
    api_client, globex, dave, acme_world, globex_world, api_key_for, foreign
):
    raw = api_key_for(globex, dave, scopes=["admin"])
    mine = _ids(globex_world)
    before = _globex_experiments(globex)
    # globex's own ids make an experiment: the probe is sound.
    ok = api_client.post(
        "/api/v1/experiments/", _experiment_body(mine), format="json", **bearer(raw)
    )
    assert ok.status_code == 201, ok.content
    ids = {**mine, foreign: _ids(acme_world)[foreign]}
    response = api_client.post(
        "/api/v1/experiments/", _experiment_body(ids), format="json", **bearer(raw)
    )
    assert response.status_code in (400, 404), (foreign, response.status_code, response.content)
    assert _globex_experiments(globex) == before + 1


@pytest.mark.django_db
@pytest.mark.parametrize("foreign", ["dataset", "versions", "evaluators", "provider", "models"])
def test_it_refuses_another_teams_ids_in_the_experiment_form(
    client, globex, dave, acme_world, globex_world, foreign
):
    client.force_login(dave)
    mine, theirs = _ids(globex_world), _ids(acme_world)
    data = {
        "name": "probe",
        "dataset": mine["dataset"],
        "versions": [mine["version"]],
        "evaluators": [mine["evaluator"]],
        "other_provider": mine["provider"],
        "repetitions": 1,
        "concurrency": 1,
        "models": [f"{mine['provider']}:m"],
        "other_models": "m",
    }
    if foreign == "provider":
        data["other_provider"] = theirs["provider"]
    elif foreign == "models":
        data["models"] = [f"{theirs['provider']}:m"]
    else:
        key = {"versions": "version", "evaluators": "evaluator"}.get(foreign, foreign)
        value = theirs[key]
        data[foreign] = [value] if isinstance(data[foreign], list) else value
    before = _globex_experiments(globex)
    response = client.post("/t/globex/experiments/new/", data)
    assert response.status_code in (200, 400), response.status_code  # the form again, with errors
    assert "Select a valid choice" in response.content.decode()
    assert _globex_experiments(globex) == before


@pytest.mark.django_db
def test_it_refuses_another_teams_ids_in_annotation_and_trace_bodies(
    api_client, client, globex, dave, acme_world, globex_world, api_key_for
):
    raw = api_key_for(globex, dave, scopes=["admin"])
    theirs = _ids(acme_world)
    queue = globex_world.objects["annotation_queue"]
    response = api_client.post(
        f"/api/v1/annotation-queues/{queue.pk}/fill/",
        {"experiment_id": theirs["experiment"], "mode": "all"},
        format="json",
        **bearer(raw),
    )
    assert response.status_code in (400, 404), response.content
    response = api_client.post(
        f"/api/v1/annotation-queues/{queue.pk}/add-failures-to-dataset/",
        {"dataset_id": theirs["dataset"]},
        format="json",
        **bearer(raw),
    )
    assert response.status_code in (400, 404), response.content

    client.force_login(dave)
    trace = globex_world.objects["trace"]
    client.post(
        f"/t/globex/traces/{trace.trace_id}/add-to-dataset/", {"dataset_id": theirs["dataset"]}
    )
    acme_dataset = acme_world.objects["dataset"]
    acme_dataset.refresh_from_db()
    assert acme_dataset.current_revision == 1
