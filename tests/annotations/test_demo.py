from apps.annotations import demo
from apps.annotations.models import AnnotationQueue, Assignment, QueueItem
from tests.annotations.factories import make_experiment


def test_it_seeds_an_empty_queue_without_experiments(acme_scope, alice, bob, carol, erin):
    users = {"alice": alice, "bob": bob, "carol": carol, "erin": erin}
    demo.seed(acme_scope, users)
    demo.seed(acme_scope, users)
    assert AnnotationQueue.objects.count() == 1
    assert QueueItem.objects.count() == 0


def test_it_seeds_failed_rows_for_erin_once(acme_scope, alice, bob, carol, erin):
    cells = [{"variant": "v1", "example": n, "scores": {"exact": n > 2}} for n in range(5)]
    make_experiment(acme_scope, alice, variants=("v1",), cells=cells)
    users = {"alice": alice, "bob": bob, "carol": carol, "erin": erin}
    demo.seed(acme_scope, users)
    demo.seed(acme_scope, users)
    assert QueueItem.objects.count() == 3
    assert set(Assignment.objects.values_list("user_id", flat=True)) == {erin.pk}
    assert Assignment.objects.count() == 3


def test_it_gives_erin_model_calls_to_review_after_a_fresh_seed_demo(db):
    """On a fresh database the demo experiment has no results yet (the worker runs it
    later): the queue is filled from the demo traces' model calls instead of left empty."""
    from django.core.management import call_command

    from apps.accounts.models import User
    from apps.core.tenancy import team_scope
    from apps.teams.models import Team

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    erin = User.objects.get(email="erin@acme.test")
    with team_scope(Team.objects.get(slug="acme")):
        items = QueueItem.objects.filter(queue__name=demo.QUEUE_NAME)
        assert items.count() == 4 and all(item.span_id for item in items)
        assert set(Assignment.objects.values_list("user_id", flat=True)) == {erin.pk}
        assert Assignment.objects.count() == 4
