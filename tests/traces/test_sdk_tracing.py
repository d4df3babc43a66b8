"""promptyard.trace: spans, arguments, versions, nesting, and the prompt-version link."""

from __future__ import annotations

import json

import promptyard
import pytest
from promptyard import tracing

from apps.core.tenancy import team_scope
from apps.traces.models import Span, Trace
from tests.traces.helpers import spans_by_name


def test_it_records_arguments_return_value_and_function_version(memory):
    @promptyard.trace
    def add(a, b=2):
        return {"sum": a + b}

    assert add(1, b=5) == {"sum": 6}
    span = spans_by_name(memory)[
        "test_it_records_arguments_return_value_and_function_version.<locals>.add"
    ]
    assert json.loads(span.attributes["input.value"]) == {"a": 1, "b": 5}
    assert json.loads(span.attributes["output.value"]) == {"sum": 6}
    assert span.attributes["promptyard.function.name"].endswith("<locals>.add")
    assert span.attributes["promptyard.function.version"] == tracing.function_version(add)


def test_it_nests_decorators_and_context_managers(memory):
    @promptyard.trace(name="inner")
    def inner():
        with promptyard.trace("step") as step:
            step.set_attribute("k", 1)
        return "ok"

    @promptyard.trace(name="outer")
    def outer():
        return inner()

    outer()
    spans = spans_by_name(memory)
    assert spans["inner"].parent.span_id == spans["outer"].context.span_id
    assert spans["step"].parent.span_id == spans["inner"].context.span_id
    assert spans["step"].attributes["k"] == 1


def test_it_marks_a_raised_exception_as_an_error(memory):
    from opentelemetry.trace import StatusCode

    @promptyard.trace(name="boom")
    def boom():
        raise ValueError("bad input")

    with pytest.raises(ValueError):
        boom()
    span = spans_by_name(memory)["boom"]
    assert span.status.status_code == StatusCode.ERROR
    assert "bad input" in span.status.description


def test_it_limits_the_size_of_recorded_values(memory):
    @promptyard.trace(name="big")
    def big(text):
        return text * 2

    big("x" * 50_000)
    span = spans_by_name(memory)["big"]
    assert len(span.attributes["input.value"]) < tracing.MAX_VALUE_CHARS + 100
    assert "truncated" in span.attributes["output.value"]


def test_it_changes_the_version_when_the_source_changes():
    namespace: dict = {}
    exec("def f(x):\n    return x + 1\n", namespace)
    first = tracing.function_version(namespace["f"])
    exec("def f(x):\n    return x + 2\n", namespace)
    assert tracing.function_version(namespace["f"]) != first


def test_it_records_a_prompt_fetch_on_the_current_span(memory):
    @promptyard.trace(name="answer")
    def answer():
        promptyard.record_prompt_fetch("support-reply", 3)
        return "done"

    answer()
    span = spans_by_name(memory)["answer"]
    assert span.attributes["promptyard.prompt.name"] == "support-reply"
    assert span.attributes["promptyard.prompt.version"] == 3


def test_it_runs_untraced_code_when_nothing_is_configured():
    tracing.shutdown_tracing()

    @promptyard.trace
    def plain(x):
        return x * 2

    assert plain(4) == 8
    with promptyard.trace("block"):
        pass


@pytest.mark.django_db(transaction=True)
def test_it_links_spans_to_the_prompt_version_fetched_inside_a_decorated_function(
    live_server, acme, alice, api_key_for
):
    from apps.prompts import services as prompt_services
    from apps.prompts.models import PromptVersion

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
            template="Answer {{ q }}",
            commit_message="2",
        )
    raw = api_key_for(acme, alice, scopes=["prompts:read", "traces:write"])
    tracing.configure_tracing(api_key=raw, base_url=live_server.url, schedule_delay_millis=50)
    client = promptyard.Promptyard(api_key=raw, base_url=live_server.url)
    try:

        @promptyard.trace
        def answer(q):
            # get_prompt reports the fetched version to the current span itself.
            return client.get_prompt("support-reply", tag="latest").render(q=q)

        assert answer("hi?") == "Answer hi?"
        assert promptyard.flush_tracing()
    finally:
        client.close()
        tracing.shutdown_tracing()

    with team_scope(acme):
        span = Span.objects.get()
        trace = Trace.objects.get()
        assert span.prompt_name == "support-reply"
        assert span.prompt_version_number == v2.number
        assert span.prompt_version_id == PromptVersion.objects.get(pk=v2.pk).pk
        assert span.function_name.endswith("answer")
        assert json.loads(span.input_text) == {"q": "hi?"}
        assert trace.prompt_name == "support-reply"
        assert trace.function_version == span.function_version
