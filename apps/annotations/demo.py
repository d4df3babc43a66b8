"""Demo data for `manage.py seed_demo`: a review queue filled with the failed rows of the
newest demo experiment and assigned to erin. Idempotent: the queue is found by name, a
result is never queued twice and only unassigned items are assigned.

On a fresh database the demo experiment is only queued (the worker runs it later), so the
traces demo then fills the still-empty queue with its production model calls
(`fill_from_spans`): erin has something to review from the first login."""

from __future__ import annotations

from apps.annotations import services
from apps.annotations.models import AnnotationQueue, Assignment
from apps.core.tenancy import team_scope
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


def _newest_experiment():
    return Experiment.objects.filter(results__isnull=False).order_by("-created_at").first()


def seed(team, users):
    alice, erin = users["alice"], users["erin"]
    with team_scope(team):
        queue = AnnotationQueue.objects.filter(name=QUEUE_NAME).first()
        if queue is None:
            queue = services.queue_create(
                team=team,
                actor=alice,
                name=QUEUE_NAME,
                instructions=INSTRUCTIONS,
                form_fields=FORM_FIELDS,
            )
        experiment = _newest_experiment()
        if experiment is None:
            return queue  # no experiment demo data: an empty queue to fill later
        if not queue.items.exists():
            added = services.queue_fill_from_experiment(
                team=team, actor=alice, queue=queue, experiment=experiment, mode="failed"
            )
            if not added:
                services.queue_fill_from_experiment(
                    team=team,
                    actor=alice,
                    queue=queue,
                    experiment=experiment,
                    mode="sample",
                    sample_size=5,
                    seed=0,
                )
        unassigned = queue.items.exclude(
            pk__in=Assignment.objects.filter(item__queue=queue).values("item_id")
        )
        if unassigned.exists():
            services.items_assign(
                team=team, actor=alice, queue=queue, users=[erin], items=list(unassigned)
            )
    return queue


def fill_from_spans(team, users, spans):
    """Queue production model calls for erin when the demo queue is still empty."""
    alice, erin = users["alice"], users["erin"]
    with team_scope(team):
        queue = AnnotationQueue.objects.filter(name=QUEUE_NAME).first()
        if queue is None or queue.items.exists():
            return []
        items = services.queue_add_spans(team=team, actor=alice, queue=queue, spans=list(spans))
        if items:
            services.items_assign(team=team, actor=alice, queue=queue, users=[erin], items=items)
        return items
