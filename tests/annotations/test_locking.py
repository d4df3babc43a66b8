"""Two annotators claiming at once never get the same item when one verdict is needed.

Real concurrency needs real row locks: these tests run threads against PostgreSQL
(SELECT ... FOR UPDATE SKIP LOCKED) and are skipped on SQLite, which serialises writers.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.annotations import services
from apps.annotations.models import Annotation, QueueItem
from apps.core.tenancy import team_scope
from tests.annotations.factories import make_experiment

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks with SKIP LOCKED need PostgreSQL; SQLite serialises all writers",
)


@pytest.fixture
def shared_queue(acme, alice, bob, erin):
    cells = [{"variant": "v1", "example": n, "scores": {"exact": False}} for n in range(12)]
    experiment, _, _ = make_experiment(acme, alice, variants=("v1",), cells=cells)
    with team_scope(acme):
        queue = services.queue_create(team=acme, actor=alice, name="Shared")
        services.queue_fill_from_experiment(
            team=acme, actor=alice, queue=queue, experiment=experiment, mode="all"
        )
        # Both annotators hold every item: whoever claims first does it.
        services.items_assign(team=acme, actor=alice, queue=queue, users=[erin, bob])
    return queue


def _in_thread(team, fn):
    def run():
        try:
            with team_scope(team):
                fn()
        finally:
            connection.close()

    return threading.Thread(target=run)


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_it_skips_an_item_another_annotator_is_claiming(acme, bob, erin, shared_queue):
    """erin's claim holds its row lock; bob's claim meanwhile does not wait for it and
    takes another item."""
    erin_claimed, bob_done = threading.Event(), threading.Event()
    got = {}

    def erin_claims():
        with transaction.atomic():
            got["erin"] = services.item_claim_next(team=acme, actor=erin, queue=shared_queue)
            erin_claimed.set()
            # Keep the transaction (and the row lock) open until bob has claimed.
            got["bob_finished_while_locked"] = bob_done.wait(timeout=20)

    def bob_claims():
        erin_claimed.wait(timeout=20)
        got["bob"] = services.item_claim_next(team=acme, actor=bob, queue=shared_queue)
        bob_done.set()

    threads = [_in_thread(acme, erin_claims), _in_thread(acme, bob_claims)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert got["bob_finished_while_locked"], "bob's claim waited for erin's lock"
    assert got["erin"].pk != got["bob"].pk
    with team_scope(acme):
        assert QueueItem.objects.get(pk=got["erin"].pk).locked_by_id == erin.pk
        assert QueueItem.objects.get(pk=got["bob"].pk).locked_by_id == bob.pk


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_it_gives_every_item_to_exactly_one_of_two_racing_annotators(acme, bob, erin, shared_queue):
    start = threading.Barrier(2)
    claimed = {erin.pk: [], bob.pk: []}
    errors = []

    def work(user):
        def run():
            start.wait(timeout=20)
            while True:
                try:
                    item = services.item_claim_next(team=acme, actor=user, queue=shared_queue)
                    if item is None:
                        return
                    claimed[user.pk].append(item.pk)
                    services.annotation_save(team=acme, actor=user, item=item, passed=True)
                except Exception as exc:  # noqa: BLE001 - reported below
                    errors.append(repr(exc))
                    return

        return run

    threads = [_in_thread(acme, work(erin)), _in_thread(acme, work(bob))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    both = claimed[erin.pk] + claimed[bob.pk]
    assert len(both) == len(set(both)) == 12, claimed
    with team_scope(acme):
        assert Annotation.objects.count() == 12
        assert set(QueueItem.objects.values_list("status", flat=True)) == {"done"}


@pytest.mark.django_db
def test_it_frees_a_lock_after_ten_minutes(acme, bob, erin, shared_queue):
    with team_scope(acme):
        mine = services.item_claim_next(team=acme, actor=erin, queue=shared_queue)
        theirs = services.item_claim_next(team=acme, actor=bob, queue=shared_queue)
        assert theirs.pk != mine.pk
        # Ten minutes on, erin's lock has expired: her item is bob's next (lowest position).
        QueueItem.objects.filter(pk=mine.pk).update(
            locked_until=timezone.now() - timedelta(seconds=1)
        )
        services.item_skip(team=acme, actor=bob, item=theirs)
        again = services.item_claim_next(team=acme, actor=bob, queue=shared_queue)
        assert again.pk == mine.pk
        assert QueueItem.objects.get(pk=mine.pk).locked_by_id == bob.pk
        # erin's save now conflicts: the item is bob's.
        from apps.core.errors import Conflict

        with pytest.raises(Conflict):
            services.annotation_save(team=acme, actor=erin, item=mine, passed=True)
