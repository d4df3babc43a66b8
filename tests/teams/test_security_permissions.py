"""Security review: viewers and annotators write nothing through pages or the API.

Each request below is valid (an admin's identical request succeeds); carol (viewer) and
erin (annotator) must get 403/404 and leave every table as it was.
"""

from __future__ import annotations

import hashlib

import pytest
from django.apps import apps as django_apps
from django.core import serializers

from tests.isolation_world import build_world

VOLATILE = {"sessions.session", "teams.apikey", "admin.logentry"}


def _snapshot() -> dict:
    """A digest of every row of every table. Many-to-many links are read as the rows of
    their own (auto-created) tables: through a model's field they would go through the
    target's team-scoped manager, outside any team."""
    out = {}
    for model in django_apps.get_models(include_auto_created=True):
        label = model._meta.label_lower
        if label in VOLATILE or label.startswith("django_tasks"):
            continue
        columns = [f.name for f in model._meta.concrete_fields]
        data = serializers.serialize("json", model._base_manager.order_by("pk"), fields=columns)
        out[label] = hashlib.sha256(data.encode()).hexdigest()
    return out


def _writes(world, bob):
    o = world.objects
    prompt, dataset = o["prompt"].name, o["dataset"].pk
    membership = o["membership"].pk
    html = [
        (
            "/t/acme/prompts/new/",
            {"name": "sneaky", "kind": "text", "template": "Hi", "commit_message": "x"},
        ),
        ("/t/acme/datasets/", {"name": "sneaky"}),
        (f"/t/acme/datasets/{dataset}/examples/new/", {"input": '{"q": "x"}', "expected": "y"}),
        (f"/t/acme/datasets/{dataset}/settings/", {"name": "renamed", "description": "x"}),
        ("/t/acme/settings/retention/", {"trace_retention_days": "1"}),
        ("/t/acme/settings/protected-tags/", {"protected_tags": ""}),
        (f"/t/acme/settings/members/{membership}/role/", {"role": "owner"}),
        (f"/t/acme/settings/members/{membership}/remove/", {}),
        ("/t/acme/settings/api-keys/", {"name": "k", "scopes": ["admin"]}),
        ("/t/acme/settings/invites/", {"role": "owner", "email": "zoe@example.test"}),
        (
            "/t/acme/llm/new/",
            {
                "name": "p",
                "kind": "openai-compatible",
                "base_url": "http://127.0.0.1:9/v1",
                "timeout_seconds": "30",
                "max_retries": "1",
            },
        ),
        ("/t/acme/annotations/new/", {"name": "q", "annotators_per_item": "1"}),
    ]
    api = [
        ("/api/v1/t/acme/prompts/", {"name": "sneaky-api"}),
        (
            f"/api/v1/t/acme/prompts/{prompt}/versions/",
            {"kind": "text", "template": "x", "commit_message": "x"},
        ),
        (f"/api/v1/t/acme/prompts/{prompt}/tags/beta/move/", {"version": 1}),
        ("/api/v1/t/acme/datasets/", {"name": "sneaky-api"}),
        (f"/api/v1/t/acme/datasets/{dataset}/examples/", {"input": {"q": "x"}}),
        ("/api/v1/t/acme/providers/", {"name": "p-api", "base_url": "http://127.0.0.1:9/v1"}),
        ("/api/v1/t/acme/evaluators/", {"name": "e", "kind": "valid_json"}),
        ("/api/v1/t/acme/annotation-queues/", {"name": "q-api"}),
        ("/api/v1/t/acme/api-keys/", {"name": "k", "scopes": ["admin"]}),
        ("/api/v1/t/acme/invites/", {"role": "owner", "email": "zoe@example.test"}),
    ]
    return html, api


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["carol", "erin"])
def test_it_lets_viewers_and_annotators_write_nothing(client, acme, alice, bob, carol, erin, who):
    world = build_world(acme, alice, bob)
    client.force_login({"carol": carol, "erin": erin}[who])
    html, api = _writes(world, bob)
    before = _snapshot()
    for url, data in html:
        response = client.post(url, data)
        # Member changes answer a refusal as a message and a redirect (the snapshot decides).
        allowed = (302, 403, 404) if "/settings/members/" in url else (403, 404)
        assert response.status_code in allowed, (who, url, response.status_code)
    for url, data in api:
        response = client.post(url, data, content_type="application/json")
        assert response.status_code in (403, 404), (
            who,
            url,
            response.status_code,
            response.content,
        )
    after = _snapshot()
    assert [k for k in before if before[k] != after.get(k)] == []


@pytest.mark.django_db
def test_it_lets_an_admin_make_the_same_requests(client, acme, alice, bob):
    """The control: the requests above are valid, so the refusals are the roles'."""
    world = build_world(acme, alice, bob)
    client.force_login(alice)
    html, api = _writes(world, bob)
    skip = {"/role/", "/remove/"}  # alice's control would change bob, which later rows need
    for url, data in html:
        if any(s in url for s in skip):
            continue
        before = _snapshot()
        assert client.post(url, data).status_code in (200, 201, 302), url
        assert _snapshot() != before, f"{url}: the admin's request changed nothing"
    for url, data in api:
        response = client.post(url, data, content_type="application/json")
        assert response.status_code in (200, 201), (url, response.status_code, response.content)
