"""Open model settings: any Chat Completions parameter (seed, reasoning_effort, logit_bias,
parallel_tool_calls, ...) is versioned from the editor and the API, checked for type with
the key named, and sent to the provider (demo-echo records what it received)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.llm import gateway
from apps.llm.model_settings import ModelSettings
from apps.prompts.models import PromptVersion
from tests.conftest import bearer
from tests.experiments.conftest import make_provider

OPEN = {
    "seed": 7,
    "reasoning_effort": "low",
    "parallel_tool_calls": False,
    "logit_bias": {"50256": -100},
    "verbosity": "low",
}


def url(name, **kwargs):
    return reverse(f"prompts:{name}", kwargs={"team_slug": "acme", **kwargs})


def _version(team, name, number=1):
    with team_scope(team):
        return PromptVersion.objects.get(prompt__name=name, number=number)


def test_it_saves_open_settings_from_the_editor(client, bob, acme):
    client.force_login(bob)
    response = client.post(
        url("create"),
        {
            "name": "summariser",
            "kind": "text",
            "template": "Summarise {{ text }}",
            "commit_message": "first",
            "model": "demo-echo",
            "seed": "7",
            "reasoning_effort": "low",
            "parallel_tool_calls": "false",
            "frequency_penalty": "0.5",
            "extra_settings": json.dumps({"logit_bias": {"50256": -100}, "verbosity": "low"}),
        },
    )
    assert response.status_code == 302
    assert _version(acme, "summariser").model_settings == {
        "model": "demo-echo",
        **OPEN,
        "frequency_penalty": 0.5,
    }


def test_the_editor_starts_from_the_base_versions_open_settings(client, alice, acme):
    from apps.prompts.services import prompt_create, version_create

    with team_scope(acme):
        prompt = prompt_create(team=acme, actor=alice, name="p")
        version_create(
            team=acme,
            actor=alice,
            prompt=prompt,
            kind="text",
            template="x",
            model_settings=OPEN,
            commit_message="c",
        )
    client.force_login(alice)
    page = client.get(url("version_new", prompt_name="p", version_number=1)).content.decode()
    assert 'name="seed" inputmode="numeric" value="7"' in page
    assert '<option value="low" selected>low</option>' in page
    assert '<option value="false" selected>false</option>' in page
    assert "&quot;logit_bias&quot;" in page and "&quot;verbosity&quot;" in page


@pytest.mark.parametrize(
    "posted, slot_text",
    [
        ({"seed": "seven"}, "seed must be a whole number."),
        ({"reasoning_effort": "max"}, "reasoning_effort must be one of"),
        ({"extra_settings": '{"colour": 1}'}, "Unknown model setting &#x27;colour&#x27;"),
        ({"extra_settings": '{"top_logprobs": "x"}'}, "top_logprobs must be a whole number"),
        ({"extra_settings": "[1]"}, "Extra settings must be a JSON object"),
        ({"extra_settings": '{"seed": 1}'}, "seed has a field of its own above."),
    ],
)
def test_it_names_a_bad_setting_in_the_editor(client, bob, acme, posted, slot_text):
    client.force_login(bob)
    data = {"name": "s", "kind": "text", "template": "x", "commit_message": "c", **posted}
    response = client.post(url("create"), data)
    assert response.status_code == 200
    assert slot_text in response.content.decode()
    with team_scope(acme):
        assert not PromptVersion.objects.exists()


def test_it_versions_open_settings_through_the_api(api_client, acme, alice, api_key_for):
    raw = api_key_for(acme, alice, scopes=["prompts:write"])
    api_client.post("/api/v1/prompts/", {"name": "p"}, format="json", **bearer(raw))
    versions = "/api/v1/prompts/p/versions/"
    body = {"template": "x", "commit_message": "c", "model_settings": OPEN}
    created = api_client.post(versions, body, format="json", **bearer(raw))
    assert created.status_code == 201 and created.json()["model_settings"] == OPEN

    bad = {**body, "model_settings": {"parallel_tool_calls": "yes"}}
    refused = api_client.post(versions, bad, format="json", **bearer(raw))
    assert refused.status_code == 400
    assert refused.json()["errors"] == {
        "model_settings.parallel_tool_calls": ["parallel_tool_calls must be true or false."]
    }
    unknown = {**body, "model_settings": {"temprature": 1}}
    refused = api_client.post(versions, unknown, format="json", **bearer(raw))
    assert refused.status_code == 400 and "'temprature'" in refused.json()["detail"]
    assert list(refused.json()["errors"]) == ["model_settings.temprature"]


def test_it_sends_open_settings_to_the_provider(acme, alice, demo_echo_server):
    server = demo_echo_server()
    provider = make_provider(acme, alice, server.base_url)
    settings = ModelSettings.from_json({"model": "demo-echo", "max_tokens": 5, **OPEN})
    messages = [{"role": "user", "content": "hi"}]
    with team_scope(acme):
        completion = gateway.complete(provider, settings=settings, messages=messages)
        chunks = list(gateway.stream(provider, settings=settings, messages=messages))
    assert completion.text == "echo: hi" and chunks[-1].text == "echo: hi"
    plain, streamed = server.received
    for received in (plain, streamed):
        assert {key: received[key] for key in OPEN} == OPEN
        assert received["max_tokens"] == 5
    assert streamed["stream"] is True


@pytest.mark.django_db(transaction=True)
def test_an_experiment_sends_a_versions_open_settings_and_overrides(acme, alice, demo_echo_server):
    from apps.experiments.runner import execute
    from apps.experiments.services import VariantSpec
    from tests.experiments.conftest import make_lab

    server = demo_echo_server()
    lab = make_lab(acme, alice, server.base_url)
    version = lab.version_with("Q: {{ q }}", **OPEN)
    from apps.experiments.services import experiment_create, experiment_start

    with team_scope(acme):
        experiment = experiment_create(
            team=acme,
            actor=alice,
            name="open",
            dataset=lab.dataset,
            variants=[VariantSpec(prompt_version=version, overrides={"seed": 8})],
            evaluators=[],
        )
        experiment_start(team=acme, actor=alice, experiment=experiment, enqueue=False)
    execute(experiment.pk)
    assert len(server.received) == 6
    for received in server.received:
        assert {key: received[key] for key in OPEN} == {**OPEN, "seed": 8}


@pytest.mark.django_db(transaction=True)
def test_a_capped_run_takes_max_completion_tokens_as_the_bound(acme, alice, demo_echo_server):
    """Under a cost cap an unbounded answer gets max_tokens; max_completion_tokens is a
    bound already, so none is added (providers refuse both)."""
    from apps.experiments.runner import execute
    from apps.experiments.services import experiment_start
    from tests.experiments.conftest import make_lab

    server = demo_echo_server()
    lab = make_lab(acme, alice, server.base_url)
    version = lab.version_with("Q: {{ q }}", max_completion_tokens=5)
    experiment = lab.experiment(versions=[version], cost_cap=100)
    with team_scope(acme):
        experiment_start(team=acme, actor=alice, experiment=experiment, enqueue=False)
    execute(experiment.pk)
    assert len(server.received) == 6
    assert all(b["max_completion_tokens"] == 5 and "max_tokens" not in b for b in server.received)
