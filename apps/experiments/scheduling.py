"""Fair shares of the task workers between teams: which queued run goes next, and when a
running one steps aside.

Every queued run has a ticket in the task queue (`tasks.run_experiment`). A worker that
takes a ticket does not run the ticket's own experiment but the run that is fairest now:
- a team runs at most PROMPTYARD_TEAM_MAX_RUNNING_EXPERIMENTS runs at once across all
  workers (its other runs wait), so one team's many or huge runs cannot hold every worker;
- among the teams below their cap, the team with the fewest running runs goes first, then
  the one served longest ago (the last heartbeat of any of its runs), then the one whose
  run has waited longest; within a team, its least recently served run.
A run given its turn (`runner.run_turn`) steps aside after PROMPTYARD_EXPERIMENT_TURN_SECONDS
when another run is waiting that could take its place: it stores what is finished, goes back
to the queue with a new ticket and resumes later where it stopped (a run is resumable per
cell). A worker that only joined a run (below) steps aside after
PROMPTYARD_EXPERIMENT_HELPER_TURN_SECONDS instead. So a small run of one team waits at most about one turn behind another team's huge
run, even with a single worker, and not at all when a worker is free.

A worker whose ticket finds no queued run it may start joins a running one instead: a run's
cells are split into shards that several workers run at once (apps/experiments/sharding.py).
Queued runs always go first (a worker joins only when none can start), and among the runs
with shards left, the team with the fewest shards being worked on goes first
(`help_order`), so free workers spread over the teams' runs rather than pile onto one.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max, Min
from django.utils import timezone

from apps.experiments.models import Experiment, Shard, ShardState, Status
from apps.experiments.selectors import stale_after
from apps.experiments.sharding import claimable


def team_cap() -> int:
    return max(1, int(getattr(settings, "PROMPTYARD_TEAM_MAX_RUNNING_EXPERIMENTS", 1)))


def turn_seconds() -> float:
    return float(getattr(settings, "PROMPTYARD_EXPERIMENT_TURN_SECONDS", 5.0))


def helper_turn_seconds() -> float:
    """The turn of a worker that joined a running run: help gives way before turns do."""
    return float(getattr(settings, "PROMPTYARD_EXPERIMENT_HELPER_TURN_SECONDS", 0.1))


def _runs():
    # reason: the scheduler weighs every team's runs against each other's; it reads only
    # ids, teams and times, and each run then executes inside its own team's scope.
    return Experiment.objects.unscoped()


def running_by_team(team_ids) -> dict[int, int]:
    """How many runs each team has running now (a run whose worker stopped reporting, a
    stale one, no longer counts)."""
    alive_since = timezone.now() - stale_after()
    rows = (
        _runs()
        .filter(team_id__in=team_ids, status=Status.RUNNING, heartbeat_at__gte=alive_since)
        .values("team_id")
        .annotate(n=Count("id"))
    )
    return {row["team_id"]: row["n"] for row in rows}


def below_cap(team_id: int) -> bool:
    return running_by_team([team_id]).get(team_id, 0) < team_cap()


def fair_order() -> list[tuple[int, int]]:
    """(run, team) of the queued runs, the one that should run next first (teams at their
    cap left out)."""
    queued = list(
        _runs()
        .filter(status=Status.QUEUED)
        .values_list("pk", "team_id", "heartbeat_at", "queued_at")
    )
    if not queued:
        return []
    teams = {team_id for _, team_id, _, _ in queued}
    running = running_by_team(teams)
    cap = team_cap()
    served = dict(
        _runs()
        .filter(team_id__in=teams, heartbeat_at__isnull=False)
        .values("team_id")
        .annotate(last=Max("heartbeat_at"))
        .values_list("team_id", "last")
    )
    waited = dict(
        _runs()
        .filter(team_id__in=teams, status=Status.QUEUED)
        .values("team_id")
        .annotate(first=Min("queued_at"))
        .values_list("team_id", "first")
    )
    never = timezone.now() - timedelta(days=36500)

    def team_key(team_id):
        return (running.get(team_id, 0), served.get(team_id) or never, waited.get(team_id) or never)

    def run_key(row):
        pk, team_id, heartbeat_at, queued_at = row
        return (team_key(team_id), heartbeat_at or never, queued_at or never, pk)

    return [(row[0], row[1]) for row in sorted(queued, key=run_key) if running.get(row[1], 0) < cap]


def queued_exists() -> bool:
    return _runs().filter(status=Status.QUEUED).exists()


def others_waiting(experiment: Experiment, *, joined: bool = False) -> bool:
    """Is a queued run waiting that could run if `experiment`'s worker stepped aside? (One
    of a team below its cap, or one of its own team's when this worker holds the team's
    slot: a worker that only `joined` the run frees no slot of its team by leaving.)"""
    waiting = set(
        _runs()
        .filter(status=Status.QUEUED, cancel_requested=False)
        .exclude(pk=experiment.pk)
        .values_list("team_id", flat=True)
        .distinct()
    )
    if not waiting:
        return False
    if experiment.team_id in waiting and not joined:
        return True
    running = running_by_team(waiting)
    cap = team_cap()
    return any(running.get(team_id, 0) < cap for team_id in waiting)


def help_order() -> list[tuple[int, int]]:
    """(run, team) of the running runs another worker may join (shards pending, or leases
    run out), the team with the fewest live shards first, then the run with the fewest.
    A run with a cost cap is left to its one worker (its cap lives in that worker)."""
    now = timezone.now()
    # reason: the scheduler weighs every team's runs; each run then executes in its scope.
    shards = Shard.objects.unscoped().filter(
        experiment__status=Status.RUNNING,
        experiment__cancel_requested=False,
        experiment__cost_cap__isnull=True,
    )
    open_runs = set(shards.filter(claimable(now)).values_list("experiment_id", "team_id"))
    if not open_runs:
        return []
    live = list(
        # reason: as above; leases of every team weigh in the order.
        Shard.objects.unscoped()
        .filter(state=ShardState.RUNNING, lease_until__gte=now)
        .values("experiment_id", "team_id")
        .annotate(n=Count("id"))
    )
    by_team: dict[int, int] = {}
    by_run: dict[int, int] = {}
    for row in live:
        by_team[row["team_id"]] = by_team.get(row["team_id"], 0) + row["n"]
        by_run[row["experiment_id"]] = row["n"]
    return sorted(open_runs, key=lambda run: (by_team.get(run[1], 0), by_run.get(run[0], 0), run))
