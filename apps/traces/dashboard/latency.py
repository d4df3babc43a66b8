"""Latency histograms: durations counted in geometric bins (each 25 % wider than the last),
so hours and days add up by adding counts, and a percentile is read back within half a bin
(about ±12 %)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

RATIO = 1.25
_LOG = math.log(RATIO)
MAX_BIN = 120  # 1.25**120 ms is about 13 years: every real duration fits


def bin_of(ms: float) -> int:
    """Bin 0 holds durations under 1 ms; bin k >= 1 holds [1.25**(k-1), 1.25**k) ms."""
    if not ms or ms < 1:
        return 0
    return min(MAX_BIN, int(math.floor(math.log(ms) / _LOG)) + 1)


def bin_value(index: int) -> float:
    """The duration a bin stands for: its geometric middle."""
    if index <= 0:
        return 0.5
    return RATIO ** (index - 0.5)


def merge(histograms: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for histogram in histograms:
        for key, count in histogram.items():
            out[key] = out.get(key, 0) + int(count)
    return out


def percentile(histogram: Mapping[str, int], pct: float) -> float | None:
    """The nearest-rank percentile of the durations counted (None for no durations)."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = max(1, math.ceil(pct / 100 * total))
    seen = 0
    for key in sorted(histogram, key=int):
        seen += histogram[key]
        if seen >= rank:
            return bin_value(int(key))
    return bin_value(max(int(k) for k in histogram))
