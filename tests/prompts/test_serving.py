"""GET /api/v1/prompts/<name>/ and the snapshot: payload, ETag/304, cache invalidation on
tag moves, scopes and tenancy, and a lean warm path."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.prompts import serving
from tests.conftest import bearer
from tests.sdk.world import make_prompt, move, unprotect

SERVE = "/api/v1/prompts/{}/"


@pytest.fixture
def served(acme, alice, api_key_for):
    unprotect(acme, alice)
    prompt, versions = make_prompt(
        acme, alice, templates=("Hello {{ name }}", "Hi there {{ name }}!")
    )
    raw = api_key_for(acme, alice, scopes=["prompts:read"], environment="production")
    return {"team": acme, "prompt": prompt, "versions": versions, "raw": raw}


def test_it_serves_the_production_version_by_default(api_client, served):
    response = api_client.get(SERVE.format("greeting"), **bearer(served["raw"]))
    assert response.status_code == 200
    body = response.json()
    v1 = served["versions"][0]
    assert body == {
        "name": "greeting",
        "version": 1,
        "tag": "production",
        "kind": "text",
        "template": "Hello {{ name }}",
        "messages": [],
        "steps": [],
        "variables": ["name"],
        "variables_schema": {},
        "model_settings": v1.model_settings,
        "content_hash": v1.content_hash,
    }
    assert response["ETag"] == f'"{v1.content_hash}.1.production"'
    assert response["Cache-Control"] == "private, max-age=0, must-revalidate"
    assert reverse("api:prompt-serve", kwargs={"prompt_name": "greeting"}) == SERVE.format(
        "greeting"
    )


def test_it_serves_another_tag_or_a_pinned_version(api_client, served):
    headers = bearer(served["raw"])
    latest = api_client.get(SERVE.format("greeting") + "?tag=latest", **headers).json()
    assert (latest["version"], latest["tag"]) == (2, "latest")
    pinned = api_client.get(SERVE.format("greeting") + "?version=1", **headers)
    assert (pinned.json()["version"], pinned.json()["tag"]) == (1, None)
    assert pinned["ETag"].endswith('.1.pinned"')


@pytest.mark.parametrize(
    "query, status",
    [
        ("?tag=nope", 404),
        ("?version=9", 404),
        ("?version=abc", 400),
        ("?version=0", 400),
        ("?tag=Bad Tag", 400),
        ("?tag=latest&version=1", 400),
    ],
)
def test_it_refuses_bad_or_missing_targets(api_client, served, query, status):
    response = api_client.get(SERVE.format("greeting") + query, **bearer(served["raw"]))
    assert response.status_code == status


def test_it_answers_404_for_an_unknown_prompt(api_client, served):
    response = api_client.get(SERVE.format("nobody"), **bearer(served["raw"]))
    assert response.status_code == 404


def test_it_answers_304_without_a_body_when_the_etag_matches(api_client, served):
    headers = bearer(served["raw"])
    etag = api_client.get(SERVE.format("greeting"), **headers)["ETag"]
    response = api_client.get(SERVE.format("greeting"), HTTP_IF_NONE_MATCH=etag, **headers)
    assert response.status_code == 304 and response.content == b""
    assert response["ETag"] == etag
    weak = api_client.get(SERVE.format("greeting"), HTTP_IF_NONE_MATCH=f'"x", W/{etag}', **headers)
    assert weak.status_code == 304
    other = api_client.get(SERVE.format("greeting"), HTTP_IF_NONE_MATCH='"other"', **headers)
    assert other.status_code == 200 and other.json()["version"] == 1


def test_it_serves_the_new_version_right_after_a_tag_move_commits(api_client, served, alice):
    headers = bearer(served["raw"])
    old = api_client.get(SERVE.format("greeting"), **headers)
    assert old.json()["version"] == 1  # now cached
    move(served["team"], alice, served["prompt"], served["versions"][1])
    new = api_client.get(SERVE.format("greeting"), HTTP_IF_NONE_MATCH=old["ETag"], **headers)
    assert new.status_code == 200 and new.json()["version"] == 2
    assert new["ETag"] != old["ETag"]


@pytest.mark.django_db(transaction=True)
def test_it_keeps_serving_the_old_version_until_the_move_commits(
    api_client, acme, alice, api_key_for
):
    unprotect(acme, alice)
    prompt, versions = make_prompt(acme, alice, templates=("A {{ x }}", "B {{ x }}"))
    headers = bearer(api_key_for(acme, alice))
    assert api_client.get(SERVE.format("greeting"), **headers).json()["version"] == 1
    from apps.prompts import services

    with transaction.atomic(), team_scope(acme):
        services.tag_move(
            team=acme, actor=alice, prompt=prompt, tag_name="production", version=versions[1]
        )
        # Not committed: the cache entry stays (another connection still sees v1).
        with team_scope(acme):
            cached = serving.serve_prompt(team=acme, name="greeting")
        assert b'"version":1' in cached.body
    assert api_client.get(SERVE.format("greeting"), **headers).json()["version"] == 2


def test_a_read_racing_the_commit_cannot_put_the_old_version_back(served, alice):
    """A request that read the database before the commit and writes the cache after
    the invalidation writes under the team's old generation, where nobody reads."""
    team = served["team"]
    with team_scope(team):
        old_generation = serving._generation(team.pk)
        stale = serving._load_prompt("greeting", "production", None)
        move(team, alice, served["prompt"], served["versions"][1])
        serving._cache_set(
            f"{serving.PREFIX}:{team.pk}:{old_generation}:p:greeting:production:", stale
        )
        assert b'"version":2' in serving.serve_prompt(team=team, name="greeting").body


def test_the_snapshot_lists_every_prompt_at_the_tag_with_its_own_etag(api_client, served, alice):
    make_prompt(served["team"], alice, name="farewell", templates=("Bye {{ name }}",))
    make_prompt(served["team"], alice, name="untagged", templates=("x",), tag=None)
    headers = bearer(served["raw"])
    response = api_client.get("/api/v1/prompts/?tag=production", **headers)
    assert response.status_code == 200
    body = response.json()
    assert body["tag"] == "production" and body["count"] == 2
    assert [p["name"] for p in body["prompts"]] == ["farewell", "greeting"]
    assert all(p["etag"].startswith('"') for p in body["prompts"])
    etag = response["ETag"]
    again = api_client.get("/api/v1/prompts/?tag=production", HTTP_IF_NONE_MATCH=etag, **headers)
    assert again.status_code == 304
    move(served["team"], alice, served["prompt"], served["versions"][1])
    changed = api_client.get("/api/v1/prompts/?tag=production", HTTP_IF_NONE_MATCH=etag, **headers)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert changed.json()["prompts"][1]["version"] == 2


def test_it_needs_the_prompts_read_scope(api_client, served, acme, alice, api_key_for):
    raw = api_key_for(acme, alice, scopes=["traces:write"])
    assert api_client.get(SERVE.format("greeting"), **bearer(raw)).status_code == 403
    assert api_client.get("/api/v1/prompts/?tag=production", **bearer(raw)).status_code == 403
    assert api_client.get(SERVE.format("greeting")).status_code in (401, 403)


def test_it_never_serves_another_teams_prompt(api_client, served, globex, dave, api_key_for):
    raw = api_key_for(globex, dave)
    assert api_client.get(SERVE.format("greeting"), **bearer(raw)).status_code == 404
    snapshot = api_client.get("/api/v1/prompts/?tag=production", **bearer(raw)).json()
    assert snapshot["prompts"] == []
    # globex's key under acme's URL, and dave's session under acme's URL.
    assert api_client.get("/api/v1/t/acme/prompts/greeting/", **bearer(raw)).status_code == 404
    api_client.force_login(dave)
    assert api_client.get("/api/v1/t/acme/prompts/greeting/").status_code == 404


def test_a_member_reads_through_the_team_url(api_client, served, carol):
    api_client.force_login(carol)
    response = api_client.get("/api/v1/t/acme/prompts/greeting/?tag=latest")
    assert response.status_code == 200 and response.json()["version"] == 2


def test_a_revoked_key_is_refused_at_once_in_this_process(api_client, served, acme, alice):
    from apps.teams.models import ApiKey
    from apps.teams.services import api_key_revoke

    headers = bearer(served["raw"])
    assert api_client.get(SERVE.format("greeting"), **headers).status_code == 200  # key cached
    with team_scope(acme):
        key = ApiKey.objects.get(environment="production")
        api_key_revoke(team=acme, actor=alice, key=key)
    assert api_client.get(SERVE.format("greeting"), **headers).status_code == 401


def test_a_warm_fetch_makes_no_database_query(api_client, served, django_assert_num_queries):
    headers = bearer(served["raw"])
    api_client.get(SERVE.format("greeting"), **headers)  # warms the key and the answer
    with django_assert_num_queries(0):
        response = api_client.get(SERVE.format("greeting"), **headers)
    assert response.status_code == 200
    api_client.get("/api/v1/prompts/?tag=production", **headers)
    with django_assert_num_queries(0):
        assert api_client.get("/api/v1/prompts/?tag=production", **headers).status_code == 200


def test_the_hubs_methods_on_the_same_paths_still_work(
    api_client, served, acme, alice, api_key_for
):
    raw = api_key_for(acme, alice, scopes=["prompts:read", "prompts:write"])
    created = api_client.post("/api/v1/prompts/", {"name": "fresh"}, format="json", **bearer(raw))
    assert created.status_code == 201 and created.json()["name"] == "fresh"
    listed = api_client.get("/api/v1/prompts/", **bearer(raw)).json()
    assert {p["name"] for p in listed["results"]} == {"fresh", "greeting"}
    patched = api_client.patch(
        "/api/v1/prompts/greeting/", {"description": "Says hello"}, format="json", **bearer(raw)
    )
    assert patched.status_code == 200 and patched.json()["description"] == "Says hello"
    read_only = api_client.post("/api/v1/prompts/", {"name": "nope"}, format="json",
                                **bearer(served["raw"]))  # fmt: skip
    assert read_only.status_code == 403


def test_the_schema_documents_the_serving_routes(client):
    schema = client.get("/api/schema/?format=json").json()
    serve = schema["paths"]["/api/v1/prompts/{prompt_name}/"]
    assert {"get", "patch"} <= set(serve) and "ServedPrompt" in str(serve["get"])
    assert {"get", "post"} <= set(schema["paths"]["/api/v1/prompts/"])


def test_it_answers_from_the_database_when_the_cache_is_down(api_client, served, monkeypatch):
    class BrokenCache:
        def __getattr__(self, name):
            def fail(*args, **kwargs):
                raise ConnectionError("cache down")

            return fail

    monkeypatch.setattr(serving, "cache", BrokenCache())
    monkeypatch.setattr(serving, "_process_local_cache", lambda: False)  # as with Redis
    response = api_client.get(SERVE.format("greeting"), **bearer(served["raw"]))
    assert response.status_code == 200 and response.json()["version"] == 1
    snapshot = api_client.get("/api/v1/prompts/?tag=production", **bearer(served["raw"]))
    assert snapshot.json()["count"] == 1


def test_another_worker_process_invalidation_reaches_this_process(api_client, served):
    """With the default process-local cache, a tag move in another worker process
    replaces the host-wide stamp file; this process's keys change with it."""
    headers = bearer(served["raw"])
    api_client.get(SERVE.format("greeting"), **headers)
    team_id = served["team"].pk
    before = serving._generation(team_id)
    serving._bump_host_stamp()  # what the other process's invalidate_team() does
    assert serving._generation(team_id) != before
