"""Sticky assignment of callers to the arms of a rollout: the one function the server and
the SDK share, so both agree without a round trip.

A caller's arm is a pure function of (prompt name, rollout id, caller key): the first 8
bytes of SHA-256 over the three, joined by a unit separator, read big-endian, modulo
10,000 buckets. Buckets below `percent * 100` get the candidate. Consequences:

- the same key gets the same arm on every fetch, in every process and after restarts;
- stepping a rollout up (10 -> 50 %) keeps every candidate caller in the candidate arm;
- a new rollout (a new id) reshuffles callers, so one unlucky group is not always first.

SHA-256 is in every language's standard library (no C extension to ship with the SDK, as
MurmurHash3 would need) and its output is uniform; 10,000 buckets allow steps of 0.01 %.
"""

from __future__ import annotations

import hashlib
import random

BUCKETS = 10_000
ARM_CURRENT = "current"
ARM_CANDIDATE = "candidate"


def bucket(prompt: str, rollout_id: int, key: str) -> int:
    """The caller's bucket in [0, 10000) for this rollout."""
    data = f"{prompt}\x1f{int(rollout_id)}\x1f{key}".encode()
    return int.from_bytes(hashlib.sha256(data).digest()[:8], "big") % BUCKETS


def arm_for(prompt: str, rollout_id: int, percent: float, key: str | None) -> str:
    """ARM_CANDIDATE for `percent` % of keys, ARM_CURRENT for the rest. Without a key the
    arm is drawn at random (with the same odds)."""
    threshold = round(float(percent) * BUCKETS / 100)
    if key is None:
        return ARM_CANDIDATE if random.randrange(BUCKETS) < threshold else ARM_CURRENT
    return ARM_CANDIDATE if bucket(prompt, rollout_id, str(key)) < threshold else ARM_CURRENT
