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


def quota_precheck(*, team: Team, declared_bytes: int) -> Refusal | None:
    """Before reading the body: refuse at once when the team's byte bucket cannot take
    even the bytes on the wire (the decompressed batch is at least that large)."""
    if declared_bytes <= 0:
        return None
    name, rate = _bucket(team, TRACE_BYTES)
    wait = throttling.wait_for(name, rate, min(declared_bytes, rate.burst))
    return _refusal(team, TRACE_BYTES, rate, declared_bytes, wait) if wait else None


def quota_charge(*, team: Team, spans: int, size: int) -> Charge | Refusal:
    """Take `size` bytes and `spans` spans from the team's buckets, both or neither."""
    charge = Charge(taken=[])
    for limit, cost in ((TRACE_BYTES, size), (TRACE_SPANS, spans)):
        name, rate = _bucket(team, limit)
        wait = throttling.take(name, rate, cost)
        if wait:
            charge.refund()
            return _refusal(team, limit, rate, cost, wait)
        charge.taken.append((name, rate, cost))
    return charge


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
