"""The team's default provider and model: set by owners and admins (page and API), what a
version saved without a model runs with, and the first step offered to a team with no
provider (demo-echo in one click, or a real provider)."""

import pytest
from django.urls import reverse

from apps.core.errors import ValidationFailed
from apps.core.tenancy import team_scope
from apps.llm.defaults import team_defaults, with_team_defaults
from apps.llm.models import ProviderConfig
from apps.llm.services import team_defaults_set
from apps.teams.models import Team
from tests.conftest import bearer

pytestmark = pytest.mark.django_db


def _url(name, **kwargs):
    return reverse(f"llm:{name}", kwargs={"team_slug": "acme", **kwargs})


def _fresh(team):
    return Team.objects.get(pk=team.pk)


def test_it_sets_the_default_model_on_the_providers_page(client, acme, alice, make_provider):
    provider = make_provider("http://127.0.0.1:8765/v1", name="Local", models=["a", "b"])
    client.force_login(alice)
    page = client.get(_url("providers")).content.decode()
    assert 'id="team-defaults"' in page and '<option value="a">' in page  # model suggestions
    response = client.post(_url("defaults"), {"provider": provider.pk, "model": "b"})
    assert response.status_code == 302
    team = _fresh(acme)
    assert (team.default_provider_id, team.default_model) == (provider.pk, "b")
    settings_page = client.get("/t/acme/settings/").content.decode()
    assert "Local · b" in settings_page
    # A provider with several models needs the model named: the form says so.
    again = client.post(_url("defaults"), {"provider": provider.pk, "model": ""})
    assert again.status_code == 200
    assert "Name the model Local should run by default." in again.content.decode()


@pytest.mark.parametrize("who", ["bob", "carol"])
def test_it_refuses_the_default_model_to_other_roles(client, acme, who, request, make_provider):
    provider = make_provider("http://127.0.0.1:8765/v1")
    client.force_login(request.getfixturevalue(who))
    response = client.post(_url("defaults"), {"provider": provider.pk, "model": "demo-echo"})
    assert response.status_code == 403
    assert "you cannot manage model providers: admins and owners can" in response.content.decode()
    assert _fresh(acme).default_provider_id is None


def test_it_refuses_another_teams_provider(acme, alice, globex, dave):
    with team_scope(globex):
        theirs = ProviderConfig.objects.create(team=globex, name="theirs", models=["m"])
    with team_scope(acme), pytest.raises(ValidationFailed) as refused:
        team_defaults_set(team=acme, actor=alice, provider=theirs, model="m")
    assert refused.value.field == "provider"


def test_it_fills_only_what_a_version_leaves_unset(acme, alice, make_provider):
    default = make_provider("http://127.0.0.1:8765/v1", name="default", models=["d"])
    other = make_provider("http://127.0.0.1:8766/v1", name="other", models=["o"])
    with team_scope(acme):
        team = team_defaults_set(team=acme, actor=alice, provider=default, model="d")
    assert team_defaults(team) == {"provider_id": default.pk, "model": "d"}
    assert with_team_defaults({}, team) == {"provider_id": default.pk, "model": "d"}
    assert with_team_defaults({"model": "x"}, team) == {"provider_id": default.pk, "model": "x"}
    # A version naming another server keeps it; that server's model names are its own.
    assert with_team_defaults({"provider_id": other.pk}, team) == {"provider_id": other.pk}
    assert with_team_defaults({"provider_id": default.pk}, team)["model"] == "d"
    mine = {"provider_id": other.pk, "model": "o", "temperature": 0.2}
    assert with_team_defaults(mine, team) == mine


def test_a_deleted_provider_leaves_no_default_behind(acme, alice, make_provider):
    from apps.llm.services import provider_delete

    provider = make_provider("http://127.0.0.1:8765/v1")
    with team_scope(acme):
        team_defaults_set(team=acme, actor=alice, provider=provider, model="demo-echo")
        provider_delete(team=acme, actor=alice, provider=provider)
    assert team_defaults(_fresh(acme)) == {}


def test_it_reads_and_sets_the_defaults_over_the_api(
    api_client, acme, alice, api_key_for, make_provider
):
    provider = make_provider("http://127.0.0.1:8765/v1", name="Local")
    admin = bearer(api_key_for(acme, alice, scopes=["admin"]))
    reader = bearer(api_key_for(acme, alice, scopes=["experiments:read"]))
    url = "/api/v1/providers/defaults/"
    assert api_client.get(url, **reader).json() == {
        "default_provider": None,
        "default_provider_name": "",
        "default_model": "",
    }
    refused = api_client.put(url, {"default_provider": provider.pk}, format="json", **reader)
    assert refused.status_code == 403
    response = api_client.put(
        url, {"default_provider": provider.pk, "default_model": "demo-echo"}, format="json", **admin
    )
    assert response.status_code == 200, response.content
    assert response.json() == {
        "default_provider": provider.pk,
        "default_provider_name": "Local",
        "default_model": "demo-echo",
    }
    bad = api_client.patch(url, {"default_provider": 999999}, format="json", **admin)
    assert bad.status_code == 400 and "default_provider" in bad.json()["errors"]
    cleared = api_client.put(url, {"default_provider": None}, format="json", **admin)
    assert cleared.json()["default_provider"] is None
    assert _fresh(acme).default_model == ""


@pytest.mark.parametrize("page", ["/t/acme/playground/", "/t/acme/experiments/"])
def test_a_team_with_no_provider_is_offered_demo_echo_or_a_real_provider(
    client, acme, alice, settings, page
):
    settings.PROMPTYARD_DEMO_ECHO_URL = "http://127.0.0.1:8765/v1"
    client.force_login(alice)
    body = client.get(page).content.decode()
    assert 'id="setup-offer"' in body
    assert "Use demo-echo (a deterministic test server, not an LLM)" in body
    assert "Add a real provider" in body
    response = client.post(_url("provider_add_demo"), {"next": page})
    assert response.status_code == 302 and response["Location"] == page
    with team_scope(acme):
        demo = ProviderConfig.objects.get()
    assert demo.is_demo and demo.base_url == "http://127.0.0.1:8765/v1"
    team = _fresh(acme)
    assert (team.default_provider_id, team.default_model) == (demo.pk, "demo-echo")
    after = client.get(page).content.decode()
    assert 'id="setup-offer"' not in after
    assert (
        "demo-echo added: a deterministic test server, not an LLM, and the team&#x27;s "
        "default model." in after
    )


def test_members_who_cannot_add_a_provider_are_told_whom_to_ask(client, acme, bob):
    client.force_login(bob)
    body = client.get("/t/acme/playground/").content.decode()
    assert 'id="setup-offer"' in body and "use-demo-echo" not in body
    assert "Only owners and admins add providers: ask <strong>Alice</strong> (owner)" in body


def test_the_one_click_never_redirects_off_site(client, acme, alice, settings):
    settings.PROMPTYARD_DEMO_ECHO_URL = "http://127.0.0.1:8765/v1"
    client.force_login(alice)
    response = client.post(_url("provider_add_demo"), {"next": "https://evil.example/"})
    assert response["Location"] == _url("providers")
