"""Every read of datasets; all of them run inside the caller's team scope."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from apps.core.errors import NotFound
from apps.datasets.models import Dataset, DatasetRevision, Example


def dataset_list() -> QuerySet[Dataset]:
    return Dataset.objects.all().order_by("name")


def dataset_get(dataset_id) -> Dataset:
    try:
        return Dataset.objects.get(pk=dataset_id)
    except (Dataset.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such dataset.") from None


def dataset_get_by_name(name: str) -> Dataset:
    try:
        return Dataset.objects.get(name=name)
    except Dataset.DoesNotExist:
        raise NotFound("No such dataset.") from None


def visible_at(revision: int) -> Q:
    """Rows of the dataset as it was at `revision`."""
    return Q(valid_from__lte=revision) & (Q(valid_to__isnull=True) | Q(valid_to__gt=revision))


def examples_at_revision(
    dataset, revision: int | None = None, split: str | None = None, search: str | None = None
) -> QuerySet[Example]:
    """The examples of `dataset` at `revision` (default: current), in stable order.

    A query, not a copy: experiments pin the revision number and call this again to see
    exactly the same rows.
    """
    if revision is None:
        revision = dataset.current_revision
    # Always the full range condition, never "valid_to IS NULL" for the current revision:
    # a caller holding a stale Dataset would otherwise see rows written after its revision.
    qs = Example.objects.filter(dataset=dataset).filter(visible_at(revision))
    if split:
        qs = qs.filter(split=split)
    if search:
        qs = qs.filter(search_text__contains=search.strip().lower())
    return qs.order_by("position")


def example_at_revision(dataset, example_id, revision: int | None = None) -> Example:
    try:
        return examples_at_revision(dataset, revision).get(example_id=example_id)
    except (Example.DoesNotExist, ValidationError, ValueError, TypeError):
        # A malformed UUID is as absent as an unknown one.
        raise NotFound("No such example in this revision.") from None


def revision_get(dataset, number: int | None = None) -> DatasetRevision:
    if number is None:
        number = dataset.current_revision
    try:
        return DatasetRevision.objects.get(dataset=dataset, number=number)
    except DatasetRevision.DoesNotExist:
        raise NotFound(f"Dataset {dataset.name} has no revision {number}.") from None


def revision_with_dataset(dataset_id, number: int | None = None) -> DatasetRevision:
    """The revision (default: newest) and its dataset in ONE query, for page views."""
    qs = DatasetRevision.objects.select_related("dataset").filter(dataset_id=dataset_id)
    try:
        if number is None:
            found = qs.order_by("-number").first()
        else:
            found = qs.filter(number=number).first()
    except (ValueError, TypeError):
        found = None
    if found is None:
        raise NotFound("No such dataset revision.")
    return found


def revision_list(dataset) -> QuerySet[DatasetRevision]:
    return DatasetRevision.objects.filter(dataset=dataset).order_by("-number")


@dataclass
class RevisionDiff:
    number: int
    added: list = field(default_factory=list)
    changed: list = field(default_factory=list)  # (before, after) pairs
    removed: list = field(default_factory=list)


def revision_diff(dataset, number: int, *, limit: int = 200) -> RevisionDiff:
    """What revision `number` added, changed and removed (rows started or ended at it)."""
    started = list(
        Example.objects.filter(dataset=dataset, valid_from=number).order_by("position")[:limit]
    )
    ended = {
        row.example_id: row
        for row in Example.objects.filter(dataset=dataset, valid_to=number).order_by("position")[
            : limit * 2
        ]
    }
    diff = RevisionDiff(number=number)
    for row in started:
        before = ended.pop(row.example_id, None)
        if before is None:
            diff.added.append(row)
        else:
            diff.changed.append((before, row))
    diff.removed = list(ended.values())
    return diff
