"""Shards: one experiment run by several worker processes at once, safely.

When a run is claimed from the queue (`runner._claim`), its examples are cut into shards:
ranges of example positions holding about PROMPTYARD_EXPERIMENT_SHARD_CELLS cells (every
variant and repetition of those examples). The claiming worker enqueues helper tickets,
and any worker with nothing fairer to do joins a running run (`scheduling.help_order`).

Each worker of a run claims one shard at a time (and the next before the current runs dry):
`SELECT … FOR UPDATE SKIP LOCKED` picks a pending shard or one whose lease ran out, and a
compare-and-set UPDATE takes it, so two workers never hold the same live shard (also on
SQLite, where the select does not lock). The lease is renewed with the worker's heartbeat
(every PROGRESS_EVERY); a worker that dies stops renewing it, and after
PROMPTYARD_EXPERIMENT_SHARD_LEASE_SECONDS another worker runs what the dead one left. A
shard is done once every cell it had to run is stored; the run is complete when every
shard is done. Results stay unique per cell by their own constraint whoever stores them,
so even a worker that outlived its lease (a long pause) cannot store a cell twice.

The run's `concurrency` is the calls in flight of the whole run: each worker takes an
equal share of it (`workers_on`, read with every heartbeat), so a run on four workers asks a
provider no more at once than on one. A run with a cost cap keeps one worker: the cap is
enforced by one process's ledger.
"""

from __future__ import annotations

import math
import os
import socket
import threading
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from apps.experiments.models import Experiment, Shard, ShardState
from apps.experiments.selectors import experiment_examples


def shard_cells() -> int:
    return max(1, int(getattr(settings, "PROMPTYARD_EXPERIMENT_SHARD_CELLS", 50)))


def lease_seconds() -> float:
    return float(getattr(settings, "PROMPTYARD_EXPERIMENT_SHARD_LEASE_SECONDS", 10.0))


def max_workers() -> int:
    return max(1, int(getattr(settings, "PROMPTYARD_EXPERIMENT_MAX_WORKERS", 8)))


def worker_label() -> str:
    """Who holds a lease: host, process and thread (tests run workers as threads)."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"[:200]


def claimable(now: datetime | None = None) -> Q:
    now = now or timezone.now()
    return Q(state=ShardState.PENDING) | Q(state=ShardState.RUNNING, lease_until__lt=now)


def shards_create(experiment: Experiment, *, cells_per_example: int) -> int:
    """Cut the run's examples into shards (replacing any earlier ones, in one transaction:
    no reader sees the run without shards). Returns how many."""
    positions = list(experiment_examples(experiment).values_list("position", flat=True))
    per = max(1, math.ceil(shard_cells() / max(1, cells_per_example)))
    shards: list[Shard] = []
    start = 0
    while start < len(positions):
        end = min(len(positions), start + per)
        last = positions[end - 1]
        while end < len(positions) and positions[end] == last:
            end += 1  # a position is never split between two shards
        shards.append(
            Shard(
                team_id=experiment.team_id,
                experiment=experiment,
                number=len(shards),
                position_from=positions[start],
                position_to=last,
            )
        )
        start = end
    with transaction.atomic():
        Shard.objects.filter(experiment=experiment).delete()
        Shard.objects.bulk_create(shards)
    return len(shards)


def shard_claim(experiment: Experiment, worker: str) -> Shard | None:
    """Take the next pending shard, or one whose lease ran out; None when there is none."""
    for _ in range(10):
        now = timezone.now()
        with transaction.atomic():
            shard = (
                Shard.objects.select_for_update(skip_locked=True)
                .filter(experiment=experiment)
                .filter(claimable(now))
                .order_by("number")
                .first()
            )
            if shard is None:
                return None
            lease = now + timedelta(seconds=lease_seconds())
            taken = Shard.objects.filter(
                pk=shard.pk, state=shard.state, worker=shard.worker, lease_until=shard.lease_until
            ).update(
                state=ShardState.RUNNING, worker=worker, lease_until=lease, claims=F("claims") + 1
            )
            if taken:
                shard.state, shard.worker, shard.lease_until = ShardState.RUNNING, worker, lease
                shard.claims += 1
                return shard
        # Another worker took it between the read and the write (SQLite): the next one.
    return None


def shards_renew(ids: Iterable[int], worker: str) -> int:
    """Extend this worker's leases; returns how many it still holds."""
    ids = list(ids)
    if not ids:
        return 0
    return Shard.objects.filter(pk__in=ids, worker=worker, state=ShardState.RUNNING).update(
        lease_until=timezone.now() + timedelta(seconds=lease_seconds())
    )


def shard_finish(shard_id: int) -> None:
    """Every cell the shard had to run is stored (by this worker or another)."""
    Shard.objects.filter(pk=shard_id).exclude(state=ShardState.DONE).update(
        state=ShardState.DONE, lease_until=None, done_at=timezone.now()
    )


def shards_release(ids: Iterable[int], worker: str) -> None:
    """Give back shards this worker did not finish (a stop, a turn over): pending again."""
    ids = list(ids)
    if ids:
        Shard.objects.filter(pk__in=ids, worker=worker, state=ShardState.RUNNING).update(
            state=ShardState.PENDING, lease_until=None, worker=""
        )


def all_done(experiment: Experiment) -> bool:
    return not Shard.objects.filter(experiment=experiment).exclude(state=ShardState.DONE).exists()


def others_hold_until(experiment: Experiment, worker: str) -> datetime | None:
    """The latest live lease another worker holds on the run (None: nobody else is on it)."""
    return (
        Shard.objects.filter(
            experiment=experiment, state=ShardState.RUNNING, lease_until__gte=timezone.now()
        )
        .exclude(worker=worker)
        .aggregate(until=Max("lease_until"))["until"]
    )


def workers_on(experiment: Experiment) -> int:
    """How many workers hold a live lease on the run now."""
    return (
        Shard.objects.filter(
            experiment=experiment, state=ShardState.RUNNING, lease_until__gte=timezone.now()
        )
        .values("worker")
        .distinct()
        .count()
    )
