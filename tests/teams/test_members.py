"""Members and invites: the last owner stays, invites work once and expire."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import Conflict, NotFound
from apps.core.tenancy import team_scope
from apps.teams import services
from apps.teams.models import AuditEvent, Invite, Membership


def _m(team, user):
    with team_scope(team):
        return Membership.objects.get(user=user)


def test_it_keeps_the_last_owner(acme, alice):
    with team_scope(acme):
        me = Membership.objects.get(user=alice)
        with pytest.raises(Conflict, match="last owner cannot be demoted"):
            services.membership_set_role(team=acme, actor=alice, membership=me, role="admin")
        with pytest.raises(Conflict, match="last owner cannot be removed"):
            services.membership_remove(team=acme, actor=alice, membership=me)
    assert _m(acme, alice).role == "owner"
    assert alice.has_perm("teams.own_team", acme)


def test_it_lets_an_owner_step_down_once_another_owner_exists(acme, alice, bob):
    with team_scope(acme):
        bob_m = Membership.objects.get(user=bob)
        services.membership_set_role(team=acme, actor=alice, membership=bob_m, role="owner")
        me = Membership.objects.get(user=alice)
        services.membership_set_role(team=acme, actor=alice, membership=me, role="editor")
        # bob is now the last owner
        with pytest.raises(Conflict):
            services.membership_remove(team=acme, actor=bob, membership=bob_m)
    assert _m(acme, alice).role == "editor"


def test_it_lets_a_member_leave(acme, carol):
    with team_scope(acme):
        services.membership_remove(team=acme, actor=carol, membership=_m(acme, carol))
        assert not Membership.objects.filter(user=carol).exists()
        assert AuditEvent.objects.filter(verb="membership.remove").count() == 1


def test_it_records_role_changes_in_the_audit_trail(acme, alice, bob):
    with team_scope(acme):
        services.membership_set_role(team=acme, actor=alice, membership=_m(acme, bob), role="admin")
        event = AuditEvent.objects.get(verb="membership.role_change")
    assert event.before == {"role": "editor"}
    assert event.after["role"] == "admin"
    assert event.actor_user == alice


def test_it_accepts_an_invite_once(acme, alice, dave, make_user):
    with team_scope(acme):
        invite, token = services.invite_create(
            team=acme, actor=alice, role="annotator", anyone_with_link=True
        )
    assert invite.token_hash != token and token not in invite.token_hash
    membership = services.invite_accept(token=token, user=dave)
    assert membership.role == "annotator"
    assert dave.has_perm("teams.annotate_team", acme)
    other = make_user("other@acme.test")
    with pytest.raises(Conflict, match="expired or was already used"):
        services.invite_accept(token=token, user=other)
    with team_scope(acme):
        assert not Membership.objects.filter(user=other).exists()


def test_it_refuses_an_expired_invite(acme, alice, dave):
    with team_scope(acme):
        invite, token = services.invite_create(
            team=acme, actor=alice, role="viewer", email=dave.email
        )
    Invite.objects.unscoped().filter(pk=invite.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(Conflict):
        services.invite_accept(token=token, user=dave)


def test_it_refuses_a_revoked_invite(acme, alice, dave):
    with team_scope(acme):
        invite, token = services.invite_create(
            team=acme, actor=alice, role="viewer", email=dave.email
        )
        services.invite_revoke(team=acme, actor=alice, invite=invite)
    with pytest.raises(Conflict):
        services.invite_accept(token=token, user=dave)


def test_it_refuses_an_unknown_token(acme):
    with pytest.raises(NotFound):
        services.invite_accept(token="nope", user=None)


def test_it_does_not_use_up_an_invite_on_an_existing_member(acme, alice, bob, dave):
    with team_scope(acme):
        invite, token = services.invite_create(
            team=acme, actor=alice, role="viewer", anyone_with_link=True
        )
    with pytest.raises(Conflict, match="already a member"):
        services.invite_accept(token=token, user=bob)
    services.invite_accept(token=token, user=dave)


def test_it_shows_expired_invites_as_gone(client, acme, alice, dave):
    with team_scope(acme):
        invite, token = services.invite_create(
            team=acme, actor=alice, role="viewer", email=dave.email
        )
    Invite.objects.unscoped().filter(pk=invite.pk).update(expires_at=timezone.now())
    client.force_login(dave)
    response = client.get(f"/teams/invite/{token}/")
    assert response.status_code == 410
    assert b"expired or was already used" in response.content
    assert client.get("/teams/invite/not-a-token/").status_code == 404


def test_it_cannot_revoke_another_teams_invite(acme, alice, globex, dave):
    with team_scope(acme):
        invite, _ = services.invite_create(
            team=acme, actor=alice, role="viewer", email="zoe@example.test"
        )
    with team_scope(globex), pytest.raises(NotFound):
        services.invite_revoke(team=globex, actor=dave, invite=invite)
