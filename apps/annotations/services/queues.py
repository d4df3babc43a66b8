"""Writes to annotation queues: create, edit, delete."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.annotations.fields import clean_form_fields
from apps.annotations.models import AnnotationQueue, QueueItem
from apps.annotations.permissions import require_manage
from apps.annotations.services.verdicts import _settle
from apps.core.errors import ValidationFailed
from apps.core.validation import full_clean_or_raise
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import Team
from apps.teams.permissions import actor_user

MAX_ANNOTATORS = 10


def _queue_state(queue: AnnotationQueue) -> dict[str, Any]:
    return {
        "name": queue.name,
        "instructions": queue.instructions,
        "form_fields": queue.form_fields,
        "annotators_per_item": queue.annotators_per_item,
        "hide_auto_scores": queue.hide_auto_scores,
        "fail_needs_reasoning": queue.fail_needs_reasoning,
    }


def _check_queue(queue: AnnotationQueue) -> None:
    queue.name = (queue.name or "").strip()
    if not queue.name:
        raise ValidationFailed("Give the queue a name.", field="name")
    if not 1 <= int(queue.annotators_per_item or 0) <= MAX_ANNOTATORS:
        raise ValidationFailed(
            f"Annotators per item must be between 1 and {MAX_ANNOTATORS}.",
            field="annotators_per_item",
        )
    clash = AnnotationQueue.objects.filter(name__iexact=queue.name).exclude(pk=queue.pk)
    if clash.exists():
        raise ValidationFailed("A queue with that name exists.", field="name")
    full_clean_or_raise(queue, exclude=["team", "created_by"], validate_constraints=False)


@transaction.atomic
def queue_create(
    *,
    team: Team,
    actor: Actor,
    name: str,
    instructions: str = "",
    form_fields: Any = None,
    annotators_per_item: int = 1,
    hide_auto_scores: bool = False,
    fail_needs_reasoning: bool = True,
) -> AnnotationQueue:
    require_manage(actor, team)
    queue = AnnotationQueue(
        team=team,
        name=name,
        instructions=instructions or "",
        form_fields=clean_form_fields(form_fields),
        annotators_per_item=annotators_per_item,
        hide_auto_scores=bool(hide_auto_scores),
        fail_needs_reasoning=bool(fail_needs_reasoning),
        created_by=actor_user(actor),
    )
    _check_queue(queue)
    queue.save()
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.create",
        target=queue,
        after=_queue_state(queue),
    )
    return queue


_UPDATABLE = (
    "name",
    "instructions",
    "form_fields",
    "annotators_per_item",
    "hide_auto_scores",
    "fail_needs_reasoning",
)


@transaction.atomic
def queue_update(
    *, team: Team, actor: Actor, queue: AnnotationQueue, **changes: Any
) -> AnnotationQueue:
    require_manage(actor, team)
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        raise ValidationFailed(f"Unknown field {sorted(unknown)[0]!r}.")
    queue = AnnotationQueue.objects.select_for_update().get(pk=queue.pk)
    before = _queue_state(queue)
    if "form_fields" in changes:
        changes["form_fields"] = clean_form_fields(changes["form_fields"])
    for flag in ("hide_auto_scores", "fail_needs_reasoning"):
        if flag in changes:
            changes[flag] = bool(changes[flag])
    for key, value in changes.items():
        setattr(queue, key, value)
    _check_queue(queue)
    queue.save()
    if queue.annotators_per_item != before["annotators_per_item"]:
        # Items judged so far may now have enough verdicts, or too few.
        for item in QueueItem.objects.filter(queue=queue, decided_at__isnull=True).exclude(
            annotation_count=0
        ):
            _settle(item, queue)
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.update",
        target=queue,
        before=before,
        after=_queue_state(queue),
    )
    return queue


@transaction.atomic
def queue_delete(*, team: Team, actor: Actor, queue: AnnotationQueue) -> None:
    require_manage(actor, team)
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.delete",
        target=queue,
        before=_queue_state(queue),
    )
    queue.delete()
