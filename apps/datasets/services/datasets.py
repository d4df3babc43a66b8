"""Writes to datasets themselves: create, rename or redescribe, delete."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from apps.core.errors import Conflict, ValidationFailed
from apps.core.validation import full_clean_or_raise
from apps.datasets.models import Dataset, DatasetRevision, PendingUpload
from apps.datasets.permissions import require_edit
from apps.datasets.selectors import dataset_for_update
from apps.teams.actors import Actor
from apps.teams.audit import actor_label, audit_record
from apps.teams.models import Team
from apps.teams.permissions import actor_user

NAME_MAX = 100
NAME_TAKEN = "A dataset with that name already exists."


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed("Give the dataset a name.", field="name")
    if len(name) > NAME_MAX:
        raise ValidationFailed(f"Use at most {NAME_MAX} characters.", field="name")
    return name


def _clean_free_name(name: str, *, exclude_pk: int | None = None) -> str:
    """The cleaned name, refused when another dataset of the team already has it."""
    name = _clean_name(name)
    qs = Dataset.objects.filter(name=name)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    if qs.exists():
        raise ValidationFailed(NAME_TAKEN, field="name")
    return name


def _name_and_description(dataset: Dataset) -> dict[str, Any]:
    return {"name": dataset.name, "description": dataset.description}


@transaction.atomic
def dataset_create(*, team: Team, actor: Actor, name: str, description: str = "") -> Dataset:
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
def dataset_update(
    *,
    team: Team,
    actor: Actor,
    dataset: Dataset,
    name: str | None = None,
    description: str | None = None,
) -> Dataset:
    """Rename or redescribe; the examples (and so the revisions) do not change."""
    require_edit(actor, team)
    dataset = dataset_for_update(dataset)
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
def dataset_delete(*, team: Team, actor: Actor, dataset: Dataset) -> None:
    require_edit(actor, team)
    dataset = dataset_for_update(dataset)
    snapshot = {
        "name": dataset.name,
        "current_revision": dataset.current_revision,
        "example_count": dataset.example_count,
    }
    audit_record(team=team, actor=actor, verb="dataset.delete", target=dataset, before=snapshot)
    files = [u.file_path for u in PendingUpload.objects.filter(dataset=dataset)]
    try:
        with transaction.atomic():
            dataset.delete()
    except ProtectedError:
        raise Conflict(
            "Experiments ran on this dataset; delete them first to keep their results reproducible."
        ) from None

    # Unconfirmed uploads went with the dataset; their files go once that is committed.
    def remove_files() -> None:
        for path in files:
            path.unlink(missing_ok=True)

    transaction.on_commit(remove_files)
