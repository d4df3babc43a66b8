"""Odd but valid-looking input to the annotations API answers 4xx, never 500 (found by fuzzing)."""

from __future__ import annotations

from django.urls import reverse

from tests.conftest import bearer


def test_it_refuses_a_queue_filter_too_large_for_an_id(api_client, acme, alice, api_key_for):
    raw = api_key_for(acme, alice, scopes=["annotations:write"])
    url = reverse("api:annotation-list")
    response = api_client.get(url, {"queue": "99999999999999999999999"}, **bearer(raw))
    assert response.status_code == 400
    assert "queue" in str(response.json())
    assert api_client.get(url, {"queue": "1"}, **bearer(raw)).status_code == 200


def test_it_names_the_field_of_an_id_that_names_nothing(api_client, acme, alice, api_key_for):
    from apps.annotations import services
    from apps.core.tenancy import team_scope

    raw = api_key_for(acme, alice, scopes=["annotations:write"])
    with team_scope(acme):
        queue = services.queue_create(team=acme, actor=alice, name="ids")
    base = f"/api/v1/annotation-queues/{queue.pk}"
    for path, field in (("fill", "experiment_id"), ("add-failures-to-dataset", "dataset_id")):
        for value in (999999, 2**63):
            response = api_client.post(
                f"{base}/{path}/", {field: value}, format="json", **bearer(raw)
            )
            assert response.status_code == 400, (path, value)
            assert field in str(response.json())
