"""Writes to a dataset's examples. Each write is one new dataset revision.

Rows are never updated in place (except to close them: `valid_to`), so any past revision
can be read again exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.datasets.fields import clean_example_fields, content_key
from apps.datasets.models import Dataset, DatasetRevision, Example
from apps.datasets.permissions import require_edit
from apps.datasets.selectors import (
    dataset_for_update,
    example_at_revision,
    example_ids_by_content,
    examples_at_revision,
    examples_made_at,
)
from apps.teams.actors import Actor
from apps.teams.audit import actor_label, audit_record
from apps.teams.models import Team
from apps.teams.permissions import actor_user

BULK_BATCH_SIZE = 1000
UNCHANGED = object()


# --- revisions ---------------------------------------------------------------------------


def _open_revision(dataset: Dataset) -> int:
    return dataset.current_revision + 1


def _close_revision(
    *,
    team: Team,
    actor: Actor,
    dataset: Dataset,
    number: int,
    message: str,
    added: int = 0,
    changed: int = 0,
    removed: int = 0,
) -> DatasetRevision:
    dataset.current_revision = number
    dataset.example_count = dataset.example_count + added - removed
    dataset.updated_at = timezone.now()
    dataset.save(update_fields=["current_revision", "example_count", "updated_at"])
    # order_by("split"): with the default ordering, DISTINCT would be per row, not per split.
    splits = list(
        examples_at_revision(dataset, number)
        .exclude(split="")
        .order_by("split")
        .values_list("split", flat=True)
        .distinct()
    )
    return DatasetRevision.objects.create(
        team=team,
        dataset=dataset,
        number=number,
        actor_label=actor_label(actor),
        actor_user=actor_user(actor),
        message=message[:500],
        added=added,
        changed=changed,
        removed=removed,
        row_count=dataset.example_count,
        splits=splits,
    )


def _example_snapshot(row: Example) -> dict[str, Any]:
    return {
        "example_id": str(row.example_id),
        "input": row.input,
        "expected": row.expected,
        "metadata": row.metadata,
        "split": row.split,
        "source": row.source,
        "source_ref": row.source_ref,
    }


# --- examples ------------------------------------------------------------------------------


@transaction.atomic
def example_create(
    *,
    team: Team,
    actor: Actor,
    dataset: Dataset,
    input: Any,
    expected: Any = None,
    metadata: Any = None,
    split: Any = "",
    source: str = "manual",
    source_ref: Any = "",
    message: str = "",
) -> Example:
    require_edit(actor, team)
    fields = clean_example_fields(
        input=input,
        expected=expected,
        metadata=metadata,
        split=split,
        source=source,
        source_ref=source_ref,
    )
    dataset = dataset_for_update(dataset)
    number = _open_revision(dataset)
    row = Example(
        team=team,
        dataset=dataset,
        position=dataset.next_position,
        valid_from=number,
        **fields,
    )
    row.save()
    dataset.next_position += 1
    dataset.save(update_fields=["next_position"])
    _close_revision(
        team=team,
        actor=actor,
        dataset=dataset,
        number=number,
        message=message or "Added 1 example",
        added=1,
    )
    audit_record(
        team=team,
        actor=actor,
        verb="dataset.example_create",
        target=row,
        after={**_example_snapshot(row), "revision": number},
    )
    return row


@transaction.atomic
def example_update(
    *,
    team: Team,
    actor: Actor,
    dataset: Dataset,
    example_id: Any,
    input: Any = UNCHANGED,
    expected: Any = UNCHANGED,
    metadata: Any = UNCHANGED,
    split: Any = UNCHANGED,
    message: str = "",
) -> Example:
    """End the example's current row at the new revision r and start its new row at r."""
    require_edit(actor, team)
    dataset = dataset_for_update(dataset)
    old = example_at_revision(dataset, example_id)
    fields = clean_example_fields(
        input=old.input if input is UNCHANGED else input,
        expected=old.expected if expected is UNCHANGED else expected,
        metadata=old.metadata if metadata is UNCHANGED else metadata,
        split=old.split if split is UNCHANGED else split,
        source=old.source,
        source_ref=old.source_ref,
    )
    if all(getattr(old, key) == value for key, value in fields.items()):
        return old  # nothing changed: no empty revision
    number = _open_revision(dataset)
    Example.objects.filter(pk=old.pk).update(valid_to=number)
    new = Example(
        team=team,
        dataset=dataset,
        example_id=old.example_id,
        position=old.position,
        valid_from=number,
        **fields,
    )
    new.save()
    _close_revision(
        team=team,
        actor=actor,
        dataset=dataset,
        number=number,
        message=message or "Edited 1 example",
        changed=1,
    )
    audit_record(
        team=team,
        actor=actor,
        verb="dataset.example_update",
        target=new,
        before=_example_snapshot(old),
        after={**_example_snapshot(new), "revision": number},
    )
    return new


@transaction.atomic
def example_delete(
    *, team: Team, actor: Actor, dataset: Dataset, example_id: Any, message: str = ""
) -> int:
    """End the example at a new revision; returns that revision's number."""
    require_edit(actor, team)
    dataset = dataset_for_update(dataset)
    old = example_at_revision(dataset, example_id)
    number = _open_revision(dataset)
    Example.objects.filter(pk=old.pk).update(valid_to=number)
    _close_revision(
        team=team,
        actor=actor,
        dataset=dataset,
        number=number,
        message=message or "Deleted 1 example",
        removed=1,
    )
    audit_record(
        team=team,
        actor=actor,
        verb="dataset.example_delete",
        target=old,
        before={**_example_snapshot(old), "revision": number},
    )
    return number


@transaction.atomic
def examples_bulk_create(
    *,
    team: Team,
    actor: Actor,
    dataset: Dataset,
    rows: Iterable[dict[str, Any]],
    source: str = "upload",
    message: str = "",
) -> DatasetRevision:
    """Add many examples as ONE revision, all or none.

    `rows` may be a generator (a streaming import): it is consumed in batches, so a large
    file is never held whole. Each row is a dict with `input` and optionally `expected`,
    `metadata`, `split`, `source_ref` and `line` (named in errors). Any invalid row raises
    and the transaction rolls back every batch already inserted.
    """
    require_edit(actor, team)
    dataset = dataset_for_update(dataset)
    number = _open_revision(dataset)
    position = dataset.next_position
    added = 0
    iterator = iter(rows)
    while True:
        batch = list(islice(iterator, BULK_BATCH_SIZE))
        if not batch:
            break
        objects: list[Example] = []
        for raw in batch:
            if not isinstance(raw, dict):
                raise ValidationFailed(f"Row {added + len(objects) + 1}: expected an object.")
            fields = clean_example_fields(
                input=raw.get("input"),
                expected=raw.get("expected"),
                metadata=raw.get("metadata"),
                split=raw.get("split", ""),
                source=raw.get("source", source),
                source_ref=raw.get("source_ref", ""),
                line=raw.get("line"),
                row=added + len(objects) + 1,
            )
            # bulk_create bypasses save(): the team is set explicitly here.
            objects.append(
                Example(team=team, dataset=dataset, position=position, valid_from=number, **fields)
            )
            position += 1
        Example.objects.bulk_create(objects, batch_size=BULK_BATCH_SIZE)
        added += len(objects)
    if added == 0:
        raise ValidationFailed("There are no rows to add.")
    dataset.next_position = position
    dataset.save(update_fields=["next_position"])
    revision = _close_revision(
        team=team,
        actor=actor,
        dataset=dataset,
        number=number,
        message=message or f"Added {added} examples",
        added=added,
    )
    audit_record(
        team=team,
        actor=actor,
        verb="dataset.examples_bulk_create",
        target=dataset,
        after={"revision": number, "added": added, "source": source},
    )
    return revision


@dataclass
class AddedExamples:
    """What `examples_add_unique` did: the revision it made (None when every row was a
    duplicate), how many rows became examples and how many were skipped as duplicates;
    per row, the example it is now (`example_ids`, new or the existing duplicate)."""

    dataset: Dataset
    revision: DatasetRevision | None
    added: int
    skipped: int
    example_ids: list[Any] = field(default_factory=list)

    def summary(self) -> str:
        """ "Added 3 examples to golden as revision 4; skipped 2 duplicates." and the like."""
        skipped = (
            f"skipped {self.skipped} exact duplicate{'s' if self.skipped != 1 else ''}"
            if self.skipped
            else ""
        )
        if self.revision is None:
            return f"Nothing new for {self.dataset.name}: {skipped} (already in the dataset)."
        added = (
            f"Added {self.added} example{'s' if self.added != 1 else ''} to "
            f"{self.dataset.name} as revision {self.revision.number}"
        )
        return f"{added}; {skipped}." if skipped else f"{added}."


@transaction.atomic
def examples_add_unique(
    *,
    team: Team,
    actor: Actor,
    dataset: Dataset,
    rows: list[dict[str, Any]],
    source: str,
    message: str = "",
) -> AddedExamples:
    """Add the rows that are not exact duplicates (same normalised input and expected
    output) of the dataset's current examples or of an earlier row, as ONE revision; the
    way examples arrive from annotations and traces, which often repeat themselves."""
    require_edit(actor, team)
    dataset = dataset_for_update(dataset)
    keys = [
        content_key(row.get("input"), row.get("expected")) if isinstance(row, dict) else ""
        for row in rows
    ]
    existing = example_ids_by_content(dataset, keys)
    fresh: list[dict[str, Any]] = []
    fresh_at: list[int] = []
    first_of: dict[str, int] = {}
    ids: list[Any] = [None] * len(rows)
    for index, (row, key) in enumerate(zip(rows, keys, strict=True)):
        if key and key in existing:
            ids[index] = existing[key]
        elif key and key in first_of:
            ids[index] = first_of[key]  # resolved to the new example below
        else:
            if key:
                first_of[key] = index
            fresh.append(row)
            fresh_at.append(index)
    skipped = len(rows) - len(fresh)
    if not fresh:
        return AddedExamples(dataset, None, 0, skipped, ids)
    revision = examples_bulk_create(
        team=team,
        actor=actor,
        dataset=dataset,
        rows=fresh,
        source=source,
        message=message
        + (f" ({skipped} duplicate{'s' if skipped != 1 else ''} skipped)" if skipped else ""),
    )
    made = examples_made_at(dataset, revision.number)
    for index, example in zip(fresh_at, made, strict=True):
        ids[index] = example.example_id
    for index, value in enumerate(ids):
        if isinstance(value, int):  # an earlier row of this call
            ids[index] = ids[value]
    return AddedExamples(dataset, revision, len(fresh), skipped, ids)
