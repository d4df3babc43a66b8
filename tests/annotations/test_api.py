import pytest

from apps.annotations import services
from apps.core.tenancy import team_scope
from apps.experiments.models import Score
from tests.annotations.factories import make_experiment
from tests.conftest import bearer

CELLS = [
    {"variant": "v1", "example": n, "scores": {"exact": n != 2}, "output": f"out {n}"}
    for n in range(1, 5)
]


@pytest.fixture
def experiment(acme, alice):
    exp, _, _ = make_experiment(acme, alice, variants=("v1",), cells=CELLS)
    return exp


def test_it_runs_a_queue_through_the_api(api_client, acme, alice, erin, experiment, api_key_for):
    raw = api_key_for(acme, alice, scopes=["annotations:write"])
    headers = bearer(raw)
    created = api_client.post(
        "/api/v1/annotation-queues/",
        {"name": "API queue", "form_fields": [{"name": "note", "kind": "text"}]},
        format="json",
        **headers,
    )
    assert created.status_code == 201, created.json()
    queue_id = created.json()["id"]
    filled = api_client.post(
        f"/api/v1/annotation-queues/{queue_id}/fill/",
        {"experiment_id": experiment.pk, "mode": "failed"},
        format="json",
        **headers,
    )
    assert filled.status_code == 201 and filled.json()["added"] == 1
    assigned = api_client.post(
        f"/api/v1/annotation-queues/{queue_id}/assign/",
        {"emails": ["Erin@acme.test"]},
        format="json",
        **headers,
    )
    assert assigned.status_code == 201, assigned.json()
    assert assigned.json()["users"] == ["erin@acme.test"]
    unknown = api_client.post(
        f"/api/v1/annotation-queues/{queue_id}/assign/",
        {"emails": ["nobody@acme.test"]},
        format="json",
        **headers,
    )
    assert unknown.status_code == 400

    # erin works through the session API.
    api_client.force_login(erin)
    base = "/api/v1/t/acme"
    claimed = api_client.post(f"{base}/annotation-queues/{queue_id}/next/")
    assert claimed.status_code == 200
    item = claimed.json()
    assert item["locked_by"] == "erin@acme.test" and item["snapshot"]["output"] == "out 2"
    saved = api_client.post(
        f"{base}/annotation-items/{item['id']}/annotations/",
        {"passed": False, "reasoning": "wrong", "fields": {"note": "n"}},
        format="json",
    )
    assert saved.status_code == 201, saved.json()
    assert api_client.post(f"{base}/annotation-queues/{queue_id}/next/").status_code == 204
    with team_scope(acme):
        assert Score.objects.get(source="human").author == erin
    # Annotators cannot manage queues.
    refused = api_client.post(
        f"{base}/annotation-queues/{queue_id}/fill/",
        {"experiment_id": experiment.pk},
        format="json",
    )
    assert refused.status_code == 403

    api_client.logout()
    agreement = api_client.get(f"/api/v1/annotation-queues/{queue_id}/agreement/", **headers)
    assert agreement.status_code == 200
    assert agreement.json()["evaluators"][0] == {
        "name": "exact",
        "n": 1,
        "percent": 1.0,
        "kappa": 1.0,
    }


def test_it_assigns_one_item_by_email(api_client, acme, alice, erin, experiment):
    with team_scope(acme):
        queue = services.queue_create(team=acme, actor=alice, name="One")
        services.queue_fill_from_experiment(
            team=acme, actor=alice, queue=queue, experiment=experiment, mode="all"
        )
        item = queue.items.order_by("position").first()
    api_client.force_login(alice)
    response = api_client.post(
        f"/api/v1/t/acme/annotation-items/{item.pk}/assign/",
        {"emails": ["erin@acme.test"]},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["assignees"] == ["erin@acme.test"]


def test_it_shows_annotators_only_their_items(api_client, acme, alice, erin, experiment):
    with team_scope(acme):
        queue = services.queue_create(team=acme, actor=alice, name="Mine", hide_auto_scores=True)
        services.queue_fill_from_experiment(
            team=acme, actor=alice, queue=queue, experiment=experiment, mode="all"
        )
        first, second = list(queue.items.order_by("position"))[:2]
        services.items_assign(team=acme, actor=alice, queue=queue, users=[erin], items=[first])
    api_client.force_login(erin)
    listed = api_client.get(f"/api/v1/t/acme/annotation-queues/{queue.pk}/items/").json()
    assert [i["id"] for i in listed["results"]] == [first.pk]
    assert "auto_scores" not in listed["results"][0]["snapshot"]
    assert api_client.get(f"/api/v1/t/acme/annotation-items/{second.pk}/").status_code == 404
    assert (
        api_client.get(f"/api/v1/t/acme/annotation-queues/{queue.pk}/agreement/").status_code == 404
    )


def test_it_needs_the_annotations_scope(api_client, acme, alice, api_key_for):
    raw = api_key_for(acme, alice, scopes=["prompts:read"])
    response = api_client.get("/api/v1/annotation-queues/", **bearer(raw))
    assert response.status_code == 403
