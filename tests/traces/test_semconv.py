"""GenAI semantic conventions, OpenInference and promptyard.* attributes."""

from __future__ import annotations

import json
from decimal import Decimal

from apps.traces.cost import span_cost
from apps.traces.semconv import extract


def test_it_reads_current_gen_ai_attributes():
    fields = extract(
        {
            "gen_ai.system": "openai",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 3,
            "gen_ai.system_instructions": "Be brief.",
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [
                    {
                        "role": "assistant",
                        "parts": [{"type": "text", "content": "Hello"}],
                        "finish_reason": "stop",
                    }
                ]
            ),
        },
        [],
    )
    assert (fields.model, fields.system) == ("gpt-4o", "openai")
    assert (fields.input_tokens, fields.output_tokens) == (12, 3)
    assert fields.input_text == "system: Be brief.\nuser: Hi"
    assert fields.output_text == "assistant: Hello"


def test_it_reads_older_indexed_prompt_and_completion_attributes():
    fields = extract(
        {
            "gen_ai.response.model": "gpt-3.5",
            "gen_ai.usage.prompt_tokens": 5,
            "gen_ai.usage.completion_tokens": 2,
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "Rules",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "Question",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "Answer",
        },
        [],
    )
    assert fields.model == "gpt-3.5"
    assert (fields.input_tokens, fields.output_tokens) == (5, 2)
    assert fields.input_text == "system: Rules\nuser: Question"
    assert fields.output_text == "assistant: Answer"


def test_it_reads_messages_from_events():
    events = [
        {"name": "gen_ai.content.prompt", "attributes": {"gen_ai.prompt": "Tell me a joke"}},
        {"name": "gen_ai.content.completion", "attributes": {"gen_ai.completion": "No."}},
    ]
    fields = extract({}, events)
    assert fields.input_text == "Tell me a joke"
    assert fields.output_text == "No."
    fields = extract(
        {},
        [
            {"name": "gen_ai.user.message", "attributes": {"content": "Hi"}},
            {
                "name": "gen_ai.choice",
                "attributes": {"message": json.dumps({"role": "assistant", "content": "Yo"})},
            },
        ],
    )
    assert fields.input_text == "user: Hi"
    assert fields.output_text == "assistant: Yo"


def test_it_reads_openinference_attributes():
    fields = extract(
        {
            "llm.model_name": "claude-x",
            "llm.token_count.prompt": 7,
            "llm.token_count.completion": 9,
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": "Ping",
            "output.value": "Pong",
        },
        [],
    )
    assert fields.model == "claude-x"
    assert (fields.input_tokens, fields.output_tokens) == (7, 9)
    assert fields.input_text == "user: Ping"
    assert fields.output_text == "Pong"


def test_it_reads_promptyard_attributes_and_ignores_nonsense():
    fields = extract(
        {
            "promptyard.prompt.name": "support",
            "promptyard.prompt.version": "4",
            "promptyard.function.name": "app.answer",
            "promptyard.function.version": "abc",
            "gen_ai.usage.input_tokens": "lots",
        },
        [],
    )
    assert (fields.prompt_name, fields.prompt_version_number) == ("support", 4)
    assert (fields.function_name, fields.function_version) == ("app.answer", "abc")
    assert fields.input_tokens is None
    assert extract({"promptyard.prompt.version": -1}, []).prompt_version_number is None


def test_it_prices_tokens_per_million():
    prices = {"m": {"input": 3, "output": 15}}
    assert span_cost(prices, "m", 1_000_000, 100_000) == Decimal("4.50000000")
    assert span_cost(prices, "other", 10, 10) is None
    assert span_cost(prices, "m", None, None) is None
