"""The adaptive (AIMD) limit on model calls in flight."""

from __future__ import annotations

import asyncio

from apps.experiments import runner
from apps.experiments.runner import AdaptiveLimiter
from tests.async_helper import run_async


def test_it_halves_on_a_rate_limit_once_per_retry_after_window(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: now[0])
    limiter = AdaptiveLimiter(32)
    limiter.on_rate_limit(retry_after=1.0)
    assert limiter.current == 16
    limiter.on_rate_limit(retry_after=1.0)  # same burst: no second cut
    assert limiter.current == 16
    now[0] += 1.1
    limiter.on_rate_limit(retry_after=1.0)
    assert limiter.current == 8 and limiter.cuts == 2 and limiter.lowest == 8
    for _ in range(10):
        now[0] += 10
        limiter.on_rate_limit()
    assert limiter.current == 1  # never below one call in flight


def test_it_grows_back_by_about_one_per_window_of_successes():
    limiter = AdaptiveLimiter(8)
    limiter.limit = 2.0
    for _ in range(2):
        limiter.on_success()
    assert limiter.current == 2  # 2 + 1/2 + 1/2.5 < 3
    for _ in range(200):
        limiter.on_success()
    assert limiter.current == 8  # capped at the configured concurrency


def test_it_holds_calls_beyond_the_current_limit():
    async def scenario():
        limiter = AdaptiveLimiter(2)
        await limiter.acquire()
        await limiter.acquire()
        third = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0.01)
        assert not third.done() and limiter.in_flight == 2
        await limiter.release()
        await asyncio.wait_for(third, 1)
        assert limiter.in_flight == 2

    run_async(scenario)
