"""The SDK against the real server over HTTP: fetch, conditional revalidation, the
snapshot, stale-while-revalidate across a tag move, and a server stopped mid-test."""

from __future__ import annotations

import asyncio  # noqa: F401
import time

import httpx
import pytest
from promptyard import AsyncPromptyard, AuthenticationError, PromptNotFound, Promptyard

from apps.prompts import telemetry
from tests.async_helper import run_async
from tests.sdk.world import make_prompt, move, unprotect


@pytest.fixture
def world(acme, alice, api_key_for):
    unprotect(acme, alice)
    prompt, versions = make_prompt(acme, alice, templates=("Hello {{ name }}", "Hi {{ name }}!"))
    raw = api_key_for(acme, alice, scopes=["prompts:read"], environment="production")
    telemetry.reset()
    return {"team": acme, "prompt": prompt, "versions": versions, "raw": raw}


def test_it_fetches_renders_and_revalidates_against_the_server(live_server, world):
    client = Promptyard(api_key=world["raw"], base_url=live_server.url)
    prompt = client.get_prompt("greeting")
    assert (prompt.version, prompt.source, prompt.render(name="Ann")) == (1, "server", "Hello Ann")
    assert prompt.openai_kwargs(name="Ann")["model"] == "demo-echo"
    # cache_ttl=0 revalidates with If-None-Match: the server answers 304, the copy stays.
    again = client.get_prompt("greeting", cache_ttl=0)
    assert (again.version, again.source, again.stale) == (1, "cache", False)
    assert client.get_prompt("greeting", version=2).render(name="Bo") == "Hi Bo!"
    assert telemetry.pending() == 3  # two production fetches (200 and 304), one pinned


def test_it_picks_up_a_tag_move_without_a_deploy(live_server, world, alice):
    client = Promptyard(api_key=world["raw"], base_url=live_server.url)
    assert client.get_prompt("greeting").version == 1
    move(world["team"], alice, world["prompt"], world["versions"][1])
    stale = client.get_prompt("greeting", cache_ttl=1e-9)
    assert (stale.version, stale.stale) == (1, True)  # answered at once
    client.wait_for_refreshes()
    assert client.get_prompt("greeting").version == 2


def test_the_snapshot_prefills_the_cache(live_server, world, acme, alice):
    make_prompt(acme, alice, name="farewell", templates=("Bye {{ name }}",))
    client = Promptyard(api_key=world["raw"], base_url=live_server.url)
    prompts = client.load_snapshot("production")
    assert sorted(prompts) == ["farewell", "greeting"]
    assert client.get_prompt("farewell").source == "cache"
    assert client.load_snapshot("production")["greeting"].version == 1  # a 304 this time


def test_it_reports_missing_prompts_and_bad_keys(live_server, world):
    client = Promptyard(api_key=world["raw"], base_url=live_server.url)
    with pytest.raises(PromptNotFound):
        client.get_prompt("nobody")
    with pytest.raises(AuthenticationError):
        Promptyard(api_key="pyd_deadbeef_nope", base_url=live_server.url).get_prompt("greeting")


@pytest.fixture
def stoppable_server(transactional_db):
    from pytest_django.live_server_helper import LiveServer

    server = LiveServer("127.0.0.1:0")

    def stop():
        if server.thread.is_alive():
            server.thread.terminate()
            server.thread.join()  # the thread closes its connections before they are unshared
            for conn in server.thread.connections_override.values():
                conn.dec_thread_sharing()

    server.stop = stop
    yield server
    stop()


def test_it_survives_the_server_stopping_mid_test(stoppable_server, world, tmp_path):
    client = Promptyard(
        api_key=world["raw"],
        base_url=stoppable_server.url,
        cache_dir=tmp_path,
        max_retries=1,
        backoff=0.01,
    )
    assert client.get_prompt("greeting").version == 1
    # Drop the kept-alive socket first, so no server thread outlives the server.
    client._http.close()
    client._http = httpx.Client(timeout=client.timeout)
    time.sleep(0.2)
    stoppable_server.stop()  # from here on, connections are refused

    kept = client.get_prompt("greeting", cache_ttl=0)
    assert (kept.version, kept.stale) == (1, True)
    fallback = client.get_prompt("unknown", fallback="Offline {{ name }}")
    assert fallback.render(name="Ann") == "Offline Ann"
    # A new process starting while the server is down: the disk copy.
    cold = Promptyard(
        api_key=world["raw"], base_url=stoppable_server.url, cache_dir=tmp_path, max_retries=0
    )
    assert cold.get_prompt("greeting").source == "disk"


def test_the_async_client_works_against_the_server(live_server, world, alice):
    async def scenario():
        async with AsyncPromptyard(api_key=world["raw"], base_url=live_server.url) as client:
            first = await client.get_prompt("greeting")
            snapshot = await client.load_snapshot("production")
            revalidated = await client.get_prompt("greeting", cache_ttl=0)
            return first, snapshot, revalidated

    first, snapshot, revalidated = run_async(scenario)
    assert first.render(name="Ann") == "Hello Ann"
    assert list(snapshot) == ["greeting"] and revalidated.version == 1


def test_openai_kwargs_drive_the_real_openai_client(live_server, world, acme, alice, demo_echo):
    from openai import OpenAI

    from apps.core.tenancy import team_scope
    from apps.prompts import services

    with team_scope(acme):
        prompt = services.prompt_create(team=acme, actor=alice, name="triage")
        version = services.version_create(
            team=acme,
            actor=alice,
            prompt=prompt,
            kind="chat",
            messages=[
                {"role": "system", "content": "Classify the ticket. Answer in JSON."},
                {"role": "placeholder", "name": "history"},
                {"role": "user", "content": "{{ ticket }}"},
            ],
            model_settings={
                "model": "demo-echo",
                "temperature": 0,
                "max_tokens": 64,
                "response_format": "json_object",
            },  # fmt: skip
            commit_message="triage",
        )
        services.tag_move(
            team=acme, actor=alice, prompt=prompt, tag_name="production", version=version
        )
    served = Promptyard(api_key=world["raw"], base_url=live_server.url).get_prompt("triage")
    kwargs = served.openai_kwargs(ticket="My parcel is late", history=[])
    assert kwargs["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in kwargs["messages"]] == ["system", "user"]
    completion = OpenAI(base_url=demo_echo, api_key="demo").chat.completions.create(**kwargs)
    assert completion.choices[0].message.content
