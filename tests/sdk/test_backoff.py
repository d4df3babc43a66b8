"""The SDK and `promptyard eval` honour 429: they wait out Retry-After (or back off
exponentially with jitter without one), a bounded number of times, and a wait too long to
hold the caller up serves the copy in hand or the fallback instead.

Against the real server the waits are not slept: the test records each wait the client
chose and moves the server's throttle clock on by it (`throttle_clock`), which is what
sleeping would have done, minus the minutes."""

from __future__ import annotations

import pytest
from promptyard import AsyncPromptyard, FetchError, Promptyard

from tests.async_helper import run_async
from tests.sdk.stub_server import StubServer
from tests.sdk.test_eval_cli import _eval, gate_world  # noqa: F401  (a fixture)
from tests.sdk.world import make_prompt, move, unprotect


@pytest.fixture
def stub():
    server = StubServer()
    yield server
    server.stop()


def _recording(client, *, advance=None):
    """Record the waits the client chooses; with `advance`, wait by moving that clock."""
    waits: list[float] = []
    choose = client._retry_delay

    def retry_delay(attempt, exc):
        delay = choose(attempt, exc)
        if delay is not None:
            waits.append(delay)
            if advance is not None:
                advance(delay)
                return 0.0
        return delay

    client._retry_delay = retry_delay
    return waits


# --- against the stub: what the client does with each kind of 429 ----------------------


def test_it_waits_out_retry_after_then_succeeds(stub):
    stub.mode, stub.retry_after, stub.refusals_left = "429", "1", 1
    client = Promptyard(api_key="pyd_k", base_url=stub.url, timeout=2)
    waits = _recording(client)
    prompt = client.get_prompt("greeting")
    assert (prompt.source, prompt.version) == ("server", 1)
    assert waits == [1.0]
    assert len(stub.requests) == 2


def test_without_retry_after_it_backs_off_exponentially_with_jitter(stub):
    stub.mode, stub.refusals_left = "429", 2
    client = Promptyard(api_key="pyd_k", base_url=stub.url, backoff=0.01, max_retries=3)
    waits = _recording(client)
    assert client.get_prompt("greeting").source == "server"
    assert len(waits) == 2
    assert 0.005 <= waits[0] <= 0.015 and 0.01 <= waits[1] <= 0.03


def test_it_gives_up_after_its_retries(stub):
    stub.mode, stub.retry_after = "429", "0"
    client = Promptyard(api_key="pyd_k", base_url=stub.url, max_retries=2)
    with pytest.raises(FetchError) as refused:
        client.get_prompt("greeting")
    assert refused.value.status == 429
    assert len(stub.requests) == 3


def test_a_retry_after_too_long_to_wait_serves_the_fallback_and_holds_off(stub):
    stub.mode, stub.retry_after = "429", "120"
    client = Promptyard(api_key="pyd_k", base_url=stub.url, max_retries=3)
    waits = _recording(client)
    prompt = client.get_prompt("greeting", fallback="Hi {{ name }}")
    assert prompt.source == "fallback" and waits == []
    assert len(stub.requests) == 1  # no retry: the server asked for two minutes
    # Later calls answer at once from the fallback and do not knock before then.
    assert client.get_prompt("greeting", fallback="Hi {{ name }}").source == "fallback"
    client.wait_for_refreshes()
    assert len(stub.requests) == 1


def test_it_reads_retry_after_as_an_http_date(stub):
    from email.utils import formatdate

    stub.mode, stub.retry_after = "429", formatdate(usegmt=True)  # now: no wait
    stub.refusals_left = 1
    client = Promptyard(api_key="pyd_k", base_url=stub.url)
    waits = _recording(client)
    assert client.get_prompt("greeting").source == "server"
    assert len(waits) == 1 and 0 <= waits[0] <= 1


# --- against the real server --------------------------------------------------------------


@pytest.fixture
def served(acme, alice, api_key_for, settings, throttle_clock):
    settings.PROMPTYARD_SERVING_RATE = "1/min"
    unprotect(acme, alice)
    make_prompt(acme, alice, templates=("Hello {{ name }}", "Hi {{ name }}!"))
    return api_key_for(acme, alice, scopes=["prompts:read"], environment="production")


def test_the_client_backs_off_on_the_servers_429(live_server, served, throttle_clock):
    client = Promptyard(api_key=served, base_url=live_server.url)
    client.max_retry_wait = 120
    waits = _recording(client, advance=throttle_clock.advance)
    assert client.get_prompt("greeting").version == 1
    pinned = client.get_prompt("greeting", version=2)  # the team's bucket is empty now
    assert (pinned.version, pinned.source) == (2, "server")
    assert waits == [60.0]  # the server's Retry-After for one fetch a minute


def test_the_client_keeps_its_copy_when_the_server_asks_for_a_long_wait(live_server, served):
    client = Promptyard(api_key=served, base_url=live_server.url)  # waits at most 5 s
    waits = _recording(client)
    assert client.get_prompt("greeting").source == "server"
    kept = client.get_prompt("greeting", cache_ttl=0)  # revalidation refused: 429, 60 s
    assert (kept.version, kept.source, kept.stale) == (1, "cache", True)
    fallback = client.get_prompt("other", fallback="Hey {{ name }}")
    assert fallback.source == "fallback"
    assert waits == []


def test_the_async_client_backs_off_on_the_servers_429(live_server, served, throttle_clock):
    async def scenario():
        async with AsyncPromptyard(api_key=served, base_url=live_server.url) as client:
            client.max_retry_wait = 120
            waits = _recording(client, advance=throttle_clock.advance)
            first = await client.get_prompt("greeting")
            pinned = await client.get_prompt("greeting", version=2)
            return first, pinned, waits

    first, pinned, waits = run_async(scenario)
    assert (first.version, pinned.version, pinned.source) == (1, 2, "server")
    assert waits == [60.0]


def test_eval_waits_out_the_servers_429s(
    live_server,
    gate_world,  # noqa: F811
    throttle_rates,
    throttle_clock,
    monkeypatch,
    capsys,
    acme,
    alice,
):
    from promptyard import evaluate

    move(acme, alice, gate_world["lab"].prompt, gate_world["lab"].version)
    throttle_rates(api_key="1/min")  # one request a minute: every call after the first waits
    waits: list[float] = []

    def wait(seconds):
        waits.append(seconds)
        throttle_clock.advance(seconds)

    monkeypatch.setattr(evaluate, "wait_before_retry", wait)
    code = _eval(
        live_server,
        gate_world["raw"],
        "--prompt", "qa", "--candidate-version", "2", "--dataset", "questions",
    )  # fmt: skip
    out = capsys.readouterr()
    assert code == 1, out.err  # the gate's answer (v2 is worse), not an error
    assert "REGRESSION" in out.out
    assert waits and set(waits) == {60.0}


def test_eval_gives_up_on_a_wait_beyond_its_bound(
    live_server,
    gate_world,  # noqa: F811
    throttle_rates,
    throttle_clock,
    capsys,
    acme,
    alice,
):
    move(acme, alice, gate_world["lab"].prompt, gate_world["lab"].version)
    throttle_rates(api_key="1/hour")  # a Retry-After of an hour: more than eval waits
    code = _eval(
        live_server,
        gate_world["raw"],
        "--prompt", "qa", "--candidate-version", "2", "--dataset", "questions",
    )  # fmt: skip
    assert code == 2
    assert "429" in capsys.readouterr().err
