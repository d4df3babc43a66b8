import pytest

from tests.isolation_world import text_prompt


@pytest.fixture
def hub(acme_scope, alice):
    """acme with prompt `greeter` (v1 "Hi", v2 "Hello"); only `latest` is tagged (v2)."""
    team = acme_scope
    prompt, (v1, v2) = text_prompt(
        team=team,
        actor=alice,
        name="greeter",
        description="Says hi",
        versions=[("Hi {{ name }}", "first"), ("Hello {{ name }}!", "warmer")],
    )
    return {"team": team, "prompt": prompt, "v1": v1, "v2": v2}
