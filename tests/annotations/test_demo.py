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
