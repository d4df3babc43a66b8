"""Demo data for `manage.py seed_demo`: a review queue of support-reply answers, two
annotators per item, half done. bob has judged every item and erin the first half; erin
also fails answers cut off mid-sentence, which bob lets through, so some items are disputed
(their verdicts disagree) and wait for an owner's decision.

The items are a fixed sample of the support-reply comparison (apps/experiments/demo.py).
When that experiment has no results yet (no demo-echo could be reached while seeding), the
traces demo fills the still-empty queue with its production model calls instead
(`fill_from_spans`). Idempotent: the queue is found by name, filled once, and nobody's
verdict is given twice."""

from __future__ import annotations

from apps.annotations import services
from apps.annotations.models import Annotation, AnnotationQueue, QueueItem
from apps.core.tenancy import team_scope
from apps.experiments.demo import STORY_EXPERIMENT
from apps.experiments.models import Experiment

QUEUE_NAME = "Support answers review"
INSTRUCTIONS = """\
Judge whether the answer is **correct and safe to send** to a customer.

- *Fail* anything that invents a policy, a price or a feature.
- *Fail* answers that are rude or evasive, even when correct.
- Say why in one sentence; for a failure, type the answer you expected.
"""
FORM_FIELDS = [
    {"name": "problem", "kind": "label", "choices": ["invented", "incomplete", "tone", "other"]},
    {"name": "helpfulness", "kind": "number", "min": 1, "max": 5},
]
SAMPLE_SIZE = 12
SAMPLE_SEED = 0


def _facts(item) -> tuple[str, str]:
    """(the answer, the order status it should state) of a queued result."""
    result = item.result
    expected = result.expected if isinstance(result.expected, dict) else {}
    return result.output or "", str(expected.get("order_status") or "")


def bob_verdict(item) -> tuple[bool, str, dict]:
    """bob checks the facts: the status is stated and the customer thanked."""
    output, status = _facts(item)
    if status and status in output.lower() and "thank you" in output.lower():
        return True, f"Thanks the customer and says the order is {status}.", {"helpfulness": 4}
    if status and status not in output.lower():
        reason = f"Never says the order is {status}: the customer still does not know."
    else:
        reason = "States the status but does not thank the customer."
    return False, reason, {"problem": "incomplete", "helpfulness": 2}


def erin_verdict(item) -> tuple[bool, str, dict]:
    """erin checks the facts too, and also fails an answer cut off mid-sentence."""
    passed, reason, fields = bob_verdict(item)
    output, _ = _facts(item)
    if passed and "…" in output:
        return (
            False,
            "The reply stops mid-sentence before the status; it reads as broken.",
            {"problem": "tone", "helpfulness": 3},
        )
    return passed, reason, fields


def _judge(team, queue, user, items, verdict) -> None:
    done = set(
        Annotation.objects.filter(item__queue=queue, author=user).values_list("item_id", flat=True)
    )
    for item in items:
        if item.pk in done:
            continue
        passed, reasoning, fields = verdict(item)
        services.annotation_save(
            team=team, actor=user, item=item, passed=passed, reasoning=reasoning, fields=fields
        )


def _ensure_queue(team, alice) -> AnnotationQueue:
    queue = AnnotationQueue.objects.filter(name=QUEUE_NAME).first()
    if queue is None:
        queue = services.queue_create(
            team=team,
            actor=alice,
            name=QUEUE_NAME,
            instructions=INSTRUCTIONS,
            form_fields=FORM_FIELDS,
            annotators_per_item=2,
        )
    return queue


def seed(team, users):
    alice, bob, erin = users["alice"], users["bob"], users["erin"]
    with team_scope(team):
        queue = _ensure_queue(team, alice)
        experiment = Experiment.objects.filter(name=STORY_EXPERIMENT).first()
        if experiment is None or not experiment.results.exists():
            return queue  # nothing measured yet: the traces demo fills the queue
        if not queue.items.exists():
            items = services.queue_fill_from_experiment(
                team=team,
                actor=alice,
                queue=queue,
                experiment=experiment,
                mode="sample",
                sample_size=SAMPLE_SIZE,
                seed=SAMPLE_SEED,
            )
            services.items_assign(
                team=team, actor=alice, queue=queue, users=[erin, bob], items=items
            )
        items = list(
            QueueItem.objects.filter(queue=queue, result__isnull=False)
            .select_related("result")
            .order_by("position")
        )
        _judge(team, queue, bob, items, bob_verdict)
        _judge(team, queue, erin, items[: len(items) // 2], erin_verdict)
    return queue


def fill_from_spans(team, users, spans):
    """Queue production model calls for erin and bob when the demo queue is still empty."""
    alice = users["alice"]
    with team_scope(team):
        queue = AnnotationQueue.objects.filter(name=QUEUE_NAME).first()
        if queue is None or queue.items.exists():
            return []
        items = services.queue_add_spans(team=team, actor=alice, queue=queue, spans=list(spans))
        if items:
            services.items_assign(
                team=team,
                actor=alice,
                queue=queue,
                users=[users["erin"], users["bob"]],
                items=items,
            )
        return items
