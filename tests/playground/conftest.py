import pytest


@pytest.fixture
def echo_provider(acme, alice, demo_echo):
    from apps.core.tenancy import team_scope
    from apps.llm.services import provider_create

    with team_scope(acme):
        return provider_create(
            team=acme,
            actor=alice,
            name="demo-echo",
            base_url=demo_echo,
            models=["demo-echo"],
            prices={"demo-echo": {"input": 1.0, "output": 2.0}},
            is_demo=True,
        )


@pytest.fixture
def greeting(acme, alice, echo_provider):
    """Prompt `greeting` v1: a text template with two variables and the demo model."""
    from apps.core.tenancy import team_scope
    from apps.prompts.services import prompt_create, version_create

    with team_scope(acme):
        prompt = prompt_create(team=acme, actor=alice, name="greeting")
        return version_create(
            team=acme,
            actor=alice,
            prompt=prompt,
            kind="text",
            template="Say hello to {{ name }} in {{ tone }} words",
            variables_schema={"tone": {"type": "string", "enum": ["warm", "plain"]}},
            model_settings={"provider_id": echo_provider.pk, "model": "demo-echo"},
            commit_message="first",
        )
