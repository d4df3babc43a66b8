"""promptyard.chain: a served chain as its steps, run with earlier outputs fed forward,
each step a span nested in the chain's."""

from __future__ import annotations

import pytest
from promptyard import tracing
from promptyard.chain import ChainPrompt
from promptyard.prompt import Prompt

CHAIN = {
    "name": "support",
    "version": 2,
    "kind": "chain",
    "content_hash": "h",
    "template": "",
    "messages": [],
    "steps": [
        {"name": "summarise", "prompt": "summariser", "version": 1, "inputs": {}},
        {
            "name": "reply",
            "prompt": "replier",
            "tag": "production",
            "inputs": {"summary": "{{ steps.summarise.output }}"},
        },
    ],
    "variables": ["ticket"],
}
PROMPTS = {
    "summariser": Prompt(name="summariser", version=1, template="Sum: {{ ticket }}",
                         variables=["ticket"]),
    "replier": Prompt(name="replier", version=4, template="Reply to {{ summary }}",
                      variables=["summary"]),
}  # fmt: skip


def _run(chain):
    fetched = []

    def fetch(step):
        fetched.append((step.prompt, step.version, step.tag))
        return PROMPTS[step.prompt]

    def call(prompt, values):
        return f"[{prompt.render(**values)}]"

    return chain.run(values={"ticket": "late parcel"}, fetch=fetch, call=call), fetched


def test_it_reads_a_served_chain_and_runs_its_steps_in_order():
    prompt = Prompt.from_dict(CHAIN)
    assert prompt.kind == "chain" and len(prompt.steps) == 2
    assert Prompt.from_dict(prompt.to_dict()).steps == prompt.steps  # cache round trip
    chain = ChainPrompt.from_prompt(prompt)
    run, fetched = _run(chain)
    assert fetched == [("summariser", 1, None), ("replier", None, "production")]
    assert run.outputs == {
        "summarise": "[Sum: late parcel]",
        "reply": "[Reply to [Sum: late parcel]]",
    }
    assert run.output == "[Reply to [Sum: late parcel]]"


def test_it_traces_each_step_as_a_span_nested_in_the_chains():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    previous, tracing._provider = tracing._provider, provider
    try:
        _run(ChainPrompt.from_prompt(Prompt.from_dict(CHAIN)))
    finally:
        tracing._provider = previous
    spans = {s.name: s for s in exporter.get_finished_spans()}
    root = spans["chain support"]
    assert spans["step summarise"].parent.span_id == root.context.span_id
    assert spans["step reply"].parent.span_id == root.context.span_id
    assert spans["step reply"].attributes["promptyard.chain_step"] == "reply"


def test_it_refuses_a_prompt_that_is_not_a_chain():
    with pytest.raises(ValueError, match="is a text prompt"):
        ChainPrompt.from_prompt(PROMPTS["replier"])
