"""The SDK never takes an application down: against a stub server that fails on purpose
(500, 408, garbage, slow, stopped), it serves its cached copy, its disk copy or the
caller's fallback, and raises only when it has nothing at all."""

from __future__ import annotations

import asyncio  # noqa: F401

import pytest
from promptyard import AsyncPromptyard, FetchError, PromptNotFound, Promptyard

from tests.async_helper import run_async
from tests.sdk.stub_server import StubServer


@pytest.fixture
def stub():
    server = StubServer()
    yield server
    server.stop()


def client_for(stub, **kwargs):
    kwargs.setdefault("backoff", 0.01)
    kwargs.setdefault("timeout", 0.5)
    return Promptyard(api_key="pyd_test_key", base_url=stub.url, **kwargs)


def test_it_fetches_renders_and_caches(stub):
    client = client_for(stub)
    prompt = client.get_prompt("greeting")
    assert (prompt.version, prompt.source, prompt.render(name="Ann")) == (1, "server", "Hello Ann")
    again = client.get_prompt("greeting")
    assert again.source == "cache" and not again.stale
    assert len(stub.requests) == 1
    assert stub.requests[0]["path"] == "/api/v1/prompts/greeting/?tag=production"


def test_it_serves_stale_at_once_and_revalidates_in_the_background(stub):
    client = client_for(stub)
    client.get_prompt("greeting")
    stub.set_version(2, "Hi {{ name }}")
    stale = client.get_prompt("greeting", cache_ttl=1e-9)
    assert stale.version == 1 and stale.stale
    client.wait_for_refreshes()
    assert stub.requests[-1]["if_none_match"] == '"hash-1.production"'
    fresh = client.get_prompt("greeting")
    assert fresh.version == 2 and not fresh.stale


def test_it_keeps_the_copy_when_the_server_says_not_modified(stub):
    client = client_for(stub)
    client.get_prompt("greeting")
    prompt = client.get_prompt("greeting", cache_ttl=0)  # revalidate before answering
    assert prompt.version == 1 and not prompt.stale
    assert [r["if_none_match"] for r in stub.requests] == [None, '"hash-1.production"']


@pytest.mark.parametrize("mode", ["500", "408", "garbage", "not-a-prompt"])
def test_it_keeps_serving_the_cached_copy_when_the_server_fails(stub, mode):
    client = client_for(stub, max_retries=1)
    client.get_prompt("greeting")
    stub.mode = mode
    prompt = client.get_prompt("greeting", cache_ttl=0)
    assert prompt.version == 1 and prompt.stale
    assert len(stub.requests) == 3  # the first fetch, then one try and one retry


@pytest.mark.parametrize("mode", ["500", "408", "garbage", "slow"])
def test_it_returns_the_fallback_on_a_cold_start_when_the_server_fails(stub, mode):
    stub.mode, stub.slow_seconds = mode, 1.0
    client = client_for(stub, max_retries=1, timeout=0.2)
    prompt = client.get_prompt("greeting", fallback="Fallback {{ name }}")
    assert prompt.is_fallback and prompt.render(name="Ann") == "Fallback Ann"


def test_it_raises_with_nothing_to_serve(stub):
    stub.mode = "500"
    client = client_for(stub, max_retries=2)
    with pytest.raises(FetchError):
        client.get_prompt("greeting")
    assert len(stub.requests) == 3  # retried with backoff before giving up


def test_it_does_not_retry_a_missing_prompt(stub):
    # A 404 is an answer, not an outage: no retries; a fallback still keeps the app up.
    stub.mode = "404"
    client = client_for(stub)
    with pytest.raises(PromptNotFound):
        client.get_prompt("greeting")
    assert len(stub.requests) == 1
    assert client.get_prompt("greeting", fallback="fb").is_fallback


def test_it_survives_a_server_stopped_mid_test(stub):
    client = client_for(stub)
    assert client.get_prompt("greeting").version == 1
    stub.stop()  # connection refused from now on
    assert client.get_prompt("greeting", cache_ttl=0).version == 1
    stale = client.get_prompt("greeting", cache_ttl=1e-9)
    client.wait_for_refreshes()
    assert stale.version == 1
    assert client.get_prompt("other", fallback=[{"role": "system", "content": "fb"}]).render() == [
        {"role": "system", "content": "fb"}
    ]
    stub.stop = lambda: None  # already stopped


def test_it_answers_at_once_after_a_fallback(stub):
    stub.mode = "500"
    client = client_for(stub, max_retries=0)
    client.get_prompt("greeting", fallback="fb")
    count = len(stub.requests)
    # The next call does not block on the failing server again: it serves the fallback
    # and the refresh is paused for a few seconds.
    assert client.get_prompt("greeting").is_fallback
    client.wait_for_refreshes()
    assert len(stub.requests) == count


def test_it_starts_cold_and_offline_from_the_disk_cache(stub, tmp_path):
    online = client_for(stub, cache_dir=tmp_path)
    online.get_prompt("greeting")
    online.load_snapshot("production")
    stub.stop()
    stub.stop = lambda: None
    offline = client_for(stub, cache_dir=tmp_path, max_retries=0)
    prompt = offline.get_prompt("greeting")
    assert (prompt.version, prompt.source, prompt.stale) == (1, "disk", True)
    assert prompt.render(name="Ann") == "Hello Ann"


def test_it_keeps_disk_caches_of_different_keys_apart(stub, tmp_path):
    client_for(stub, cache_dir=tmp_path).get_prompt("greeting")
    stub.mode = "500"
    other = Promptyard(api_key="pyd_other", base_url=stub.url, cache_dir=tmp_path, max_retries=0)
    with pytest.raises(FetchError):
        other.get_prompt("greeting")


def test_it_builds_openai_kwargs(stub):
    prompt = client_for(stub).get_prompt("greeting")
    assert prompt.openai_kwargs(name="Ann") == {
        "model": "demo-echo",
        "messages": [{"role": "user", "content": "Hello Ann"}],
        "temperature": 0.2,
    }


def test_it_reads_configuration_from_the_environment(stub, monkeypatch):
    monkeypatch.setenv("PROMPTYARD_API_KEY", "pyd_env_key")
    monkeypatch.setenv("PROMPTYARD_BASE_URL", stub.url + "/api/v1/")
    client = Promptyard()
    assert client.base_url == stub.url and client.api_key == "pyd_env_key"
    assert client.get_prompt("greeting").version == 1


def test_the_async_client_has_the_same_guarantees(stub):
    async def scenario():
        async with AsyncPromptyard(
            api_key="pyd_test_key", base_url=stub.url, backoff=0.01, timeout=0.5
        ) as client:
            first = await client.get_prompt("greeting")
            stub.set_version(2, "Hi {{ name }}")
            stale = await client.get_prompt("greeting", cache_ttl=1e-9)
            await client.wait_for_refreshes()
            fresh = await client.get_prompt("greeting")
            stub.mode = "500"
            kept = await client.get_prompt("greeting", cache_ttl=0)
            fallback = await client.get_prompt("missing", fallback="fb {{ x }}")
            return first, stale, fresh, kept, fallback

    first, stale, fresh, kept, fallback = run_async(scenario)
    assert (first.version, stale.version, stale.stale, fresh.version) == (1, 1, True, 2)
    assert kept.version == 2 and kept.stale
    assert fallback.render(x=1) == "fb 1"


def test_the_cli_prints_and_renders(stub, capsys):
    from promptyard.cli import main

    code = main(
        ["--api-key", "pyd_k", "--base-url", stub.url, "get", "greeting", "--var", "name=Ann"]
    )
    assert code == 0 and capsys.readouterr().out.strip() == "Hello Ann"
    stub.mode = "500"
    code = main(["--api-key", "pyd_k", "--base-url", stub.url, "--timeout", "0.2", "get", "x"])
    assert code == 1


def test_it_tags_the_current_span_with_the_prompt_version(stub):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from promptyard.tracing import ATTR_PROMPT_NAME, ATTR_PROMPT_VERSION

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("handle-request"):
        client_for(stub).get_prompt("greeting")
    (span,) = exporter.get_finished_spans()
    assert span.attributes[ATTR_PROMPT_NAME] == "greeting"
    assert span.attributes[ATTR_PROMPT_VERSION] == 1
