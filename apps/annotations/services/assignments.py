"""Who annotates what: assigning items to members, and taking an assignment back."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import Exists, OuterRef

from apps.accounts.models import User
from apps.annotations.models import AnnotationQueue, Assignment, ItemStatus, QueueItem
from apps.annotations.permissions import require_manage
from apps.core.errors import ValidationFailed
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import Team

ASSIGN_MODES = ("each", "round_robin")


@transaction.atomic
def items_assign(
    *,
    team: Team,
    actor: Actor,
    queue: AnnotationQueue,
    users: list[User],
    items: Iterable[QueueItem] | None = None,
    mode: str = "each",
) -> list[Assignment]:
    """Assign items to members: `each` gives every item to every named member;
    `round_robin` deals items out in turn, annotators_per_item distinct members each.
    Without `items`: the queue's open items that nobody is assigned yet."""
    require_manage(actor, team)
    if mode not in ASSIGN_MODES:
        raise ValidationFailed("Choose 'each' or 'round_robin'.", field="mode")
    if not users:
        raise ValidationFailed("Choose at least one member.", field="users")
    if items is None:
        items = list(
            QueueItem.objects.filter(queue=queue, status=ItemStatus.OPEN)
            .exclude(Exists(Assignment.objects.filter(item=OuterRef("pk"))))
            .order_by("position")
        )
    else:
        items = sorted(items, key=lambda i: i.position)
        if any(i.queue_id != queue.pk for i in items):
            raise ValidationFailed("Every item must belong to the queue.", field="items")
    per_item = min(queue.annotators_per_item, len(users))
    rows: list[Assignment] = []
    for index, item in enumerate(items):
        if mode == "each":
            chosen = users
        else:
            start = index * per_item
            chosen = [users[(start + k) % len(users)] for k in range(per_item)]
        rows.extend(Assignment(team=team, item=item, user=user) for user in chosen)
    Assignment.objects.bulk_create(rows, ignore_conflicts=True)
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.assign",
        target=queue,
        after={
            "mode": mode,
            "users": [u.email for u in users],
            "items": len(items),
            "assignments": len(rows),
        },
    )
    return rows


@transaction.atomic
def assignment_remove(*, team: Team, actor: Actor, assignment: Assignment) -> None:
    require_manage(actor, team)
    audit_record(
        team=team,
        actor=actor,
        verb="annotation_queue.unassign",
        target=assignment,
        before={"item": assignment.item_id, "user": assignment.user.email},
    )
    assignment.delete()
