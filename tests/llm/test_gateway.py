"""The gateway against demo-echo over real HTTP, through the real openai SDK."""

import asyncio

import pytest

from apps.llm import gateway
from apps.llm.gateway import GatewayError
from apps.llm.model_settings import ModelSettings
from tests.async_helper import run_async

pytestmark = pytest.mark.django_db

HI = [{"role": "user", "content": "hello there"}]
ECHO = ModelSettings(model="demo-echo")


def test_it_completes_with_usage_latency_and_cost(demo_echo, make_provider):
    provider = make_provider(demo_echo)
    result = gateway.complete(provider, settings=ECHO, messages=HI)
    assert result.text == "echo: hello there"
    assert (result.input_tokens, result.output_tokens) == (2, 3)
    assert result.cost == pytest.approx((2 * 1.0 + 3 * 2.0) / 1_000_000)
    assert result.latency_ms >= 0
    assert result.raw["choices"][0]["message"]["content"] == "echo: hello there"
    assert result.parsed_json is None
    assert result.attempts == 1


def test_it_has_no_cost_without_a_price(demo_echo, make_provider):
    provider = make_provider(demo_echo, prices={})
    assert gateway.complete(provider, settings=ECHO, messages=HI).cost is None


def test_it_parses_json_answers(demo_echo, make_provider):
    provider = make_provider(demo_echo)
    schema = {
        "type": "object",
        "properties": {"label": {"enum": ["spam", "ham"]}, "score": {"type": "number"}},
        "required": ["label", "score"],
    }
    result = gateway.complete(
        provider,
        settings=ECHO.replace(
            response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}
        ),
        messages=HI,
    )
    assert result.parsed_json == {"label": "spam", "score": 0}
    result = gateway.complete(
        provider, settings=ECHO.replace(response_format={"type": "json_object"}), messages=HI
    )
    assert result.parsed_json == {"echo": "hello there"}


def test_it_passes_model_settings(demo_echo, make_provider):
    provider = make_provider(demo_echo)
    result = gateway.complete(
        provider,
        settings=ECHO.replace(max_tokens=2, temperature=0.2, top_p=0.5),
        messages=[{"role": "user", "content": "one two three four"}],
    )
    assert result.text == "echo: one"
    assert result.finish_reason == "length"
    result = gateway.complete(provider, settings=ECHO.replace(stop=["there"]), messages=HI)
    assert result.text == "echo: hello "


def test_it_streams_chunks_then_a_completion(demo_echo, make_provider):
    provider = make_provider(demo_echo)
    items = list(
        gateway.stream(provider, settings=ECHO, messages=[{"role": "user", "content": "a b c d"}])
    )
    *chunks, final = items
    assert all(isinstance(c, str) for c in chunks)
    assert len(chunks) == 5
    assert "".join(chunks) == "echo: a b c d" == final.text
    assert (final.input_tokens, final.output_tokens) == (4, 5)
    assert final.cost == pytest.approx((4 * 1.0 + 5 * 2.0) / 1_000_000)
    assert final.finish_reason == "stop"


def test_it_retries_a_429_honouring_retry_after(demo_echo_server, make_provider, no_sleep):
    server = demo_echo_server(retry_after=2.5)
    server.script("429")
    provider = make_provider(server.base_url)
    seen = []
    result = gateway.complete(provider, settings=ECHO, messages=HI, on_rate_limit=seen.append)
    assert result.text == "echo: hello there"
    assert result.attempts == 2
    assert server.outcomes == ["429", "ok"]
    assert len(no_sleep) == 1 and 2.5 <= no_sleep[0] <= 2.75
    assert [e.kind for e in seen] == ["rate_limit"] and seen[0].retry_after == 2.5


def test_it_retries_a_429_while_streaming(demo_echo_server, make_provider, no_sleep):
    server = demo_echo_server(retry_after=1)
    server.script("429", "429")
    provider = make_provider(server.base_url)
    *chunks, final = gateway.stream(provider, settings=ECHO, messages=HI)
    assert "".join(chunks) == final.text == "echo: hello there"
    assert final.attempts == 3
    assert [round(w) for w in no_sleep] == [1, 1]


def test_it_gives_up_on_a_retry_after_beyond_the_cap(demo_echo_server, make_provider, no_sleep):
    server = demo_echo_server(retry_after=gateway.RETRY_AFTER_CAP + 60)
    server.script("429")
    provider = make_provider(server.base_url)
    with pytest.raises(GatewayError) as caught:
        gateway.complete(provider, settings=ECHO, messages=HI)
    assert caught.value.kind == "rate_limit"
    assert caught.value.retry_after == gateway.RETRY_AFTER_CAP + 60
    assert no_sleep == []


def test_it_classifies_a_persistent_500_after_backing_off(
    demo_echo_server, make_provider, no_sleep
):
    server = demo_echo_server(rate_500=1.0)
    provider = make_provider(server.base_url, max_retries=3)
    with pytest.raises(GatewayError) as caught:
        gateway.complete(provider, settings=ECHO, messages=HI)
    assert caught.value.kind == "server"
    assert "server error (500)" in caught.value.message
    assert server.outcomes == ["500"] * 4
    assert len(no_sleep) == 3
    # Exponential backoff with full jitter: each wait is within its doubling cap.
    for attempt, wait in enumerate(no_sleep, start=1):
        assert 0 <= wait <= gateway.BACKOFF_BASE * 2 ** (attempt - 1)


def test_it_classifies_a_timeout_without_retrying(demo_echo_server, make_provider, no_sleep):
    server = demo_echo_server(rate_timeout=1.0, timeout_sleep=10)
    provider = make_provider(server.base_url)
    with pytest.raises(GatewayError) as caught:
        gateway.complete(provider, settings=ECHO, messages=HI, timeout=0.5)
    assert caught.value.kind == "timeout"
    assert "did not answer within 0.5 s" in caught.value.message
    assert server.outcomes == ["timeout"]


def test_it_classifies_a_rejected_key(demo_echo_server, make_provider, no_sleep):
    server = demo_echo_server(api_key="sk-right")
    provider = make_provider(server.base_url, api_key="sk-wrong")
    with pytest.raises(GatewayError) as caught:
        gateway.complete(provider, settings=ECHO, messages=HI)
    assert caught.value.kind == "authentication"
    assert no_sleep == []
    right = make_provider(server.base_url, name="right", api_key="sk-right")
    assert gateway.complete(right, settings=ECHO, messages=HI).text == "echo: hello there"


def test_it_classifies_a_bad_request(demo_echo, make_provider):
    provider = make_provider(demo_echo)
    with pytest.raises(GatewayError) as caught:
        gateway.complete(provider, settings=ECHO, messages=[])
    assert caught.value.kind == "bad_request"
    assert "messages" in caught.value.message


def test_it_classifies_a_refused_connection(make_provider, no_sleep):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = make_provider(f"http://127.0.0.1:{port}/v1", max_retries=1)
    with pytest.raises(GatewayError) as caught:
        gateway.complete(provider, settings=ECHO, messages=HI)
    assert caught.value.kind == "connection"
    assert len(no_sleep) == 1


def test_it_completes_asynchronously_with_retries(demo_echo_server, make_provider, no_sleep):
    server = demo_echo_server(retry_after=1)
    server.script("429")
    provider = make_provider(server.base_url)
    calls = []

    async def slow_down(error):
        calls.append(error.kind)

    async def run():
        return await asyncio.gather(
            *[
                gateway.acomplete(
                    provider,
                    settings=ECHO,
                    messages=[{"role": "user", "content": f"n{i}"}],
                    on_rate_limit=slow_down,
                )
                for i in range(3)
            ]
        )

    results = run_async(run)
    assert sorted(r.text for r in results) == ["echo: n0", "echo: n1", "echo: n2"]
    assert calls == ["rate_limit"]
    assert sorted(server.outcomes) == ["429", "ok", "ok", "ok"]


def test_it_lists_models(demo_echo, make_provider):
    assert gateway.list_models(make_provider(demo_echo)) == ["demo-echo"]


def test_it_reuses_one_client_per_provider_and_key(demo_echo, make_provider):
    provider = make_provider(demo_echo)
    assert gateway._client(provider) is gateway._client(provider)


def test_it_refuses_to_call_a_metadata_url_saved_behind_its_back(acme, make_provider):
    from apps.core.tenancy import team_scope
    from apps.llm.models import ProviderConfig

    provider = make_provider("http://127.0.0.1:8765/v1")
    with team_scope(acme):
        ProviderConfig.objects.filter(pk=provider.pk).update(base_url="http://169.254.169.254/v1")
        provider = ProviderConfig.objects.get(pk=provider.pk)
    with pytest.raises(GatewayError) as caught:
        gateway.complete(provider, settings=ECHO, messages=HI)
    assert caught.value.kind == "bad_request"
    assert "link-local" in caught.value.message
