"""Closing the loop: failed verdicts become dataset examples, with the expected output
the annotator corrected."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.annotations.models import Annotation, AnnotationQueue, QueueItem
from apps.annotations.permissions import require_annotate, require_manage
from apps.annotations.selectors import item_verdict
from apps.core.errors import ValidationFailed
from apps.datasets.models import Dataset, DatasetRevision, Example
from apps.datasets.services import example_create, examples_bulk_create
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import Team


def _example_row(
    item: QueueItem, annotation: Annotation | None = None, expected_override: Any = None
) -> dict[str, Any]:
    snap = item.snapshot or {}
    if expected_override not in (None, ""):
        expected = expected_override
    elif annotation is not None and annotation.corrected_expected:
        expected = annotation.corrected_expected
    else:
        expected = snap.get("expected")
    raw_input = snap.get("input")
    return {
        "input": raw_input if isinstance(raw_input, dict) else {"input": raw_input},
        "expected": expected,
        "metadata": {
            "annotation_queue": item.queue.name,
            "queue_item": item.pk,
            "reasoning": annotation.reasoning if annotation is not None else item.final_reasoning,
            "output": snap.get("output"),
        },
        "source_ref": f"annotation:{annotation.pk}"
        if annotation is not None
        else f"item:{item.pk}",
    }


@transaction.atomic
def annotation_add_to_dataset(
    *,
    team: Team,
    actor: Actor,
    annotation: Annotation,
    dataset: Dataset,
    expected: Any = None,
) -> Example:
    """A failed verdict becomes a dataset example whose expected output is the corrected one."""
    require_annotate(actor, team)
    if annotation.passed:
        raise ValidationFailed("Only failed annotations go to a dataset.", field="annotation")
    item = (
        QueueItem.objects.select_for_update(of=("self",))
        .select_related("queue")
        .get(pk=annotation.item_id)
    )
    row = _example_row(item, annotation, expected)
    if row["expected"] in (None, ""):
        raise ValidationFailed("Type the corrected expected output.", field="expected")
    example = example_create(
        team=team,
        actor=actor,
        dataset=dataset,
        input=row["input"],
        expected=row["expected"],
        metadata=row["metadata"],
        source="annotation",
        source_ref=row["source_ref"],
        message=f"From annotation queue {item.queue.name}",
    )
    item.added_to_dataset = dataset
    item.added_example_id = example.example_id
    item.save(update_fields=["added_to_dataset", "added_example_id"])
    audit_record(
        team=team,
        actor=actor,
        verb="annotation.add_to_dataset",
        target=annotation,
        after={"dataset": dataset.pk, "example_id": str(example.example_id)},
    )
    return example


@transaction.atomic
def queue_add_failures_to_dataset(
    *, team: Team, actor: Actor, queue: AnnotationQueue, dataset: Dataset
) -> DatasetRevision:
    """Every failed item of the queue not yet in that dataset, as ONE new revision."""
    require_manage(actor, team)
    items = list(
        QueueItem.objects.filter(queue=queue)
        .exclude(added_to_dataset=dataset)
        .select_related("queue")
        .prefetch_related("annotations")
        .order_by("position")
    )
    rows, chosen = [], []
    for item in items:
        annotations = list(item.annotations.all())
        if item_verdict(item, annotations) is not False:
            continue
        failing = [a for a in annotations if not a.passed]
        corrected = next((a for a in failing if a.corrected_expected), None)
        row = _example_row(item, corrected or (failing[0] if failing else None))
        rows.append(row)
        chosen.append(item)
    if not rows:
        raise ValidationFailed("No failed items to add (or all are in that dataset already).")
    revision = examples_bulk_create(
        team=team,
        actor=actor,
        dataset=dataset,
        rows=rows,
        source="annotation",
        message=f"{len(rows)} failed items from annotation queue {queue.name}",
    )
    QueueItem.objects.filter(pk__in=[i.pk for i in chosen]).update(added_to_dataset=dataset)
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.add_to_dataset",
        target=queue,
        after={"dataset": dataset.pk, "added": len(rows), "revision": revision.number},
    )
    return revision
