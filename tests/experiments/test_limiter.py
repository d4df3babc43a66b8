"""The adaptive (AIMD) limit on model calls in flight."""

from __future__ import annotations

import asyncio

import pytest

from apps.experiments import runner
from apps.experiments.runner import AdaptiveLimiter
from tests.async_helper import run_async


@pytest.fixture
def clock(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: now[0])
    return now


def _answers(limiter, clock, *, rate, seconds, latency=0.05, in_flight=None):
    """Successful answers at `rate` a second for `seconds`, each taking `latency`, with
    `in_flight` calls out (default: as many as the limit lets out)."""
    limiter._integrate(clock[0])
    limiter.in_flight = limiter.current if in_flight is None else in_flight
    for _ in range(int(rate * seconds)):
        clock[0] += 1 / rate
        limiter.on_success(latency)
    limiter._integrate(clock[0])
    limiter.in_flight = 0


def test_it_cuts_to_the_calls_in_flight_the_provider_accepts(clock):
    limiter = AdaptiveLimiter(32)
    limiter.on_rate_limit(retry_after=0.001)
    assert limiter.current == 16  # nothing measured yet: halve
    limiter.on_rate_limit(retry_after=0.001)  # the same overload: no second cut
    assert limiter.current == 16 and limiter.cuts == 1
    # The provider accepts 200 calls/s answered in 50 ms: 10 in flight is what it takes.
    _answers(limiter, clock, rate=200, seconds=0.5)
    limiter.on_rate_limit(retry_after=0.001)
    assert limiter.current == 10 and limiter.cuts == 2 and limiter.lowest == 10


def test_one_cut_takes_at_most_half_and_never_below_one_call(clock):
    limiter = AdaptiveLimiter(32)
    _answers(limiter, clock, rate=20, seconds=1)  # one call in flight answered, of 32 out
    limiter.on_rate_limit()
    assert limiter.current == 16
    for _ in range(10):
        clock[0] += 10
        limiter.on_rate_limit()
    assert limiter.current == 1


def test_a_long_retry_after_holds_the_next_cut_that_long(clock):
    limiter = AdaptiveLimiter(32)
    limiter.on_rate_limit(retry_after=1.0)
    clock[0] += 0.5
    limiter.on_rate_limit(retry_after=1.0)
    assert limiter.cuts == 1
    clock[0] += 0.6
    limiter.on_rate_limit(retry_after=1.0)
    assert limiter.cuts == 2 and limiter.current == 8


def test_it_grows_by_one_per_window_of_successes_until_a_limit_is_met(clock):
    limiter = AdaptiveLimiter(8)
    limiter.limit = 2.0
    for _ in range(2):
        limiter.on_success(0.05)
    assert limiter.current == 2  # 2 + 1/2 + 1/2.5 < 3
    for _ in range(200):
        limiter.on_success(0.05)
    assert limiter.current == 8  # capped at the configured concurrency


def test_near_a_limit_met_lately_it_probes_one_call_a_second(clock):
    limiter = AdaptiveLimiter(32)
    limiter.on_rate_limit()
    assert limiter.current == 16
    _answers(limiter, clock, rate=200, seconds=3.1)  # three seconds of successes and a bit
    assert limiter.current == 16 + 3
    clock[0] += AdaptiveLimiter.HOLD
    _answers(limiter, clock, rate=200, seconds=2)  # no 429 for a while: fast again
    assert limiter.current == 32


def test_a_lane_waits_at_least_its_retry_after_and_a_round_trip(clock):
    limiter = AdaptiveLimiter(8)
    limiter.on_success(0.05)
    assert 2.0 <= limiter.wait_after_rate_limit(2.0, attempt=1) <= 2.25
    assert 0.05 <= limiter.wait_after_rate_limit(0.001, attempt=1) <= 0.101
    assert limiter.wait_after_rate_limit(None, attempt=3) >= 0.15


def test_its_share_of_the_run_follows_the_workers_on_it(clock):
    limiter = AdaptiveLimiter(32)
    limiter.set_maximum(16)  # a second worker joined
    assert limiter.current == 16
    limiter.set_maximum(32)  # it left, and no 429 came lately: the whole share at once
    assert limiter.current == 32
    limiter.on_rate_limit()
    assert limiter.current == 16  # the limit found alone
    limiter.set_maximum(8)  # three more workers share the provider now: a quarter of it
    assert limiter.current == 4
    limiter.set_maximum(32)  # they left: the whole of what was found
    assert limiter.current == 16 and limiter.maximum == 32


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


def test_429s_while_the_provider_answers_what_the_limit_lets_out_are_no_overload(clock):
    limiter = AdaptiveLimiter(16)
    # 16 calls in flight, 50 ms each, all answered: 320 a second.
    _answers(limiter, clock, rate=320, seconds=0.5)
    limiter.on_rate_limit(retry_after=1.0)  # a random fault, not this limit's doing
    assert limiter.current == 16 and limiter.cuts == 0
    # Lanes asleep on long Retry-Afters: 4 calls out, 80 answers a second, all accepted.
    clock[0] += 2
    _answers(limiter, clock, rate=80, seconds=0.5, in_flight=4)
    limiter.on_rate_limit(retry_after=1.0)
    assert limiter.current == 16 and limiter.cuts == 0


def test_a_lane_keeps_its_slot_only_through_a_short_wait(clock):
    limiter = AdaptiveLimiter(8)
    limiter.on_success(0.05)
    assert limiter.holds_slot(0.06)  # "soon": another lane would only draw the next 429
    assert not limiter.holds_slot(1.0)  # a second: the slot goes to another lane
