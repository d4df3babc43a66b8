"""Odd but valid-looking input to the datasets API answers 2xx/4xx, never 500 (found by fuzzing)."""

from __future__ import annotations

import uuid

from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.datasets import services
from tests.conftest import bearer


def test_it_answers_options_on_an_example(api_client, acme, alice, api_key_for):
    with team_scope(acme):
        dataset = services.dataset_create(team=acme, actor=alice, name="tickets")
        example = services.example_create(team=acme, actor=alice, dataset=dataset, input={"q": 1})
    headers = bearer(api_key_for(acme, alice, scopes=["datasets:write"]))

    def url(example_id):
        return reverse(
            "api:dataset-example", kwargs={"dataset_id": dataset.pk, "example_id": example_id}
        )

    known = api_client.options(url(example.example_id), **headers)
    assert known.status_code == 200
    assert "PUT" in known.json()["actions"]
    unknown = api_client.options(url(uuid.uuid4()), **headers)
    assert unknown.status_code == 200  # described without the PUT form, not a crash


def test_it_refuses_a_split_that_is_not_text_in_a_bulk_upload(api_client, acme, alice, api_key_for):
    with team_scope(acme):
        dataset = services.dataset_create(team=acme, actor=alice, name="tickets")
    headers = bearer(api_key_for(acme, alice, scopes=["datasets:write"]))
    url = reverse("api:dataset-examples-bulk", kwargs={"dataset_id": dataset.pk})
    for split in ({"x": 1}, ["train"]):
        rows = [{"input": {"q": 1}, "split": split}]
        response = api_client.post(url, {"rows": rows}, format="json", **headers)
        assert response.status_code == 400
        assert "split" in str(response.json())
    rows = [{"input": {"q": 1}, "split": 2024}]  # a number read from a file is still a split
    assert api_client.post(url, {"rows": rows}, format="json", **headers).status_code == 201
