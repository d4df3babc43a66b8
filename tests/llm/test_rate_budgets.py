"""Rate-limit headers: demo-echo sends OpenAI's on every chat answer while a limit is on,
and the gateway reads OpenAI's and Anthropic's into `RateBudgets` on completions and 429s."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime

import pytest

from apps.llm import gateway
from apps.llm.demo_echo import TokenBucket, go_duration
from apps.llm.gateway import (
    GatewayError,
    RateBudget,
    RateBudgets,
    parse_duration,
    parse_reset,
    rate_budgets,
)
from apps.llm.model_settings import ModelSettings

HI = [{"role": "user", "content": "hello there"}]
ECHO = ModelSettings(model="demo-echo")
BODY = {"model": "m", "messages": [{"role": "user", "content": "x"}]}  # 1 + 2 tokens
LIMIT_HEADERS = ("limit", "remaining", "reset")


def _post(base_url, body=BODY, stream=False):
    request = urllib.request.Request(
        f"{base_url}/chat/completions",
        data=json.dumps({**body, "stream": stream}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            answer.read()
            return answer.status, answer.headers
    except urllib.error.HTTPError as error:
        return error.code, error.headers


# --- demo-echo sends them ----------------------------------------------------------------


def test_demo_echo_writes_durations_as_openai_does():
    assert go_duration(0) == "0s"
    assert go_duration(0.0004) == "1ms"  # rounded up: never "0s" while something is missing
    assert go_duration(0.12) == "120ms"
    assert go_duration(1) == "1s"
    assert go_duration(1.5) == "1.5s"
    assert go_duration(90.25) == "1m30.25s"
    assert go_duration(360) == "6m0s"
    assert go_duration(3600) == "1h0m0s"


def test_a_buckets_headers_say_its_size_what_is_left_and_when_it_is_full():
    now = [0.0]
    bucket = TokenBucket(rate=10, capacity=3, clock=lambda: now[0])
    assert bucket.headers("requests") == {
        "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "3",
        "x-ratelimit-reset-requests": "0s",
    }
    bucket.take(1)
    bucket.take(1)
    now[0] += 0.05  # half a token back: 1.5 left, whole in 150 ms
    assert bucket.headers("requests") == {
        "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "1",
        "x-ratelimit-reset-requests": "150ms",
    }


def test_demo_echo_counts_down_the_requests_left_on_every_answer(demo_echo_server):
    # One request back every 100 s: nothing refills while the test runs.
    server = demo_echo_server(limit_rps=0.01, limit_burst=3)
    seen = []
    for _ in range(4):
        status, headers = _post(server.base_url)
        seen.append((status, headers["x-ratelimit-remaining-requests"]))
        assert headers["x-ratelimit-limit-requests"] == "3"
        assert "x-ratelimit-limit-tokens" not in headers  # no token limit set
    assert seen == [(200, "2"), (200, "1"), (200, "0"), (429, "0")]  # the 429 says so too
    # Three requests missing at one per 100 s: whole again in just under 300 s.
    assert 299 < parse_duration(headers["x-ratelimit-reset-requests"]) <= 300
    assert headers["x-ratelimit-reset-requests"].startswith("4m59.")


def test_demo_echo_counts_down_the_tokens_left_too(demo_echo_server):
    # 60 tokens a minute (one a second); each request costs 3.
    server = demo_echo_server(limit_tpm=60)
    for left in (57, 54):
        status, headers = _post(server.base_url)
        assert status == 200
        assert headers["x-ratelimit-limit-tokens"] == "60"
        assert int(headers["x-ratelimit-remaining-tokens"]) in (left, left + 1)
        assert 0 < parse_duration(headers["x-ratelimit-reset-tokens"]) <= 60 - left
        assert "x-ratelimit-remaining-requests" not in headers  # no request limit set


def test_demo_echo_sends_them_on_streamed_answers(demo_echo_server):
    server = demo_echo_server(limit_rps=0.01, limit_burst=5)
    status, headers = _post(server.base_url, stream=True)
    assert status == 200 and headers["x-ratelimit-remaining-requests"] == "4"


def test_demo_echo_sends_none_without_a_limit(demo_echo_server):
    server = demo_echo_server(rate_429=1.0)
    for _ in range(2):  # neither on the 429 nor on the next request of the connection
        status, headers = _post(server.base_url)
        assert status == 429
        assert not [name for name in headers if "ratelimit" in name.lower()]


# --- the gateway reads them ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("1m30.5s", 90.5),
        ("250ms", 0.25),
        ("1h2m3s", 3723.0),
        ("0s", 0.0),
        ("1.5s", 1.5),
        ("20us", 0.00002),
        ("12", 12.0),
        (" 2.5 ", 2.5),
    ],
)
def test_it_reads_go_style_durations(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text", ["", "soon", "1x", "s", "5m-3s", "1s2", "-1", "nan", "inf", "m1s", "1 s"]
)
def test_unreadable_durations_are_none(text):
    assert parse_duration(text) is None


def test_it_reads_a_reset_time_as_seconds_from_now():
    now = datetime(2025, 8, 21, 12, 40, 58, tzinfo=UTC).timestamp()
    assert parse_reset("2025-08-21T12:40:59Z", now) == pytest.approx(1.0)
    assert parse_reset("2025-08-21T14:41:00.5+02:00", now) == pytest.approx(2.5)
    assert parse_reset("2025-08-21T12:40:00Z", now) == 0.0  # past: whole already
    assert parse_reset(str(int(now) + 30), now) == pytest.approx(30.0)  # a Unix time
    assert parse_reset("250ms", now) == pytest.approx(0.25)
    assert parse_reset("2025-08-21T12:40:59", now) is None  # no zone: could be any time
    assert parse_reset("Thursday", now) is None


def test_it_reads_openais_headers():
    budgets = rate_budgets(
        {
            "X-RateLimit-Limit-Requests": "60",
            "x-ratelimit-remaining-requests": "59",
            "x-ratelimit-reset-requests": "1s",
            "x-ratelimit-limit-tokens": "150000",
            "x-ratelimit-remaining-tokens": "149984",
            "x-ratelimit-reset-tokens": "6m0s",
            "content-type": "application/json",
        }
    )
    assert budgets == RateBudgets(
        requests=RateBudget(remaining=59, reset_s=1.0, limit=60),
        tokens=RateBudget(remaining=149984, reset_s=360.0, limit=150000),
    )
    assert budgets.requests.refill_rate == pytest.approx(1.0)  # 1 missing, back in 1 s
    assert budgets.tokens.refill_rate == pytest.approx(16 / 360)


def test_it_reads_anthropics_headers():
    now = datetime(2025, 8, 21, 12, 40, 58, tzinfo=UTC).timestamp()
    budgets = rate_budgets(
        {
            "anthropic-ratelimit-requests-limit": "1000",
            "anthropic-ratelimit-requests-remaining": "999",
            "anthropic-ratelimit-requests-reset": "2025-08-21T12:40:59Z",
            "anthropic-ratelimit-tokens-limit": "96000",
            "anthropic-ratelimit-tokens-remaining": "96000",
            "anthropic-ratelimit-tokens-reset": "2025-08-21T12:40:59Z",
        },
        now,
    )
    assert budgets == RateBudgets(
        requests=RateBudget(remaining=999, reset_s=pytest.approx(1.0), limit=1000),
        tokens=RateBudget(remaining=96000, reset_s=pytest.approx(1.0), limit=96000),
    )
    assert budgets.tokens.refill_rate is None  # nothing missing: no rate to tell


def test_missing_or_garbage_headers_give_none_never_an_error():
    assert rate_budgets({}) is None
    assert rate_budgets({"content-type": "application/json"}) is None
    assert rate_budgets({"x-ratelimit-remaining-requests": "lots"}) is None
    assert rate_budgets({"x-ratelimit-remaining-requests": "-3"}) is None
    assert rate_budgets(None) is None  # not even a mapping
    # A readable count keeps its budget; an unreadable limit or reset is left unsaid.
    budgets = rate_budgets(
        {
            "x-ratelimit-remaining-requests": "7",
            "x-ratelimit-limit-requests": "many",
            "x-ratelimit-reset-requests": "later",
            "x-ratelimit-remaining-tokens": "",
        }
    )
    assert budgets == RateBudgets(requests=RateBudget(remaining=7, reset_s=None, limit=None))
    assert budgets.requests.refill_rate is None


@pytest.mark.django_db
def test_completions_and_429s_carry_the_budget_demo_echo_sent(demo_echo_server, make_provider):
    server = demo_echo_server(limit_rps=0.01, limit_burst=2)
    provider = make_provider(server.base_url)
    first = gateway.complete(provider, settings=ECHO, messages=HI)
    assert first.rate_budgets.requests.remaining == 1
    assert first.rate_budgets.requests.limit == 2
    assert 99 < first.rate_budgets.requests.reset_s <= 100
    assert first.rate_budgets.tokens is None
    gateway.complete(provider, settings=ECHO, messages=HI)
    with pytest.raises(GatewayError) as caught:
        gateway.complete(provider, settings=ECHO, messages=HI, max_retries=0)
    assert caught.value.kind == "rate_limit"
    assert caught.value.rate_budgets.requests.remaining == 0
    assert caught.value.rate_budgets.requests.refill_rate == pytest.approx(0.01, rel=0.01)


@pytest.mark.django_db
def test_a_streamed_completion_carries_the_budget_too(demo_echo_server, make_provider):
    server = demo_echo_server(limit_rps=0.01, limit_burst=4)
    provider = make_provider(server.base_url)
    *chunks, final = gateway.stream(provider, settings=ECHO, messages=HI)
    assert "".join(chunks) == "echo: hello there"
    assert final.rate_budgets.requests == RateBudget(
        remaining=3, reset_s=pytest.approx(100, abs=1), limit=4
    )


@pytest.mark.django_db
def test_completions_carry_no_budget_when_none_is_sent(demo_echo, make_provider):
    provider = make_provider(demo_echo)
    assert gateway.complete(provider, settings=ECHO, messages=HI).rate_budgets is None
    *_, final = gateway.stream(provider, settings=ECHO, messages=HI)
    assert final.rate_budgets is None
