"""Invites for the invited: an email invite admits only the account with that verified
address; an anyone-with-the-link invite is an owner's explicit choice, expiring, with a use
limit, and marked as such wherever it is shown."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import Conflict, PermissionRefused, ValidationFailed
from apps.core.tenancy import team_scope
from apps.teams import services
from apps.teams.models import AuditEvent, Invite, Membership, Role
from tests.conftest import bearer


def _invite(team, actor, **kwargs):
    kwargs.setdefault("role", "editor")
    with team_scope(team):
        return services.invite_create(team=team, actor=actor, **kwargs)


def _is_member(team, user) -> bool:
    return Membership.objects.unscoped().filter(team=team, user=user).exists()


# --- an email invite is for the one verified account -----------------------------------


def test_it_refuses_an_invite_accepted_by_the_wrong_account(client, acme, alice, dave):
    invite, token = _invite(acme, alice, email="zoe@example.test")
    with pytest.raises(PermissionRefused, match="This invite is for zoe@example.test"):
        services.invite_accept(token=token, user=dave)

    # Through the page: told up front, no join button, and a POST is refused.
    client.force_login(dave)
    url = f"/teams/invite/{token}/"
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="invite-refusal"' in html and "signed in as dave@globex.test" in html
    assert "Join Acme</button>" not in html
    refused = client.post(url)
    assert refused.status_code == 403
    assert "Log in with the invited address" in refused.content.decode()

    assert not _is_member(acme, dave)
    invite.refresh_from_db()
    assert invite.use_count == 0 and invite.is_usable  # still there for zoe


def test_it_lets_the_invited_verified_account_accept(client, acme, alice, make_user):
    _, token = _invite(acme, alice, email="Zoe@Example.test", role="viewer")
    zoe = make_user("zoe@example.test")
    client.force_login(zoe)
    assert b"Join Acme</button>" in client.get(f"/teams/invite/{token}/").content
    assert client.post(f"/teams/invite/{token}/").status_code == 302
    assert Membership.objects.unscoped().get(team=acme, user=zoe).role == "viewer"


def test_it_refuses_an_unverified_account_with_the_invited_address(
    client, acme, alice, make_user, mailoutbox, django_capture_on_commit_callbacks
):
    _, token = _invite(acme, alice, email="zoe@example.test")
    zoe = make_user("zoe@example.test", verified=False)
    with pytest.raises(PermissionRefused, match="Verify zoe@example.test first"):
        services.invite_accept(token=token, user=zoe)

    client.force_login(zoe)
    url = f"/teams/invite/{token}/"
    html = client.get(url).content.decode()
    assert "Verify zoe@example.test first" in html
    assert "Send the verification link again" in html
    assert client.post(url).status_code == 403
    assert not _is_member(acme, zoe)

    # Verifying (through the mailed link, which brings her back) lets her in.
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/verify/resend/", {"next": url})
    link = mailoutbox[-1].body.split("http://testserver", 1)[1].split()[0]
    assert client.get(link).url == url
    assert client.post(url).status_code == 302
    assert _is_member(acme, zoe)


def test_it_requires_an_email_unless_the_invite_is_anyone_with_the_link(acme, alice):
    with pytest.raises(ValidationFailed) as refused:
        _invite(acme, alice, email="")
    assert refused.value.field == "email"
    with team_scope(acme):
        assert not Invite.objects.exists()


def test_it_sends_an_anonymous_visitor_to_sign_up_with_the_invited_address(client, acme, alice):
    _, token = _invite(acme, alice, email="zoe@example.test")
    html = client.get(f"/teams/invite/{token}/").content.decode()
    assert "This invite is for <strong>zoe@example.test</strong>" in html
    signup = f"/accounts/signup/?next=/teams/invite/{token}/&amp;email=zoe%40example.test"
    assert signup in html


# --- anyone with the link: an owner's deliberate choice --------------------------------


def test_it_keeps_anyone_with_the_link_invites_to_owners(
    client, api_client, acme, alice, bob, api_key_for
):
    with team_scope(acme):
        membership = Membership.objects.get(user=bob)
        services.membership_set_role(team=acme, actor=alice, membership=membership, role="admin")
    with pytest.raises(PermissionRefused, match="Only an owner"):
        _invite(acme, bob, anyone_with_link=True)

    # Not offered to an admin on the page, and refused if posted anyway.
    client.force_login(bob)
    assert b"anyone_with_link" not in client.get("/t/acme/settings/invites/").content
    client.post("/t/acme/settings/invites/", {"role": "viewer", "anyone_with_link": "on"})
    # An admin-scoped key (never an owner) cannot make one either.
    key = api_key_for(acme, alice, scopes=["admin"])
    response = api_client.post(
        "/api/v1/invites/",
        {"role": "viewer", "anyone_with_link": True},
        format="json",
        **bearer(key),
    )
    assert response.status_code == 403
    assert not Invite.objects.unscoped().filter(anyone_with_link=True).exists()

    # The owner can, on the page, by ticking the box.
    client.force_login(alice)
    page = client.get("/t/acme/settings/invites/").content.decode()
    assert 'name="anyone_with_link"' in page
    made = client.post(
        "/t/acme/settings/invites/",
        {"role": "viewer", "anyone_with_link": "on", "use_limit": "3", "expires_in": "1h"},
    )
    assert made.status_code == 200
    invite = Invite.objects.unscoped().get(anyone_with_link=True)
    assert invite.use_limit == 3 and invite.email == ""
    assert timezone.now() + timedelta(minutes=59) < invite.expires_at
    assert invite.expires_at < timezone.now() + timedelta(minutes=61)


def test_it_admits_anyone_with_the_link_up_to_its_use_limit(acme, alice, make_user):
    invite, token = _invite(acme, alice, anyone_with_link=True, use_limit=2, role="viewer")
    first, second, third = (make_user(f"u{i}@example.test", verified=False) for i in range(3))
    services.invite_accept(token=token, user=first)  # unverified is fine: it names no one
    services.invite_accept(token=token, user=second)
    with pytest.raises(Conflict, match="expired or was already used"):
        services.invite_accept(token=token, user=third)
    assert _is_member(acme, first) and _is_member(acme, second)
    assert not _is_member(acme, third)
    invite.refresh_from_db()
    assert invite.use_count == 2 and invite.is_used_up
    with pytest.raises(Conflict), team_scope(acme):
        services.invite_revoke(team=acme, actor=alice, invite=invite)


def test_it_expires_an_anyone_with_the_link_invite(client, acme, alice, dave):
    invite, token = _invite(acme, alice, anyone_with_link=True, use_limit=5, expires_in="1d")
    assert invite.expires_at < timezone.now() + timedelta(days=1, minutes=1)
    Invite.objects.unscoped().filter(pk=invite.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(Conflict, match="expired"):
        services.invite_accept(token=token, user=dave)
    client.force_login(dave)
    assert client.get(f"/teams/invite/{token}/").status_code == 410
    assert client.post(f"/teams/invite/{token}/").status_code == 410
    assert not _is_member(acme, dave)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"email": "zoe@example.test"}, "email"),
        ({"use_limit": 0}, "use_limit"),
        ({"use_limit": 51}, "use_limit"),
        ({"expires_in": "30d"}, "expires_in"),
    ],
)
def test_it_bounds_anyone_with_the_link_invites(acme, alice, kwargs, field):
    with pytest.raises(ValidationFailed) as refused:
        _invite(acme, alice, anyone_with_link=True, **kwargs)
    assert refused.value.field == field


def test_it_marks_anyone_with_the_link_invites_everywhere(client, acme, alice, dave):
    invite, token = _invite(acme, alice, anyone_with_link=True, use_limit=2, role=Role.VIEWER)
    _invite(acme, alice, email="zoe@example.test")

    # The invite page.
    html = client.get(f"/teams/invite/{token}/").content.decode()
    assert "Anyone with the link" in html and "2 more people at most" in html

    # The settings list: the link invite is marked, the email one names its address.
    client.force_login(alice)
    listing = client.get("/t/acme/settings/invites/").content.decode()
    row = listing.split(f'data-invite-id="{invite.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "Anyone with the link" in row and "2 of 2 uses left" in row
    assert "zoe@example.test" in listing

    # The audit trail, on creation and on each use.
    services.invite_accept(token=token, user=dave)
    with team_scope(acme):
        created = AuditEvent.objects.get(verb="invite.create", target_id=str(invite.pk))
        accepted = AuditEvent.objects.get(verb="invite.accept")
        by_email = AuditEvent.objects.filter(verb="invite.create").exclude(pk=created.pk).get()
    assert created.after["for_whom"] == "anyone with the link"
    assert created.after["use_limit"] == 2
    assert created.target_label.startswith("Anyone-with-the-link invite")
    assert accepted.after["for_whom"] == "anyone with the link"
    assert accepted.after["uses"] == "1 of 2"
    assert by_email.after["for_whom"] == "zoe@example.test"
    audit_page = client.get("/t/acme/settings/audit/?verb=invite.create").content.decode()
    assert "Anyone-with-the-link invite" in audit_page

    # The API lists it as such.
    listed = client.get("/api/v1/t/acme/invites/").json()["results"]
    marked = {i["id"]: i["anyone_with_link"] for i in listed}
    assert marked[invite.pk] is True


def test_it_creates_an_anyone_with_the_link_invite_over_the_api_for_an_owner(
    api_client, acme, alice
):
    api_client.force_authenticate(alice)
    response = api_client.post(
        "/api/v1/t/acme/invites/",
        {"role": "viewer", "anyone_with_link": True, "use_limit": 4, "expires_in": "7d"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["anyone_with_link"] is True and body["use_limit"] == 4 and body["email"] == ""
    assert body["link"].startswith("http://testserver/teams/invite/")
    missing = api_client.post("/api/v1/t/acme/invites/", {"role": "viewer"}, format="json")
    assert missing.status_code == 400 and "email" in missing.json()["errors"]


# --- invites made before this change ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_it_turns_old_emailless_invites_into_single_use_links(alice):
    """The data migration: an old invite without an email was a bearer link; it stays one,
    now marked anyone-with-the-link, its creator's, one use, expiring as before."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before, after = (
        [("teams", "0003_apikey_person_and_read_scopes")],
        [("teams", "0005_invite_constraints")],
    )
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    team = old.get_model("teams", "Team").objects.create(name="Old", slug="old")
    OldInvite = old.get_model("teams", "Invite")
    expires = timezone.now() + timedelta(days=3)
    common = {"team": team, "role": "viewer", "created_by_id": alice.pk, "expires_at": expires}
    bearer_link = OldInvite.objects.create(token_hash="a" * 64, **common)
    for_zoe = OldInvite.objects.create(token_hash="b" * 64, email="zoe@example.test", **common)
    used = OldInvite.objects.create(
        token_hash="c" * 64, accepted_at=timezone.now(), accepted_by_id=alice.pk, **common
    )

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(after)
    new = executor.loader.project_state(after).apps.get_model("teams", "Invite")
    migrated = {i.pk: i for i in new.objects.all()}
    link = migrated[bearer_link.pk]
    assert link.anyone_with_link and link.use_limit == 1 and link.use_count == 0
    assert link.created_by_id == alice.pk and link.expires_at == expires
    assert not migrated[for_zoe.pk].anyone_with_link and migrated[for_zoe.pk].use_limit == 1
    assert migrated[used.pk].use_count == 1  # accepted: used up
    # The latest migrations again, for the tests after this one.
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
