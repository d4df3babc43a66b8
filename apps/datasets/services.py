"""Every write to datasets and examples. Each example write is one new dataset revision.

Rows are never updated in place (except to close them: `valid_to`), so any past revision
can be read again exactly as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from itertools import islice

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from apps.core.errors import Conflict, NotFound, ValidationFailed
from apps.core.validation import full_clean_or_raise
from apps.datasets.models import (
    Dataset,
    DatasetRevision,
    Example,
    ExampleSource,
    PendingUpload,
)
from apps.datasets.selectors import example_at_revision, examples_at_revision
from apps.teams.audit import actor_label, audit_record
from apps.teams.models import PERM_EDIT, PERM_VIEW, ApiKey
from apps.teams.permissions import require

WRITE_SCOPE = "datasets:write"
BULK_BATCH_SIZE = 1000
SPLIT_MAX = 40
NAME_MAX = 100
UNCHANGED = object()
NAME_TAKEN = "A dataset with that name already exists."


def require_edit(actor, team):
    require(
        actor,
        PERM_EDIT,
        team,
        scope=WRITE_SCOPE,
        message="You need the editor role (or a key with datasets:write) to change datasets.",
    )


def require_view(actor, team):
    require(actor, PERM_VIEW, team)


def actor_user(actor):
    if actor is None or isinstance(actor, ApiKey) or not getattr(actor, "is_authenticated", False):
        return None
    return actor


# --- validation of one example ---------------------------------------------------------


def _has_nul(value) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _json_value(value, *, what: str, where: str):
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{where}{what} is not JSON-serialisable.", field=what) from None
    except RecursionError:
        raise ValidationFailed(f"{where}{what} is nested too deeply.", field=what) from None
    # PostgreSQL cannot store NUL in text or jsonb; the dump shows one cheaply ("\u0000").
    if "\\u0000" in text and _has_nul(value):
        raise ValidationFailed(f"{where}{what} contains a NUL character.", field=what)
    return value


def _flatten_text(value, out: list[str]) -> None:
    """Leaf values in document order; iterative, so deep nesting cannot overflow the stack."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None:
            continue
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(str(item))


def search_text_for(input: dict, expected) -> str:
    parts: list[str] = []
    _flatten_text(input, parts)
    _flatten_text(expected, parts)
    return "\n".join(parts).lower()


def clean_example_fields(
    *,
    input,
    expected=None,
    metadata=None,
    split="",
    source="manual",
    source_ref="",
    line=None,
    row=None,
) -> dict:
    """Validate one example's fields; errors name the file line (or the row of a list)."""
    where = f"Line {line}: " if line is not None else (f"Row {row}: " if row is not None else "")
    if not isinstance(input, dict):
        raise ValidationFailed(
            f"{where}input must be a JSON object of prompt variables, not {type(input).__name__}.",
            field="input",
        )
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ValidationFailed(f"{where}metadata must be a JSON object.", field="metadata")
    if isinstance(split, (dict, list)):
        raise ValidationFailed(
            f"{where}split must be text, not a JSON object or list.", field="split"
        )
    split = "" if split is None else str(split).strip()
    if len(split) > SPLIT_MAX:
        raise ValidationFailed(
            f"{where}split is longer than {SPLIT_MAX} characters.", field="split"
        )
    if source not in ExampleSource.values:
        raise ValidationFailed(
            f"{where}source must be one of {', '.join(ExampleSource.values)}.", field="source"
        )
    source_ref = str(source_ref or "")[:500]
    if "\x00" in split or "\x00" in source_ref:
        raise ValidationFailed(f"{where}split or source_ref contains a NUL character.")
    _json_value(input, what="input", where=where)
    _json_value(expected, what="expected", where=where)
    _json_value(metadata, what="metadata", where=where)
    return {
        "input": input,
        "expected": expected,
        "metadata": metadata,
        "split": split,
        "source": source,
        "source_ref": source_ref,
        "search_text": search_text_for(input, expected),
    }


# --- revisions ---------------------------------------------------------------------------


def _lock(dataset: Dataset) -> Dataset:
    """Serialise writers of one dataset so revision numbers have no gaps or duplicates."""
    try:
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
    except Dataset.DoesNotExist:
        raise NotFound("No such dataset.") from None
    # Refresh the caller's instance too, so it sees the revision this write makes.
    for f in Dataset._meta.concrete_fields:
        setattr(dataset, f.attname, getattr(locked, f.attname))
    return dataset


def _open_revision(dataset: Dataset) -> int:
    return dataset.current_revision + 1


def _close_revision(
    *, team, actor, dataset: Dataset, number: int, message: str, added=0, changed=0, removed=0
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


def _example_snapshot(row: Example) -> dict:
    return {
        "example_id": str(row.example_id),
        "input": row.input,
        "expected": row.expected,
        "metadata": row.metadata,
        "split": row.split,
        "source": row.source,
        "source_ref": row.source_ref,
    }


# --- datasets ------------------------------------------------------------------------------


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the dataset a name.", field="name")
    if len(name) > NAME_MAX:
        raise ValidationFailed(f"Use at most {NAME_MAX} characters.", field="name")
    return name


def _clean_free_name(name: str, *, exclude_pk=None) -> str:
    """The cleaned name, refused when another dataset of the team already has it."""
    name = _clean_name(name)
    qs = Dataset.objects.filter(name=name)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    if qs.exists():
        raise ValidationFailed(NAME_TAKEN, field="name")
    return name


def _name_and_description(dataset: Dataset) -> dict:
    return {"name": dataset.name, "description": dataset.description}


@transaction.atomic
def dataset_create(*, team, actor, name: str, description: str = "") -> Dataset:
    require_edit(actor, team)
    name = _clean_free_name(name)
    dataset = Dataset(
        team=team,
        name=name,
        description=(description or "").strip(),
        created_by=actor_user(actor),
    )
    full_clean_or_raise(dataset, exclude=["team", "created_by"], validate_constraints=False)
    try:
        with transaction.atomic():
            dataset.save()
    except IntegrityError:
        raise ValidationFailed(NAME_TAKEN, field="name") from None
    DatasetRevision.objects.create(
        team=team,
        dataset=dataset,
        number=0,
        actor_label=actor_label(actor),
        actor_user=actor_user(actor),
        message="Created the dataset",
    )
    audit_record(
        team=team,
        actor=actor,
        verb="dataset.create",
        target=dataset,
        after=_name_and_description(dataset),
    )
    return dataset


@transaction.atomic
def dataset_update(*, team, actor, dataset, name=None, description=None) -> Dataset:
    """Rename or redescribe; the examples (and so the revisions) do not change."""
    require_edit(actor, team)
    dataset = _lock(dataset)
    before = _name_and_description(dataset)
    if name is not None:
        dataset.name = _clean_free_name(name, exclude_pk=dataset.pk)
    if description is not None:
        dataset.description = description.strip()
    dataset.updated_at = timezone.now()
    full_clean_or_raise(dataset, exclude=["team", "created_by"], validate_constraints=False)
    dataset.save(update_fields=["name", "description", "updated_at"])
    audit_record(
        team=team,
        actor=actor,
        verb="dataset.update",
        target=dataset,
        before=before,
        after=_name_and_description(dataset),
    )
    return dataset


@transaction.atomic
def dataset_delete(*, team, actor, dataset) -> None:
    require_edit(actor, team)
    dataset = _lock(dataset)
    snapshot = {
        "name": dataset.name,
        "current_revision": dataset.current_revision,
        "example_count": dataset.example_count,
    }
    audit_record(team=team, actor=actor, verb="dataset.delete", target=dataset, before=snapshot)
    from apps.datasets.importing import upload_file_path  # importing imports services

    files = [upload_file_path(u) for u in PendingUpload.objects.filter(dataset=dataset)]
    try:
        with transaction.atomic():
            dataset.delete()
    except ProtectedError:
        raise Conflict(
            "Experiments ran on this dataset; delete them first to keep their results reproducible."
        ) from None
    # Unconfirmed uploads went with the dataset; their files go once that is committed.
    transaction.on_commit(lambda: [path.unlink(missing_ok=True) for path in files])


# --- examples ------------------------------------------------------------------------------


@transaction.atomic
def example_create(
    *,
    team,
    actor,
    dataset,
    input,
    expected=None,
    metadata=None,
    split="",
    source="manual",
    source_ref="",
    message="",
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
    dataset = _lock(dataset)
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
    team,
    actor,
    dataset,
    example_id,
    input=UNCHANGED,
    expected=UNCHANGED,
    metadata=UNCHANGED,
    split=UNCHANGED,
    message="",
) -> Example:
    """End the example's current row at the new revision r and start its new row at r."""
    require_edit(actor, team)
    dataset = _lock(dataset)
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
def example_delete(*, team, actor, dataset, example_id, message="") -> int:
    """End the example at a new revision; returns that revision's number."""
    require_edit(actor, team)
    dataset = _lock(dataset)
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
    *, team, actor, dataset, rows: Iterable[dict], source="upload", message=""
) -> DatasetRevision:
    """Add many examples as ONE revision, all or none.

    `rows` may be a generator (a streaming import): it is consumed in batches, so a large
    file is never held whole. Each row is a dict with `input` and optionally `expected`,
    `metadata`, `split`, `source_ref` and `line` (named in errors). Any invalid row raises
    and the transaction rolls back every batch already inserted.
    """
    require_edit(actor, team)
    dataset = _lock(dataset)
    number = _open_revision(dataset)
    position = dataset.next_position
    added = 0
    iterator = iter(rows)
    while True:
        batch = list(islice(iterator, BULK_BATCH_SIZE))
        if not batch:
            break
        objects = []
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
