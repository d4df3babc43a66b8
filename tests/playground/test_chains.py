"""Chains in the playground: a chain version (or the version at one of its tags) runs its
steps in order on the typed inputs, each step's prompt, output, latency and tokens shown,
recorded as one playground run; a failing step stops the chain and is named."""

import pytest
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.playground.models import PlaygroundRun
from tests.playground.conftest import chain_text_prompt

pytestmark = pytest.mark.django_db


def _url(name, **kwargs):
    return reverse(f"playground:{name}", kwargs={"team_slug": "acme", **kwargs})


def test_it_opens_a_chain_with_its_inputs_and_steps(client, alice, chain):
    client.force_login(alice)
    body = client.get(_url("index") + f"?version={chain.pk}").content.decode()
    assert 'id="chain-form"' in body and 'name="var-q"' in body
    assert 'value="tag:staging"' in body
    assert 'id="playground-form"' not in body  # the variants editor is for text and chat


def test_it_runs_a_chain_step_by_step_and_records_it(client, acme, alice, chain):
    client.force_login(alice)
    response = client.post(_url("chain_run"), {"version_id": chain.pk, "var-q": "why <script>?"})
    assert response.status_code == 200
    body = response.content.decode()
    with team_scope(acme):
        run = PlaygroundRun.objects.get()
    assert run.kind == "chain" and run.status == "ok" and run.prompt_version_id == chain.pk
    first, second = run.steps
    assert first["output"] == "echo: Summarise: why <script>?"
    assert second["output"] == "echo: Answer <b>from</b> echo: Summarise: why <script>?"
    assert second["messages"] == [
        {"role": "user", "content": "Answer <b>from</b> echo: Summarise: why <script>?"}
    ]
    assert run.output == second["output"]
    assert run.input_tokens == first["input_tokens"] + second["input_tokens"] > 0
    assert run.latency_ms == first["latency_ms"] + second["latency_ms"]
    # Each step shown, its output escaped; the final output too.
    assert "echo: Summarise: why &lt;script&gt;?" in body
    assert "<script>?" not in body and "<b>from</b>" not in body
    assert 'id="chain-final"' in body
    assert body.count('class="chain-run-step"') == 2
    # The run's page shows the steps as well.
    detail = client.get(_url("run_detail", playground_run_id=run.pk)).content.decode()
    assert 'id="chain-steps"' in detail and "echo: Summarise: why &lt;script&gt;?" in detail
    history = client.get(_url("history")).content.decode()
    assert 'qa-chain v1 <span class="pill">chain</span>' in history
    assert run.model == "demo-echo" and run.provider_name == "demo-echo"


def test_it_runs_the_version_a_chain_tag_points_at(client, acme, alice, chain):
    from apps.prompts.services import tag_move, version_create

    with team_scope(acme):
        newer = version_create(
            team=acme,
            actor=alice,
            prompt=chain.prompt,
            kind="chain",
            steps=[{"name": "only", "prompt": "summarise", "version": 1}],
            commit_message="one step",
        )
        tag_move(team=acme, actor=alice, prompt=chain.prompt, tag_name="staging", version=newer)
    client.force_login(alice)
    response = client.post(
        _url("chain_run"), {"version_id": chain.pk, "ref": "tag:staging", "var-q": "x"}
    )
    assert response.status_code == 200
    with team_scope(acme):
        run = PlaygroundRun.objects.get()
    assert run.prompt_version_id == newer.pk and [s["name"] for s in run.steps] == ["only"]
    missing = client.post(_url("chain_run"), {"version_id": chain.pk, "ref": "tag:nope"})
    assert missing.status_code == 400 and "has no tag" in missing.content.decode()


def test_it_stops_the_chain_at_a_failing_step_and_names_it(client, acme, alice, chain):
    from apps.llm.services import provider_create
    from apps.prompts.services import version_create

    with team_scope(acme):
        # The second step's model is served by nothing: its call fails.
        down = provider_create(
            team=acme,
            actor=alice,
            name="down",
            base_url="http://127.0.0.1:9/v1",
            models=["m"],
            max_retries=0,
        )
        broken = chain_text_prompt(acme, alice, down, "shout", "Shout {{ summary }}")
        version = version_create(
            team=acme,
            actor=alice,
            prompt=chain.prompt,
            kind="chain",
            steps=[
                chain.steps[0],
                {
                    "name": "shout",
                    "prompt": broken.prompt.name,
                    "version": 1,
                    "inputs": {"summary": "{{ steps.summarise.output }}"},
                },
                chain.steps[1],
            ],
            commit_message="a failing middle step",
        )
    client.force_login(alice)
    response = client.post(_url("chain_run"), {"version_id": version.pk, "var-q": "x"})
    body = response.content.decode()
    with team_scope(acme):
        run = PlaygroundRun.objects.get()
    assert run.status == "error" and run.error_message.startswith("Step shout: ")
    # The first step ran and is kept; the chain stopped at the second, never ran the third.
    assert [s["name"] for s in run.steps] == ["summarise", "shout"]
    assert run.steps[0]["output"] == "echo: Summarise: x" and "error" in run.steps[1]
    assert "Step shout: " in body and 'id="chain-final"' not in body


def test_it_refuses_viewers_and_other_teams(client, carol, dave, chain):
    client.force_login(carol)
    assert client.post(_url("chain_run"), {"version_id": chain.pk}).status_code == 403
    client.force_login(dave)
    assert client.post(_url("chain_run"), {"version_id": chain.pk}).status_code == 404


def test_it_serves_a_chain_runs_steps_in_the_api(
    client, api_client, acme, alice, chain, api_key_for
):
    from tests.conftest import bearer

    client.force_login(alice)
    client.post(_url("chain_run"), {"version_id": chain.pk, "var-q": "x"})
    with team_scope(acme):
        run = PlaygroundRun.objects.get()
    raw = api_key_for(acme, alice, scopes=["prompts:read"])
    url = reverse("api:playground-run-detail", kwargs={"playground_run_id": run.pk})
    body = api_client.get(url, **bearer(raw)).json()
    assert body["kind"] == "chain" and body["prompt_version_id"] == chain.pk
    assert [s["name"] for s in body["steps"]] == ["summarise", "answer"]
    assert (
        body["steps"][1]["output"]
        == body["output"]
        == "echo: Answer <b>from</b> echo: Summarise: x"
    )


def test_it_reopens_a_chain_run_in_the_playground_with_its_inputs(client, acme, alice, chain):
    client.force_login(alice)
    client.post(_url("chain_run"), {"version_id": chain.pk, "var-q": "the question"})
    with team_scope(acme):
        run = PlaygroundRun.objects.get()
    body = client.get(_url("index") + f"?run={run.pk}").content.decode()
    assert 'id="chain-form"' in body and "the question</textarea>" in body


def test_it_previews_a_chains_inputs_in_the_editor(client, alice, chain):
    client.force_login(alice)
    response = client.post(
        reverse("prompts:preview", kwargs={"team_slug": "acme"}),
        {
            "kind": "chain",
            "steps-0-name": "summarise",
            "steps-0-prompt": "summarise",
            "steps-0-by": "version",
            "steps-0-pin": "1",
        },
    )
    body = response.content.decode()
    assert '<code class="variable">q</code>' in body and "template-error" not in body
