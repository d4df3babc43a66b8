"""The refine assistant: a question about the template (and chosen failing rows), the
answer's proposed edit as a diff, saving it as a version; the conversation is stored with
the version it produced. demo-echo's refine rule (apps/llm/demo_refine.py) answers."""

import pytest
from django.urls import reverse

from apps.core.tenancy import team_scope
from apps.playground.assistant import DEFAULT_SYSTEM_PROMPT, parse_answer
from apps.playground.models import RefineConversation, RefineMessage
from apps.prompts.models import Prompt, PromptVersion

pytestmark = pytest.mark.django_db


def _url(name, **kwargs):
    return reverse(f"playground:{name}", kwargs={"team_slug": "acme", **kwargs})


def _ask(client, greeting, ask, **extra):
    data = {
        "version": greeting.pk,
        "target": "editor",
        "template": greeting.template,
        "ask": ask,
        **extra,
    }
    return client.post(_url("refine_ask"), data, HTTP_HX_REQUEST="true")


def test_it_proposes_an_edit_as_a_diff_with_a_seeded_assistant_prompt(
    client, acme, alice, greeting
):
    client.force_login(alice)
    response = _ask(client, greeting, "make it shorter")
    assert response.status_code == 200
    body = response.content.decode()
    # The proposal is a word-level diff against the template asked about.
    assert '<ins class="diff-add">Make it shorter.</ins>' in body
    assert "demo-echo (a deterministic test server, not an LLM)" in body
    assert "data-refine-apply" in body and "Save as greeting version" in body
    with team_scope(acme):
        assistant = Prompt.objects.get(name="refine-assistant")
        seeded = PromptVersion.objects.get(prompt=assistant)
        assert seeded.template == DEFAULT_SYSTEM_PROMPT
        conversation = RefineConversation.objects.get()
        assert conversation.assistant_version_id == seeded.pk
        assert conversation.base_version_id == greeting.pk
        assert conversation.model == "demo-echo"
        question, answer = RefineMessage.objects.order_by("pk")
    assert question.role == "user" and question.content == "make it shorter"
    assert answer.has_proposal
    assert answer.template == greeting.template + "\n\nMake it shorter."


def test_it_saves_the_proposal_as_a_version_of_the_conversation(client, acme, alice, greeting):
    client.force_login(alice)
    _ask(client, greeting, "keep it short")
    with team_scope(acme):
        answer = RefineMessage.objects.get(role="assistant")
    response = client.post(
        _url("refine_save", refine_message_id=answer.pk),
        {"target": "editor"},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert "Saved as" in body and "greeting v2" in body
    with team_scope(acme):
        version = PromptVersion.objects.get(prompt=greeting.prompt, number=2)
        conversation = RefineConversation.objects.get()
    assert version.template == greeting.template + "\n\nKeep it short."
    assert version.parent_id == greeting.pk
    assert version.commit_message == "Refine assistant: keep it short"
    assert version.variables_schema == greeting.variables_schema
    assert version.model_settings == greeting.model_settings
    assert conversation.produced_version_id == version.pk


def test_it_continues_a_conversation_with_its_history(client, acme, alice, greeting):
    client.force_login(alice)
    _ask(client, greeting, "make it shorter")
    with team_scope(acme):
        conversation = RefineConversation.objects.get()
    _ask(client, greeting, "be polite", conversation=conversation.pk)
    with team_scope(acme):
        assert RefineConversation.objects.count() == 1
        assert conversation.messages.count() == 4


def test_it_shows_chosen_failing_rows_and_says_when_no_edit_is_proposed(
    client, acme, alice, greeting, echo_provider, people
):
    from apps.experiments.models import Experiment, Result
    from apps.experiments.runner import execute
    from apps.playground.services import playground_evaluation_start
    from apps.playground.variants import Variant

    dataset, evaluator = people
    with team_scope(acme):
        experiment = playground_evaluation_start(
            team=acme,
            actor=alice,
            prompt=greeting.prompt,
            variants=[Variant.from_version(greeting)],
            variables_schema=greeting.variables_schema,
            dataset=dataset,
            evaluators=[evaluator],
        )
    execute(experiment.pk)
    client.force_login(alice)
    panel = client.get(
        _url("refine_panel") + f"?version={greeting.pk}&experiment={experiment.pk}",
        HTTP_HX_REQUEST="true",
    ).content.decode()
    with team_scope(acme):
        failed = list(
            Result.objects.filter(experiment=experiment, scores__passed=False).order_by("position")
        )
        assert Experiment.objects.count() == 1
    assert len(failed) == 2
    for result in failed:
        assert f'name="rows" value="{result.pk}"' in panel
    response = _ask(
        client,
        greeting,
        "why does it fail these rows?",
        experiment=experiment.pk,
        rows=[failed[0].pk],
    )
    body = response.content.decode()
    assert "It was shown 1 failing row. No edit proposed." in body
    assert "No edit proposed: the answer holds no" in body and "data-refine-apply" not in body
    with team_scope(acme):
        question = RefineMessage.objects.get(role="user")
    assert question.rows[0]["input"] == failed[0].input
    assert question.rows[0]["feedback"][0].startswith("is-warm: fail (Missing 'warm'")


def test_it_runs_the_team_edited_assistant_prompt(client, acme, alice, greeting):
    """The Hub version is the system prompt: a team's edit changes the answers (here one
    that no longer names the refine assistant, so demo-echo just echoes the question)."""
    from apps.prompts.services import version_create

    client.force_login(alice)
    _ask(client, greeting, "make it shorter")
    with team_scope(acme):
        prompt = Prompt.objects.get(name="refine-assistant")
        edited = version_create(
            team=acme,
            actor=alice,
            prompt=prompt,
            kind="text",
            template="You rewrite prompts. Reply plainly.",
            commit_message="ours",
        )
    body = _ask(client, greeting, "make it shorter").content.decode()
    assert "echo: Current template:" in body and "Make it shorter.</ins>" not in body
    # The echo quotes the template block back: the "proposal" is the template unchanged.
    assert "(the proposal is the same as the current template)" in body
    with team_scope(acme):
        newest = RefineConversation.objects.order_by("-pk").first()
    assert newest.assistant_version_id == edited.pk


def test_it_escapes_the_assistant_output(client, acme, alice, greeting):
    client.force_login(alice)
    body = _ask(
        client, greeting, "add <img src=x onerror=alert(1)>", template="Hi <b>{{ name }}</b>"
    ).content.decode()
    assert "<img src=x" not in body and "<b>" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_it_refuses_viewers(client, carol, greeting):
    client.force_login(carol)
    assert _ask(client, greeting, "make it shorter").status_code == 403


def test_it_offers_the_panel_beside_the_prompt_editor(client, alice, greeting):
    client.force_login(alice)
    url = reverse(
        "prompts:version_new",
        kwargs={"team_slug": "acme", "prompt_name": "greeting", "version_number": 1},
    )
    body = client.get(url).content.decode()
    assert f"/t/acme/playground/refine/?target=editor&amp;version={greeting.pk}" in body
    assert "playground/refine" in body and "refine.js" in body


def test_it_lists_conversations_with_the_version_they_produced(client, acme, alice, greeting):
    client.force_login(alice)
    _ask(client, greeting, "keep it short")
    with team_scope(acme):
        answer = RefineMessage.objects.get(role="assistant")
    client.post(_url("refine_save", refine_message_id=answer.pk))
    body = client.get(_url("refine_conversations")).content.decode()
    assert "greeting v2" in body and "demo-echo / demo-echo" in body


@pytest.mark.parametrize(
    "answer, template",
    [
        ("Shorter.\n```template\nHi {{ name }}\n```", "Hi {{ name }}"),
        ("a\n```prompt\nA\n```\nthen\n```template\nB\n```", "B"),  # the last labelled
        ("Only one block:\n```\nX {{ y }}\n```", "X {{ y }}"),  # a lone unlabelled block
        ("~~~template\nT\n~~~", "T"),
        ("````template\nwith ``` inside\n````", "with ``` inside"),
        ("No block at all.", None),
        ("```json\n{}\n```", None),  # another language is not a template
        ("```\nA\n```\n```\nB\n```", None),  # two unlabelled blocks: ambiguous
        ("```template\nnever closed", None),
    ],
)
def test_it_parses_answers_robustly(answer, template):
    proposal = parse_answer(answer)
    assert proposal.template == template
    if template is not None:
        assert "```template" not in proposal.explanation
