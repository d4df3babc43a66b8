import pytest


@pytest.fixture
def hub(acme_scope, alice):
    """acme with prompt `greeter` (v1, v2) and production at v1 (set by an approved request)."""
    from apps.prompts import services
    from apps.prompts.models import PromotionRequest

    team = acme_scope
    prompt = services.prompt_create(team=team, actor=alice, name="greeter", description="Says hi")
    v1 = services.version_create(
        team=team,
        actor=alice,
        prompt=prompt,
        kind="text",
        template="Hi {{ name }}",
        commit_message="first",
    )
    v2 = services.version_create(
        team=team,
        actor=alice,
        prompt=prompt,
        kind="text",
        template="Hello {{ name }}!",
        commit_message="warmer",
    )
    return {
        "team": team,
        "prompt": prompt,
        "v1": v1,
        "v2": v2,
        "PromotionRequest": PromotionRequest,
    }
