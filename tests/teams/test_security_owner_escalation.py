"""Security review: an admin cannot become (or make) an owner through an API key.

Admins create API keys; if an `admin`-scoped key counted as an owner, an admin could invite
an owner with it and take the team over.
"""

from __future__ import annotations

import pytest

from apps.core.tenancy import team_scope
from apps.teams import services
from apps.teams.models import Invite, Membership, Role
from tests.conftest import bearer


@pytest.fixture
def admin_key(acme, bob, alice, api_key_for):
    with team_scope(acme):
        membership = Membership.objects.get(user=bob)
        services.membership_set_role(team=acme, actor=alice, membership=membership, role=Role.ADMIN)
    return api_key_for(acme, bob, scopes=["admin"])  # bob, an admin, makes the key


@pytest.mark.django_db
def test_it_refuses_an_owner_invite_made_with_an_admin_key(api_client, acme, admin_key):
    response = api_client.post(
        "/api/v1/invites/", {"role": "owner"}, format="json", **bearer(admin_key)
    )
    assert response.status_code == 403, response.content
    with team_scope(acme):
        assert not Invite.objects.filter(role=Role.OWNER).exists()
    # The key still administers: a viewer invite is fine.
    ok = api_client.post(
        "/api/v1/invites/",
        {"role": "viewer", "email": "zoe@example.test"},
        format="json",
        **bearer(admin_key),
    )
    assert ok.status_code == 201, ok.content


@pytest.mark.django_db
def test_it_refuses_owner_changes_by_any_key(acme, alice, carol, admin_key):
    from apps.core.errors import PermissionRefused
    from apps.teams.models import ApiKey

    with team_scope(acme):
        key = ApiKey.objects.get(name="test key")
        carol_membership = Membership.objects.get(user=carol)
        alice_membership = Membership.objects.get(user=alice)
        with pytest.raises(PermissionRefused):
            services.membership_set_role(
                team=acme, actor=key, membership=carol_membership, role=Role.OWNER
            )
        with pytest.raises(PermissionRefused):
            services.membership_remove(team=acme, actor=key, membership=alice_membership)
        assert Membership.objects.get(user=carol).role == Role.VIEWER
        assert Membership.objects.filter(user=alice, role=Role.OWNER).exists()
