"""A run's spending against its cost cap: reserve a call's worst case before it starts.

Lanes run concurrently, so checking "spent < cap" before a call lets every call in flight
land past the cap. Instead each call reserves the most it can cost (its prompt's token
bound plus max_tokens, at the model's prices) and starts only when spent + reserved +
that stays within the cap; when it returns, the reservation is swapped for what it cost.
The ledger lives on the runner's event loop (one thread), so it needs no lock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

# Costs are stored rounded to 1e-8 dollars: reserve that much more so a rounded actual
# never exceeds its reservation.
ROUNDING_SLACK = 1e-8

# With a cap, a call that sets no max_tokens is sent with this bound, so its worst case
# is finite and the cap can hold.
CAPPED_OUTPUT_TOKENS = 4096


@dataclass
class CostLedger:
    cap: float | None
    spent: float = 0.0
    reserved: float = 0.0
    capped: bool = False  # a reservation could never fit: launch nothing more
    _settled: asyncio.Event | None = field(default=None, repr=False)

    async def reserve(self, bound: float | None) -> float | None:
        """Reserve `bound` (None: an unpriced call, which costs nothing we can count).
        While other calls hold reservations, wait for them to settle (most cost far less
        than their worst case); returns None once it cannot fit even with nothing in
        flight, and marks the run capped."""
        amount = 0.0 if bound is None else bound + ROUNDING_SLACK
        while self.cap is not None and self.spent + self.reserved + amount > self.cap:
            if self.capped or self.reserved <= 0:
                self.capped = True
                return None
            if self._settled is None:
                self._settled = asyncio.Event()
            await self._settled.wait()
        self.reserved += amount
        return amount

    def settle(self, reserved: float, actual: float | None) -> None:
        self.reserved -= reserved
        if self.reserved < 1e-12:
            self.reserved = 0.0  # no float dust keeping a waiter waiting
        self.spent += float(actual or 0.0)
        if self._settled is not None:
            # Wake every waiter once; they re-check and wait on a fresh event if need be.
            self._settled.set()
            self._settled = None

    def record(self, actual: float | None) -> None:
        self.spent += float(actual or 0.0)
