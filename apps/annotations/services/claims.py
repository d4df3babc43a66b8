"""Claiming items: a claimed item is locked to its annotator for LOCK_DURATION.

The claim runs `SELECT … FOR UPDATE SKIP LOCKED`, so two annotators claiming at once never
get the same item while it needs only one more verdict; an expired lock is free again.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Case, F, IntegerField, OrderBy, OuterRef, Subquery, Value, When
from django.utils import timezone

from apps.accounts.models import User
from apps.annotations.models import (
    LOCK_DURATION,
    Annotation,
    AnnotationQueue,
    Assignment,
    ItemStatus,
    QueueItem,
)
from apps.annotations.permissions import require_annotate
from apps.annotations.selectors import claimable_items, item_for
from apps.core.errors import PermissionRefused
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import Team
from apps.teams.permissions import actor_user


@transaction.atomic
def item_claim_next(
    *, team: Team, actor: Actor, queue: AnnotationQueue, after: QueueItem | None = None
) -> QueueItem | None:
    """Lock the user's next item (their own locked item first, skipped ones last).

    Returns None when nothing is left for this user."""
    require_annotate(actor, team)
    user = actor_user(actor)
    if user is None:
        raise PermissionRefused("Claiming items needs a person, not an API key.")
    now = timezone.now()
    my_skip = Assignment.objects.filter(item=OuterRef("pk"), user=user).values("skipped_at")[:1]
    qs = claimable_items(team=team, actor=actor, queue=queue, user=user, now=now).annotate(
        my_skip=Subquery(my_skip)
    )
    if after is not None:
        # "Next" after a save: prefer items further on, wrap round to the start.
        qs = qs.exclude(pk=after.pk)
    ordering: list[str | OrderBy] = [
        F("my_skip").asc(nulls_first=True),
        "position",
    ]
    if after is not None:
        qs = qs.annotate(
            wrap=Case(
                When(position__gt=after.position, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        )
        ordering.insert(1, "wrap")
    item = (
        qs.select_for_update(skip_locked=True, of=("self",))
        .order_by(*ordering)
        .select_related("queue")
        .first()
    )
    if item is None:
        return None
    _lock(item, user, now, team=team)
    return item


def _lock(item: QueueItem, user: User, now: datetime, *, team: Team) -> None:
    fresh = item.locked_by_id != user.pk or item.locked_until is None or item.locked_until <= now
    item.locked_by = user
    item.locked_until = now + LOCK_DURATION
    item.save(update_fields=["locked_by", "locked_until"])
    if fresh:  # renewing one's own lock is not worth a line in the trail
        audit_record(
            team=team,
            actor=user,
            verb="annotation.claim",
            target=item,
            after={"locked_until": item.locked_until.isoformat()},
        )


@transaction.atomic
def item_claim(*, team: Team, actor: Actor, item: QueueItem) -> QueueItem:
    """Lock a given item to the user (opening it by its URL); refused while another
    annotator holds it and it needs only one more verdict."""
    require_annotate(actor, team)
    user = actor_user(actor)
    item = item_for(team=team, actor=actor, item_id=item.pk)
    locked = (
        QueueItem.objects.select_for_update(of=("self",)).select_related("queue").get(pk=item.pk)
    )
    now = timezone.now()
    if locked.status != ItemStatus.OPEN or user is None:
        return locked
    exclusive = locked.annotation_count >= locked.queue.annotators_per_item - 1
    if exclusive and locked.is_locked_by_other(user, now):
        return locked  # read-only for this user until the lock expires
    if Annotation.objects.filter(item=locked, author=user).exists():
        return locked  # revisiting one's own verdict takes nothing from anyone
    assigned = Assignment.objects.filter(item=locked)
    if assigned.exists() and not assigned.filter(user=user).exists():
        return locked  # a manager looking at someone else's item does not lock them out
    _lock(locked, user, now, team=team)
    return locked


@transaction.atomic
def item_skip(*, team: Team, actor: Actor, item: QueueItem) -> None:
    """Put the item back for later: release the lock, order it last for this user."""
    require_annotate(actor, team)
    user = actor_user(actor)
    item = item_for(team=team, actor=actor, item_id=item.pk)
    now = timezone.now()
    QueueItem.objects.filter(pk=item.pk, locked_by=user).update(locked_by=None, locked_until=None)
    if user is not None:
        Assignment.objects.filter(item=item, user=user).update(skipped_at=now)
    audit_record(team=team, actor=actor, verb="annotation.skip", target=item)
