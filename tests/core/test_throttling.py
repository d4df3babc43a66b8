"""The token bucket behind every limit (apps.core.throttling), at explicit instants."""

from __future__ import annotations

import math
import threading

import pytest

from apps.core import throttling
from apps.core.throttling import Rate

T0 = 1_800_000_000.0


@pytest.fixture(scope="session")
def redis_url():
    """A throwaway redis-server for the shared-cache path, where one is installed."""
    import shutil
    import socket
    import subprocess
    import time

    pytest.importorskip("redis")
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(autouse=True, params=["locmem", "redis"])
def bucket_cache(request, settings):
    """Every test runs on the default per-process cache and on a shared Redis."""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
        settings.CACHES = {
            **settings.CACHES,
            "throttle": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "test-throttle",
            },
        }
    throttling.reset()
    yield request.param
    throttling.reset()


def test_it_parses_rates_in_drf_notation():
    assert Rate.parse("600/min") == Rate(count=600, period=60.0, burst=600)
    assert Rate.parse("10/s").per_second == 10
    assert Rate.parse("100/10s") == Rate(count=100, period=10.0, burst=100)
    assert Rate.parse("5/hour", burst=2).burst == 2
    assert Rate.parse("3/min").describe() == "3 requests per minute"
    assert Rate.parse("10/s", burst=50).describe("spans") == "10 spans per second (bursts of 50)"
    for bad in ("", "ten/min", "5/fortnight", "0/s", "-1/s"):
        with pytest.raises(ValueError):
            Rate.parse(bad)


def test_it_admits_a_burst_then_refuses_with_the_wait():
    rate = Rate.parse("3/min")
    assert [throttling.take("b", rate, now=T0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = throttling.take("b", rate, now=T0)
    assert 0 < wait <= 20  # one token comes back every 20 s
    assert throttling.retry_after(wait) == math.ceil(wait)
    assert throttling.available("b", rate, now=T0) == 0


def test_a_refusal_takes_nothing_and_the_bucket_refills_at_the_rate():
    rate = Rate.parse("3/min")
    for _ in range(3):
        throttling.take("b", rate, now=T0)
    for _ in range(10):  # a flood of refused requests does not dig the hole deeper
        assert throttling.take("b", rate, now=T0) > 0
    assert throttling.take("b", rate, now=T0 + 21) == 0.0
    assert throttling.take("b", rate, now=T0 + 21) > 0


def test_an_idle_bucket_holds_no_more_than_its_burst():
    rate = Rate.parse("2/s", burst=4)
    throttling.take("b", rate, now=T0)
    later = T0 + 3600  # an hour idle: still only the burst
    assert [throttling.take("b", rate, now=later) for _ in range(5)].count(0.0) == 4


def test_it_charges_costs_and_never_admits_what_exceeds_the_burst():
    rate = Rate.parse("100/s", burst=300)
    assert throttling.take("b", rate, 250, now=T0) == 0.0
    assert throttling.take("b", rate, 100, now=T0) == pytest.approx(0.5)
    assert throttling.take("b", rate, 301, now=T0) == math.inf
    assert throttling.wait_for("b", rate, 50, now=T0) == 0.0
    assert throttling.wait_for("b", rate, 51, now=T0) == pytest.approx(0.01)
    throttling.give_back("b", rate, 250)
    assert throttling.available("b", rate, now=T0) == 300


def test_a_changed_rate_starts_a_bucket_of_its_own():
    low, high = Rate.parse("1/min"), Rate.parse("5/min")
    throttling.take("b", low, now=T0)
    assert throttling.take("b", low, now=T0) > 0
    assert throttling.take("b", high, now=T0) == 0.0


def test_buckets_are_apart():
    rate = Rate.parse("1/min")
    assert throttling.take("team:1", rate, now=T0) == 0.0
    assert throttling.take("team:1", rate, now=T0) > 0
    assert throttling.take("team:2", rate, now=T0) == 0.0


def test_concurrent_takes_never_admit_more_than_the_bucket_holds():
    rate = Rate.parse("50/hour")
    admitted = []
    start = threading.Barrier(8)

    def worker():
        start.wait()
        for _ in range(20):
            if throttling.take("shared", rate, now=T0) == 0.0:
                admitted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(admitted) == 50


def test_leases_spend_shared_tokens_locally_without_exceeding_the_bucket(bucket_cache):
    rate = Rate.parse("20/hour")
    assert throttling.is_process_local() == (bucket_cache == "locmem")
    # lease=5 forces the shared-cache mode: one bucket operation per five requests.
    results = [throttling.take_leased("leased", rate, lease=5) for _ in range(30)]
    assert results.count(0.0) == 20
    assert all(r > 0 for r in results[20:])
    assert throttling.available("leased", rate) == 0
