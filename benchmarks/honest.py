"""What every benchmark here does to stay honest on a busy machine with other work on it.

- The subject and its baseline run in the same rounds, interleaved, the order rotated each
  round (no side always first, or always last, or always after the warm-up).
- Every figure is the median over the rounds of that figure, each on its own: never one
  round chosen for looking typical. The spread (min–max over the rounds) is printed beside
  it, so a noisy run shows as noisy.
- The load average is printed before and after, with the number of CPUs.
- Where a user waits for a process to start (a CLI, a worker, a first fetch), the wall time
  includes the start-up.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

MIN_ROUNDS = 7


def log(message: str) -> None:
    print(f"== {message}", flush=True)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return (
        f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} CPUs"
    )


def require_postgres() -> None:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        name = Path(sys.argv[0]).name
        raise SystemExit(
            f"Run against PostgreSQL: ./scripts/with_postgres.sh .venv/bin/python benchmarks/{name}"
        )


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (p99 of 30 samples is the largest but none)."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def spread(values: Sequence[float], fmt: str = "{:.2f}") -> str:
    """'median 12.3 (min 11.0 – max 15.2 over 7 rounds)'."""
    return (
        f"median {fmt.format(median(values))} (min {fmt.format(min(values))} – max "
        f"{fmt.format(max(values))} over {len(values)} rounds)"
    )


def interleaved(
    rounds: int, sides: dict[str, Callable[[], Any]], *, report: Callable[[int, dict], None] = None
) -> dict[str, list[Any]]:
    """Run each side once per round, the order rotated round by round; {side: [results]}."""
    names = list(sides)
    results: dict[str, list[Any]] = {name: [] for name in names}
    for number in range(rounds):
        shift = number % len(names)
        this_round = {}
        for name in names[shift:] + names[:shift]:
            this_round[name] = sides[name]()
            results[name].append(this_round[name])
        if report:
            report(number + 1, this_round)
    return results


def wall_of(command: Sequence[str], **kwargs) -> float:
    """Wall seconds of a whole process, start-up included (as whoever runs it waits)."""
    started = time.perf_counter()
    subprocess.run(command, check=True, **kwargs)
    return time.perf_counter() - started
