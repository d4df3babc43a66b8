"""The Hub pages render, write through the services and escape prompt text."""

import pytest
from django.urls import reverse


def url(name, **kwargs):
    return reverse(f"prompts:{name}", kwargs={"team_slug": "acme", **kwargs})


@pytest.fixture
def request_open(hub, bob):
    from apps.prompts import services

    return services.promotion_request_create(
        team=hub["team"],
        actor=bob,
        prompt=hub["prompt"],
        tag_name="production",
        candidate=hub["v2"],
        description="ship it",
    )


def test_it_renders_every_page(client, alice, hub, request_open):
    client.force_login(alice)
    pages = [
        url("list"),
        url("list") + "?q=greet",
        url("create"),
        url("reviews"),
        url("promotion", promotion_id=request_open.pk),
        url("detail", prompt_name="greeter"),
        url("settings", prompt_name="greeter"),
        url("history", prompt_name="greeter"),
        url("tag", prompt_name="greeter", tag_name="latest"),
        url("version", prompt_name="greeter", version_number=1),
        url("version_new", prompt_name="greeter", version_number=1),
        url("promotion_create", prompt_name="greeter", version_number=2),
        url("diff", prompt_name="greeter", from_number=1, to_number=2),
        url("diff", prompt_name="greeter", from_number=1, to_number=2) + "?mode=unified",
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page


def test_it_lists_prompts_with_their_tags(client, alice, hub):
    client.force_login(alice)
    response = client.get(url("list"))
    assert b"greeter" in response.content
    assert "latest → v2".encode() in response.content


def test_it_searches_as_a_fragment(client, alice, hub):
    client.force_login(alice)
    response = client.get(url("list") + "?q=nothing-like-it", HTTP_HX_REQUEST="true")
    assert b"<html" not in response.content
    assert b"No prompt matches" in response.content


def test_it_creates_a_prompt_with_its_first_version(client, bob, acme):
    client.force_login(bob)
    response = client.post(
        url("create"),
        {
            "name": "summariser",
            "kind": "text",
            "template": "Summarise {{ text }}",
            "commit_message": "first",
            "temperature": "0.2",
        },
    )
    assert response.status_code == 302
    from apps.core.tenancy import team_scope
    from apps.prompts.models import PromptVersion

    with team_scope(acme):
        version = PromptVersion.objects.get(prompt__name="summariser")
    assert version.number == 1
    assert version.model_settings == {"temperature": 0.2}
    assert version.variables == ["text"]


def test_it_shows_template_errors_with_their_line(client, bob, hub):
    client.force_login(bob)
    response = client.post(
        url("version_new", prompt_name="greeter", version_number=2),
        {"kind": "text", "template": "line one\n{{ broken", "commit_message": "oops"},
    )
    assert response.status_code == 200
    assert b"line 2" in response.content


@pytest.mark.parametrize(
    "schema, says",
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"x": {"enum": [' + "7" * 5000 + "]}}", "more than 4300 digits"),
        ('{"x": {"enum": ' + "[" * 100 + "]" * 100 + "}}", "nested deeper than 16 levels"),
    ],
)
def test_it_refuses_a_hostile_variables_schema_in_the_editor(client, bob, hub, schema, says):
    client.force_login(bob)
    response = client.post(
        url("version_new", prompt_name="greeter", version_number=2),
        {"kind": "text", "template": "{{ x }}", "variables_schema": schema, "commit_message": "m"},
    )
    assert response.status_code == 200
    assert says in response.content.decode()


def test_it_previews_variables_and_errors_live(client, bob, hub):
    client.force_login(bob)
    response = client.post(
        url("preview"),
        {"kind": "text", "template": "Hi {{ who }}, {{ n }}", "sample__who": "Ann"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert '<code class="variable">who</code>' in body
    # n has no sample yet: not an error, the preview shows where it goes.
    assert "Missing variable" not in body and 'role="alert"' not in body
    assert "Hi Ann, [n]" in body and "Type sample values for <code>n</code>" in body
    assert 'hx-swap-oob="true"' in body  # the sample inputs are redrawn for the new variable

    response = client.post(
        url("preview"),
        {"kind": "text", "template": "Hi {{ who }}", "sample__who": "Ann"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "Hi Ann" in body
    assert "hx-swap-oob" not in body

    response = client.post(url("preview"), {"kind": "text", "template": "a\nb {% if %}"})
    assert b"line 2" in response.content


@pytest.mark.parametrize(
    "template, limit",
    [
        (
            "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}x",
            "100,000 loop iterations",
        ),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "calls nested more than 40 deep"),
        ("{{" + "(" * 3000 + "1" + ")" * 3000 + "}}", "nested too deeply"),
    ],
)
def test_it_previews_a_template_over_budget_as_a_render_error(client, bob, hub, template, limit):
    client.force_login(bob)
    response = client.post(url("preview"), {"kind": "text", "template": template})
    assert response.status_code == 200
    assert limit in response.content.decode()


def test_it_shows_no_error_in_the_new_prompt_preview_before_anything_is_typed(client, bob, hub):
    client.force_login(bob)
    page = client.get(url("create"))
    assert page.status_code == 200
    # What the new-prompt page posts on load: its starting template, empty samples.
    response = client.post(
        url("preview"),
        {
            "name": "",
            "kind": "text",
            "template": "Answer the question: {{ question }}",
            "commit_message": "",
            "sample__question": "",
        },
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "Missing variable" not in body and 'role="alert"' not in body
    assert "Answer the question: [question]" in body


def test_it_previews_a_chat_prompt_with_history(client, bob, hub):
    client.force_login(bob)
    response = client.post(
        url("preview"),
        {
            "kind": "chat",
            "role": ["system", "placeholder", "user"],
            "content": ["Be brief.", "history", "{{ question }}"],
            "sample__history": "",
            "sample__question": "Why?",
        },
    )
    body = response.content.decode()
    assert "Be brief." in body and "Why?" in body


def test_it_escapes_prompt_text_everywhere(client, alice, hub):
    from apps.prompts import services

    services.version_create(
        team=hub["team"],
        actor=alice,
        prompt=hub["prompt"],
        kind="text",
        template="<script>alert(1)</script> {{ name }}",
        commit_message="<script>commit</script>",
    )
    client.force_login(alice)
    for page in (
        url("version", prompt_name="greeter", version_number=3),
        url("detail", prompt_name="greeter"),
        url("diff", prompt_name="greeter", from_number=2, to_number=3),
        url("diff", prompt_name="greeter", from_number=2, to_number=3) + "?mode=unified",
        url("version_new", prompt_name="greeter", version_number=3),
    ):
        body = client.get(page).content.decode()
        assert "<script>alert(1)</script>" not in body, page
        assert "<script>commit</script>" not in body, page
    body = client.get(url("version", prompt_name="greeter", version_number=3)).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_it_approves_through_the_page(client, alice, hub, request_open):
    from apps.prompts.selectors import version_at_tag

    client.force_login(alice)
    response = client.post(
        url("promotion_approve", promotion_id=request_open.pk), {"comment": "lgtm"}
    )
    assert response.status_code == 302
    assert version_at_tag(hub["prompt"], "production") == hub["v2"]


def test_it_shows_the_requester_why_they_cannot_approve(client, bob, hub, request_open):
    client.force_login(bob)
    body = client.get(url("promotion", promotion_id=request_open.pk)).content.decode()
    assert "a teammate must review it" in body
    assert "Approve and move" not in body
    client.post(url("promotion_approve", promotion_id=request_open.pk), {"comment": "self"})
    request_open.refresh_from_db()
    assert request_open.status == "open"


def test_it_counts_reviews_in_the_navigation(client, alice, bob, hub, request_open):
    counts = reverse("teams:nav_counts", kwargs={"team_slug": "acme"})
    client.force_login(alice)
    body = client.get(counts).content.decode()
    assert 'title="Needs your review">1</span>' in body
    client.force_login(bob)
    body = client.get(counts).content.decode()
    assert 'title="Needs your review"' not in body


def test_it_moves_an_unprotected_tag_from_the_version_page(client, bob, hub):
    from apps.prompts.selectors import version_at_tag

    client.force_login(bob)
    client.post(
        url("tag_move_new", prompt_name="greeter"),
        {"tag_name": "staging", "version": "1", "reason": "try"},
    )
    assert version_at_tag(hub["prompt"], "staging") == hub["v1"]


def test_it_grants_approval_on_the_settings_page(client, alice, carol, hub):
    client.force_login(alice)
    client.post(url("approvers", prompt_name="greeter"), {"user": carol.pk, "action": "grant"})
    assert carol.has_perm("prompts.approve_promotion", hub["prompt"])
    body = client.get(url("settings", prompt_name="greeter")).content.decode()
    assert "carol@acme.test" in body


def test_it_serves_a_blank_message_row(client, bob, acme):
    client.force_login(bob)
    response = client.get(url("message_row"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'<option value="placeholder"' in response.content


def test_it_never_redirects_off_site_after_a_tag_move(client, bob, hub):
    client.force_login(bob)
    response = client.post(
        url("tag_move_new", prompt_name="greeter"),
        {"tag_name": "staging", "version": "1", "next": "https://evil.example/"},
    )
    assert response.status_code == 302
    assert response["Location"] == url("detail", prompt_name="greeter")


def test_it_requires_a_reason_for_an_emergency_rollback_page(client, alice, bob, hub):
    from apps.prompts import services
    from apps.prompts.selectors import version_at_tag

    for version in (hub["v1"], hub["v2"]):
        request = services.promotion_request_create(
            team=hub["team"],
            actor=bob,
            prompt=hub["prompt"],
            tag_name="production",
            candidate=version,
        )
        services.promotion_approve(team=hub["team"], actor=alice, promotion=request)
    client.force_login(bob)
    body = client.get(url("tag", prompt_name="greeter", tag_name="production")).content.decode()
    assert "Only owners and admins can roll back" in body
    client.force_login(alice)
    page = url("tag", prompt_name="greeter", tag_name="production")
    assert "Emergency rollback" in client.get(page).content.decode()
    rollback = url("tag_rollback", prompt_name="greeter", tag_name="production")
    response = client.post(rollback, {"version": "1", "reason": ""}, follow=True)
    assert "needs a reason" in response.content.decode()
    assert version_at_tag(hub["prompt"], "production") == hub["v2"]
    response = client.post(rollback, {"version": "1", "reason": "bad answers"}, follow=True)
    assert version_at_tag(hub["prompt"], "production") == hub["v1"]
    assert "emergency rollback" in response.content.decode()


def test_it_shows_viewers_no_writing_controls(client, carol, hub):
    client.force_login(carol)
    body = client.get(url("detail", prompt_name="greeter")).content.decode()
    assert ">New version</a>" not in body
    body = client.get(url("version", prompt_name="greeter", version_number=2)).content.decode()
    assert "New version from this one" not in body and "Move tag" not in body
    response = client.get(url("version_new", prompt_name="greeter", version_number=2))
    assert response.status_code == 403
    assert "As a viewer, you cannot save new versions" in response.content.decode()


def test_it_picks_the_provider_by_name_in_the_editor(client, bob, hub):
    from apps.llm.models import ProviderConfig

    team = hub["team"]
    provider = ProviderConfig.objects.create(
        team=team, name="openai-prod", kind="openai-compatible", models=["gpt-4o-mini"]
    )
    client.force_login(bob)
    page = client.get(url("version_new", prompt_name="greeter", version_number=2)).content.decode()
    assert f'<option value="{provider.pk}" >openai-prod</option>' in page
    assert '<option value="gpt-4o-mini">' in page  # the model field suggests its models
    assert "Provider config id" not in page

    response = client.post(
        url("version_new", prompt_name="greeter", version_number=2),
        {
            "kind": "text",
            "template": "Hey {{ name }}",
            "provider_id": str(provider.pk),
            "model": "gpt-4o-mini",
            "commit_message": "on prod",
        },
    )
    assert response.status_code == 302
    page = client.get(url("version_new", prompt_name="greeter", version_number=3)).content.decode()
    assert f'<option value="{provider.pk}" selected>openai-prod</option>' in page


def test_it_shows_an_error_without_a_field_of_its_own_at_the_top(client, bob, acme):
    client.force_login(bob)
    response = client.post(
        url("create"), {"name": "odd", "kind": "poem", "template": "hi", "commit_message": "c"}
    )
    assert response.status_code == 200
    assert "Kind must be" in response.content.decode()


def test_it_marks_the_current_diff_mode(client, alice, hub, request_open):
    client.force_login(alice)
    body = client.get(url("promotion", promotion_id=request_open.pk) + "?mode=unified")
    assert 'class="btn btn-small btn-primary" href="?mode=unified"' in body.content.decode()


def test_it_offers_every_version_in_the_compare_picker(client, alice, hub):
    import re

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.prompts import services

    client.force_login(alice)
    with CaptureQueriesContext(connection) as two_versions:
        client.get(url("detail", prompt_name="greeter"))
    for n in range(3, 36):
        services.version_create(
            team=hub["team"],
            actor=alice,
            prompt=hub["prompt"],
            kind="text",
            template=f"Hello {{{{ name }}}} #{n}",
            commit_message=f"v{n}",
        )
    with CaptureQueriesContext(connection) as many_versions:
        body = client.get(url("detail", prompt_name="greeter")).content.decode()
    picker = re.search(r'<select id="diff-from".*?</select>', body, re.S).group(0)
    assert re.findall(r'value="(\d+)"', picker) == [str(n) for n in range(35, 0, -1)]
    assert 'value="34" selected' in picker  # from the previous version to the newest
    assert len(many_versions) == len(two_versions)  # one query for the numbers, whatever the count
