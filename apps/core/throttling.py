"""Token buckets kept in Django's cache (the `throttle` alias): the one primitive behind
the API throttles (apps.teams.throttles), the serving throttle and the trace ingestion
quotas (apps.traces.quotas).

A bucket holds up to `burst` tokens and refills at `per_second`; a request takes `cost`
tokens (1 for a request, n for n spans or bytes) or is refused with the seconds until
they are there.

With the default LocMemCache the buckets are this process's (N worker processes admit up
to N times a rate), kept in a dict under a lock (`_LocalBuckets`): a take costs about a
microsecond, which the serving hot path needs. With a shared cache (REDIS_URL) every
process and host shares them (`_SharedBuckets`): ONE integer per bucket, changed only
with the cache's atomic incr/decr, so there is no read-modify-write race:

    consumed  = the bucket's counter (tokens ever taken, plus the allowance forfeited)
    allowance = floor(per_second * (now - EPOCH))          (tokens ever granted)
    available = allowance - consumed, capped at burst

A take adds `cost` to the counter first, then looks: if fewer than `cost` tokens were
there it subtracts them again and refuses. Concurrent takes each see every take before
them, so a bucket never admits more than it holds; a refusal racing another take can
refuse it needlessly (never the reverse). A bucket idle long enough to hold more than
`burst` forfeits the excess with one more incr. Hot paths on a shared cache take tokens
in leases (`take_leased`): one round trip per lease, not per request.

Bucket keys carry the rate and burst: a changed limit starts a full bucket of its own.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass
from functools import cached_property

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.signals import setting_changed
from django.dispatch import receiver

CACHE_ALIAS = "throttle"
KEY_PREFIX = "pyd:tb:1"
# A fixed origin for the allowance: every process computes the same number for one instant.
EPOCH = 1_700_000_000.0
# A bucket untouched this long is full again whatever it held; its key may then expire
# (incr does not extend a key's life, so it is set generously: an expired active key
# would hand out one extra burst).
MIN_KEY_SECONDS = 3600
# Counters are 64-bit in Redis: the allowance since EPOCH must fit for decades.
MAX_PER_SECOND = 1e10

_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_PERIOD_NAMES = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Rate:
    """`count` tokens per `period` seconds; a full bucket holds `burst` (default `count`)."""

    count: int
    period: float
    burst: int

    @classmethod
    def of(cls, count: int, period: float, burst: int | None = None) -> Rate:
        count = int(count)
        if count < 1 or period <= 0:
            raise ValueError(f"A rate needs at least one token per period, not {count}/{period}")
        if count / period > MAX_PER_SECOND:
            raise ValueError(f"A rate above {MAX_PER_SECOND:.0e} per second is not a limit")
        return cls(count=count, period=float(period), burst=max(1, int(burst or count)))

    @classmethod
    def parse(cls, text: str, burst: int | None = None) -> Rate:
        """DRF's notation: "600/min", "10/s", "5000/hour"; also "100/10s"."""
        match = _RATE.match(str(text).lower())
        if not match or match.group(3) not in _PERIODS:
            raise ValueError(f"Not a rate: {text!r} (write it like '600/min' or '10/s')")
        period = _PERIODS[match.group(3)] * int(match.group(2) or 1)
        return cls.of(int(match.group(1)), period, burst)

    @property
    def per_second(self) -> float:
        return self.count / self.period

    def describe(self, unit: str = "requests") -> str:
        name = _PERIOD_NAMES.get(int(self.period)) if self.period.is_integer() else None
        per = f"per {name}" if name else f"per {self.period:g} seconds"
        text = f"{self.count} {unit} {per}"
        return text if self.burst == self.count else f"{text} (bursts of {self.burst})"

    @cached_property
    def _signature(self) -> str:
        return f"{self.per_second:.6g}:{self.burst}"

    def signature(self) -> str:
        return self._signature


def _cache():
    return caches[CACHE_ALIAS]


def _key(name: str, rate: Rate) -> str:
    return f"{KEY_PREFIX}:{name}:{rate.signature()}"


class _SharedBuckets:
    """Buckets in the cache (Redis): one counter each, atomic incr/decr only."""

    def __init__(self, cache):
        self.cache = cache

    @staticmethod
    def _allowance(rate: Rate, now: float) -> int:
        return math.floor(rate.per_second * (now - EPOCH))

    def _incr(self, key: str, delta: int, rate: Rate, allowance: int) -> int:
        """The counter after adding `delta`; a missing bucket is created full."""
        for _ in range(3):
            try:
                return self.cache.incr(key, delta)
            except ValueError:  # no such key (never made, or expired): a full bucket
                seconds = max(MIN_KEY_SECONDS, math.ceil(4 * rate.burst / rate.per_second))
                self.cache.add(key, allowance - rate.burst, timeout=seconds)
        return self.cache.incr(key, delta)

    def take(self, key: str, rate: Rate, cost: int, now: float) -> float:
        allowance = self._allowance(rate, now)
        consumed = self._incr(key, cost, rate, allowance)
        before = allowance - (consumed - cost)  # tokens there before this take
        if before > rate.burst + rate.burst // 16:
            # Idle long enough to overflow: forfeit the excess, so a full bucket holds
            # `burst`. Left alone below a sixteenth of the burst, which spares a bucket
            # that is mostly full (traffic well under its limit) a second round trip
            # per take, at the price of admitting that sixteenth more in a burst.
            self.cache.incr(key, before - rate.burst)
            before = rate.burst
        if before >= cost:
            return 0.0
        self.cache.decr(key, cost)
        return (cost - before) / rate.per_second

    def give_back(self, key: str, rate: Rate, cost: int) -> None:
        try:
            self.cache.decr(key, cost)
        except ValueError:  # expired meanwhile: it is full again anyway
            pass

    def available(self, key: str, rate: Rate, now: float) -> int:
        consumed = self.cache.get(key)
        if consumed is None:
            return rate.burst
        return max(0, min(rate.burst, self._allowance(rate, now) - consumed))

    def clear(self) -> None:
        self.cache.clear()


class _LocalBuckets:
    """The same buckets when the throttle cache is this process's memory (LocMemCache):
    plain dicts under a lock, a microsecond a take instead of the cache API's tens
    (key validation, pickling), exactly as per-process as LocMemCache would be."""

    def __init__(self, max_entries: int):
        self.max_entries = max_entries
        self.state: dict[str, tuple[float, float]] = {}  # key -> (tokens, at), LRU order
        self.lock = threading.Lock()

    def _tokens(self, key: str, rate: Rate, now: float) -> float:
        held = self.state.pop(key, None)
        if held is None:
            return float(rate.burst)
        tokens, at = held
        return min(float(rate.burst), tokens + max(0.0, now - at) * rate.per_second)

    def _keep(self, key: str, tokens: float, now: float) -> None:
        self.state[key] = (tokens, now)
        if len(self.state) > self.max_entries:  # drop the longest idle (the fullest)
            for stale in list(self.state)[: max(1, self.max_entries // 10)]:
                del self.state[stale]

    def take(self, key: str, rate: Rate, cost: int, now: float) -> float:
        with self.lock:
            tokens = self._tokens(key, rate, now)
            if tokens >= cost:
                self._keep(key, tokens - cost, now)
                return 0.0
            self._keep(key, tokens, now)
        return (cost - tokens) / rate.per_second

    def give_back(self, key: str, rate: Rate, cost: int) -> None:
        with self.lock:
            held = self.state.get(key)
            if held is not None:
                self.state[key] = (min(float(rate.burst), held[0] + cost), held[1])

    def available(self, key: str, rate: Rate, now: float) -> int:
        with self.lock:
            held = self.state.get(key)
        if held is None:
            return rate.burst
        tokens = min(float(rate.burst), held[0] + max(0.0, now - held[1]) * rate.per_second)
        return math.floor(tokens)

    def clear(self) -> None:
        with self.lock:
            self.state.clear()


_buckets: _SharedBuckets | _LocalBuckets | None = None
_buckets_lock = threading.Lock()


def _store() -> _SharedBuckets | _LocalBuckets:
    global _buckets
    store = _buckets
    if store is None:
        with _buckets_lock:
            cache = _cache()
            if isinstance(cache, LocMemCache):
                store = _LocalBuckets(max_entries=getattr(cache, "_max_entries", 100_000))
            else:
                store = _SharedBuckets(cache)
            _buckets = store
    return store


@receiver(setting_changed)
def _caches_changed(setting, **kwargs):
    global _buckets
    if setting == "CACHES":
        _buckets = None


def is_process_local() -> bool:
    """True when buckets live in this process only (LocMemCache: the default)."""
    return isinstance(_store(), _LocalBuckets)


def take(name: str, rate: Rate, cost: int = 1, *, now: float | None = None) -> float:
    """Take `cost` tokens from the bucket `name`: 0.0 when taken, else the seconds until
    they will be there (nothing is taken). `math.inf` when `cost` exceeds the burst: no
    wait makes it fit."""
    if cost <= 0:
        return 0.0
    if cost > rate.burst:
        return math.inf
    now = time.time() if now is None else now
    return _store().take(_key(name, rate), rate, cost, now)


def give_back(name: str, rate: Rate, cost: int) -> None:
    """Return tokens taken for work that was then refused (never above the burst)."""
    if 0 < cost <= rate.burst:
        _store().give_back(_key(name, rate), rate, cost)


def available(name: str, rate: Rate, *, now: float | None = None) -> int:
    """Tokens in the bucket now (a read: takes nothing)."""
    now = time.time() if now is None else now
    return _store().available(_key(name, rate), rate, now)


def wait_for(name: str, rate: Rate, cost: int = 1, *, now: float | None = None) -> float:
    """Seconds until `cost` tokens are there (0.0: now), taking nothing."""
    if cost > rate.burst:
        return math.inf
    missing = cost - available(name, rate, now=now)
    return 0.0 if missing <= 0 else missing / rate.per_second


def retry_after(wait: float) -> int:
    """A wait as the whole seconds of a Retry-After header (at least 1)."""
    return max(1, math.ceil(wait))


# --- leases: a shared bucket without a round trip per request -----------------------------

_leases: dict[str, int] = {}
_leases_lock = threading.Lock()


def take_leased(name: str, rate: Rate, cost: int = 1, *, lease: int | None = None) -> float:
    """`take` for hot paths: with a process-local cache it is `take` (a few microseconds);
    with a shared one (Redis) the process takes tokens in leases of about a tenth of a
    second's worth and spends them locally, one round trip per lease instead of per
    request. Tokens are leased before they are spent, so the processes together never
    admit more than the bucket grants; a process holds at most one lease unspent."""
    if lease is None and is_process_local():
        return take(name, rate, cost)
    size = lease or max(1, min(rate.burst // 10, math.ceil(rate.per_second / 10)))
    key = _key(name, rate)
    with _leases_lock:
        held = _leases.get(key, 0)
        if held >= cost:
            _leases[key] = held - cost
            return 0.0
    wanted = max(size, cost)
    wait = take(name, rate, wanted)
    if wait and wanted > cost:
        wanted = cost
        wait = take(name, rate, cost)
    if wait:
        return wait
    with _leases_lock:
        _leases[key] = _leases.get(key, 0) + wanted - cost
    return 0.0


def reset() -> None:
    """Forget every bucket and lease (tests)."""
    _store().clear()
    with _leases_lock:
        _leases.clear()
