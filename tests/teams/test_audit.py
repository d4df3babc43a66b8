"""The audit trail: recorded by services, filtered by actor, verb, target type and date."""

from datetime import date, timedelta

import pytest
from django.utils import timezone

from apps.core.tenancy import team_scope
from apps.teams import selectors, services
from apps.teams.models import AuditEvent, Membership
from tests.conftest import bearer


@pytest.fixture
def history(acme, alice, bob):
    """Some events by alice, one by an API key, and one dated last month."""
    with team_scope(acme):
        key, raw = services.api_key_create(team=acme, actor=alice, name="robot", scopes=["admin"])
        services.invite_create(team=acme, actor=key, role="viewer", email="zoe@example.test")
        services.membership_set_role(
            team=acme, actor=alice, membership=Membership.objects.get(user=bob), role="admin"
        )
        old = services.audit_record(team=acme, actor=bob, verb="prompt.version_create")
    AuditEvent.objects.unscoped().filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=40)
    )
    return {"key": key, "raw": raw}


def _verbs(team, viewer, **filters):
    with team_scope(team):
        events = selectors.audit_events(
            team=team, actor=viewer, filters=selectors.AuditFilters(**filters)
        )
        return [e.verb for e in events]


def test_it_lists_newest_first(acme, alice, history):
    verbs = _verbs(acme, alice)
    assert verbs[0] == "membership.role_change"
    assert verbs[-1] == "prompt.version_create"
    assert "team.create" in verbs


def test_it_filters_by_actor(acme, alice, bob, history):
    by_key = _verbs(acme, alice, actor=f"key:{history['key'].pk}")
    assert by_key == ["invite.create"]
    by_bob = _verbs(acme, alice, actor=f"user:{bob.pk}")
    assert by_bob == ["prompt.version_create"]
    by_label = _verbs(acme, alice, actor="robot")
    assert by_label == ["invite.create"]


def test_it_filters_by_verb_and_target_type(acme, alice, history):
    assert _verbs(acme, alice, verb="api_key.create") == ["api_key.create"]
    assert _verbs(acme, alice, target_type="teams.membership") == ["membership.role_change"]
    assert _verbs(acme, alice, target_type="teams.apikey") == ["api_key.create"]


def test_it_filters_by_date_range(acme, alice, history):
    today = timezone.localdate()
    recent = _verbs(acme, alice, date_from=today)
    assert "prompt.version_create" not in recent and "api_key.create" in recent
    old = _verbs(acme, alice, date_to=today - timedelta(days=30))
    assert old == ["prompt.version_create"]
    none = _verbs(acme, alice, date_from=date(2000, 1, 1), date_to=date(2000, 1, 2))
    assert none == []


def test_it_never_shows_another_teams_events(acme, globex, alice, dave, history):
    assert _verbs(globex, dave) == ["team.create"]


def _link(response, rel: str) -> str:
    import re

    match = re.search(rf'rel="{rel}" href="([^"]*)"', response.content.decode())
    assert match, f"no {rel} link"
    return match.group(1).replace("&amp;", "&")


def test_it_filters_on_the_page_and_paginates(client, acme, alice, history):
    with team_scope(acme):
        for i in range(55):
            services.audit_record(team=acme, actor=alice, verb="test.bulk", after={"i": i})
    client.force_login(alice)
    page1 = client.get("/t/acme/settings/audit/?verb=test.bulk")
    assert page1.status_code == 200
    assert page1.context["page"].count.value == 55
    assert len(page1.context["page"].object_list) == 50
    assert [e.after["i"] for e in page1.context["page"].object_list][:2] == [54, 53]
    next_href = _link(page1, "next")
    assert "verb=test.bulk" in next_href and "after=" in next_href
    page2 = client.get("/t/acme/settings/audit/" + next_href)
    assert [e.after["i"] for e in page2.context["page"].object_list] == [4, 3, 2, 1, 0]
    back = client.get("/t/acme/settings/audit/" + _link(page2, "prev"))
    assert [e.after["i"] for e in back.context["page"].object_list][0] == 54
    last = client.get("/t/acme/settings/audit/" + _link(page1, "last"))
    assert [e.after["i"] for e in last.context["page"].object_list][-1] == 0
    fragment = client.get(
        "/t/acme/settings/audit/" + next_href,
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="audit-results",
    )
    assert b"<html" not in fragment.content and b"test.bulk" in fragment.content
    fragment = client.get("/t/acme/settings/audit/?verb=api_key.create", HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b"api_key.create" in fragment.content
    empty = client.get("/t/acme/settings/audit/?verb=no.such")
    assert b"No events match these filters" in empty.content


def test_it_offers_the_verbs_and_actors_seen_in_the_team(client, acme, alice, bob, history):
    client.force_login(alice)
    choices = client.get("/t/acme/settings/audit/").context["choices"]
    assert "api_key.create" in choices["verbs"] and "team.create" in choices["verbs"]
    assert choices["verbs"] == sorted(set(choices["verbs"]))
    assert "teams.apikey" in choices["target_types"]
    labels = dict(choices["actors"])
    assert labels[f"user:{alice.pk}"] == alice.email and labels[f"user:{bob.pk}"] == bob.email
    assert labels[f"key:{history['key'].pk}"].startswith("API key robot")


def test_it_reports_a_bad_date_next_to_the_field(client, acme, alice, history):
    client.force_login(alice)
    response = client.get("/t/acme/settings/audit/?date_from=yesterday")
    assert response.status_code == 200
    assert b"field-error" in response.content


def test_it_serves_the_trail_over_the_api(api_client, acme, alice, history):
    response = api_client.get("/api/v1/audit-events/?verb=invite.create", **bearer(history["raw"]))
    assert response.status_code == 200
    results = response.json()["results"]
    assert [e["verb"] for e in results] == ["invite.create"]
    assert results[0]["actor_label"].startswith("API key robot")
    assert (
        api_client.get("/api/v1/audit-events/?date_from=nope", **bearer(history["raw"])).status_code
        == 400
    )
