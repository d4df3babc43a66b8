"""The SDK's side of rollouts: the tagged fetch brings both versions and the split, and
get_prompt(..., key=) picks the arm locally, sticky, as the server does (shared vectors)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import TestCase
from promptyard import AsyncPromptyard, Promptyard
from promptyard.prompt import Prompt

from apps.core.tenancy import team_scope
from apps.prompts import services
from tests.async_helper import run_async
from tests.sdk.stub_server import StubServer, prompt_body
from tests.sdk.world import make_prompt, unprotect

VECTORS = json.loads((Path(__file__).parent / "rollout_vectors.json").read_text())


def with_rollout(name: str, rollout_id: int, percent: int) -> Prompt:
    body = prompt_body(name=name, version=1, template="current {{ name }}")
    body["rollout"] = {
        "id": rollout_id,
        "percent": percent,
        "current_version": 1,
        "candidate": prompt_body(name=name, version=2, template="candidate {{ name }}"),
    }
    return Prompt.from_dict(body)


def test_the_sdk_assigns_the_shared_vectors():
    for case in VECTORS["cases"]:
        for percent, arm in case["arms"].items():
            prompt = with_rollout(case["prompt"], case["rollout_id"], int(percent))
            chosen = prompt.for_key(case["key"])
            assert chosen.arm == arm, case
            assert chosen.version == (2 if arm == "candidate" else 1)
            assert chosen.render(name="x").startswith(arm)


def test_a_prompt_without_rollout_ignores_the_key():
    prompt = Prompt.from_dict(prompt_body())
    assert prompt.for_key("anyone") is prompt


def test_the_rollout_survives_the_disk_cache_format():
    prompt = with_rollout("greeting", 9, 30)
    again = Prompt.from_dict(json.loads(json.dumps(prompt.to_dict())), source="disk")
    assert again.rollout == Prompt.from_dict(prompt.to_dict(), source="disk").rollout
    assert again.rollout.candidate.version == 2
    assert [again.for_key(f"k{i}").version for i in range(50)] == [
        prompt.for_key(f"k{i}").version for i in range(50)
    ]


def test_it_records_the_served_arm_on_the_span():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from promptyard.tracing import ATTR_PROMPT_VERSION, ATTR_ROLLOUT_ARM, ATTR_ROLLOUT_ID

    stub = StubServer()
    try:
        served = with_rollout("greeting", 5, 50)
        stub.body = served.to_dict()
        client = Promptyard(api_key="pyd_test_key", base_url=stub.url)
        key = next(f"u{i}" for i in range(100) if served.for_key(f"u{i}").arm == "candidate")
        exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("test").start_as_current_span("handle-request"):
            client.get_prompt("greeting", key=key)
        (span,) = exporter.get_finished_spans()
        assert span.attributes[ATTR_PROMPT_VERSION] == 2
        assert span.attributes[ATTR_ROLLOUT_ID] == 5
        assert span.attributes[ATTR_ROLLOUT_ARM] == "candidate"
    finally:
        stub.stop()


# --- against the real server ---------------------------------------------------------


@pytest.fixture
def world(acme, alice, api_key_for):
    unprotect(acme, alice)
    prompt, versions = make_prompt(acme, alice, templates=("Hello {{ name }}", "Hi {{ name }}!"))
    raw = api_key_for(acme, alice, scopes=["prompts:read"], environment="production")
    with team_scope(acme), TestCase.captureOnCommitCallbacks(execute=True):
        rollout = services.rollout_start(
            team=acme, actor=alice, prompt=prompt, tag_name="production",
            candidate=versions[1], percent=50,
        )  # fmt: skip
    return {"team": acme, "prompt": prompt, "raw": raw, "rollout": rollout}


KEYS = [f"user-{i}" for i in range(60)]


def test_a_key_keeps_its_arm_across_refetches_and_restarts(live_server, world, tmp_path):
    client = Promptyard(api_key=world["raw"], base_url=live_server.url, cache_dir=tmp_path)
    first = {k: client.get_prompt("greeting", key=k).version for k in KEYS}
    assert set(first.values()) == {1, 2}  # both arms serve at 50 %
    refetched = {k: client.get_prompt("greeting", key=k, cache_ttl=0).version for k in KEYS}
    assert refetched == first
    client.close()
    restarted = Promptyard(api_key=world["raw"], base_url=live_server.url, cache_dir=tmp_path)
    assert {k: restarted.get_prompt("greeting", key=k).version for k in KEYS} == first
    # The server's keyed answer is the same arm.
    import httpx

    for key in KEYS[:10]:
        answer = httpx.get(
            f"{live_server.url}/api/v1/prompts/greeting/",
            params={"tag": "production", "key": key},
            headers={"Authorization": f"Bearer {world['raw']}"},
        ).json()
        assert answer["version"] == first[key]


def test_the_async_client_picks_the_same_arms(live_server, world):
    sync = Promptyard(api_key=world["raw"], base_url=live_server.url)
    expected = {k: sync.get_prompt("greeting", key=k).version for k in KEYS}

    async def fetch_all():
        async with AsyncPromptyard(api_key=world["raw"], base_url=live_server.url) as client:
            return {k: (await client.get_prompt("greeting", key=k)).version for k in KEYS}

    assert run_async(fetch_all) == expected


def test_an_abort_reaches_the_sdk_with_one_etag_refresh(live_server, world, alice):
    client = Promptyard(api_key=world["raw"], base_url=live_server.url)
    assert {client.get_prompt("greeting", key=k).version for k in KEYS} == {1, 2}
    with team_scope(world["team"]), TestCase.captureOnCommitCallbacks(execute=True):
        services.rollout_abort(team=world["team"], actor=alice, rollout=world["rollout"])
    # One revalidation (If-None-Match with the old ETag) brings the abort.
    client.get_prompt("greeting", cache_ttl=0)
    assert {client.get_prompt("greeting", key=k).version for k in KEYS} == {1}
