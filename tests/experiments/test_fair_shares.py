"""Fair shares of the workers: one team's huge run does not keep another team's small run
waiting behind it, and a team runs at most its cap of runs at once."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from apps.core import worker as worker_module
from apps.core.tenancy import team_scope
from apps.core.worker import ResilientWorker, RetryLater
from apps.experiments import scheduling
from apps.experiments.models import Experiment, Result, Status
from apps.experiments.runner import run_turn, team_slot_lock
from apps.experiments.services import experiment_start
from tests.experiments.conftest import make_lab


def _rows(n):
    return [{"input": {"q": f"q{i}"}, "expected": f"echo: Q: q{i}"} for i in range(n)]


def _queued(lab, rows_done=0, **fields):
    """A run of `lab` put in the queue without a ticket (the test drives the scheduler)."""
    experiment = lab.experiment(concurrency=2)
    with team_scope(lab.team):
        experiment_start(team=lab.team, actor=lab.actor, experiment=experiment, enqueue=False)
    if fields:
        Experiment.objects.unscoped().filter(pk=experiment.pk).update(**fields)
    return experiment


def _run(experiment) -> Experiment:
    return Experiment.objects.unscoped().get(pk=experiment.pk)


@pytest.fixture
def labs(acme, alice, globex, dave, demo_echo):
    return make_lab(acme, alice, demo_echo, rows=_rows(4)), make_lab(
        globex, dave, demo_echo, rows=_rows(4)
    )


@pytest.mark.django_db
def test_it_serves_the_team_served_longest_ago_first(labs):
    a, b = labs
    now = timezone.now()
    a1 = _queued(a, queued_at=now - timedelta(minutes=5), heartbeat_at=now)  # had a turn
    a2 = _queued(a, queued_at=now - timedelta(minutes=4))
    b1 = _queued(b, queued_at=now - timedelta(minutes=1))
    order = [pk for pk, _ in scheduling.fair_order()]
    # globex waited less, but acme was served a moment ago; inside acme, the run that has
    # not had a turn goes before the one that has.
    assert order == [b1.pk, a2.pk, a1.pk]


@pytest.mark.django_db
def test_it_leaves_out_teams_at_their_cap(labs, settings):
    a, b = labs
    settings.PROMPTYARD_TEAM_MAX_RUNNING_EXPERIMENTS = 1
    running = _queued(a, status=Status.RUNNING, heartbeat_at=timezone.now())
    waiting = _queued(a)
    other = _queued(b)
    assert scheduling.fair_order() == [(other.pk, b.team.pk)]
    assert scheduling.others_waiting(_run(running))  # globex is below its cap
    Experiment.objects.unscoped().filter(pk=other.pk).update(status=Status.COMPLETED)
    assert scheduling.fair_order() == []
    assert scheduling.others_waiting(_run(running))  # its own team's next run waits
    # ...for the worker holding the team's slot; one that only joined frees no slot by
    # leaving, so it keeps helping instead of stepping aside for a run that cannot start.
    assert not scheduling.others_waiting(_run(running), joined=True)
    # A run whose worker stopped reporting no longer holds the team's slot.
    Experiment.objects.unscoped().filter(pk=running.pk).update(
        heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    assert scheduling.fair_order() == [(waiting.pk, a.team.pk)]
    settings.PROMPTYARD_TEAM_MAX_RUNNING_EXPERIMENTS = 2
    Experiment.objects.unscoped().filter(pk=running.pk).update(heartbeat_at=timezone.now())
    assert scheduling.fair_order() == [(waiting.pk, a.team.pk)]


@pytest.mark.django_db
def test_a_ticket_waits_while_every_queued_team_is_at_its_cap(labs, settings, monkeypatch):
    a, _ = labs
    settings.PROMPTYARD_TEAM_MAX_RUNNING_EXPERIMENTS = 1
    _queued(a, status=Status.RUNNING, heartbeat_at=timezone.now())
    waiting = _queued(a)
    # Under `manage.py worker`: the ticket goes back to the queue for a moment.
    monkeypatch.setattr(worker_module, "_active_worker", object())
    with pytest.raises(RetryLater):
        run_turn(waiting.pk)
    # Elsewhere (db_worker): a new ticket, due a moment later.
    monkeypatch.setattr(worker_module, "_active_worker", None)
    assert run_turn(waiting.pk)["status"] == "deferred"
    ticket = DBTaskResult.objects.get()
    assert ticket.args_kwargs["args"] == [waiting.pk] and ticket.run_after > timezone.now()
    assert _run(waiting).status == Status.QUEUED


@pytest.mark.django_db(transaction=True)
def test_a_small_run_is_not_stuck_behind_another_teams_huge_run(
    acme, alice, globex, dave, demo_echo_server, settings
):
    """One worker. Acme's 400-row run starts first; globex's 5-row run is queued just
    behind it. Globex's run finishes long before acme's, which steps aside for it, then
    resumes and completes with every cell run once."""
    settings.PROMPTYARD_EXPERIMENT_TURN_SECONDS = 0.2
    server = demo_echo_server(latency_ms=15)
    huge_lab = make_lab(acme, alice, server.base_url, rows=_rows(400))
    small_lab = make_lab(globex, dave, server.base_url, rows=_rows(5))
    huge = huge_lab.experiment(name="huge", concurrency=2)
    small = small_lab.experiment(name="small", concurrency=2)
    with team_scope(acme):
        experiment_start(team=acme, actor=alice, experiment=huge)  # a ticket, on commit
    with team_scope(globex):
        experiment_start(team=globex, actor=dave, experiment=small)

    ResilientWorker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="one-worker",
        excluded_queue_names=[],
    ).run()

    huge, small = _run(huge), _run(small)
    assert (huge.status, small.status) == (Status.COMPLETED, Status.COMPLETED)
    assert small.finished_at < huge.finished_at
    # The huge run had stored only part of its cells when the small one finished.
    assert (
        Result.objects.unscoped().filter(experiment=huge, created_at__lte=small.finished_at).count()
        < 400
    )
    cells = list(
        Result.objects.unscoped()
        .filter(experiment=huge)
        .values_list("variant_id", "example_id", "repetition")
    )
    assert len(cells) == 400 == len(set(cells)) == huge.done_count
    statuses = list(DBTaskResult.objects.values_list("status", flat=True))
    assert len(statuses) >= 3 and set(statuses) == {"SUCCESSFUL"}  # it yielded: new tickets


@pytest.mark.django_db(transaction=True)
def test_it_holds_the_team_slot_without_holding_up_the_teams_writes(acme, alice):
    """A worker holding the team's slot lock must not block the team's inserts: their
    foreign-key check locks the team's row FOR KEY SHARE at commit. FOR UPDATE did, and
    a run started while a worker claimed it deadlocked (found by noisy_neighbour.py)."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks as PostgreSQL takes them")
    from apps.teams.services import audit_record

    failures: list[BaseException] = []

    def write_for_the_team():
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL lock_timeout = '3s'")
                audit_record(team=acme, actor=alice, verb="test.write")
        except BaseException as exc:  # noqa: BLE001 - reported to the test's thread
            failures.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        team_slot_lock(acme.pk)
        writer = threading.Thread(target=write_for_the_team)
        writer.start()
        writer.join(timeout=30)
    assert not writer.is_alive() and failures == []


def test_a_worker_that_joined_a_run_gives_way_before_turns_do(monkeypatch, settings):
    """Help gives way first: a worker that joined another run's shards steps aside after
    the (short) helper turn once a queued run could start; the run's own worker keeps the
    full turn. So one big run holding every worker delays another team's run ~a second."""
    from apps.experiments import runner, scheduling

    settings.PROMPTYARD_EXPERIMENT_TURN_SECONDS = 5
    settings.PROMPTYARD_EXPERIMENT_HELPER_TURN_SECONDS = 0.5
    turns = []
    monkeypatch.setattr(runner, "warm_up", lambda: None)
    monkeypatch.setattr(runner, "_enqueue_helpers", lambda experiment: None)
    monkeypatch.setattr(
        runner, "_run_claimed", lambda e, turn_seconds, **kw: turns.append(turn_seconds)
    )
    big = object()
    monkeypatch.setattr(runner, "_claim_fairest", lambda: big)
    runner.run_turn(1)  # its own turn
    monkeypatch.setattr(runner, "_claim_fairest", lambda: None)
    monkeypatch.setattr(scheduling, "help_order", lambda: [(7, 1)])
    monkeypatch.setattr(runner, "_join", lambda experiment_id: big)
    runner.run_turn(1)  # joined as help
    assert turns == [5.0, 0.5]
