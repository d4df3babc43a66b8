"""The playground pages, the streamed run endpoint and saving as a new version."""

import json

import pytest
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.playground.models import PlaygroundRun

pytestmark = pytest.mark.django_db


def _url(name, **kwargs):
    return reverse(f"playground:{name}", kwargs={"team_slug": "acme", **kwargs})


def _events(response) -> list[tuple[str, dict]]:
    body = b"".join(response.streaming_content).decode()
    events = []
    for block in body.split("\n\n"):
        lines = block.strip().splitlines()
        event = next((line[6:].strip() for line in lines if line.startswith("event:")), None)
        data = "".join(line[5:].strip() for line in lines if line.startswith("data:"))
        if event:
            events.append((event, json.loads(data)))
    return events


def _run_data(provider, **extra):
    data = {
        "kind": "text",
        "template": "Say hello to {{ name }} in {{ tone }} words",
        "provider_model": f"{provider.pk}::demo-echo",
        "var-name": "Ada",
        "var-tone": "warm",
        "variables_schema": json.dumps({"tone": {"type": "string", "enum": ["warm", "plain"]}}),
        "label": "A",
    }
    data.update(extra)
    return data


def test_it_opens_blank(client, acme, alice, echo_provider):
    client.force_login(alice)
    response = client.get(_url("index"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "A blank prompt" in body
    assert "deterministic test server, not an LLM" in body


def test_it_opens_a_version(client, alice, greeting):
    client.force_login(alice)
    response = client.get(_url("index") + f"?version={greeting.pk}")
    body = response.content.decode()
    assert "Say hello to {{ name }} in {{ tone }} words" in body
    assert 'name="var-name"' in body and 'name="var-tone"' in body
    # tone has an enum in the schema: a select with its options
    assert '<option value="warm"' in body
    assert "greeting v1" in body


def test_it_404s_a_missing_version(client, acme, alice):
    client.force_login(alice)
    assert client.get(_url("index") + "?version=999999").status_code == 404
    assert client.get(_url("index") + "?version=abc").status_code == 404


def test_it_regenerates_the_variables_form(client, acme, alice, echo_provider):
    client.force_login(alice)
    response = client.post(
        _url("variables"),
        {
            "v0-kind": "text",
            "v0-template": "Hi {{ who }}",
            "v1-kind": "chat",
            "v1-msg_role": ["system", "user", "placeholder"],
            "v1-msg_content": ["Be {{ mood }}", "{{ who }}", "history"],
            "var-who": "kept value",
            "variables_schema": json.dumps({"mood": {"type": "boolean"}}),
        },
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert "<html" not in body
    assert body.index('name="var-who"') < body.index('name="var-mood"')
    assert "kept value" in body
    assert 'name="var-history"' in body and "JSON list of {role, content}" in body
    assert '<option value="true"' in body


def test_it_fills_variables_from_a_dataset_example(client, acme, alice, echo_provider):
    from apps.datasets.services import dataset_create, example_create

    with team_scope(acme):
        dataset = dataset_create(team=acme, actor=alice, name="people")
        example = example_create(
            team=acme, actor=alice, dataset=dataset, input={"who": "Grace <b>Hopper</b>"}
        )
    client.force_login(alice)
    picker = client.post(_url("examples"), {"dataset": dataset.pk}).content.decode()
    assert str(example.example_id) in picker
    response = client.post(
        _url("variables"),
        {
            "v0-kind": "text",
            "v0-template": "Hi {{ who }}",
            "fill": "1",
            "example_choice": f"{dataset.pk}:{example.example_id}",
        },
    )
    body = response.content.decode()
    assert "Grace &lt;b&gt;Hopper&lt;/b&gt;" in body


def test_it_streams_a_run_and_records_it(client, acme, alice, greeting, echo_provider):
    client.force_login(alice)
    response = client.post(_url("run"), _run_data(echo_provider, version_id=greeting.pk))
    assert response["Content-Type"].startswith("text/event-stream")
    events = _events(response)
    chunks = [data["text"] for event, data in events if event == "chunk"]
    assert "".join(chunks) == "echo: Say hello to Ada in warm words"
    assert len(chunks) > 1
    kind, done = events[-1]
    assert kind == "done"
    assert (done["input_tokens"], done["output_tokens"]) == (7, 8)
    assert done["cost"] == pytest.approx((7 * 1 + 8 * 2) / 1e6)
    with team_scope(acme):
        run = PlaygroundRun.objects.get(pk=done["run_id"])
    assert run.status == "ok"
    assert run.user == alice and run.prompt_version == greeting
    assert run.output == "echo: Say hello to Ada in warm words"
    assert run.variables == {"name": "Ada", "tone": "warm"}
    assert run.rendered == [{"role": "user", "content": "Say hello to Ada in warm words"}]
    assert run.model == "demo-echo" and run.provider == echo_provider


def test_it_runs_chat_prompts_with_settings(client, acme, alice, echo_provider):
    client.force_login(alice)
    data = _run_data(
        echo_provider,
        kind="chat",
        msg_role=["system", "user"],
        msg_content=["You are {{ tone }}", "Hi {{ name }} one two three"],
        max_tokens="3",
        response_format="text",
    )
    events = _events(client.post(_url("run"), data))
    text = "".join(d["text"] for e, d in events if e == "chunk")
    assert text == "echo: Hi Ada"
    assert events[-1][1]["finish_reason"] == "length"


def test_it_reports_a_missing_variable_plainly(client, acme, alice, echo_provider):
    client.force_login(alice)
    data = _run_data(echo_provider)
    del data["var-name"]
    events = _events(client.post(_url("run"), data))
    assert events == [
        (
            "error",
            {
                "kind": "render",
                "message": "Missing variable 'name'.",
                "run_id": events[0][1]["run_id"],
            },
        )
    ]
    with team_scope(acme):
        assert PlaygroundRun.objects.get().status == "error"


@pytest.mark.parametrize(
    "template, limit",
    [
        (
            "{% for a in range(1000) %}{% for b in range(1000) %}{% endfor %}{% endfor %}x",
            "100,000 loop iterations",
        ),
        ("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "calls nested more than 40 deep"),
    ],
)
def test_it_reports_a_template_over_budget_as_a_render_error(
    client, acme, alice, echo_provider, template, limit
):
    client.force_login(alice)
    data = _run_data(echo_provider, template=template)
    del data["variables_schema"]
    events = _events(client.post(_url("run"), data))
    assert [event for event, _ in events] == ["error"]
    assert events[0][1]["kind"] == "render"
    assert "Template over budget" in events[0][1]["message"] and limit in events[0][1]["message"]
    with team_scope(acme):
        assert PlaygroundRun.objects.get().status == "error"


def test_it_reports_provider_errors_plainly(client, acme, alice, demo_echo_server):
    from apps.llm.services import provider_create

    server = demo_echo_server(rate_500=1.0)
    with team_scope(acme):
        provider = provider_create(
            team=acme, actor=alice, name="flaky", base_url=server.base_url, max_retries=0
        )
    client.force_login(alice)
    events = _events(client.post(_url("run"), _run_data(provider)))
    assert events[-1][0] == "error"
    assert events[-1][1]["kind"] == "server"
    assert "server error (500)" in events[-1][1]["message"]
    with team_scope(acme):
        run = PlaygroundRun.objects.get()
    assert run.error_kind == "server"


def test_it_refuses_runs_by_viewers(client, carol, echo_provider):
    client.force_login(carol)
    assert client.post(_url("run"), _run_data(echo_provider)).status_code == 403


def test_it_saves_a_variant_as_a_new_version(client, acme, alice, greeting, echo_provider):
    client.force_login(alice)
    data = _run_data(
        echo_provider,
        version_id=greeting.pk,
        template="Greet {{ name }} in {{ tone }} words, briefly",
        temperature="0.3",
        prompt_id=greeting.prompt_id,
        commit_message="shorter greeting",
    )
    response = client.post(_url("save"), data)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] and "greeting v2" in body["message"]
    with team_scope(acme):
        from apps.prompts.models import PromptVersion

        versions = list(PromptVersion.objects.filter(prompt=greeting.prompt).order_by("number"))
    assert [v.number for v in versions] == [1, 2]
    assert versions[0].template == "Say hello to {{ name }} in {{ tone }} words"
    new = versions[1]
    assert new.template == "Greet {{ name }} in {{ tone }} words, briefly"
    assert new.commit_message == "shorter greeting"
    assert new.parent_id == greeting.pk
    assert new.model_settings["temperature"] == 0.3
    assert new.model_settings["model"] == "demo-echo"
    assert new.variables_schema == {"tone": {"type": "string", "enum": ["warm", "plain"]}}


def test_it_needs_a_commit_message_to_save(client, alice, greeting, echo_provider):
    client.force_login(alice)
    data = _run_data(
        echo_provider, template="changed {{ name }} {{ tone }}", prompt_id=greeting.prompt_id
    )
    response = client.post(_url("save"), data)
    assert response.status_code == 400
    assert response.json()["field"] == "commit_message"


def test_it_refuses_saving_by_viewers(client, carol, greeting, echo_provider):
    client.force_login(carol)
    data = _run_data(
        echo_provider,
        template="x {{ name }} {{ tone }}",
        prompt_id=greeting.prompt_id,
        commit_message="nope",
    )
    assert client.post(_url("save"), data).status_code == 403


def test_it_lists_runs_with_output_escaped(client, acme, alice, echo_provider):
    client.force_login(alice)
    data = _run_data(echo_provider, template="<script>alert(1)</script>")
    del data["var-name"], data["var-tone"]
    events = _events(client.post(_url("run"), data))
    run_id = events[-1][1]["run_id"]
    history = client.get(_url("history")).content.decode()
    assert "<script>alert(1)</script>" not in history
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in history
    detail = client.get(_url("run_detail", playground_run_id=run_id)).content.decode()
    assert "<script>alert(1)</script>" not in detail
    assert "echo: &lt;script&gt;alert(1)&lt;/script&gt;" in detail


def test_it_reopens_a_run(client, acme, alice, echo_provider):
    client.force_login(alice)
    data = _run_data(echo_provider, template="Again {{ name }}")
    events = _events(client.post(_url("run"), data))
    response = client.get(_url("index") + f"?run={events[-1][1]['run_id']}")
    assert "Again {{ name }}" in response.content.decode()
    assert "Ada" in response.content.decode()


def test_it_lists_runs_through_the_api(client, api_client, acme, alice, echo_provider):
    client.force_login(alice)
    events = _events(client.post(_url("run"), _run_data(echo_provider)))
    run_id = events[-1][1]["run_id"]
    api_client.force_login(alice)
    body = api_client.get(
        reverse("team_api:playground-run-list", kwargs={"team_slug": "acme"})
    ).json()
    assert body["results"][0]["id"] == run_id
    assert body["results"][0]["output"] == "echo: Say hello to Ada in warm words"
    detail = api_client.get(
        reverse(
            "team_api:playground-run-detail",
            kwargs={"team_slug": "acme", "playground_run_id": run_id},
        )
    )
    assert detail.json()["user"] == "alice@acme.test"
