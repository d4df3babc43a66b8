"""Reads: queues a person may see, progress, the inbox, and agreement figures."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from itertools import combinations

import nh3
from django.db.models import Count, Exists, OuterRef, Q
from markdown_it import MarkdownIt

from apps.annotations.models import Annotation, AnnotationQueue, Assignment, ItemStatus, QueueItem
from apps.annotations.services import can, can_manage, item_verdict
from apps.experiments.stats import cohen_kappa, percent_agreement
from apps.teams.models import PERM_OWN
from apps.teams.permissions import is_api_key

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False})


def render_instructions(text: str) -> str:
    """Markdown without raw HTML, then sanitised: safe to mark as safe."""
    return nh3.clean(_markdown.render(text or ""), link_rel="noopener noreferrer nofollow")


def visible_queues(*, team, actor):
    qs = AnnotationQueue.objects.all()
    if can_manage(actor, team):
        return qs
    user = None if is_api_key(actor) else actor
    return qs.filter(Exists(Assignment.objects.filter(item__queue=OuterRef("pk"), user=user)))


def queue_for(*, team, actor, queue_id) -> AnnotationQueue:
    from apps.core.errors import NotFound

    queue = visible_queues(team=team, actor=actor).filter(pk=queue_id).first()
    if queue is None:
        raise NotFound("No such queue.")
    return queue


def queues_with_progress(*, team, actor):
    return visible_queues(team=team, actor=actor).annotate(
        total=Count("items", distinct=True),
        done=Count("items", filter=Q(items__status=ItemStatus.DONE), distinct=True),
        disputed=Count("items", filter=Q(items__status=ItemStatus.DISPUTED), distinct=True),
    )


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


def queue_progress(*, queue, user=None) -> Progress:
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


def my_open_items(user):
    """Open items assigned to the user that still wait for their verdict."""
    return QueueItem.objects.filter(
        status=ItemStatus.OPEN,
        assignments__user=user,
        assignments__done_at__isnull=True,
    )


def my_queue_count(request) -> int:
    """The "My queue" navigation badge: open assigned items (+ disputes for owners)."""
    user = request.user
    if not user.is_authenticated or request.team is None:
        return 0
    count = my_open_items(user).count()
    if request.membership is not None and request.membership.role == "owner":
        count += QueueItem.objects.filter(status=ItemStatus.DISPUTED).count()
    return count


def inbox(*, team, user):
    """Per queue: how many of the user's items wait, for the "My queue" page."""
    waiting = (
        my_open_items(user)
        .values("queue_id", "queue__name")
        .annotate(waiting=Count("id"))
        .order_by("queue__name")
    )
    disputed = []
    if can(user, PERM_OWN, team):
        disputed = list(
            QueueItem.objects.filter(status=ItemStatus.DISPUTED)
            .select_related("queue")
            .order_by("queue__name", "position")[:100]
        )
    return list(waiting), disputed


def neighbours(*, team, actor, item) -> tuple[int | None, int | None]:
    """Previous and next item ids in the actor's own order through the queue (J/K)."""
    from apps.annotations.services import visible_items

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


# --- agreement ---------------------------------------------------------------------------


@dataclass
class Agreement:
    name: str
    n: int
    percent: float | None
    kappa: float | None


def _agreement(name, pairs) -> Agreement:
    return Agreement(
        name=name, n=len(pairs), percent=percent_agreement(pairs), kappa=cohen_kappa(pairs)
    )


def human_verdicts(*, items) -> dict:
    """{result_id: human verdict} for items that have one."""
    verdicts = {}
    for item in items:
        verdict = item_verdict(item, list(item.annotations.all()))
        if verdict is not None and item.result_id is not None:
            verdicts[item.result_id] = verdict
    return verdicts


def evaluator_agreement(*, team, queue=None) -> list[Agreement]:
    """Per evaluator: how often its pass/fail matches the human verdict on the same result
    (percentage and Cohen's kappa), over one queue's items or the whole team's."""
    from apps.experiments.models import Score

    items = QueueItem.objects.filter(result__isnull=False).prefetch_related("annotations")
    if queue is not None:
        items = items.filter(queue=queue)
    verdicts = human_verdicts(items=items)
    if not verdicts:
        return []
    pairs = defaultdict(list)
    names = {}
    scores = (
        Score.objects.filter(result_id__in=list(verdicts), passed__isnull=False)
        .exclude(source="human")
        .select_related("evaluator")
        .order_by("evaluator_id", "result_id", "id")
    )
    for score in scores:
        key = score.evaluator_id or f"{score.source}:{score.label}"
        names[key] = score.evaluator_name or (
            score.evaluator.name if score.evaluator_id else score.source
        )
        pairs[key].append((score.passed, verdicts[score.result_id]))
    return sorted((_agreement(names[k], p) for k, p in pairs.items()), key=lambda a: a.name)


def annotator_agreement(*, queue) -> tuple[Agreement | None, list[Agreement]]:
    """Between annotators of a queue: every pair of verdicts on the same item, pooled,
    and per pair of annotators."""
    by_item = defaultdict(list)
    rows = (
        Annotation.objects.filter(item__queue=queue, author__isnull=False)
        .order_by("item_id", "author_id")
        .values_list("item_id", "author_id", "author_label", "passed")
    )
    for item_id, author_id, label, passed in rows:
        by_item[item_id].append((author_id, label, passed))
    pooled, per_pair, labels = [], defaultdict(list), {}
    for verdicts in by_item.values():
        for (a_id, a_label, a), (b_id, b_label, b) in combinations(verdicts, 2):
            pooled.append((a, b))
            per_pair[(a_id, b_id)].append((a, b))
            labels[(a_id, b_id)] = f"{a_label} & {b_label}"
    if not pooled:
        return None, []
    pairs = sorted((_agreement(labels[k], v) for k, v in per_pair.items()), key=lambda a: a.name)
    return _agreement("All annotators", pooled), pairs
