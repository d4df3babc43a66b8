import pytest

from apps.core.tenancy import team_scope
from apps.teams.models import ApiKey, AuditEvent, Invite, Membership


def _membership(team, user):
    with team_scope(team):
        return Membership.objects.get(user=user)


def test_it_renders_every_settings_page_for_the_owner(client, acme, alice):
    client.force_login(alice)
    for url in (
        "/t/acme/settings/",
        "/t/acme/settings/members/",
        "/t/acme/settings/invites/",
        "/t/acme/settings/api-keys/",
        "/t/acme/settings/audit/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"Acme settings" in response.content


def test_it_shows_members_read_only_to_viewers(client, acme, carol):
    client.force_login(carol)
    response = client.get("/t/acme/settings/members/")
    assert response.status_code == 200
    assert b"Change role" not in response.content
    assert b"bob@acme.test" in response.content
    for url in (
        "/t/acme/settings/invites/",
        "/t/acme/settings/api-keys/",
        "/t/acme/settings/audit/",
    ):
        assert client.get(url).status_code == 403, url


def test_it_changes_a_role(client, acme, alice, bob):
    client.force_login(alice)
    m = _membership(acme, bob)
    response = client.post(f"/t/acme/settings/members/{m.pk}/role/", {"role": "admin"})
    assert response.status_code == 302
    assert _membership(acme, bob).role == "admin"
    assert bob.has_perm("teams.admin_team", acme)


def test_it_explains_the_last_owner_rule_next_to_the_row(client, acme, alice):
    client.force_login(alice)
    m = _membership(acme, alice)
    response = client.post(
        f"/t/acme/settings/members/{m.pk}/role/", {"role": "viewer"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert b"The last owner cannot be demoted" in response.content
    assert f'id="role-{m.pk}-error"'.encode() in response.content
    assert _membership(acme, alice).role == "owner"


def test_it_refuses_role_changes_from_a_viewer(client, acme, carol, bob):
    client.force_login(carol)
    m = _membership(acme, bob)
    response = client.post(
        f"/t/acme/settings/members/{m.pk}/role/", {"role": "viewer"}, follow=True
    )
    assert b"You do not have permission" in response.content
    assert _membership(acme, bob).role == "editor"


def test_it_removes_a_member(client, acme, alice, bob):
    client.force_login(alice)
    m = _membership(acme, bob)
    assert client.post(f"/t/acme/settings/members/{m.pk}/remove/").status_code == 302
    with team_scope(acme):
        assert not Membership.objects.filter(user=bob).exists()
    assert not bob.has_perm("teams.view_team", acme)


def test_it_shows_the_invite_link_once(
    client, acme, alice, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/t/acme/settings/invites/", {"role": "editor", "email": "new@acme.test"}, follow=True
        )
    assert response.status_code == 200
    link = response.context["link"]
    assert "/teams/invite/" in link
    assert link.encode() in response.content
    assert link not in client.get("/t/acme/settings/invites/").content.decode()
    assert len(mailoutbox) == 1 and link in mailoutbox[0].body
    with team_scope(acme):
        assert Invite.objects.count() == 1


def test_it_shows_the_api_key_once(client, acme, alice):
    client.force_login(alice)
    response = client.post(
        "/t/acme/settings/api-keys/",
        {"name": "ci", "scopes": ["prompts:read", "prompts:write"], "environment": "staging"},
        HTTP_HX_REQUEST="true",
    )
    secret = response.context["secret"]
    assert secret.startswith("pyd_") and secret.encode() in response.content
    again = client.get("/t/acme/settings/api-keys/").content.decode()
    assert secret not in again
    with team_scope(acme):
        key = ApiKey.objects.get()
    assert key.prefix in again and "staging" in again
    assert client.post(f"/t/acme/settings/api-keys/{key.pk}/revoke/").status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_it_shows_api_key_form_errors_next_to_fields(client, acme, alice):
    client.force_login(alice)
    response = client.post("/t/acme/settings/api-keys/", {"name": "", "scopes": []})
    assert response.status_code == 200
    assert b'class="field-error"' in response.content


def test_it_saves_protected_tags_and_retention(client, acme, alice):
    client.force_login(alice)
    client.post("/t/acme/settings/protected-tags/", {"protected_tags": "production, staging"})
    client.post("/t/acme/settings/retention/", {"trace_retention_days": "14"})
    acme.refresh_from_db()
    assert acme.protected_tags == ["production", "staging"]
    assert acme.trace_retention_days == 14
    bad = client.post(
        "/t/acme/settings/protected-tags/", {"protected_tags": "Bad Tag!"}, HTTP_HX_REQUEST="true"
    )
    assert bad.status_code == 200 and b"field-error" in bad.content
    with team_scope(acme):
        assert AuditEvent.objects.filter(verb="team.trace_retention").count() == 1


@pytest.mark.parametrize("logged_in", [True, False])
def test_it_accepts_an_invite(client, acme, alice, dave, logged_in):
    from apps.teams.services import invite_create

    with team_scope(acme):
        _, token = invite_create(team=acme, actor=alice, role="viewer", email=dave.email)
    url = f"/teams/invite/{token}/"
    if logged_in:
        client.force_login(dave)
    else:
        page = client.get(url)
        assert b"Sign up and join" in page.content
        assert b"email=dave%40globex.test" in page.content  # sign-up arrives filled in
        assert client.post(url).status_code == 302  # to log in first
        client.force_login(dave)
    assert b"Join Acme" in client.get(url).content
    response = client.post(url)
    assert response.status_code == 302
    assert _membership(acme, dave).role == "viewer"
    again = client.get(url)
    assert again.status_code == 302  # already a member: to the team


def test_it_revokes_an_invite_in_place(client, acme, alice):
    from apps.teams.services import invite_create

    with team_scope(acme):
        invite, token = invite_create(team=acme, actor=alice, role="viewer", email="z@example.test")
    client.force_login(alice)
    response = client.post(f"/t/acme/settings/invites/{invite.pk}/revoke/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    content = response.content.decode()
    assert "<html" not in content
    assert "field-error" not in content  # the invite form is fresh, not a failed submission
    assert "No pending invites" in content and "revoked" in content
    assert 'hx-swap-oob="true"' in content and "Invite revoked" in content
    client.logout()
    assert client.get(f"/teams/invite/{token}/").status_code == 410


def test_it_answers_405_to_writes_on_read_only_pages(client, acme, alice):
    client.force_login(alice)
    for url in ("/t/acme/settings/", "/t/acme/settings/members/", "/t/acme/settings/audit/"):
        assert client.post(url).status_code == 405, url


def test_it_keeps_settings_pages_to_a_flat_number_of_queries(
    client, acme, alice, make_user, django_assert_max_num_queries
):
    from apps.teams.services import api_key_create, audit_record
    from tests.conftest import add_member

    client.force_login(alice)
    client.get("/t/acme/settings/members/")  # warm the session

    def measure(url):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    urls = ["/t/acme/settings/members/", "/t/acme/settings/api-keys/", "/t/acme/settings/audit/"]
    before = {url: measure(url) for url in urls}
    for i in range(10):
        add_member(acme, make_user(f"extra{i}@acme.test"), "viewer")
    with team_scope(acme):
        for i in range(10):
            api_key_create(team=acme, actor=alice, name=f"k{i}", scopes=["prompts:read"])
            audit_record(team=acme, actor=alice, verb="test.event")
    for url in urls:
        with django_assert_max_num_queries(before[url]):
            client.get(url)
