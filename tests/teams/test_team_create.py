import pytest

from apps.core.tenancy import TenancyError, team_scope
from apps.teams.models import PERM_ADMIN, PERM_EDIT, PERM_VIEW, Membership


def test_it_makes_the_creator_owner(acme, alice):
    with team_scope(acme):
        assert Membership.objects.get(user=alice).role == "owner"
    assert alice.has_perm(PERM_ADMIN, acme)


def test_it_grants_roles_through_groups(acme, bob, carol, dave):
    assert bob.has_perm(PERM_EDIT, acme) and not bob.has_perm(PERM_ADMIN, acme)
    assert carol.has_perm(PERM_VIEW, acme) and not carol.has_perm(PERM_EDIT, acme)
    assert not dave.has_perm(PERM_VIEW, acme)


def test_it_refuses_queries_outside_a_team_scope(acme):
    with pytest.raises(TenancyError):
        list(Membership.objects.all())


def test_it_serves_the_team_pages_to_members_only(client, acme, alice, dave):
    client.force_login(dave)
    assert client.get("/t/acme/prompts/").status_code == 404
    client.force_login(alice)
    assert client.get("/t/acme/prompts/").status_code == 200


def test_it_creates_a_team_through_the_form(client, alice):
    from apps.teams.models import AuditEvent, Team

    client.force_login(alice)
    response = client.post("/teams/new/", {"name": "Rocket", "slug": "rocket"})
    assert response.status_code == 302
    assert response.url == "/t/rocket/settings/members/"
    team = Team.objects.get(slug="rocket")
    with team_scope(team):
        assert Membership.objects.get().user == alice
        assert AuditEvent.objects.get().verb == "team.create"
    assert alice.has_perm("teams.own_team", team)
    assert client.get("/").url == "/t/rocket/"


def test_it_explains_a_taken_or_invalid_slug_next_to_the_field(client, acme, dave):
    client.force_login(dave)
    taken = client.post("/teams/new/", {"name": "Acme 2", "slug": "acme"})
    assert taken.status_code == 200
    assert "That slug is taken" in taken.content.decode()
    assert 'id="id_slug-error"' in taken.content.decode()
    bad = client.post("/teams/new/", {"name": "X", "slug": "Not A Slug"})
    assert "lowercase letters" in bad.content.decode()
    assert not Membership.objects.unscoped().filter(user=dave, team__slug="acme").exists()


def test_the_slug_is_filled_from_the_name_by_a_static_script(client, alice):
    client.force_login(alice)
    body = client.get("/teams/new/").content.decode()
    assert 'src="/static/teams/team-create.js"' in body
    assert "data-from-name" in body
    # No inline script (the page runs under a CSP that forbids them).
    assert "<script>" not in body and "onload=" not in body
