"""The Hub's API: same services as the pages, API keys or session, no version updates."""

import pytest
from django.urls import reverse

from tests.conftest import bearer


def api(name, **kwargs):
    return reverse(f"api:{name}", kwargs=kwargs)


@pytest.fixture
def writer(acme, alice, api_key_for):
    return api_key_for(acme, alice, scopes=["prompts:read", "prompts:write"], name="ci")


@pytest.fixture
def reader(acme, alice, api_key_for):
    return api_key_for(acme, alice, scopes=["prompts:read"], name="app")


def _text_version(client, key, name, template, message="change"):
    return client.post(
        api("prompt-versions", prompt_name=name),
        {"kind": "text", "template": template, "commit_message": message},
        format="json",
        **bearer(key),
    )


def test_it_creates_prompts_and_versions_with_a_key(api_client, writer):
    response = api_client.post(
        api("prompt-snapshot"),
        {"name": "faq", "description": "Answers"},
        format="json",
        **bearer(writer),
    )
    assert response.status_code == 201, response.content
    response = _text_version(api_client, writer, "faq", "Q: {{ q }}", "first")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"] == 1
    assert body["variables"] == ["q"]
    assert len(body["content_hash"]) == 64
    assert body["author"].startswith("API key ci")

    listed = api_client.get(api("prompt-versions", prompt_name="faq"), **bearer(writer)).json()
    assert [v["number"] for v in listed["results"]] == [1]
    one = api_client.get(
        api("prompt-version", prompt_name="faq", version_number=1), **bearer(writer)
    )
    assert one.json()["template"] == "Q: {{ q }}"


def test_it_has_no_update_or_delete_route_for_versions(api_client, writer):
    api_client.post(api("prompt-snapshot"), {"name": "faq"}, format="json", **bearer(writer))
    _text_version(api_client, writer, "faq", "Q: {{ q }}")
    url = api("prompt-version", prompt_name="faq", version_number=1)
    for method in ("put", "patch", "delete"):
        response = getattr(api_client, method)(
            url, {"template": "changed"}, format="json", **bearer(writer)
        )
        assert response.status_code == 405, method
    assert api_client.get(url, **bearer(writer)).json()["template"] == "Q: {{ q }}"


def test_it_refuses_writes_without_the_write_scope(api_client, reader):
    response = api_client.post(
        api("prompt-snapshot"), {"name": "faq"}, format="json", **bearer(reader)
    )
    assert response.status_code == 403


def test_it_reports_template_errors_with_the_line(api_client, writer):
    api_client.post(api("prompt-snapshot"), {"name": "faq"}, format="json", **bearer(writer))
    response = _text_version(api_client, writer, "faq", "ok\n{% for %}")
    assert response.status_code == 400
    assert "line 2" in response.json()["detail"]
    assert "template" in response.json()["errors"]


def test_it_moves_tags_and_records_history(api_client, writer):
    api_client.post(api("prompt-snapshot"), {"name": "faq"}, format="json", **bearer(writer))
    _text_version(api_client, writer, "faq", "A {{ q }}")
    _text_version(api_client, writer, "faq", "B {{ q }}")
    response = api_client.post(
        api("prompt-tag-move", prompt_name="faq", tag_name="staging"),
        {"version": 1, "reason": "try"},
        format="json",
        **bearer(writer),
    )
    assert response.status_code == 201, response.content
    tags = api_client.get(api("prompt-tags", prompt_name="faq"), **bearer(writer)).json()
    assert {t["name"]: t["version"] for t in tags} == {"latest": 2, "staging": 1}
    history = api_client.get(
        api("prompt-tag-history", prompt_name="faq", tag_name="staging"), **bearer(writer)
    ).json()["results"]
    assert [(e["from_version"], e["to_version"], e["reason"]) for e in history] == [
        (None, 1, "try")
    ]
    protected = api_client.post(
        api("prompt-tag-move", prompt_name="faq", tag_name="production"),
        {"version": 2},
        format="json",
        **bearer(writer),
    )
    assert protected.status_code == 403
    assert "promotion" in protected.json()["detail"]


def test_it_runs_a_promotion_through_the_api(api_client, client, acme, alice, bob, api_key_for):
    ci = api_key_for(acme, alice, scopes=["prompts:read", "prompts:write"], name="ci")
    api_client.post(api("prompt-snapshot"), {"name": "faq"}, format="json", **bearer(ci))
    _text_version(api_client, ci, "faq", "A {{ q }}")
    # bob requests with his session under /api/v1/t/acme/.
    client.force_login(bob)
    response = client.post(
        reverse("team_api:promotions", kwargs={"team_slug": "acme"}),
        {"prompt": "faq", "tag_name": "production", "candidate": 1},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    promotion_id = response.json()["id"]
    assert response.json()["status"] == "open"
    assert response.json()["evidence"] == []  # evidence ids: tests/teams/test_security_body_ids.py

    # A key with only the write scope may not review; alice's admin key may.
    refused = api_client.post(api("promotion-approve", promotion_id=promotion_id), {}, **bearer(ci))
    assert refused.status_code == 403
    admin = api_key_for(acme, alice, scopes=["admin"], name="admin")
    approved = api_client.post(
        api("promotion-approve", promotion_id=promotion_id),
        {"comment": "ok"},
        format="json",
        **bearer(admin),
    )
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved"
    assert approved.json()["reviewer"].startswith("API key admin")
    tags = api_client.get(api("prompt-tags", prompt_name="faq"), **bearer(ci)).json()
    assert {t["name"]: t["version"] for t in tags}["production"] == 1
    again = api_client.post(
        api("promotion-approve", promotion_id=promotion_id), {}, **bearer(admin)
    )
    assert again.status_code == 409


def test_it_refuses_approval_by_the_person_behind_the_requesting_key(
    api_client, client, acme, alice, api_key_for
):
    ci = api_key_for(acme, alice, scopes=["prompts:read", "prompts:write"], name="ci")
    admin = api_key_for(acme, alice, scopes=["admin"], name="admin")
    api_client.post(api("prompt-snapshot"), {"name": "faq"}, format="json", **bearer(ci))
    _text_version(api_client, ci, "faq", "A {{ q }}")
    promotion = api_client.post(
        api("promotions"), {"prompt": "faq", "candidate": 1}, format="json", **bearer(ci)
    ).json()
    client.force_login(alice)
    url = reverse(
        "team_api:promotion-approve", kwargs={"team_slug": "acme", "promotion_id": promotion["id"]}
    )
    response = client.post(url, {}, content_type="application/json")
    assert response.status_code == 403
    assert "teammate" in response.json()["detail"]
    by_key = api_client.post(
        api("promotion-approve", promotion_id=promotion["id"]), {}, **bearer(admin)
    )
    assert by_key.status_code == 403


def test_it_cancels_and_rejects(api_client, client, acme, alice, bob, api_key_for):
    ci = api_key_for(acme, alice, scopes=["prompts:read", "prompts:write"], name="ci")
    admin_key = api_key_for(acme, alice, scopes=["admin"], name="admin")
    api_client.post(api("prompt-snapshot"), {"name": "faq"}, format="json", **bearer(ci))
    _text_version(api_client, ci, "faq", "A {{ q }}")
    _text_version(api_client, ci, "faq", "B {{ q }}")
    client.force_login(bob)

    def team_api(name, **kwargs):
        return reverse(f"team_api:{name}", kwargs={"team_slug": "acme", **kwargs})

    first = client.post(
        team_api("promotions"), {"prompt": "faq", "candidate": 1}, content_type="application/json"
    ).json()
    second = client.post(
        team_api("promotions"), {"prompt": "faq", "candidate": 2}, content_type="application/json"
    ).json()
    cancelled = client.post(team_api("promotion-cancel", promotion_id=first["id"]))
    assert cancelled.json()["status"] == "cancelled"
    no_reason = api_client.post(
        api("promotion-reject", promotion_id=second["id"]), {}, format="json", **bearer(admin_key)
    )
    assert no_reason.status_code == 400
    rejected = api_client.post(
        api("promotion-reject", promotion_id=second["id"]),
        {"comment": "needs an experiment"},
        format="json",
        **bearer(admin_key),
    )
    assert rejected.json()["status"] == "rejected"
    listed = api_client.get(api("promotions") + "?status=rejected", **bearer(ci)).json()
    assert [p["id"] for p in listed["results"]] == [second["id"]]


def test_it_lists_prompts_for_the_hub(api_client, writer):
    api_client.post(api("prompt-snapshot"), {"name": "faq"}, format="json", **bearer(writer))
    _text_version(api_client, writer, "faq", "A {{ q }}")
    body = api_client.get(api("prompt-snapshot"), **bearer(writer)).json()
    assert body["results"][0]["name"] == "faq"
    assert body["results"][0]["tags"] == {"latest": 1}


def test_it_publishes_the_hub_in_the_schema(client):
    schema = client.get("/api/schema/").content.decode()
    for path in ("/versions/", "/tags/{tag_name}/move/", "/promotions/{promotion_id}/approve/"):
        assert path in schema


def test_it_updates_a_prompt_description_but_not_its_versions(api_client, writer):
    api_client.post(api("prompt-snapshot"), {"name": "faq"}, format="json", **bearer(writer))
    response = api_client.patch(
        api("prompt-serve", prompt_name="faq"),
        {"description": "Answers FAQs"},
        format="json",
        **bearer(writer),
    )
    assert response.status_code == 200, response.content
    assert response.json()["description"] == "Answers FAQs"


def test_it_creates_a_chat_version_from_a_parent(api_client, writer):
    api_client.post(api("prompt-snapshot"), {"name": "bot"}, format="json", **bearer(writer))
    _text_version(api_client, writer, "bot", "A {{ q }}")
    _text_version(api_client, writer, "bot", "B {{ q }}")
    response = api_client.post(
        api("prompt-versions", prompt_name="bot"),
        {
            "kind": "chat",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "placeholder", "name": "history"},
                {"role": "user", "content": "{{ q }}"},
            ],
            "model_settings": {"model": "demo-echo", "response_format": {"type": "json_object"}},
            "commit_message": "chat, from v1",
            "parent": 1,
        },
        format="json",
        **bearer(writer),
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["number"], body["parent"], body["kind"]) == (3, 1, "chat")
    assert body["variables"] == ["q", "history"]


def _deep(levels: int):
    value = 1
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "field, value, says",
    [
        # Between the field's limit and the body's (apps.core.parsers.MAX_DEPTH, 100).
        ("variables_schema", {"x": {"enum": [_deep(60)]}}, "nested deeper than 16 levels"),
        ("variables_schema", {"x": {"enum": [_deep(900)]}}, "nested"),
        ("variables_schema", {"x": {"enum": list(range(30_000))}}, "more than 20000 values"),
        (
            "model_settings",
            {
                "model": "m",
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "deep", "schema": _deep(80)},
                },
            },
            "nested deeper than 64 levels",
        ),
    ],
)
def test_it_refuses_deep_or_huge_json_in_a_version_with_a_400(
    api_client, writer, field, value, says
):
    api_client.post(api("prompt-snapshot"), {"name": "faq"}, format="json", **bearer(writer))
    response = api_client.post(
        api("prompt-versions", prompt_name="faq"),
        {"kind": "text", "template": "{{ x }}", "commit_message": "m", field: value},
        format="json",
        **bearer(writer),
    )
    assert response.status_code == 400
    assert says in response.json()["detail"]
