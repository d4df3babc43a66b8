"""A principal behind every key: a key acts for the person who made it (through any chain
of keys), with the lesser of its scopes and that person's current role; four-eyes compares
persons; a person who leaves takes their keys along; the audit trail names both."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from apps.core.tenancy import team_scope
from apps.teams import services
from apps.teams.keys import api_key_authenticate
from apps.teams.models import PERM_EDIT, ApiKey, AuditEvent, Membership
from apps.teams.permissions import actor_can
from tests.conftest import bearer
from tests.sdk.world import make_prompt, unprotect

SERVE = "/api/v1/prompts/greeting/?tag=production"


def _set_role(team, actor, user, role):
    with team_scope(team):
        membership = Membership.objects.get(user=user)
        services.membership_set_role(team=team, actor=actor, membership=membership, role=role)


def _remove(team, actor, user):
    with team_scope(team):
        membership = Membership.objects.get(user=user)
        services.membership_remove(team=team, actor=actor, membership=membership)


def _key_row(raw) -> ApiKey:
    return ApiKey.objects.unscoped().get(prefix=raw.split("_")[1])


@pytest.fixture
def bob_admin(acme, alice, bob):
    _set_role(acme, alice, bob, "admin")
    return bob


@pytest.fixture
def greeting(acme, alice):
    """A prompt `greeting` served at production (the SDK's path)."""
    unprotect(acme, alice)
    return make_prompt(acme, alice, templates=("Hello {{ name }}",))


# --- the person behind a key --------------------------------------------------------------


def test_a_key_made_with_a_key_belongs_to_that_keys_person(api_client, acme, alice, api_key_for):
    first = api_key_for(acme, alice, scopes=["admin"], name="first")
    made = api_client.post(
        "/api/v1/api-keys/", {"name": "minted", "scopes": ["admin"]}, format="json", **bearer(first)
    )
    assert made.status_code == 201, made.content
    assert made.json()["created_by"] == "alice@acme.test"
    again = api_client.post(
        "/api/v1/api-keys/",
        {"name": "grandchild", "scopes": ["prompts:read"]},
        format="json",
        **bearer(made.json()["key"]),
    )
    minted, grandchild = _key_row(made.json()["key"]), _key_row(again.json()["key"])
    assert minted.created_by == alice and minted.created_with_key == _key_row(first)
    assert grandchild.created_by == alice and grandchild.created_with_key == minted


def test_key_mints_key_then_self_approval_is_refused(
    api_client, client, acme, alice, bob, api_key_for
):
    """The four-eyes bypass of issue 14: an admin mints a key with their own key and
    approves their own promotion with it."""
    make_prompt(acme, alice, name="faq", templates=("A {{ q }}",), tag=None)
    first = api_key_for(acme, alice, scopes=["admin"], name="first")
    minted = api_client.post(
        "/api/v1/api-keys/", {"name": "minted", "scopes": ["admin"]}, format="json", **bearer(first)
    ).json()["key"]
    requested = api_client.post(
        "/api/v1/promotions/",
        {"prompt": "faq", "tag_name": "production", "candidate": 1},
        format="json",
        **bearer(first),
    )
    assert requested.status_code == 201, requested.content
    promotion = requested.json()["id"]

    for decision, body in (("approve", {}), ("reject", {"comment": "mine anyway"})):
        refused = api_client.post(
            f"/api/v1/promotions/{promotion}/{decision}/", body, format="json", **bearer(minted)
        )
        assert refused.status_code == 403, (decision, refused.content)
        assert "teammate" in refused.json()["detail"]
    # Nor through alice's session, nor by a key minted by the minted key.
    client.force_login(alice)
    by_session = client.post(
        f"/api/v1/t/acme/promotions/{promotion}/approve/", {}, content_type="application/json"
    )
    assert by_session.status_code == 403
    grandchild = api_client.post(
        "/api/v1/api-keys/", {"name": "again", "scopes": ["admin"]}, format="json", **bearer(minted)
    ).json()["key"]
    assert (
        api_client.post(
            f"/api/v1/promotions/{promotion}/approve/", {}, format="json", **bearer(grandchild)
        ).status_code
        == 403
    )
    assert api_client.get(SERVE.replace("greeting", "faq"), **bearer(first)).status_code == 404

    # A teammate (another person) may approve, with their own key.
    _set_role(acme, alice, bob, "admin")
    teammate = api_key_for(acme, bob, scopes=["admin"], name="bob's")
    approved = api_client.post(
        f"/api/v1/promotions/{promotion}/approve/", {}, format="json", **bearer(teammate)
    )
    assert approved.status_code == 200, approved.content
    assert api_client.get(SERVE.replace("greeting", "faq"), **bearer(first)).status_code == 200


def test_a_session_request_cannot_be_approved_by_the_same_persons_minted_key(
    api_client, client, acme, alice, api_key_for
):
    make_prompt(acme, alice, name="faq", templates=("A {{ q }}",), tag=None)
    client.force_login(alice)
    requested = client.post(
        "/api/v1/t/acme/promotions/",
        {"prompt": "faq", "candidate": 1},
        content_type="application/json",
    )
    assert requested.status_code == 201
    first = api_key_for(acme, alice, scopes=["admin"], name="first")
    minted = api_client.post(
        "/api/v1/api-keys/", {"name": "minted", "scopes": ["admin"]}, format="json", **bearer(first)
    ).json()["key"]
    refused = api_client.post(
        f"/api/v1/promotions/{requested.json()['id']}/approve/", {}, **bearer(minted)
    )
    assert refused.status_code == 403


# --- a person who leaves takes their keys along ------------------------------------------


def _get_routes_without_ids():
    """Every API route under /api/v1/ that takes no id: one or more per area."""

    def walk(resolver, prefix=""):
        for entry in resolver.url_patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                yield from walk(entry, route)
            elif isinstance(entry, URLPattern):
                cls = getattr(entry.callback, "cls", None)
                if (
                    route.startswith("api/v1/")
                    and not route.startswith("api/v1/t/")
                    and "<" not in route
                    and cls is not None
                    and hasattr(cls, "get")
                ):
                    yield "/" + route

    return sorted(set(walk(get_resolver())))


def test_a_removed_members_keys_are_refused_on_every_api_area_and_the_serving_path(
    api_client, client, acme, alice, bob_admin, greeting, api_key_for
):
    raw = api_key_for(acme, bob_admin, scopes=["admin"], name="ci-bot")
    routes = _get_routes_without_ids()
    assert len(routes) >= 12, routes
    for path in routes:  # every area answers the key while bob is a member
        assert api_client.get(path, **bearer(raw)).status_code not in (401, 403), path
    assert api_client.get(SERVE, **bearer(raw)).status_code == 200  # warm: remembered
    assert api_client.get(SERVE, **bearer(raw)).status_code == 200

    _remove(acme, alice, bob_admin)

    served = api_client.get(SERVE, **bearer(raw))
    assert served.status_code == 401
    assert served.json()["detail"] == "This API key was revoked: Bob left the team."
    for path in routes:
        assert api_client.get(path, **bearer(raw)).status_code == 401, path
    for path, body in (
        ("/api/v1/api-keys/", {"name": "back door", "scopes": ["admin"]}),
        ("/api/v1/invites/", {"role": "admin", "email": "bob@acme.test"}),
        ("/api/v1/prompts/", {"name": "sneaky"}),
    ):
        assert api_client.post(path, body, format="json", **bearer(raw)).status_code == 401, path
    assert api_client.post("/v1/traces", {}, format="json", **bearer(raw)).status_code == 401

    key = _key_row(raw)
    assert key.revoked_at is not None and key.revoked_reason == "Bob left the team"
    with team_scope(acme):
        event = AuditEvent.objects.get(verb="api_key.revoke", target_id=str(key.pk))
    assert event.actor_user == alice and event.after == {"reason": "Bob left the team"}
    client.force_login(alice)
    page = client.get("/t/acme/settings/api-keys/")
    assert "revoked: Bob left the team" in page.content.decode()


def test_a_key_whose_person_is_no_longer_a_member_is_refused_even_unrevoked(
    api_client, acme, alice, bob_admin, greeting, api_key_for
):
    """However the membership goes (here: deleted outside the services, as deleting the
    account does), the key stops at once, remembered or not."""
    raw = api_key_for(acme, bob_admin, scopes=["prompts:read", "datasets:read"])
    assert api_client.get(SERVE, **bearer(raw)).status_code == 200
    Membership.objects.unscoped().filter(team=acme, user=bob_admin).delete()
    assert _key_row(raw).revoked_at is None
    for path in (SERVE, "/api/v1/datasets/"):
        response = api_client.get(path, **bearer(raw))
        assert response.status_code == 401, path
        assert "no longer a member" in response.json()["detail"]


# --- the lesser of the key's scopes and the person's role --------------------------------


def test_demotion_narrows_a_key_at_once(
    api_client, client, acme, alice, bob_admin, greeting, api_key_for
):
    raw = api_key_for(acme, bob_admin, scopes=["admin"], name="ci-bot")
    assert api_client.get("/api/v1/members/", **bearer(raw)).status_code == 200
    assert api_key_authenticate(raw, remember=True).person_role == "admin"  # remembered

    _set_role(acme, alice, bob_admin, "editor")
    members = api_client.get("/api/v1/members/", **bearer(raw))
    assert members.status_code == 403
    assert "no longer allows" in members.json()["detail"]
    assert api_key_authenticate(raw, remember=True).person_role == "editor"  # forgotten at once
    minted = api_client.post(
        "/api/v1/api-keys/", {"name": "x", "scopes": ["admin"]}, format="json", **bearer(raw)
    )
    assert minted.status_code == 403
    created = api_client.post(
        "/api/v1/prompts/", {"name": "by-editor"}, format="json", **bearer(raw)
    )
    assert created.status_code == 201, created.content  # an editor writes prompts

    _set_role(acme, alice, bob_admin, "viewer")
    refused = api_client.post(
        "/api/v1/prompts/", {"name": "by-viewer"}, format="json", **bearer(raw)
    )
    assert refused.status_code == 403
    assert api_client.get(SERVE, **bearer(raw)).status_code == 200  # a viewer reads
    key = _key_row(raw)
    with team_scope(acme):
        assert not actor_can(key, PERM_EDIT, acme, scope="prompts:write")
    client.force_login(alice)
    listed = {k["name"]: k for k in client.get("/api/v1/t/acme/api-keys/").json()["results"]}
    assert listed["ci-bot"]["scopes"] == ["admin"]
    assert listed["ci-bot"]["effective_scopes"] == [
        "annotations:read",
        "datasets:read",
        "experiments:read",
        "prompts:read",
        "traces:read",
    ]
    page = client.get("/t/acme/settings/api-keys/").content.decode()
    assert "acts as viewer" in page

    # The rule narrows, it does not destroy: restored with the role.
    _set_role(acme, alice, bob_admin, "admin")
    assert api_client.get("/api/v1/members/", **bearer(raw)).status_code == 200


def test_a_warm_fetch_stays_free_of_queries_with_the_role_check(
    api_client, acme, alice, greeting, api_key_for, django_assert_num_queries
):
    raw = api_key_for(acme, alice, scopes=["prompts:read"])
    api_client.get(SERVE, **bearer(raw))
    with django_assert_num_queries(0):
        assert api_client.get(SERVE, **bearer(raw)).status_code == 200


def test_an_authenticated_lookup_loads_the_role_in_the_same_query(
    acme, alice, api_key_for, django_assert_num_queries
):
    raw = api_key_for(acme, alice, scopes=["prompts:read"])
    with django_assert_num_queries(1):
        key = api_key_authenticate(raw)
        assert key.person_role == "owner" and key.has_scope("prompts:read")
        assert key.created_by == alice and key.team == acme


# --- the audit trail names the person and the key ----------------------------------------


def test_the_audit_trail_names_the_person_and_the_key(
    api_client, client, acme, alice, bob_admin, api_key_for
):
    raw = api_key_for(acme, bob_admin, scopes=["admin"], name="ci-bot")
    response = api_client.post(
        "/api/v1/invites/",
        {"role": "viewer", "email": "zoe@example.test"},
        format="json",
        **bearer(raw),
    )
    assert response.status_code == 201
    with team_scope(acme):
        event = AuditEvent.objects.get(verb="invite.create")
    assert event.actor_user == bob_admin
    assert event.actor_api_key == _key_row(raw)
    assert event.actor_label.startswith("API key ci-bot") and "bob@acme.test" in event.actor_label
    client.force_login(alice)
    page = client.get("/t/acme/settings/audit/").content.decode()
    assert "Bob via key ci-bot" in page
    listed = client.get("/api/v1/t/acme/audit-events/?verb=invite.create").json()["results"]
    assert (
        listed[0]["actor_user"] == bob_admin.pk
        and listed[0]["actor_api_key"] == event.actor_api_key_id
    )


# --- the key form --------------------------------------------------------------------------


def test_the_key_form_explains_each_scope(client, acme, alice):
    from django.utils.html import escape

    from apps.teams.models import SCOPE_HELP, ApiKeyScope

    client.force_login(alice)
    page = client.get("/t/acme/settings/api-keys/").content.decode()
    for scope in ApiKeyScope.values:
        assert escape(SCOPE_HELP[scope]) in page, scope
