import pytest


@pytest.fixture
def hub(acme_scope, alice):
    """acme with prompt `greeter` (v1 "Hi", v2 "Hello"); only `latest` is tagged (v2)."""
    from apps.prompts import services

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
    return {"team": team, "prompt": prompt, "v1": v1, "v2": v2}
