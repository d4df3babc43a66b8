"""Reads: the queues and items a person may see, progress, the inbox, the next item to
claim, and the ids a request names (each reported against the field that named it)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest

from apps.accounts.models import User
from apps.annotations.models import Annotation, AnnotationQueue, Assignment, ItemStatus, QueueItem
from apps.annotations.permissions import can, can_manage
from apps.core.errors import NotFound, ValidationFailed
from apps.datasets.models import Dataset
from apps.experiments.models import Experiment
from apps.teams.actors import Actor
from apps.teams.models import PERM_OWN, Membership, Role, Team
from apps.teams.permissions import actor_user, is_api_key

# Larger ids overflow the database's integer and would fail as a server error.
_MAX_ID = 2**63 - 1


def _pk_or_none(value: Any) -> int | None:
    try:
        pk = int(value)
    except (TypeError, ValueError):
        return None
    return pk if 0 < pk <= _MAX_ID else None


def _posted_pk(value: Any, *, field: str, message: str) -> int:
    pk = _pk_or_none(value)
    if pk is None:
        raise ValidationFailed(message, field=field)
    return pk


# --- queues ------------------------------------------------------------------------------


def visible_queues(*, team: Team, actor: Actor) -> QuerySet[AnnotationQueue]:
    qs = AnnotationQueue.objects.all()
    if can_manage(actor, team):
        return qs
    user = actor_user(actor)
    return qs.filter(Exists(Assignment.objects.filter(item__queue=OuterRef("pk"), user=user)))


def queue_for(*, team: Team, actor: Actor, queue_id: Any) -> AnnotationQueue:
    queue = visible_queues(team=team, actor=actor).filter(pk=queue_id).first()
    if queue is None:
        raise NotFound("No such queue.")
    return queue


def queues_with_progress(*, team: Team, actor: Actor) -> QuerySet[AnnotationQueue]:
    """The visible queues with their item counts (and who made them, which lists show)."""
    return (
        visible_queues(team=team, actor=actor)
        .select_related("created_by")
        .annotate(
            total=Count("items", distinct=True),
            done=Count("items", filter=Q(items__status=ItemStatus.DONE), distinct=True),
            disputed=Count("items", filter=Q(items__status=ItemStatus.DISPUTED), distinct=True),
        )
        .order_by("id")  # oldest first, as before, and the same on every page of the API
    )


def queue_with_progress(*, team: Team, actor: Actor, queue_id: Any) -> AnnotationQueue:
    queue = queues_with_progress(team=team, actor=actor).filter(pk=queue_id).first()
    if queue is None:
        raise NotFound("No such queue.")
    return queue


@dataclass
class Progress:
    total: int
    done: int
    disputed: int
    mine_total: int = 0
    mine_done: int = 0

    @property
    def open(self) -> int:
        return self.total - self.done - self.disputed

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    @property
    def mine_percent(self) -> int:
        return round(100 * self.mine_done / self.mine_total) if self.mine_total else 0


def queue_progress(*, queue: AnnotationQueue, user: Actor | None = None) -> Progress:
    counts = QueueItem.objects.filter(queue=queue).aggregate(
        total=Count("id"),
        done=Count("id", filter=Q(status=ItemStatus.DONE)),
        disputed=Count("id", filter=Q(status=ItemStatus.DISPUTED)),
    )
    progress = Progress(**counts)
    if user is not None and not is_api_key(user):
        mine = Assignment.objects.filter(item__queue=queue, user=user).aggregate(
            total=Count("id"),
            done=Count("id", filter=Q(done_at__isnull=False) | ~Q(item__status=ItemStatus.OPEN)),
        )
        progress.mine_total, progress.mine_done = mine["total"], mine["done"]
    return progress


# --- the inbox ---------------------------------------------------------------------------


def my_open_items(user: User) -> QuerySet[QueueItem]:
    """Open items assigned to the user that still wait for their verdict."""
    return QueueItem.objects.filter(
        status=ItemStatus.OPEN,
        assignments__user=user,
        assignments__done_at__isnull=True,
    )


def my_waiting_count(user: User) -> int:
    return my_open_items(user).count()


def my_queue_count(request: HttpRequest) -> int:
    """The "My queue" navigation badge: open assigned items (+ disputes for owners)."""
    user = request.user
    # Set on every request by TeamMiddleware (None outside a team).
    team: Team | None = getattr(request, "team", None)
    membership: Membership | None = getattr(request, "membership", None)
    if not user.is_authenticated or team is None:
        return 0
    count = my_waiting_count(user)
    if membership is not None and membership.role == "owner":
        count += QueueItem.objects.filter(status=ItemStatus.DISPUTED).count()
    return count


def inbox(*, team: Team, user: User) -> tuple[list[Mapping[str, Any]], list[QueueItem]]:
    """Per queue: how many of the user's items wait, for the "My queue" page."""
    waiting = (
        my_open_items(user)
        .values("queue_id", "queue__name")
        .annotate(waiting=Count("id"))
        .order_by("queue__name")
    )
    disputed: list[QueueItem] = []
    if can(user, PERM_OWN, team):
        disputed = list(
            QueueItem.objects.filter(status=ItemStatus.DISPUTED)
            .select_related("queue")
            .order_by("queue__name", "position")[:100]
        )
    return list(waiting), disputed


# --- items -------------------------------------------------------------------------------


def visible_items(
    *, team: Team, actor: Actor, queue: AnnotationQueue | int | None = None
) -> QuerySet[QueueItem]:
    """Managers see every item; everyone else only the items assigned to them."""
    qs = QueueItem.objects.all()
    if queue is not None:
        qs = qs.filter(queue=queue)
    if can_manage(actor, team):
        return qs
    user = actor_user(actor)
    if user is None:
        return qs.none()
    return qs.filter(Exists(Assignment.objects.filter(item=OuterRef("pk"), user=user)))


def item_for(*, team: Team, actor: Actor, item_id: Any) -> QueueItem:
    item = (
        visible_items(team=team, actor=actor)
        .select_related("queue", "locked_by", "decided_by")
        .filter(pk=item_id)
        .first()
    )
    if item is None:
        raise NotFound("No such item.")
    return item


def item_with_details(item: QueueItem) -> QueueItem:
    """The item again, with what its full description (verdicts, assignees) reads."""
    return (
        QueueItem.objects.select_related("queue", "locked_by")
        .prefetch_related("annotations", "assignments__user")
        .get(pk=item.pk)
    )


def queue_items(
    *, team: Team, actor: Actor, queue: AnnotationQueue, status: str = ""
) -> QuerySet[QueueItem]:
    """The queue's items the actor may see, in queue order, optionally of one status."""
    items = (
        visible_items(team=team, actor=actor, queue=queue)
        .select_related("queue", "locked_by")
        .prefetch_related("annotations", "assignments__user")
        .order_by("position")
    )
    return items.filter(status=status) if status else items


def open_items(queue: AnnotationQueue) -> list[QueueItem]:
    return list(QueueItem.objects.filter(queue=queue, status=ItemStatus.OPEN))


def queue_items_by_ids(
    queue: AnnotationQueue, item_ids: Iterable[Any], *, field: str
) -> list[QueueItem]:
    """The queue's items with these ids; every id must name one of them."""
    items = list(QueueItem.objects.filter(queue=queue, pk__in=item_ids))
    if len(items) != len(set(item_ids)):
        raise ValidationFailed("Some items are not in this queue.", field=field)
    return items


def disputed_items(queue: AnnotationQueue, *, limit: int = 50) -> list[QueueItem]:
    return list(
        QueueItem.objects.filter(queue=queue, status=ItemStatus.DISPUTED)
        .prefetch_related("annotations")
        .order_by("position")[:limit]
    )


def claimable_items(
    *, team: Team, actor: Actor, queue: AnnotationQueue, user: User, now: datetime
) -> QuerySet[QueueItem]:
    """The items `user` may lock now: open, not judged by them, not held by someone else
    while they need only one more verdict; theirs, and for managers the unassigned ones."""
    exclusive_from = queue.annotators_per_item - 1  # one verdict left to give
    qs = (
        visible_items(team=team, actor=actor, queue=queue)
        .filter(status=ItemStatus.OPEN)
        .exclude(Exists(Annotation.objects.filter(item=OuterRef("pk"), author=user)))
        .filter(
            Q(locked_by__isnull=True)
            | Q(locked_by=user)
            | Q(locked_until__lte=now)
            | Q(annotation_count__lt=exclusive_from)
        )
    )
    mine = Exists(Assignment.objects.filter(item=OuterRef("pk"), user=user, done_at__isnull=True))
    if can_manage(actor, team):
        # Managers also take from the pool nobody is assigned to, never others' items.
        return qs.filter(mine | ~Exists(Assignment.objects.filter(item=OuterRef("pk"))))
    return qs.filter(mine)


def neighbours(*, team: Team, actor: Actor, item: QueueItem) -> tuple[int | None, int | None]:
    """Previous and next item ids in the actor's own order through the queue (J/K)."""
    qs = visible_items(team=team, actor=actor, queue=item.queue_id)
    previous = (
        qs.filter(position__lt=item.position)
        .order_by("-position")
        .values_list("pk", flat=True)
        .first()
    )
    following = (
        qs.filter(position__gt=item.position)
        .order_by("position")
        .values_list("pk", flat=True)
        .first()
    )
    return previous, following


def item_verdict(item: QueueItem, annotations: Iterable[Annotation] | None = None) -> bool | None:
    """The item's human verdict: the owner's decision, else the annotators' unanimous one."""
    if item.final_passed is not None:
        return item.final_passed
    if item.status != ItemStatus.DONE:
        return None
    verdicts = {
        a.passed for a in (annotations if annotations is not None else item.annotations.all())
    }
    return verdicts.pop() if len(verdicts) == 1 else None


# --- annotations -------------------------------------------------------------------------


def my_annotation(item: QueueItem, user: User) -> Annotation | None:
    return Annotation.objects.filter(item=item, author=user).first()


def others_annotations(item: QueueItem, user: User) -> list[Annotation]:
    return list(Annotation.objects.filter(item=item).exclude(author=user).order_by("id"))


def visible_annotations(
    *, team: Team, actor: Actor, item: QueueItem | None = None, queue_id: Any = None
) -> QuerySet[Annotation]:
    """Verdicts on the items the actor sees (or on one item): every one for managers,
    else only the actor's own; `queue_id` is a request's filter, checked as such."""
    if item is not None:
        annotations = Annotation.objects.filter(item=item)
    else:
        annotations = Annotation.objects.filter(item__in=visible_items(team=team, actor=actor))
    annotations = annotations.order_by("id")
    if not can_manage(actor, team):
        annotations = annotations.filter(author=actor_user(actor))
    if queue_id:
        queue_pk = _posted_pk(queue_id, field="queue", message="queue must be an id.")
        annotations = annotations.filter(item__queue_id=queue_pk)
    return annotations


def annotation_for(*, team: Team, actor: Actor, annotation_id: Any) -> Annotation:
    items = visible_items(team=team, actor=actor)
    annotation = Annotation.objects.filter(pk=annotation_id, item__in=items).first()
    if annotation is None:
        raise NotFound("No such annotation.")
    return annotation


def failed_annotation_for_field(item: QueueItem, annotation_id: Any, *, field: str) -> Annotation:
    """The item's failed verdict a request names, else its first failed one."""
    failed = Annotation.objects.filter(item=item, passed=False)
    pk = _pk_or_none(annotation_id)
    chosen = failed.filter(pk=pk).first() if pk is not None else None
    chosen = chosen or failed.order_by("id").first()
    if chosen is None:
        raise ValidationFailed("Only failed annotations go to a dataset.", field=field)
    return chosen


# --- people ------------------------------------------------------------------------------


def annotator_members() -> QuerySet[Membership]:
    """The team's members who may annotate, for the assignment form."""
    return (
        Membership.objects.exclude(role=Role.VIEWER).select_related("user").order_by("user__email")
    )


def resolve_annotators(
    *,
    team: Team,
    users: Iterable[Any] = (),
    emails: Iterable[Any] = (),
    user_ids: Iterable[Any] = (),
) -> list[User]:
    """Members who may annotate, from users, emails or ids; unknown names are an error."""
    User = get_user_model()
    members = Membership.objects.filter(team=team).select_related("user")
    by_email = {m.user.email.lower(): m for m in members}
    by_id: dict[int | None, Membership] = {m.user_id: m for m in members}
    chosen: list[Any] = []  # `User` is get_user_model() here

    def add(membership: Membership | None, name: str) -> None:
        if membership is None:
            raise ValidationFailed(f"{name} is not a member of this team.", field="users")
        if membership.role == Role.VIEWER:
            raise ValidationFailed(
                f"{membership.user.email} is a viewer and cannot annotate.", field="users"
            )
        if membership.user not in chosen:
            chosen.append(membership.user)

    for user in users:
        add(by_id.get(getattr(user, "pk", None)) if isinstance(user, User) else None, str(user))
    for email in emails:
        add(by_email.get(str(email).strip().lower()), str(email))
    for user_id in user_ids:
        try:
            key = int(user_id)
        except (TypeError, ValueError):
            key = None
        add(by_id.get(key), f"User {user_id}")
    if not chosen:
        raise ValidationFailed("Choose at least one member.", field="users")
    return chosen


# --- what a queue is filled from and emptied into -----------------------------------------


def fill_experiments(*, limit: int = 50) -> QuerySet[Experiment]:
    """The newest experiments, to fill a queue from."""
    return Experiment.objects.order_by("-created_at")[:limit]


def experiment_for_field(value: Any, *, field: str) -> Experiment:
    if value in (None, ""):
        raise ValidationFailed("Choose an experiment.", field=field)
    pk = _posted_pk(value, field=field, message="No such experiment.")
    experiment = Experiment.objects.filter(pk=pk).first()
    if experiment is None:
        raise ValidationFailed("No such experiment.", field=field)
    return experiment


def dataset_choices() -> QuerySet[Dataset]:
    return Dataset.objects.order_by("name")


def dataset_for_field(value: Any, *, field: str) -> Dataset:
    if value in (None, ""):
        raise ValidationFailed("Choose a dataset.", field=field)
    pk = _posted_pk(value, field=field, message="No such dataset.")
    dataset = Dataset.objects.filter(pk=pk).first()
    if dataset is None:
        raise ValidationFailed("No such dataset.", field=field)
    return dataset
