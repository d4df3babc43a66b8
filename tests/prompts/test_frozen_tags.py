"""Frozen release labels: a tag created immutable never moves, by API or by page."""

import pytest
from django.urls import reverse

from apps.core.errors import Conflict
from apps.prompts import selectors, services
from tests.conftest import bearer


def api(name, **kwargs):
    return reverse(f"api:{name}", kwargs=kwargs)


def page(name, **kwargs):
    return reverse(f"prompts:{name}", kwargs={"team_slug": "acme", **kwargs})


@pytest.fixture
def writer(acme, alice, api_key_for):
    return api_key_for(acme, alice, scopes=["prompts:read", "prompts:write"], name="ci")


def freeze(hub, actor, name="prod-v1.2", version=None):
    return services.tag_move(
        team=hub["team"],
        actor=actor,
        prompt=hub["prompt"],
        tag_name=name,
        version=version or hub["v1"],
        immutable=True,
    )


def test_it_creates_a_frozen_tag_and_refuses_to_move_it_by_api(api_client, writer, hub):
    created = api_client.post(
        api("prompt-tag-move", prompt_name="greeter", tag_name="prod-v1.2"),
        {"version": 1, "immutable": True, "reason": "bug report #12"},
        format="json",
        **bearer(writer),
    )
    assert created.status_code == 201, created.content
    tags = api_client.get(api("prompt-tags", prompt_name="greeter"), **bearer(writer)).json()
    assert {t["name"]: t["immutable"] for t in tags}["prod-v1.2"] is True

    moved = api_client.post(
        api("prompt-tag-move", prompt_name="greeter", tag_name="prod-v1.2"),
        {"version": 2},
        format="json",
        **bearer(writer),
    )
    assert moved.status_code == 409
    assert "frozen release label" in moved.json()["detail"]
    assert "v1" in moved.json()["detail"]
    assert selectors.version_at_tag(hub["prompt"], "prod-v1.2") == hub["v1"]


def test_it_refuses_a_rollback_and_a_promotion_of_a_frozen_tag(hub, alice, bob):
    services.tag_move(
        team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="rel", version=hub["v2"]
    )
    # A frozen tag has one position only; refuse rollbacks and promotion requests too.
    freeze(hub, bob, name="rel-1")
    with pytest.raises(Conflict, match="frozen"):
        services.tag_rollback(
            team=hub["team"],
            actor=alice,
            prompt=hub["prompt"],
            tag_name="rel-1",
            version=hub["v2"],
            reason="x",
        )
    with pytest.raises(Conflict, match="frozen"):
        services.promotion_request_create(
            team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="rel-1", candidate=hub["v2"]
        )
    assert selectors.version_at_tag(hub["prompt"], "rel-1") == hub["v1"]


def test_it_refuses_to_freeze_an_existing_tag(api_client, writer, hub, bob):
    services.tag_move(
        team=hub["team"], actor=bob, prompt=hub["prompt"], tag_name="staging", version=hub["v1"]
    )
    response = api_client.post(
        api("prompt-tag-move", prompt_name="greeter", tag_name="staging"),
        {"version": 2, "immutable": True},
        format="json",
        **bearer(writer),
    )
    assert response.status_code == 400
    assert response.json()["errors"].keys() == {"immutable"}
    assert selectors.version_at_tag(hub["prompt"], "staging") == hub["v1"]


def test_it_freezes_from_the_version_page_and_refuses_the_move_with_a_message(client, bob, hub):
    client.force_login(bob)
    client.post(
        page("tag_move_new", prompt_name="greeter"),
        {"tag_name": "prod-v1.2", "version": "1", "immutable": "on"},
    )
    assert selectors.tag_is_frozen(hub["prompt"], "prod-v1.2")

    response = client.post(
        page("tag_move_new", prompt_name="greeter"),
        {"tag_name": "prod-v1.2", "version": "2"},
        follow=True,
    )
    assert "a frozen release label" in response.content.decode()
    assert selectors.version_at_tag(hub["prompt"], "prod-v1.2") == hub["v1"]

    tag_page = client.get(page("tag", prompt_name="greeter", tag_name="prod-v1.2")).content.decode()
    assert 'id="frozen-pill"' in tag_page
    assert 'id="rollback-form"' not in tag_page
    detail = client.get(page("detail", prompt_name="greeter")).content.decode()
    assert "frozen</span>" in detail
