"""Odd but valid-looking input to the providers API answers 4xx, never 500 (found by fuzzing)."""

from __future__ import annotations

from django.urls import reverse

from apps.core.tenancy import team_scope
from tests.conftest import bearer


def test_it_refuses_a_key_no_http_header_can_carry(
    api_client, acme, alice, api_key_for, make_provider, demo_echo
):
    provider = make_provider(demo_echo)
    headers = bearer(api_key_for(acme, alice, scopes=["admin"]))
    url = reverse("api:provider-detail", kwargs={"provider_id": provider.pk})
    for bad in ("sk-caf\u00e9", "sk has spaces", "sk-\x00"):
        response = api_client.patch(url, {"api_key": bad}, format="json", **headers)
        assert response.status_code == 400, bad
        assert "api_key" in str(response.json())
    created = api_client.post(
        reverse("api:provider-list"),
        {"name": "other", "kind": "openai-compatible", "base_url": demo_echo, "api_key": "\u00fe"},
        format="json",
        **headers,
    )
    assert created.status_code == 400 and "api_key" in str(created.json())
    assert (
        api_client.patch(url, {"api_key": "sk-fine"}, format="json", **headers).status_code == 200
    )


def test_it_reports_a_stored_unusable_key_instead_of_crashing(
    api_client, acme, alice, api_key_for, make_provider, demo_echo
):
    provider = make_provider(demo_echo)
    with team_scope(acme):
        provider.set_api_key("sk-\u00fe\u00fe\u00fe")  # stored before keys were checked
        provider.save()
    headers = bearer(api_key_for(acme, alice, scopes=["admin"]))
    url = reverse("api:provider-test", kwargs={"provider_id": provider.pk})
    response = api_client.post(url, **headers)
    assert response.status_code == 200
    assert response.json()["ok"] is False
