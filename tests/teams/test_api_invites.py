"""Invites over the API: list pending, create (the link shown once), revoke; admin scope only."""

from apps.core.tenancy import team_scope
from apps.teams.models import AuditEvent, Invite
from apps.teams.services import invite_create
from tests.conftest import bearer

INVITES = "/api/v1/invites/"


def test_it_creates_lists_and_revokes_invites(api_client, acme, alice, api_key_for):
    admin_key = api_key_for(acme, alice, scopes=["admin"])
    created = api_client.post(
        INVITES, {"role": "editor", "email": "Zoe@Example.test"}, format="json", **bearer(admin_key)
    )
    assert created.status_code == 201
    body = created.json()
    assert body["role"] == "editor" and body["email"] == "zoe@example.test"
    assert body["link"].startswith("http://testserver/teams/invite/")
    token = body["link"].rstrip("/").rsplit("/", 1)[-1]
    assert Invite.objects.unscoped().get(pk=body["id"]).token_hash != token  # stored hashed

    listed = api_client.get(INVITES, **bearer(admin_key)).json()["results"]
    assert [i["id"] for i in listed] == [body["id"]]
    assert all("link" not in i and "token_hash" not in i for i in listed)

    assert api_client.get(body["link"]).status_code == 200  # the link works

    revoked = api_client.post(f"{INVITES}{body['id']}/revoke/", **bearer(admin_key))
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert api_client.get(INVITES, **bearer(admin_key)).json()["results"] == []
    with team_scope(acme):
        assert AuditEvent.objects.filter(verb="invite.revoke").count() == 1


def test_it_validates_the_role(api_client, acme, alice, api_key_for):
    admin_key = api_key_for(acme, alice, scopes=["admin"])
    response = api_client.post(INVITES, {"role": "root"}, format="json", **bearer(admin_key))
    assert response.status_code == 400


def test_it_needs_the_admin_scope_and_role(api_client, acme, alice, bob, api_key_for):
    no_scope = api_key_for(acme, alice, scopes=["prompts:write"])
    assert api_client.get(INVITES, **bearer(no_scope)).status_code == 403
    response = api_client.post(INVITES, {"role": "viewer"}, format="json", **bearer(no_scope))
    assert response.status_code == 403

    api_client.force_authenticate(bob)  # an editor, signed in
    assert api_client.get(f"/api/v1/t/{acme.slug}/invites/").status_code == 403
    response = api_client.post(f"/api/v1/t/{acme.slug}/invites/", {"role": "viewer"}, format="json")
    assert response.status_code == 403
    assert not Invite.objects.unscoped().exists()


def test_it_cannot_revoke_another_teams_invite(api_client, acme, alice, globex, dave, api_key_for):
    with team_scope(acme):
        invite, _ = invite_create(team=acme, actor=alice, role="viewer", email="z@example.test")
    globex_admin = api_key_for(globex, dave, scopes=["admin"])
    response = api_client.post(f"{INVITES}{invite.pk}/revoke/", **bearer(globex_admin))
    assert response.status_code == 404
    assert Invite.objects.unscoped().get(pk=invite.pk).revoked_at is None
