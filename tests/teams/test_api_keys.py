"""API keys: shown once, then authenticate; revoked, foreign, unscoped and malformed keys fail."""

import pytest

from apps.core.tenancy import team_scope
from apps.teams.keys import api_key_authenticate
from apps.teams.models import ApiKey, AuditEvent
from apps.teams.services import api_key_create, api_key_revoke
from tests.conftest import bearer

MEMBERS = "/api/v1/members/"


def test_it_stores_only_a_prefix_and_a_keyed_hash(acme, alice):
    with team_scope(acme):
        key, raw = api_key_create(team=acme, actor=alice, name="ci", scopes=["admin"])
    assert raw.startswith(f"pyd_{key.prefix}_")
    stored = ApiKey.objects.unscoped().get(pk=key.pk)
    assert raw not in (stored.hashed_key, stored.prefix, stored.name)
    assert len(stored.hashed_key) == 64
    assert api_key_authenticate(raw) == stored
    assert api_key_authenticate(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None


def test_it_works_once_shown(api_client, acme, alice, api_key_for):
    raw = api_key_for(acme, alice, scopes=["admin"])
    response = api_client.get(MEMBERS, **bearer(raw))
    assert response.status_code == 200
    emails = {m["email"] for m in response.json()["results"]}
    assert emails == {"alice@acme.test", "bob@acme.test", "carol@acme.test", "erin@acme.test"}
    assert ApiKey.objects.unscoped().get().last_used_at is not None


def test_it_refuses_a_revoked_key_with_401(api_client, acme, alice, api_key_for):
    raw = api_key_for(acme, alice, scopes=["admin"])
    with team_scope(acme):
        api_key_revoke(team=acme, actor=alice, key=ApiKey.objects.get())
    response = api_client.get(MEMBERS, **bearer(raw))
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_it_answers_404_for_a_key_under_another_teams_url(
    api_client, acme, globex, dave, api_key_for
):
    raw = api_key_for(globex, dave, scopes=["admin"])
    assert api_client.get("/api/v1/t/acme/members/", **bearer(raw)).status_code == 404
    own = api_client.get("/api/v1/t/globex/members/", **bearer(raw))
    assert own.status_code == 200
    assert [m["email"] for m in own.json()["results"]] == ["dave@globex.test"]


def test_it_answers_403_when_the_scope_is_missing(api_client, acme, alice, api_key_for):
    raw = api_key_for(acme, alice, scopes=["prompts:read", "prompts:write"])
    response = api_client.get(MEMBERS, **bearer(raw))
    assert response.status_code == 403
    assert "admin" in response.json()["detail"]
    assert api_client.post("/api/v1/api-keys/", {}, format="json", **bearer(raw)).status_code == 403


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer not-a-key", "Bearer pyd_", "Bearer pyd_deadbeef_nope"],
)
def test_it_answers_401_to_a_malformed_or_unknown_key(api_client, acme, header):
    response = api_client.get(MEMBERS, HTTP_AUTHORIZATION=header)
    assert response.status_code == 401
    assert response.json().get("results") is None


def test_it_answers_401_without_credentials(api_client, acme):
    assert api_client.get(MEMBERS).status_code == 401


def test_it_creates_lists_and_revokes_keys_over_the_api(api_client, acme, alice, api_key_for):
    admin_key = api_key_for(acme, alice, scopes=["admin"], name="automation")
    created = api_client.post(
        "/api/v1/api-keys/",
        {"name": "prod app", "scopes": ["prompts:read"], "environment": "production"},
        format="json",
        **bearer(admin_key),
    )
    assert created.status_code == 201
    body = created.json()
    new_raw = body["key"]
    assert new_raw.startswith(f"pyd_{body['prefix']}_")
    assert body["environment"] == "production"

    listed = api_client.get("/api/v1/api-keys/", **bearer(admin_key)).json()["results"]
    assert {k["name"] for k in listed} == {"automation", "prod app"}
    assert all("key" not in k and "hashed_key" not in k for k in listed)

    # The new key reads prompts but cannot administer.
    assert api_client.get(MEMBERS, **bearer(new_raw)).status_code == 403
    revoked = api_client.post(f"/api/v1/api-keys/{body['id']}/revoke/", **bearer(admin_key))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert api_client.get(MEMBERS, **bearer(new_raw)).status_code == 401

    with team_scope(acme):
        event = AuditEvent.objects.get(verb="api_key.create", target_label__startswith="prod app")
    assert event.actor_api_key is not None and event.actor_label.startswith("API key automation")


def test_it_validates_key_creation(api_client, acme, alice, api_key_for):
    admin_key = api_key_for(acme, alice, scopes=["admin"])
    response = api_client.post(
        "/api/v1/api-keys/", {"name": "x", "scopes": ["root"]}, format="json", **bearer(admin_key)
    )
    assert response.status_code == 400
    response = api_client.post(
        "/api/v1/api-keys/", {"name": "x", "scopes": []}, format="json", **bearer(admin_key)
    )
    assert response.status_code == 400
    assert response.json()["errors"]["scopes"]


def test_it_cannot_revoke_another_teams_key(api_client, acme, alice, globex, dave, api_key_for):
    api_key_for(acme, alice, scopes=["prompts:read"])
    acme_key = ApiKey.objects.unscoped().get(team=acme)
    globex_admin = api_key_for(globex, dave, scopes=["admin"])
    response = api_client.post(f"/api/v1/api-keys/{acme_key.pk}/revoke/", **bearer(globex_admin))
    assert response.status_code == 404
    acme_key.refresh_from_db()
    assert acme_key.revoked_at is None


def test_it_lets_session_members_use_the_team_url(client, acme, alice, carol):
    client.force_login(alice)
    assert client.get("/api/v1/t/acme/api-keys/").status_code == 200
    client.force_login(carol)
    assert client.get("/api/v1/t/acme/members/").status_code == 200
    assert client.get("/api/v1/t/acme/api-keys/").status_code == 403
    assert client.get("/api/v1/t/acme/audit-events/").status_code == 403


def test_it_describes_the_team_admin_api_in_the_schema(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    for path in (
        "/api/v1/members/",
        "/api/v1/api-keys/",
        "/api/v1/api-keys/{key_id}/revoke/",
        "/api/v1/audit-events/",
    ):
        assert path in schema["paths"], path
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"]["scheme"] == "bearer"
