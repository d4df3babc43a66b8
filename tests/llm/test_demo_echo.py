"""demo-echo's documented rules and its OpenAI wire format, over raw HTTP."""

import json
import urllib.error
import urllib.request

import pytest

from apps.llm.demo_echo import DemoEchoOptions, answer, value_for_schema


def _post(base_url, body, headers=None):
    request = urllib.request.Request(
        f"{base_url}/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    return urllib.request.urlopen(request, timeout=5)


def test_it_echoes_the_last_user_message():
    body = {
        "messages": [
            {"role": "system", "content": "be nice"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "second"}]},
        ]
    }
    assert answer(body) == ("echo: second", "stop")


def test_it_answers_a_json_schema_deterministically():
    schema = {
        "type": "object",
        "properties": {
            "label": {"$ref": "#/$defs/label"},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "short": {"type": "string", "maxLength": 3},
            "n": {"type": "integer", "minimum": 5},
            "ok": {"type": "boolean"},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "number"}]},
        },
        "$defs": {"label": {"enum": ["yes", "no"]}},
    }
    value = value_for_schema(schema, "hello")
    assert value == {
        "label": "yes",
        "tags": ["hello", "hello"],
        "short": "hel",
        "n": 5,
        "ok": True,
        "maybe": None,
    }


def test_it_refuses_impossible_fault_rates():
    with pytest.raises(ValueError):
        DemoEchoOptions(rate_429=0.7, rate_500=0.5)
    with pytest.raises(ValueError):
        DemoEchoOptions(script=["boom"])


def test_it_streams_in_openai_format(demo_echo):
    body = {
        "model": "demo-echo",
        "messages": [{"role": "user", "content": "a b"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with _post(demo_echo, body) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        raw = response.read().decode()
    events = [block[len("data: ") :] for block in raw.strip().split("\n\n")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "echo: a b"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 5}


def test_it_sends_retry_after_with_429(demo_echo_server):
    server = demo_echo_server(retry_after=0.25)
    server.script("429")
    with pytest.raises(urllib.error.HTTPError) as caught:
        _post(server.base_url, {"model": "m", "messages": [{"role": "user", "content": "x"}]})
    assert caught.value.code == 429
    assert caught.value.headers["Retry-After"] == "1"
    assert caught.value.headers["retry-after-ms"] == "250"
    assert json.loads(caught.value.read())["error"]["type"] == "rate_limit_exceeded"


def test_it_draws_faults_reproducibly(demo_echo_server):
    def outcomes(seed):
        server = demo_echo_server(rate_429=0.3, rate_500=0.2, seed=seed)
        return [server.next_outcome() for _ in range(50)]

    first = outcomes(7)
    assert first == outcomes(7)
    assert {"ok", "429", "500"} <= set(first)
