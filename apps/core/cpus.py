"""Which CPUs background processes (task workers, the demo model server) may run on.

On a machine shared with the web server, a lower priority does not keep background work out
of the requests' way: measured on the 2-core machines here, two busy loops at SCHED_IDLE
raised a cached prompt fetch's p99 from 1.4 to 4.5 ms (its median did not move), as much
as at nice 0; the same loops kept to one core raised it to 1.9 ms. A request thread that
wakes while every core is busy waits for the scheduler's next turn, whatever the other
thread's priority. So PROMPTYARD_WORKER_CPUS keeps background work on the CPUs it names and
leaves the others to requests:

- "" (the default): every CPU, as on a host that runs only workers;
- "auto": every CPU but the first, when there are two or more (`make run` uses it);
- a list as the kernel writes them: "1", "1-3", "0,2-3".
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

SETTING = "PROMPTYARD_WORKER_CPUS"


def parse_cpu_list(text: str) -> set[int]:
    """The CPUs of a list such as "0,2-3"; ValueError naming the part that is not one."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        low, dash, high = part.partition("-")
        if not (low.isdigit() and (not dash or high.isdigit())):
            raise ValueError(f"{part!r} is not a CPU number or range (e.g. 1, 1-3 or 0,2-3)")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"{part!r} ends before it starts")
        cpus.update(range(first, last + 1))
    return cpus


def background_cpus(value: str, available: set[int]) -> set[int] | None:
    """The CPUs background work should keep to, or None for all of `available`."""
    value = value.strip()
    if not value:
        return None
    if value == "auto":
        return available - {min(available)} if len(available) > 1 else None
    try:
        cpus = parse_cpu_list(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{SETTING}={value!r}: {exc}") from None
    if not cpus <= available:
        missing = ",".join(str(cpu) for cpu in sorted(cpus - available))
        have = ",".join(str(cpu) for cpu in sorted(available))
        raise ImproperlyConfigured(
            f"{SETTING}={value!r}: CPU {missing} is not available here (this process may "
            f"run on {have})"
        )
    return cpus


def keep_to_background_cpus() -> set[int] | None:
    """Bind this process (a background command's) to the background CPUs (see the module);
    the CPUs, or None when it keeps them all or the platform cannot bind it. A setting that
    names no CPU here is a CommandError, so the command stops with its message."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        cpus = background_cpus(getattr(settings, SETTING, ""), set(os.sched_getaffinity(0)))
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from None
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
    return cpus
