import pytest

from apps.core.tenancy import team_scope


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


@pytest.fixture
def people(acme, alice, greeting):
    """Dataset `people` (4 rows) and a `contains` evaluator looking for "warm"."""
    from apps.core.tenancy import team_scope
    from apps.datasets.services import dataset_create, examples_bulk_create
    from apps.experiments.services import evaluator_create

    with team_scope(acme):
        dataset = dataset_create(team=acme, actor=alice, name="people")
        examples_bulk_create(
            team=acme,
            actor=alice,
            dataset=dataset,
            rows=[
                {"input": {"name": n, "tone": t}}
                for n, t in [("Ada", "warm"), ("Bo", "plain"), ("Cy", "warm"), ("Di", "plain")]
            ],
        )
        dataset.refresh_from_db()
        evaluator = evaluator_create(
            team=acme, actor=alice, name="is-warm", kind="contains", params={"values": ["warm"]}
        )
    return dataset, evaluator


def chain_text_prompt(acme, alice, provider, name, template):
    from apps.prompts.services import prompt_create, version_create

    prompt = prompt_create(team=acme, actor=alice, name=name)
    return version_create(
        team=acme,
        actor=alice,
        prompt=prompt,
        kind="text",
        template=template,
        model_settings={"provider_id": provider.pk, "model": "demo-echo"},
        commit_message="first",
    )


@pytest.fixture
def chain(acme, alice, echo_provider):
    """qa-chain v1: summarise (v1) then answer (v1), fed the summary; tag `staging`."""
    from apps.prompts.services import prompt_create, tag_move, version_create

    with team_scope(acme):
        chain_text_prompt(acme, alice, echo_provider, "summarise", "Summarise: {{ q }}")
        chain_text_prompt(acme, alice, echo_provider, "answer", "Answer <b>from</b> {{ summary }}")
        prompt = prompt_create(team=acme, actor=alice, name="qa-chain")
        version = version_create(
            team=acme,
            actor=alice,
            prompt=prompt,
            kind="chain",
            steps=[
                {"name": "summarise", "prompt": "summarise", "version": 1},
                {
                    "name": "answer",
                    "prompt": "answer",
                    "version": 1,
                    "inputs": {"summary": "{{ steps.summarise.output }}"},
                },
            ],
            commit_message="two steps",
        )
        tag_move(team=acme, actor=alice, prompt=prompt, tag_name="staging", version=version)
        return version
