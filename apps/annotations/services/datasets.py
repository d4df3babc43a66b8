"""Closing the loop: failed verdicts become dataset examples, with the expected output
the annotator corrected. An example already in the dataset (same normalised input and
expected output), or failed by two annotators, is added once: the result says how many
were skipped."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.annotations.models import Annotation, AnnotationQueue, QueueItem
from apps.annotations.permissions import require_annotate, require_manage
from apps.annotations.selectors import item_verdict
from apps.core.errors import ValidationFailed
from apps.datasets.models import Dataset
from apps.datasets.services import AddedExamples, examples_add_unique
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
) -> AddedExamples:
    """A failed verdict becomes a dataset example whose expected output is the corrected
    one, unless the dataset has it already (`skipped` is then 1)."""
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
    result = examples_add_unique(
        team=team,
        actor=actor,
        dataset=dataset,
        rows=[row],
        source="annotation",
        message=f"From annotation queue {item.queue.name}",
    )
    item.added_to_dataset = dataset
    item.added_example_id = result.example_ids[0]
    item.save(update_fields=["added_to_dataset", "added_example_id"])
    audit_record(
        team=team,
        actor=actor,
        verb="annotation.add_to_dataset",
        target=annotation,
        after={
            "dataset": dataset.pk,
            "example_id": str(result.example_ids[0]),
            "skipped": result.skipped,
        },
    )
    return result


@transaction.atomic
def queue_add_failures_to_dataset(
    *, team: Team, actor: Actor, queue: AnnotationQueue, dataset: Dataset
) -> AddedExamples:
    """Every failed item of the queue not yet in that dataset, as ONE new revision, without
    exact duplicates (of the dataset's examples or of each other)."""
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
    result = examples_add_unique(
        team=team,
        actor=actor,
        dataset=dataset,
        rows=rows,
        source="annotation",
        message=f"Failed items from annotation queue {queue.name}",
    )
    for item, example_id in zip(chosen, result.example_ids, strict=True):
        item.added_to_dataset = dataset
        item.added_example_id = example_id
    QueueItem.objects.bulk_update(chosen, ["added_to_dataset", "added_example_id"])
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.add_to_dataset",
        target=queue,
        after={
            "dataset": dataset.pk,
            "added": result.added,
            "skipped": result.skipped,
            "revision": result.revision.number if result.revision else None,
        },
    )
    return result
