"""Every read of datasets; all of them run inside the caller's team scope."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q, QuerySet

from apps.core.errors import NotFound, ValidationFailed
from apps.core.pagination import Count, KeysetPage, estimated_count, keyset_page
from apps.datasets.models import Dataset, DatasetRevision, Example, PendingUpload

CHOICES_MAX = 500


def dataset_list() -> QuerySet[Dataset]:
    return Dataset.objects.all().order_by("name")


def dataset_get(dataset_id: Any) -> Dataset:
    try:
        return Dataset.objects.get(pk=dataset_id)
    except (Dataset.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such dataset.") from None


def _is_id(value: Any) -> bool:
    """An id as a form or JSON sends it: a whole number, or ASCII digits."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (
        isinstance(value, str) and value.isascii() and value.isdigit()
    )


def dataset_choices(limit: int = CHOICES_MAX) -> list[Dataset]:
    """Datasets to pick from in a form (id and name only), by name."""
    return list(Dataset.objects.only("id", "name").order_by("name")[:limit])


def dataset_for_field(value: Any, *, field: str = "dataset") -> Dataset:
    """The dataset a form or an API request names by id. A refusal names `field`, so the
    page and the API report a missing or unknown dataset the same way."""
    if not _is_id(value):  # nothing chosen, or a tampered form
        raise ValidationFailed("Choose a dataset.", field=field)
    try:
        return Dataset.objects.get(pk=int(value))
    except (Dataset.DoesNotExist, OverflowError):
        raise ValidationFailed("No such dataset.", field=field) from None


def dataset_for_update(dataset: Dataset) -> Dataset:
    """Lock the dataset's row until the transaction ends, so its writers go one at a time
    (revision numbers without gaps or duplicates), and refresh `dataset` from it: the
    caller sees the revision its write makes."""
    try:
        locked = Dataset.objects.select_for_update().get(pk=dataset.pk)
    except Dataset.DoesNotExist:
        raise NotFound("No such dataset.") from None
    for f in Dataset._meta.concrete_fields:
        setattr(dataset, f.attname, getattr(locked, f.attname))
    return dataset


def dataset_get_by_name(name: str) -> Dataset:
    try:
        return Dataset.objects.get(name=name)
    except Dataset.DoesNotExist:
        raise NotFound("No such dataset.") from None


def visible_at(revision: int) -> Q:
    """Rows of the dataset as it was at `revision`."""
    return Q(valid_from__lte=revision) & (Q(valid_to__isnull=True) | Q(valid_to__gt=revision))


def examples_at_revision(
    dataset: Dataset,
    revision: int | None = None,
    split: str | None = None,
    search: str | None = None,
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


def example_ids_by_content(dataset: Dataset, keys: Iterable[str]) -> dict[str, Any]:
    """{content key: example_id} of the dataset's current examples with one of `keys`."""
    wanted = [k for k in set(keys) if k]
    found: dict[str, Any] = {}
    for start in range(0, len(wanted), 500):
        rows = (
            examples_at_revision(dataset)
            .filter(content_key__in=wanted[start : start + 500])
            .values_list("content_key", "example_id")
        )
        for key, example_id in rows:
            found.setdefault(key, example_id)
    return found


def examples_made_at(dataset: Dataset, revision: int) -> list[Example]:
    """The example rows a revision started, in position order."""
    return list(Example.objects.filter(dataset=dataset, valid_from=revision).order_by("position"))


def example_at_revision(dataset: Dataset, example_id: Any, revision: int | None = None) -> Example:
    try:
        return examples_at_revision(dataset, revision).get(example_id=example_id)
    except (Example.DoesNotExist, ValidationError, ValueError, TypeError):
        # A malformed UUID is as absent as an unknown one.
        raise NotFound("No such example in this revision.") from None


EXAMPLE_ORDER = ("position",)  # one row per position in any revision: a keyset by itself


def examples_page(
    revision: DatasetRevision,
    *,
    split: str = "",
    search: str = "",
    params: Mapping[str, Any] | None = None,
    per_page: int = 50,
) -> KeysetPage:
    """The page of the examples of `revision` (with its dataset loaded), filtered, that
    `params` asks for (after=/before=/from= a position, last=1; see keyset_page).

    Costs the page at any size: the rows are read through (team, dataset, position) from
    the cursor on, and the total is the revision's kept row count, or the planner's
    estimate when filtered (never a COUNT over the dataset)."""
    rows = examples_at_revision(revision.dataset, revision.number, split=split, search=search)
    count = estimated_count(rows) if (split or search) else Count(revision.row_count)
    return keyset_page(
        rows, order=EXAMPLE_ORDER, params=params or {}, per_page=per_page, count=count
    )


def revision_get(dataset: Dataset, number: int | None = None) -> DatasetRevision:
    if number is None:
        number = dataset.current_revision
    try:
        return DatasetRevision.objects.get(dataset=dataset, number=number)
    except DatasetRevision.DoesNotExist:
        raise NotFound(f"Dataset {dataset.name} has no revision {number}.") from None


def revision_with_dataset(dataset_id: Any, number: int | None = None) -> DatasetRevision:
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


def revision_list(dataset: Dataset) -> QuerySet[DatasetRevision]:
    return DatasetRevision.objects.filter(dataset=dataset).order_by("-number")


@dataclass
class RevisionDiff:
    number: int
    added: list[Example] = field(default_factory=list)
    changed: list[tuple[Example, Example]] = field(default_factory=list)  # (before, after) pairs
    removed: list[Example] = field(default_factory=list)


def revision_diff(dataset: Dataset, number: int, *, limit: int = 200) -> RevisionDiff:
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


def pending_upload_get(dataset: Dataset, token: Any) -> PendingUpload:
    upload = PendingUpload.objects.filter(dataset=dataset, token=token).first()
    if upload is None:
        raise NotFound("That upload is gone: it was imported or discarded. Upload the file again.")
    return upload
