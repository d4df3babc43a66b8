"""Pacing by the provider's rate-limit headers: the limiter holds calls the stated budget
does not cover and lets them go when it refills; without headers it is the AIMD it was."""

from __future__ import annotations

import asyncio
import math
import time

import pytest

from apps.experiments import runner
from apps.experiments.runner import AdaptiveLimiter, ExperimentRunner
from apps.llm.gateway import Completion, GatewayError, RateBudget, RateBudgets
from tests.async_helper import run_async


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: now[0])
    return now


def _requests(remaining, reset_s=1.0, limit=None):
    return RateBudgets(requests=RateBudget(remaining=remaining, reset_s=reset_s, limit=limit))


def _start(limiter, calls=1):
    """Start `calls` calls as acquire() does (no waiting): their numbers."""
    numbers = []
    for _ in range(calls):
        limiter.started += 1
        numbers.append(limiter.started)
    return numbers


def test_it_holds_calls_once_the_budget_is_spent_and_lets_them_go_at_the_reset(clock):
    limiter = AdaptiveLimiter(8)
    [call] = _start(limiter)
    # The provider's answer: nothing left, whole again in 0.5 s (no rate: no limit said).
    limiter.on_budget(_requests(0, reset_s=0.5), call)
    assert limiter.budget_wait(clock[0]) == pytest.approx(0.5)
    clock[0] += 0.3
    assert limiter.budget_wait(clock[0]) == pytest.approx(0.2)
    clock[0] += 0.2  # reset: the budget is whole again
    assert limiter.budget_wait(clock[0]) == 0


def test_it_counts_the_calls_it_started_after_the_answered_one(clock):
    limiter = AdaptiveLimiter(8)
    first, *_ = _start(limiter, 4)
    # The answer to the first call says 3 left; three calls went after it: none left.
    limiter.on_budget(_requests(3), first)
    assert limiter.budget_wait(clock[0]) > 0
    # The answer to the last call says 3 left: it counts every call started before it.
    limiter.on_budget(_requests(3), limiter.started)
    assert limiter.budget_wait(clock[0]) == 0
    _start(limiter, 2)
    assert limiter.budget_wait(clock[0]) == 0  # one left
    _start(limiter)
    assert limiter.budget_wait(clock[0]) > 0


def test_it_keeps_a_small_reserve_of_a_stated_limit_for_other_clients(clock):
    limiter = AdaptiveLimiter(8)
    [call] = _start(limiter)
    limiter.on_budget(_requests(6, limit=200), call)  # keeps 2 % of 200: 4
    assert limiter.budget_wait(clock[0]) == 0
    _start(limiter)
    assert limiter.budget_wait(clock[0]) == 0
    _start(limiter)  # one more would leave 3
    assert limiter.budget_wait(clock[0]) > 0


def test_it_resumes_at_the_refill_rate_once_no_answer_comes(clock):
    limiter = AdaptiveLimiter(8)
    limiter.on_success(0.05)  # a round trip of 50 ms
    [call] = _start(limiter)
    # 100 requests a second: 100 missing, whole again in 1 s.
    limiter.on_budget(_requests(0, reset_s=1.0, limit=100), call)
    # The refill counts from a round trip after the answer (a newer answer would tell):
    # then one call's worth (plus the 2-call reserve) takes 30 ms.
    assert limiter.budget_wait(clock[0]) == pytest.approx(0.05 + 0.03)
    clock[0] += 0.08
    assert limiter.budget_wait(clock[0]) == pytest.approx(0)
    _start(limiter)
    assert limiter.budget_wait(clock[0]) == pytest.approx(0.01)  # the next in 10 ms
    # A newer answer says 10 are left (other clients used less): go at once.
    limiter.on_budget(_requests(10, reset_s=0.9, limit=100), limiter.started)
    assert limiter.budget_wait(clock[0]) == 0


def test_a_whole_bucket_keeps_the_rate_stated_before(clock):
    limiter = AdaptiveLimiter(32)
    limiter.on_success(0.05)
    [call] = _start(limiter)
    limiter.on_budget(_requests(0, reset_s=0.1, limit=20), call)  # 200 a second
    clock[0] += 1
    [call] = _start(limiter)
    # The bucket is whole (nothing missing: no rate in the answer) and 32 lanes wait.
    limiter.on_budget(_requests(20, reset_s=0.0, limit=20), call)
    _start(limiter, 19)
    assert limiter.budget_wait(clock[0]) == 0  # the twentieth
    _start(limiter)
    # Spent: the refill counts after a round trip, at the rate stated before.
    assert limiter.budget_wait(clock[0]) == pytest.approx(0.05 + 1 / 200)
    # Trusted as long as the bucket takes to refill from empty (20 at 200 a second).
    clock[0] += 0.1
    assert limiter.budget_wait(clock[0]) == 0 and not limiter._budgets


def test_it_paces_by_tokens_at_what_a_call_uses(clock):
    limiter = AdaptiveLimiter(8)
    [call] = _start(limiter)
    budgets = RateBudgets(
        requests=RateBudget(remaining=50, reset_s=1.0),
        tokens=RateBudget(remaining=250, reset_s=60.0),
    )
    limiter.on_budget(budgets, call, tokens=100)  # a call uses about 100 tokens
    assert limiter.budget_wait(clock[0]) == 0
    _start(limiter, 2)  # 50 tokens left: not enough for another
    assert limiter.budget_wait(clock[0]) > 0


def test_it_ignores_answers_without_rate_limit_headers(clock):
    limiter = AdaptiveLimiter(8)
    for call in _start(limiter, 50):
        limiter.on_budget(None, call, tokens=10)
    assert limiter.budget_wait(clock[0]) == 0


def test_it_drops_a_budget_without_a_reset_after_a_while(clock):
    limiter = AdaptiveLimiter(8)
    [call] = _start(limiter)
    limiter.on_budget(_requests(0, reset_s=None), call)
    assert limiter.budget_wait(clock[0]) == pytest.approx(AdaptiveLimiter.BUDGET_TTL)
    clock[0] += AdaptiveLimiter.BUDGET_TTL
    assert limiter.budget_wait(clock[0]) == 0


def test_a_429_saying_the_budget_is_spent_cuts_nothing(clock):
    limiter = AdaptiveLimiter(16)
    limiter.on_rate_limit(retry_after=0.01, budgets=_requests(0, limit=1000))  # the gate's
    limiter.on_rate_limit(retry_after=0.01, budgets=_requests(19, limit=1000))  # reserve 20
    assert limiter.current == 16 and limiter.cuts == 0
    limiter.on_rate_limit(retry_after=0.01)  # no headers: the AIMD cuts as before
    assert limiter.current == 8 and limiter.cuts == 1


def test_a_429_while_plenty_is_left_is_judged_by_the_aimd_as_without_headers(clock):
    limiter = AdaptiveLimiter(16)
    # 16 calls in flight, 50 ms each, all answered: a random fault, not an overload.
    for _ in range(160):
        clock[0] += 1 / 320
        limiter.in_flight = 16
        limiter.on_success(0.05)
    limiter.on_rate_limit(retry_after=1.0, budgets=_requests(500, limit=1000))
    assert limiter.current == 16 and limiter.cuts == 0
    # Five seconds on, 16 calls out and none answered: a limit the headers do not state.
    clock[0] += 5
    limiter.on_rate_limit(retry_after=0.01, budgets=_requests(500, limit=1000))
    assert limiter.cuts == 1


def test_held_lanes_wait_for_the_reset_and_then_go():
    async def scenario():
        limiter = AdaptiveLimiter(4)
        call = await limiter.acquire()
        limiter.on_budget(_requests(0, reset_s=0.02), call)  # whole again in 20 ms
        await limiter.release()
        held = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        assert not held.done() and limiter.held == 1 and limiter.in_flight == 0
        await asyncio.wait_for(held, 5)
        assert limiter.in_flight == 1

    run_async(scenario)


def test_held_lanes_go_as_soon_as_an_answer_says_the_budget_is_back():
    async def scenario():
        limiter = AdaptiveLimiter(4)
        first = await limiter.acquire()
        second = await limiter.acquire()
        limiter.on_budget(_requests(0, reset_s=60.0), first)  # a minute away
        await limiter.release()
        held = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)
        assert not held.done()
        limiter.on_budget(_requests(5, reset_s=30.0), second)
        await limiter.release()  # the answer's call gives its slot back: the lanes look
        await asyncio.wait_for(held, 5)

    run_async(scenario)


class FakeProvider:
    """A provider with a token bucket (CAPACITY requests, refilled at RATE a second),
    answering after LATENCY; with `headers`, every answer states the budget as OpenAI
    does (what is left after it, when the bucket is full again)."""

    CAPACITY = 100
    RATE = 1000.0
    LATENCY = 0.002

    def __init__(self, headers: bool, tokens: float = CAPACITY):
        self.headers = headers
        self.tokens = float(tokens)
        self.stamp = time.monotonic()
        self.answers = {"ok": 0, "429": 0}

    def _budgets(self) -> RateBudgets | None:
        if not self.headers:
            return None
        return _requests(
            math.floor(self.tokens),
            reset_s=(self.CAPACITY - self.tokens) / self.RATE,
            limit=self.CAPACITY,
        )

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.CAPACITY, self.tokens + (now - self.stamp) * self.RATE)
        self.stamp = now

    async def acomplete(self, provider, *, settings, messages, max_retries):
        self._refill()
        if self.tokens < 1:
            self.answers["429"] += 1
            raise GatewayError(
                "rate_limit", "429", (1 - self.tokens) / self.RATE, rate_budgets=self._budgets()
            )
        self.tokens -= 1
        await asyncio.sleep(self.LATENCY)
        self._refill()
        self.answers["ok"] += 1
        return Completion(
            text="ok",
            parsed_json=None,
            input_tokens=1,
            output_tokens=1,
            latency_ms=2,
            cost=None,
            raw={},
            rate_budgets=self._budgets(),
        )


def _run_calls(monkeypatch, provider: FakeProvider, *, calls=300, lanes=8) -> AdaptiveLimiter:
    """`calls` model calls through the runner's own `_call` on `lanes` lanes."""
    monkeypatch.setattr(runner, "acomplete", provider.acomplete)
    monkeypatch.setattr(runner, "RATE_LIMIT_ATTEMPTS", 10_000)
    lab = ExperimentRunner.__new__(ExperimentRunner)  # only what _call uses
    lab.requests = lab.rate_limited = 0

    class Plan:
        provider = None
        settings = None

    async def scenario():
        lab.limiter = AdaptiveLimiter(lanes)
        left = [calls]

        async def lane():
            while left[0] > 0:
                left[0] -= 1
                completion, failure, _ = await lab._call(Plan, [])
                assert failure is None and completion.text == "ok"

        await asyncio.gather(*(lane() for _ in range(lanes)))

    run_async(scenario)
    assert provider.answers["ok"] == calls  # every call answered in the end
    assert lab.rate_limited == provider.answers["429"]
    return lab.limiter


def test_a_provider_stating_its_budget_is_paced_without_429s(monkeypatch):
    # 8 lanes of 2 ms calls ask for 4,000 a second of a 1,000-a-second bucket.
    provider = FakeProvider(headers=True)
    limiter = _run_calls(monkeypatch, provider)
    assert provider.answers["429"] == 0  # held before the bucket ran dry, every time
    assert limiter.held > 0 and limiter.cuts == 0


def test_a_provider_stating_nothing_gets_the_aimd_as_before(monkeypatch):
    # Its bucket empty at the start: the first calls meet the limit, whatever the speed.
    provider = FakeProvider(headers=False, tokens=0)
    limiter = _run_calls(monkeypatch, provider)
    assert provider.answers["429"] > 0  # only a 429 tells it where the limit is
    assert limiter.held == 0 and limiter.cuts > 0
