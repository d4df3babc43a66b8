"""Odd but valid-looking input to the experiments API answers 4xx, never 500 (found by fuzzing)."""

from __future__ import annotations

from django.urls import reverse

from tests.conftest import bearer

HUGE = "99999999999999999999999"  # larger than any database integer


def test_it_refuses_a_dataset_filter_too_large_for_an_id(api_client, acme, alice, api_key_for):
    raw = api_key_for(acme, alice, scopes=["experiments:write"])
    response = api_client.get(reverse("api:experiment-list"), {"dataset": HUGE}, **bearer(raw))
    assert response.status_code == 400
    assert "dataset" in str(response.json())


def test_it_refuses_a_variant_filter_too_large_for_an_id(api_client, lab, api_key_for):
    experiment = lab.experiment()
    raw = api_key_for(lab.team, lab.actor, scopes=["experiments:write"])
    url = reverse("api:experiment-results", kwargs={"experiment_id": experiment.pk})
    response = api_client.get(url, {"variant": HUGE}, **bearer(raw))
    assert response.status_code == 400
    assert "variant" in str(response.json())
    assert api_client.get(url, {"variant": "1"}, **bearer(raw)).status_code == 200
