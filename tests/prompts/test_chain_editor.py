"""Chains in the HTML editor: steps added, moved and removed without a script, saved as a
chain version, clean_steps' refusals shown next to the step they name; the version page
links each step to the version it runs and the diff of two chains shows their steps. A
chain's model-settings section is not shown and what is posted there is ignored (its steps
run on their own versions' models); the form's default button (Enter in a field) is Save."""

import pytest
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.prompts.models import PromptVersion

pytestmark = pytest.mark.django_db


def url(name, **kwargs):
    return reverse(f"prompts:{name}", kwargs={"team_slug": "acme", **kwargs})


@pytest.fixture
def parts(acme, alice):
    """Prompts `summarise` ("Summarise: {{ q }}", tag staging) and `answer` ({{ summary }})."""
    from apps.prompts.services import prompt_create, tag_move, version_create

    with team_scope(acme):
        made = {}
        for name, template in [
            ("summarise", "Summarise: {{ q }}"),
            ("answer", "Answer {{ summary }}"),
        ]:
            prompt = prompt_create(team=acme, actor=alice, name=name)
            made[name] = version_create(
                team=acme,
                actor=alice,
                prompt=prompt,
                kind="text",
                template=template,
                commit_message="first",
            )
        tag_move(
            team=acme,
            actor=alice,
            prompt=made["summarise"].prompt,
            tag_name="staging",
            version=made["summarise"],
        )
        return made


def _chain_post(**extra):
    data = {
        "name": "qa-chain",
        "kind": "chain",
        "commit_message": "two steps",
        "steps-0-name": "summarise",
        "steps-0-prompt": "summarise",
        "steps-0-by": "tag",
        "steps-0-pin": "staging",
        "steps-1-name": "answer",
        "steps-1-prompt": "answer",
        "steps-1-by": "version",
        "steps-1-pin": "1",
        "steps-1-in-summary": "{{ steps.summarise.output }}",
    }
    data.update(extra)
    return data


def test_it_creates_a_chain_prompt_from_the_editor(client, acme, bob, parts):
    client.force_login(bob)
    response = client.post(url("create"), _chain_post())
    assert response.status_code == 302, response.content.decode()[:2000]
    with team_scope(acme):
        version = PromptVersion.objects.get(prompt__name="qa-chain")
    assert version.kind == "chain" and version.variables == ["q"]
    assert version.steps == [
        {"name": "summarise", "prompt": "summarise", "inputs": {}, "tag": "staging"},
        {
            "name": "answer",
            "prompt": "answer",
            "inputs": {"summary": "{{ steps.summarise.output }}"},
            "version": 1,
        },
    ]


def test_it_shows_a_step_error_next_to_the_step_it_names(client, acme, bob, parts):
    client.force_login(bob)
    response = client.post(url("create"), _chain_post(**{"steps-1-pin": "7"}))
    assert response.status_code == 200
    body = response.content.decode()
    step_two = body[body.index('id="step-1"') :]
    step_two = step_two[: step_two.index("</fieldset>")]
    assert "Step 2: answer has no v7." in step_two
    assert "has no v7" not in body[: body.index('id="step-1"')]
    with team_scope(acme):
        assert not PromptVersion.objects.filter(prompt__name="qa-chain").exists()
    # An input reading a later step is refused on that step, too.
    response = client.post(
        url("create"),
        _chain_post(**{"steps-1-in-summary": "{{ steps.later.output }}"}),
    )
    assert "Step 2: input &#x27;summary&#x27; uses steps.later" in response.content.decode()


def test_it_adds_moves_and_removes_steps_without_saving(client, acme, bob, parts):
    client.force_login(bob)
    added = client.post(url("create"), _chain_post(step_action="Add step")).content.decode()
    assert 'id="step-2"' in added and 'name="steps-2-name"' in added
    # The answer step's variable shows as an input field, mapped.
    assert 'name="steps-1-in-summary" value="{{ steps.summarise.output }}"' in added
    moved = client.post(url("create"), _chain_post(step_action="Move step 2 up")).content.decode()
    assert moved.index('value="answer" class="mono"') < moved.index(
        'value="summarise" class="mono"'
    )
    removed = client.post(url("create"), _chain_post(step_action="Remove step 1")).content.decode()
    assert 'id="step-1"' not in removed and 'name="steps-0-in-summary"' in removed
    with team_scope(acme):
        assert not PromptVersion.objects.filter(prompt__name="qa-chain").exists()
    # At the most steps a chain may have, no more can be added.
    full = _chain_post(**{f"steps-{i}-name": f"s{i}" for i in range(2, 8)})
    body = client.post(url("create"), full).content.decode()
    assert 'id="step-7"' in body and 'id="add-step"' not in body and "at most 8 steps" in body


def test_it_saves_a_new_chain_version_and_shows_and_diffs_it(client, acme, bob, parts):
    client.force_login(bob)
    client.post(url("create"), _chain_post())
    editor = client.get(url("version_new", prompt_name="qa-chain", version_number=1))
    body = editor.content.decode()
    assert 'value="chain" checked' in body and 'name="steps-1-in-summary"' in body
    # The chain prompt is not offered as its own step.
    assert '<option value="qa-chain"' not in body
    data = _chain_post(
        commit_message="pin summarise",
        **{"steps-0-by": "version", "steps-0-pin": "1"},
    )
    del data["name"]
    response = client.post(url("version_new", prompt_name="qa-chain", version_number=1), data)
    assert response.status_code == 302
    page = client.get(url("version", prompt_name="qa-chain", version_number=2)).content.decode()
    # Each step links to the version it runs.
    assert url("version", prompt_name="summarise", version_number=1) in page
    assert url("version", prompt_name="answer", version_number=1) in page
    diff = client.get(
        url("diff", prompt_name="qa-chain", from_number=1, to_number=2) + "?mode=unified"
    ).content.decode()
    assert "1. summarise: summarise " in diff and "staging" in diff and ">v1<" in diff
    assert "summary ← {{ steps.summarise.output }}" in diff


# --- the editor's model settings and default button for a chain ---------------------


def _section(body: str, marker: str) -> str:
    start = body.rindex("<", 0, body.index(marker))
    return body[start : body.index(">", start) + 1]


def test_it_hides_the_model_settings_of_a_chain(client, acme, bob, parts):
    client.force_login(bob)
    # A chain being built: the settings section is hidden (server-rendered).
    body = client.post(url("create"), _chain_post(step_action="Add step")).content.decode()
    assert " hidden" in _section(body, 'id="model-settings"')
    # A text prompt shows it.
    body = client.get(url("create")).content.decode()
    tag = _section(body, 'id="model-settings"')
    assert 'data-kind-section="text chat"' in tag and " hidden" not in tag
    # A chain's new version page hides it too.
    client.post(url("create"), _chain_post())
    body = client.get(url("version_new", prompt_name="qa-chain", version_number=1)).content.decode()
    assert " hidden" in _section(body, 'id="model-settings"')


def test_it_ignores_model_settings_posted_with_a_chain(client, acme, bob, parts):
    client.force_login(bob)
    # Left over from a text prompt the form was first: bad values, in hidden fields.
    response = client.post(
        url("create"),
        _chain_post(temperature="hot", tools="[not json", extra_settings="[]", model="gpt-x"),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    with team_scope(acme):
        version = PromptVersion.objects.get(prompt__name="qa-chain")
    assert version.kind == "chain" and version.model_settings == {}


def test_it_still_checks_the_model_settings_of_a_text_prompt(client, acme, bob):
    client.force_login(bob)
    response = client.post(
        url("create"),
        {
            "name": "plain",
            "kind": "text",
            "template": "Hi",
            "commit_message": "c",
            "temperature": "hot",
        },
    )
    assert response.status_code == 200
    assert 'id="model-settings"' in response.content.decode()
    with team_scope(acme):
        assert not PromptVersion.objects.filter(prompt__name="plain").exists()


def test_it_makes_save_the_editors_default_button(client, acme, bob, parts):
    client.force_login(bob)
    body = client.post(url("create"), _chain_post(step_action="Add step")).content.decode()
    form = body[body.index('<form id="editor"') :]
    first_submit = form[form.index('type="submit"') - 200 : form.index('type="submit"') + 200]
    # The first submit button is the nameless Save, ahead of the step buttons.
    assert 'id="editor-default-save"' in first_submit and "name=" not in _section(
        form, 'id="editor-default-save"'
    )
    assert form.index('id="editor-default-save"') < form.index('name="step_action"')
    # Pressing Enter posts the form without a step action: the chain is saved.
    response = client.post(url("create"), _chain_post())
    assert response.status_code == 302
