"""Roles are honest in the UI: a page a role may not open answers 403 with a message that
says what the person cannot do and who can (never a bare 404, which stays for other
teams' objects), and controls a role cannot use are not shown."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.isolation_world import build_world

GENERIC = "You do not have permission to do that."

# (url name, kwargs needed, what the message says)
CREATE_AND_EDIT_PAGES = [
    ("prompts:create", (), "As a viewer, you cannot create prompts"),
    ("prompts:version_new", ("prompt_name", "version_number"), "cannot save new versions"),
    ("prompts:promotion_create", ("prompt_name", "version_number"), "cannot request promotions"),
    ("experiments:new", (), "As a viewer, you cannot start experiments"),
    ("annotations:queue_create", (), "cannot create annotation queues"),
    ("annotations:queue_edit", ("queue_id",), "cannot manage annotation queues"),
    ("datasets:import", ("dataset_id",), "cannot import into datasets"),
    ("datasets:example_edit", ("dataset_id", "example_id"), "cannot change datasets"),
    ("llm:providers", (), "cannot manage model providers: admins and owners can"),
    ("llm:provider_create", (), "cannot manage model providers"),
    ("llm:provider_edit", ("provider_id",), "cannot manage model providers"),
    ("teams:invites", (), "Only admins can see invites."),
    ("teams:api_keys", (), "Only admins can see API keys."),
    ("teams:audit", (), "Only admins can see the audit trail."),
]


@pytest.fixture
def world(acme, alice, bob):
    world = build_world(acme, alice, bob)
    o = world.objects
    world.kwargs = {
        "prompt_name": o["prompt"].name,
        "version_number": o["version"].number,
        "dataset_id": o["dataset"].pk,
        "example_id": o["example"].example_id,
        "queue_id": o["annotation_queue"].pk,
        "provider_id": o["provider"].pk,
    }
    return world


def _url(world, name, keys):
    return reverse(name, kwargs={"team_slug": "acme", **{k: world.kwargs[k] for k in keys}})


@pytest.mark.django_db
def test_a_viewer_walking_the_create_and_edit_pages_gets_403_with_a_message(client, world, carol):
    client.force_login(carol)
    walked = []
    for name, keys, message in CREATE_AND_EDIT_PAGES:
        response = client.get(_url(world, name, keys))
        body = response.content.decode().replace("&#x27;", "'")
        walked.append((name, response.status_code, message in body, GENERIC in body))
    assert walked == [(name, 403, True, False) for name, _, _ in CREATE_AND_EDIT_PAGES]


@pytest.mark.django_db
def test_writes_a_role_cannot_make_answer_403_with_a_message(client, world, carol, erin):
    client.force_login(carol)
    posts = [
        (
            _url(world, "datasets:example_add", ("dataset_id",)),
            {"input": "{}"},
            "You need the editor role (or a key with datasets:write) to change datasets.",
        ),
        (
            _url(world, "experiments:evaluators", ()),
            {"name": "x", "kind": "valid_json"},
            "As a viewer, you cannot create evaluators",
        ),
        (_url(world, "playground:run", ()), {}, "As a viewer, you cannot run prompts"),
        (
            _url(world, "annotations:queue_create", ()),
            {"name": "q"},
            "As a viewer, you cannot create annotation queues",
        ),
    ]
    for url, data, message in posts:
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert message in response.content.decode(), url
    client.force_login(erin)
    response = client.get(_url(world, "experiments:new", ()))
    assert response.status_code == 403
    assert "As an annotator, you cannot start experiments" in response.content.decode()


@pytest.mark.django_db
def test_a_viewer_sees_no_controls_they_cannot_use(client, world, carol):
    client.force_login(carol)
    playground = client.get(reverse("playground:index", kwargs={"team_slug": "acme"}))
    body = playground.content.decode()
    assert "Save as new version" not in body and "data-save-box" not in body
    assert "Run this" not in body and 'id="run-all"' not in body
    assert "As a viewer, you cannot run prompts or save versions" in body
    experiments = client.get(reverse("experiments:list", kwargs={"team_slug": "acme"}))
    assert "New experiment" not in experiments.content.decode()


@pytest.mark.django_db
def test_other_teams_objects_stay_not_found(client, world, dave, globex):
    client.force_login(dave)
    for name, keys, _ in CREATE_AND_EDIT_PAGES:
        url = _url(world, name, keys).replace("/t/acme/", "/t/globex/")
        if not keys:
            continue  # globex's own create pages are dave's to open
        assert client.get(url).status_code == 404, url
