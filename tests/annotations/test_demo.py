from apps.annotations import demo
from apps.annotations.models import Annotation, AnnotationQueue, Assignment, ItemStatus, QueueItem
from apps.experiments.demo import STORY_EXPERIMENT
from tests.annotations.factories import make_experiment


def _users(alice, bob, carol, erin):
    return {"alice": alice, "bob": bob, "carol": carol, "erin": erin}


def test_it_seeds_an_empty_queue_without_experiments(acme_scope, alice, bob, carol, erin):
    users = _users(alice, bob, carol, erin)
    demo.seed(acme_scope, users)
    demo.seed(acme_scope, users)
    assert AnnotationQueue.objects.count() == 1
    assert AnnotationQueue.objects.get().annotators_per_item == 2
    assert QueueItem.objects.count() == 0


def _story_cells():
    """Outputs as demo-echo gives them: some state the status, some are cut off."""
    outputs = [
        "Thank you for reaching out. Where is it? Your order status: shipped.",
        "Thank you for reaching out. I ordered a grinder two weeks ago and… Your order status: shipped.",
        "Where is it?",
        "Thank you for reaching out. I ordered a grinder two weeks ago and…",
    ]
    return [
        {
            "variant": "v1",
            "example": n,
            "output": outputs[n % 4],
            "expected": {"order_status": "shipped"},
            "scores": {"states-order-status": "shipped" in outputs[n % 4]},
        }
        for n in range(8)
    ]


def test_it_seeds_a_half_done_queue_with_disagreements(acme_scope, alice, bob, carol, erin):
    make_experiment(
        acme_scope, alice, name=STORY_EXPERIMENT, variants=("v1",), cells=_story_cells()
    )
    users = _users(alice, bob, carol, erin)
    demo.seed(acme_scope, users)
    counts = (QueueItem.objects.count(), Assignment.objects.count(), Annotation.objects.count())
    demo.seed(acme_scope, users)
    assert (
        QueueItem.objects.count(),
        Assignment.objects.count(),
        Annotation.objects.count(),
    ) == counts

    items = list(QueueItem.objects.order_by("position"))
    assert len(items) == 8  # the sample holds every result of a small experiment
    assert {(a.user_id, a.item_id) for a in Assignment.objects.all()} == {
        (u.pk, i.pk) for u in (erin, bob) for i in items
    }
    assert Annotation.objects.filter(author=bob).count() == 8
    erin_items = set(Annotation.objects.filter(author=erin).values_list("item_id", flat=True))
    assert erin_items == {i.pk for i in items[:4]}
    # erin fails the answer cut off mid-sentence that bob let through.
    disputed = QueueItem.objects.get(status=ItemStatus.DISPUTED)
    assert "…" in disputed.result.output and "status" in disputed.result.output
    assert all(a.reasoning for a in Annotation.objects.all())
    assert set(QueueItem.objects.values_list("status", flat=True)) == {
        ItemStatus.DONE,
        ItemStatus.DISPUTED,
        ItemStatus.OPEN,
    }


def test_it_gives_erin_model_calls_to_review_when_no_demo_echo_answers(db, settings):
    """With no demo-echo to run the demo experiments against, they stay queued for the
    worker, and the queue is filled from the demo traces' production model calls instead."""
    import socket

    from django.core.management import call_command

    from apps.accounts.models import User
    from apps.core.tenancy import team_scope
    from apps.experiments.models import Experiment, Status
    from apps.teams.models import Team

    with socket.socket() as probe:  # a port nothing listens on, behind a scheme not served
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.PROMPTYARD_DEMO_ECHO_URL = f"https://127.0.0.1:{port}/v1"
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    erin = User.objects.get(email="erin@acme.test")
    with team_scope(Team.objects.get(slug="acme")):
        assert set(Experiment.objects.values_list("status", flat=True)) == {Status.QUEUED}
        items = QueueItem.objects.filter(queue__name=demo.QUEUE_NAME)
        assert items.count() == 6 and all(item.span_id for item in items)
        assert erin.pk in set(Assignment.objects.values_list("user_id", flat=True))
        assert Assignment.objects.filter(user=erin).count() == 6
