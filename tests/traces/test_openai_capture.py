"""configure_tracing(instrument_openai=True): openai calls inside a traced function become
child spans (model, tokens, messages) through the OpenInference instrumentation, land at
/v1/traces, and name the prompt version their messages were rendered from."""

from __future__ import annotations

import openai
import promptyard
import pytest
from promptyard import tracing

from apps.core.tenancy import team_scope
from apps.prompts import services as prompt_services
from apps.traces.models import Span

pytestmark = pytest.mark.django_db(transaction=True)


def test_openai_calls_become_child_spans_with_tokens_and_the_prompt_version(
    live_server, demo_echo, acme, alice, api_key_for
):
    with team_scope(acme):
        prompt = prompt_services.prompt_create(team=acme, actor=alice, name="support-reply")
        prompt_services.version_create(
            team=acme, actor=alice, prompt=prompt, kind="text", template="v1", commit_message="1"
        )
        v2 = prompt_services.version_create(
            team=acme,
            actor=alice,
            prompt=prompt,
            kind="text",
            template="Answer briefly: {{ q }}",
            model_settings={"model": "demo-echo"},
            commit_message="2",
        )
    key = api_key_for(acme, alice, scopes=["prompts:read", "traces:write"], name="app")
    tracing.configure_tracing(
        api_key=key, base_url=live_server.url, schedule_delay_millis=50, instrument_openai=True
    )
    client = promptyard.Promptyard(api_key=key, base_url=live_server.url)
    llm = openai.OpenAI(base_url=demo_echo, api_key="demo")
    try:

        @promptyard.trace
        def answer(q):
            kwargs = client.get_prompt("support-reply", tag="latest").openai_kwargs(q=q)
            first = llm.chat.completions.create(**kwargs).choices[0].message.content
            # A call whose messages no prompt rendered names no version.
            llm.chat.completions.create(
                model="demo-echo", messages=[{"role": "user", "content": "free text"}]
            )
            return first

        assert "Answer briefly: why?" in answer("why?")
        assert promptyard.flush_tracing()
    finally:
        client.close()
        tracing.shutdown_tracing()

    # Uninstrumented again: a call after shutdown makes no span.
    llm.chat.completions.create(model="demo-echo", messages=[{"role": "user", "content": "x"}])

    with team_scope(acme):
        spans = {s.name: s for s in Span.objects.filter(parent_span_id="")}
        root = spans[
            "test_openai_calls_become_child_spans_with_tokens_and_the_prompt_version.<locals>.answer"
        ]
        children = list(Span.objects.filter(parent_span_id=root.span_id).order_by("start_ns"))
        assert len(children) == 2
        assert Span.objects.count() == 3
        linked, free = children
        for child in children:
            assert child.trace_id == root.trace_id
            assert child.model == "demo-echo"
            assert child.input_tokens and child.output_tokens
        assert "Answer briefly: why?" in linked.input_text or any(
            "Answer briefly: why?" in str(v) for v in linked.attributes.values()
        )
        assert (linked.prompt_name, linked.prompt_version_number) == ("support-reply", v2.number)
        assert linked.prompt_version_id == v2.pk
        assert free.prompt_name == ""
