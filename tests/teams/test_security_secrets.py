"""Security review: secrets are shown once and stored nowhere in the clear.

API keys: only a prefix and an HMAC; invite tokens: a hash; neither sits in the session
store, the audit trail or any API answer.
"""

from __future__ import annotations

import json

import pytest
from django.contrib.sessions.models import Session

from apps.core.tenancy import team_scope
from apps.teams.models import ApiKey, AuditEvent, Invite


def _everything_stored(acme) -> str:
    with team_scope(acme):
        keys = list(ApiKey.objects.values())
        invites = list(Invite.objects.values())
        audit = list(AuditEvent.objects.values("before", "after", "target_label"))
    sessions = [s.get_decoded() for s in Session.objects.all()]
    return json.dumps([keys, invites, audit, sessions], default=str)


@pytest.mark.django_db
def test_it_never_stores_a_new_api_key_in_the_clear(client, acme, alice):
    client.force_login(alice)
    response = client.post(
        "/t/acme/settings/api-keys/", {"name": "ci", "scopes": ["prompts:read"]}
    )  # a plain form post, no htmx
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = response.context["secret"]
    assert secret.startswith("pyd_") and secret.encode() in response.content
    stored = _everything_stored(acme)
    assert secret not in stored
    assert secret.split("_", 2)[2] not in stored  # not even the part after the prefix
    assert secret not in client.get("/t/acme/settings/api-keys/").content.decode()
    assert secret not in client.get("/api/v1/t/acme/api-keys/").content.decode()


@pytest.mark.django_db
def test_it_never_stores_an_invite_token_in_the_clear(client, acme, alice):
    client.force_login(alice)
    response = client.post(
        "/t/acme/settings/invites/", {"role": "viewer", "email": "zoe@example.test"}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    link = response.context["link"]
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert len(token) >= 20 and token not in _everything_stored(acme)
    assert token not in client.get("/api/v1/t/acme/invites/").content.decode()


@pytest.mark.django_db
def test_it_never_returns_or_audits_a_provider_key(client, acme, alice):
    raw = "sk-live-" + "x" * 40
    client.force_login(alice)
    client.post(
        "/api/v1/t/acme/providers/",
        {"name": "p", "base_url": "http://127.0.0.1:9/v1", "api_key": raw},
        content_type="application/json",
    )
    with team_scope(acme):
        from apps.llm.models import ProviderConfig

        provider = ProviderConfig.objects.get(name="p")
    assert provider.key_last4 == "xxxx"
    assert raw not in json.dumps(list(ProviderConfig.objects.unscoped().values()), default=str)
    assert raw not in _everything_stored(acme)
    for url in ("/api/v1/t/acme/providers/", f"/t/acme/llm/{provider.pk}/"):
        assert raw not in client.get(url).content.decode()
