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
