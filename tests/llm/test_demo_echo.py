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


# --- instructions: opt-in rules keyed on phrases (apps/llm/demo_instructions.py) -------


def _reply(system, user, **body):
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages.append({"role": "user", "content": user})
    return answer({"messages": messages, **body})[0]


LONG = "Where is my parcel? I ordered it ten days ago and nothing has come yet at all."


def test_it_echoes_when_the_instructions_ask_for_nothing_it_knows():
    assert _reply("You are a helpful assistant. Be nice.", "a b") == "echo: a b"
    assert _reply(None, "Say {{ thing }} briefly") == "echo: Say {{ thing }} briefly"
    assert answer({"messages": [{"role": "system", "content": "be nice"}]}) == (
        "echo: be nice",
        "stop",
    )


def test_it_answers_in_one_sentence():
    assert _reply("Answer in one sentence.", LONG) == "Where is my parcel?"
    assert _reply("Use a single sentence", LONG) == "Where is my parcel?"


def test_it_keeps_at_most_n_sentences():
    assert _reply("Answer in at most two sentences.", "A. B! C? D.") == "A. B!"


def test_it_truncates_when_asked_to_be_brief():
    assert _reply("Be brief.", LONG) == (
        "Where is my parcel? I ordered it ten days ago and nothing…"
    )
    assert _reply("Keep it short.", "one two three") == "one two three"


def test_it_keeps_at_most_n_words():
    assert _reply("Use at most 3 words.", "one two three four") == "one two three…"


def test_it_answers_in_bullet_points():
    assert _reply("Answer with bullet points.", "First. Second! Third?") == (
        "- First.\n- Second!\n- Third?"
    )


def test_it_answers_in_json_when_asked():
    reply = _reply("Reply in JSON.", "hello there")
    assert json.loads(reply) == {"answer": "hello there"}


def test_it_thanks_the_customer():
    assert _reply("Always thank the customer.", "Where is it?") == (
        "Thank you for reaching out. Where is it?"
    )


def test_it_mentions_the_order_status_when_the_input_has_one():
    system = "Mention the order status."
    assert _reply(system, "Where is it?\n\nOrder status: out for delivery") == (
        "Where is it? Order status: out for delivery Your order status: out for delivery."
    )
    assert _reply(system, '{"order_status": "delayed"}').endswith("Your order status: delayed.")
    assert _reply(system, "Where is it?") == "Where is it?"


def test_it_applies_the_rules_in_their_documented_order():
    system = "Thank the customer and keep it brief, but always mention the order status."
    assert _reply(system, f"{LONG}\n\nOrder status: shipped") == (
        "Thank you for reaching out. Where is my parcel? I ordered it ten days ago and "
        "nothing… Your order status: shipped."
    )


def test_it_answers_like_the_most_similar_few_shot_example():
    prompt = (
        "Classify the ticket.\n\n"
        "Ticket: I was charged twice\nCategory: billing\n\n"
        "Ticket: The app crashes on start\nCategory: bug\n\n"
        "Ticket: Charged two times in March\nCategory:"
    )
    assert _reply(None, prompt) == "billing"
    system = (
        "Ticket: refund my invoice\nCategory: billing\nTicket: login page crashes\nCategory: bug"
    )
    assert _reply(system, "the settings page crashes") == "bug"


def test_it_applies_the_few_shot_pattern_to_the_input():
    prompt = "Input: cat\nOutput: <<cat>> (animal)\n\nInput: dog\nOutput: <<dog>> (animal)\n\nInput: fish"
    assert _reply(None, prompt) == "<<fish>> (animal)"


def test_it_changes_case_when_asked():
    assert _reply("Answer in UPPERCASE.", "Hi there") == "HI THERE"
    assert _reply("Write in lowercase only.", "Hi There") == "hi there"


def test_it_leaves_out_what_it_must_never_mention():
    reply = _reply("Never mention refunds.", "We cannot give refunds. We can offer credit.")
    assert reply == "We can offer credit."
    reply = _reply('Do not mention "next week".', "It ships next week. It is packed.")
    assert reply == "It is packed."


def test_it_starts_and_ends_with_the_quoted_words():
    system = 'Start with "Hello!" and sign off with "— Acme Shop".'
    assert _reply(system, "It is packed.") == "Hello! It is packed. — Acme Shop"


def test_it_addresses_the_customer_by_name():
    assert _reply("Address the customer as Dana.", "It is packed.") == "Hi Dana, It is packed."


def test_it_reads_a_text_prompts_body_and_answers_its_input():
    prompt = (
        "You are a support agent.\nAnswer in one sentence.\n\nCustomer message:\nIt broke. Help!"
    )
    assert _reply(None, prompt) == "It broke."
    assert _reply(None, "Summarise in one sentence: The cat sat. It purred.") == "The cat sat."


def test_it_ignores_instructions_in_a_structured_answer():
    fmt = {"type": "json_object"}
    assert _reply("Answer in one sentence.", "A. B.", response_format=fmt) == json.dumps(
        {"echo": "A. B."}
    )


def test_it_cuts_a_built_reply_at_stop_and_max_tokens():
    assert _reply("Thank the customer.", "a b c", stop=["reaching"]) == "Thank you for "
    assert answer(
        {
            "messages": [
                {"role": "system", "content": "Thank the customer."},
                {"role": "user", "content": "a b c"},
            ],
            "max_tokens": 2,
        }
    ) == ("Thank you", "length")


def test_it_follows_instructions_deterministically():
    system = "Be brief. Use bullet points. Mention the order status. Thank the customer."
    first = _reply(system, f"{LONG}\n\nOrder status: delayed")
    assert first == _reply(system, f"{LONG}\n\nOrder status: delayed")
    assert first.splitlines()[0] == "- Thank you for reaching out."


def test_it_streams_and_counts_an_instruction_answer(demo_echo):
    body = {
        "model": "demo-echo",
        "messages": [
            {"role": "system", "content": "Answer in one sentence."},
            {"role": "user", "content": "Yes it ships. Today."},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with _post(demo_echo, body) as response:
        raw = response.read().decode()
    chunks = [json.loads(b[len("data: ") :]) for b in raw.strip().split("\n\n")[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "Yes it ships."
    assert chunks[-1]["usage"] == {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11}


def test_its_token_bucket_refills_at_the_rate_and_holds_its_burst():
    from apps.llm.demo_echo import TokenBucket

    now = [0.0]
    bucket = TokenBucket(rate=10, capacity=3, clock=lambda: now[0])
    for _ in range(3):
        assert bucket.wait_for(1) == 0
        bucket.take(1)
    assert bucket.wait_for(1) == pytest.approx(0.1)
    now[0] += 0.25
    assert bucket.wait_for(2) == 0  # 2.5 tokens back
    now[0] += 100
    assert bucket.wait_for(1) == 0
    assert bucket.tokens == 3  # never more than the burst
    bucket.take(1)
    assert bucket.wait_for(50) == pytest.approx(0.1)  # bigger than the bucket: a full one


def test_a_rate_limit_answers_429_with_when_to_come_back(demo_echo_server):
    server = demo_echo_server(limit_rps=5, limit_burst=2)
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    for _ in range(2):
        assert _post(server.base_url, body).status == 200
    with pytest.raises(urllib.error.HTTPError) as caught:
        _post(server.base_url, body)
    assert caught.value.code == 429
    assert caught.value.headers["Retry-After"] == "1"
    assert 0 < int(caught.value.headers["retry-after-ms"]) <= 200  # a token every 200 ms
    assert "5 requests/s" in json.loads(caught.value.read())["error"]["message"]
    assert server.outcomes == ["ok", "ok", "limited"]  # no fault drawn for the refused one


def test_a_token_limit_counts_prompt_and_answer(demo_echo_server):
    # 60 tokens a minute, one a second; "x" costs 1 prompt + 2 answer tokens ("echo: x").
    server = demo_echo_server(limit_tpm=60)
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    for _ in range(20):
        assert _post(server.base_url, body).status == 200
    with pytest.raises(urllib.error.HTTPError) as caught:
        _post(server.base_url, body)
    assert caught.value.code == 429
    assert 2000 <= int(caught.value.headers["retry-after-ms"]) <= 3000


def test_rate_limit_options_are_checked():
    with pytest.raises(ValueError, match="limit_rps"):
        DemoEchoOptions(limit_rps=-1)
    with pytest.raises(ValueError, match="limit_burst"):
        DemoEchoOptions(limit_rps=5, limit_burst=0.5)


def test_it_counts_how_each_request_was_answered(demo_echo_server):
    server = demo_echo_server(limit_rps=1, limit_burst=1)
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    _post(server.base_url, body)
    with pytest.raises(urllib.error.HTTPError):
        _post(server.base_url, body)
    stats = json.loads(urllib.request.urlopen(f"{server.base_url}/stats", timeout=5).read())
    assert stats == {"chat_requests": 2, "outcomes": {"ok": 1, "limited": 1}}
