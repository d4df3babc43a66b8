"""Per-team ingestion quotas at /v1/traces, so one team's flood cannot take another's
share: spans per second and (decompressed) bytes per second, each a token bucket with a
burst allowance (apps.teams.throttles TRACE_SPANS / TRACE_BYTES: settings, or the team
owner's own), and a cap on the exports one team has in progress at once in a process.

A batch is charged whole or not at all: a refused batch (429) gives back what it took,
and so does a batch the store then refuses (503), so a 429 never means "partly stored".
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings

from apps.core import throttling
from apps.teams.models import Team
from apps.teams.throttles import TRACE_BYTES, TRACE_SPANS, Limit


@dataclass(frozen=True)
class Refusal:
    """Why a batch is not taken: 429 (retry after `retry_after` s) or 413 (never fits)."""

    status: int
    message: str
    retry_after: int | None = None


@dataclass
class Charge:
    """Tokens a batch took; `refund()` if it is not stored after all."""

    taken: list[tuple[str, throttling.Rate, int]]

    def refund(self) -> None:
        for name, rate, cost in self.taken:
            throttling.give_back(name, rate, cost)
        self.taken = []


def _bucket(team: Team, limit: Limit) -> tuple[str, throttling.Rate]:
    return f"team:{team.pk}:{limit.name}", limit.rate_for(team)


def _refusal(team: Team, limit: Limit, rate: throttling.Rate, cost: int, wait: float) -> Refusal:
    described = limit.describe(rate)
    if wait == float("inf"):
        return Refusal(
            413,
            f"This batch has {cost} {limit.unit}, more than team {team.slug!r}'s trace quota "
            f"lets through at once ({rate.burst}; {described}); send smaller batches.",
        )
    seconds = throttling.retry_after(wait)
    return Refusal(
        429,
        f"Team {team.slug!r} is over its trace quota of {described}; nothing of this batch "
        f"was stored. Retry in {seconds} s.",
        seconds,
    )


# A batch at least this large on the wire is checked against the spans its team's last
# such batch suggests before it is read (smaller ones cost little to read and count).
ESTIMATE_MIN_BYTES = 64 * 1024

# (team, compressed?) -> spans per byte on the wire of the team's last large batch.
_density: dict[tuple[int, bool], float] = {}


@dataclass(frozen=True)
class Wire:
    """A batch as it came over the wire, before its body is read: its Content-Length and
    whether it is compressed (the spans a byte holds differ)."""

    declared_bytes: int
    compressed: bool


def quota_precheck(*, team: Team, wire: Wire) -> Refusal | None:
    """Before reading the body: refuse at once when the team's byte bucket cannot take
    even the bytes on the wire (the decompressed batch is at least that large), or when
    its span bucket cannot take the spans a batch of this size held last time.

    The second check is what keeps a flood cheap: a team past its span quota that sends
    the same big batches again and again (not waiting out its Retry-After) is refused
    without its body being parsed and counted each time. A team whose batches change in
    density may be refused once too early; its Retry-After says when the estimate fits,
    and nothing is lost (a 429 stores nothing)."""
    declared_bytes = wire.declared_bytes
    if declared_bytes <= 0:
        return None
    name, rate = _bucket(team, TRACE_BYTES)
    wait = throttling.wait_for(name, rate, min(declared_bytes, rate.burst))
    if wait:
        return _refusal(team, TRACE_BYTES, rate, declared_bytes, wait)
    density = _density.get((team.pk, wire.compressed))
    if density is None or declared_bytes < ESTIMATE_MIN_BYTES:
        return None
    name, rate = _bucket(team, TRACE_SPANS)
    estimate = max(1, int(density * declared_bytes))
    wait = throttling.wait_for(name, rate, min(estimate, rate.burst))
    if not wait:
        return None
    refusal = _refusal(team, TRACE_SPANS, rate, estimate, wait)
    message = refusal.message.replace(
        "; nothing", f" (a batch this size held about {estimate} spans last time); nothing", 1
    )
    return Refusal(refusal.status, message, refusal.retry_after)


def quota_charge(*, team: Team, spans: int, size: int, wire: Wire) -> Charge | Refusal:
    """Take `size` bytes and `spans` spans from the team's buckets, both or neither; a
    large batch's spans per byte on the `wire` are remembered for `quota_precheck`."""
    if wire.declared_bytes >= ESTIMATE_MIN_BYTES:
        _density[(team.pk, wire.compressed)] = spans / wire.declared_bytes
    charge = Charge(taken=[])
    for limit, cost in ((TRACE_BYTES, size), (TRACE_SPANS, spans)):
        name, rate = _bucket(team, limit)
        wait = throttling.take(name, rate, cost)
        if wait:
            charge.refund()
            return _refusal(team, limit, rate, cost, wait)
        charge.taken.append((name, rate, cost))
    return charge


def reset() -> None:
    """Forget what this process learned of teams' batches and their slots (tests)."""
    _density.clear()
    with _slots_lock:
        _slots.clear()


_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


@contextmanager
def team_ingest_slot(team: Team) -> Iterator[bool]:
    """Yields True while this request is one of the team's
    PROMPTYARD_TRACE_TEAM_MAX_EXPORTS exports in progress in this process (read, parsed
    and written), or False at once when all are taken: a team flooding with big batches
    holds a few of the process's request threads, never every one while others wait."""
    with _slots_lock:
        slots = _slots.get(team.pk)
        if slots is None:
            size = max(1, settings.PROMPTYARD_TRACE_TEAM_MAX_EXPORTS)
            slots = _slots[team.pk] = threading.BoundedSemaphore(size)
    acquired = slots.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            slots.release()
