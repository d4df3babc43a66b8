"""The role matrix: which team-administration actions each role may take.

Every action goes through the same service the pages and the API call, so a refusal here
is a refusal everywhere."""

import pytest

from apps.core.errors import PermissionRefused
from apps.core.tenancy import team_scope
from apps.teams import selectors, services
from apps.teams.models import PERM_ANNOTATE, PERM_EDIT, PERM_VIEW, ApiKey, Membership

ROLES = ["owner", "admin", "editor", "annotator", "viewer"]
ADMINS = {"owner", "admin"}


@pytest.fixture
def actor_with_role(acme, make_user):
    """A fresh member of acme with the given role (alice stays the owner)."""
    from tests.conftest import add_member

    def make(role):
        user = make_user(f"{role}-actor@acme.test")
        add_member(acme, user, role)
        return user

    return make


def _manage_members(team, actor, bob):
    membership = Membership.objects.get(user=bob)
    services.membership_set_role(team=team, actor=actor, membership=membership, role="viewer")


def _remove_member(team, actor, bob):
    services.membership_remove(team=team, actor=actor, membership=Membership.objects.get(user=bob))


def _create_key(team, actor, bob):
    services.api_key_create(team=team, actor=actor, name="k", scopes=["prompts:read"])


def _revoke_key(team, actor, bob):
    key = ApiKey.objects.get(name="existing")
    services.api_key_revoke(team=team, actor=actor, key=key)


def _invite(team, actor, bob):
    services.invite_create(team=team, actor=actor, role="editor", email="zoe@example.test")


def _protected_tags(team, actor, bob):
    services.team_set_protected_tags(team=team, actor=actor, tags=["production", "staging"])


def _retention(team, actor, bob):
    services.team_set_trace_retention(team=team, actor=actor, days=7)


def _view_audit(team, actor, bob):
    list(selectors.audit_events(team=team, actor=actor))


def _view_keys(team, actor, bob):
    list(selectors.api_keys_list(team=team, actor=actor))


ADMIN_ACTIONS = {
    "manage members": _manage_members,
    "remove a member": _remove_member,
    "create API keys": _create_key,
    "revoke API keys": _revoke_key,
    "invite": _invite,
    "set protected tags": _protected_tags,
    "set trace retention": _retention,
    "view audit": _view_audit,
    "view API keys": _view_keys,
}


@pytest.mark.parametrize("action", ADMIN_ACTIONS, ids=str)
@pytest.mark.parametrize("role", ROLES)
def test_it_lets_only_owners_and_admins_administer(acme, alice, bob, actor_with_role, role, action):
    actor = actor_with_role(role)
    with team_scope(acme):
        services.api_key_create(team=acme, actor=alice, name="existing", scopes=["admin"])
        if role in ADMINS:
            ADMIN_ACTIONS[action](acme, actor, bob)
        else:
            with pytest.raises(PermissionRefused):
                ADMIN_ACTIONS[action](acme, actor, bob)


@pytest.mark.parametrize("role", ROLES)
def test_it_lets_every_member_see_the_members(acme, actor_with_role, role):
    actor = actor_with_role(role)
    with team_scope(acme):
        assert selectors.members_list(team=acme, actor=actor).count() == 5


@pytest.mark.parametrize(
    ("role", "perms"),
    [
        ("owner", {PERM_VIEW, PERM_ANNOTATE, PERM_EDIT}),
        ("admin", {PERM_VIEW, PERM_ANNOTATE, PERM_EDIT}),
        ("editor", {PERM_VIEW, PERM_ANNOTATE, PERM_EDIT}),
        ("annotator", {PERM_VIEW, PERM_ANNOTATE}),
        ("viewer", {PERM_VIEW}),
    ],
)
def test_it_grants_content_permissions_by_role(acme, actor_with_role, role, perms):
    actor = actor_with_role(role)
    for perm in (PERM_VIEW, PERM_ANNOTATE, PERM_EDIT):
        assert actor.has_perm(perm, acme) is (perm in perms), perm


def test_it_keeps_the_owner_role_to_owners(acme, alice, bob, actor_with_role):
    admin = actor_with_role("admin")
    with team_scope(acme):
        membership = Membership.objects.get(user=bob)
        with pytest.raises(PermissionRefused):
            services.membership_set_role(
                team=acme, actor=admin, membership=membership, role="owner"
            )
        with pytest.raises(PermissionRefused):
            services.invite_create(team=acme, actor=admin, role="owner")
        alice_membership = Membership.objects.get(user=alice)
        with pytest.raises(PermissionRefused):
            services.membership_remove(team=acme, actor=admin, membership=alice_membership)
        services.membership_set_role(team=acme, actor=alice, membership=membership, role="owner")
    assert bob.has_perm("teams.own_team", acme)


def test_it_updates_permissions_when_the_role_changes(acme, alice, carol):
    assert not carol.has_perm(PERM_EDIT, acme)
    with team_scope(acme):
        membership = Membership.objects.get(user=carol)
        services.membership_set_role(team=acme, actor=alice, membership=membership, role="editor")
    from apps.accounts.models import User

    carol = User.objects.get(pk=carol.pk)  # guardian caches permissions per instance
    assert carol.has_perm(PERM_EDIT, acme)
    assert not carol.has_perm("teams.admin_team", acme)


def test_it_gives_nothing_to_outsiders(acme, globex, dave):
    for perm in (PERM_VIEW, PERM_ANNOTATE, PERM_EDIT, "teams.admin_team", "teams.own_team"):
        assert not dave.has_perm(perm, acme)
    with team_scope(acme), pytest.raises(PermissionRefused):
        selectors.members_list(team=acme, actor=dave)


@pytest.mark.parametrize(("scopes", "allowed"), [(["admin"], True), (["prompts:write"], False)])
def test_it_lets_only_admin_scoped_keys_administer(acme, alice, scopes, allowed):
    with team_scope(acme):
        key, _ = services.api_key_create(team=acme, actor=alice, name="auto", scopes=scopes)
        if allowed:
            services.invite_create(team=acme, actor=key, role="viewer", email="zoe@example.test")
            list(selectors.audit_events(team=acme, actor=key))
        else:
            with pytest.raises(PermissionRefused):
                services.invite_create(team=acme, actor=key, role="viewer")
            with pytest.raises(PermissionRefused):
                list(selectors.audit_events(team=acme, actor=key))


def test_it_does_not_let_a_key_pass_as_a_member_leaving(acme, alice, bob):
    """An API key whose id equals a member's user id must not 'leave' for them."""
    with team_scope(acme):
        key, _ = services.api_key_create(team=acme, actor=alice, name="k", scopes=["prompts:write"])
        membership = Membership.objects.get(user=bob)
        key.pk = bob.pk  # the shape of the old bug: identity compared across kinds
        with pytest.raises(PermissionRefused):
            services.membership_remove(team=acme, actor=key, membership=membership)
