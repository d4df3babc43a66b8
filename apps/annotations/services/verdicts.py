"""Verdicts: an annotator's (an Annotation and its human Score), and an owner's final
decision on a disputed item."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.annotations.fields import clean_field_values, parse_passed
from apps.annotations.models import (
    Annotation,
    AnnotationQueue,
    Assignment,
    FieldKind,
    ItemStatus,
    QueueItem,
)
from apps.annotations.permissions import require_annotate, require_own
from apps.annotations.selectors import item_for
from apps.annotations.services.filling import queue_add_spans
from apps.core.errors import Conflict, ValidationFailed
from apps.core.hooks import hook_implementations
from apps.experiments.models import Score
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import Team
from apps.teams.permissions import actor_user

# Listeners `(*, team, actor, item, annotation)` called after each verdict is saved, in its
# transaction (registered by apps that show verdicts elsewhere, e.g. traces).
VERDICT_SAVED = "annotations.verdict_saved"

# Human scores have no Evaluator row; comparisons group them under this name.
HUMAN_EVALUATOR_NAME = "Human"


def _score_label(queue: AnnotationQueue, fields: dict[str, Any]) -> str:
    for spec in queue.form_fields or []:
        if spec["kind"] == FieldKind.LABEL and spec["name"] in fields:
            return str(fields[spec["name"]])[:100]  # labels are cleaned to text
    return ""


def _item_verdicts(item: QueueItem) -> list[bool]:
    return list(Annotation.objects.filter(item=item).values_list("passed", flat=True))


@transaction.atomic
def annotation_save(
    *,
    team: Team,
    actor: Actor,
    item: QueueItem,
    passed: Any,
    reasoning: str = "",
    fields: Any = None,
    corrected_expected: str = "",
) -> Annotation:
    """Record (or revise) the actor's verdict on the item as a human Score.

    Completes the actor's assignment; the item is done once it has enough verdicts, or
    disputed when those verdicts disagree."""
    require_annotate(actor, team)
    visible = item_for(team=team, actor=actor, item_id=item.pk)
    passed = parse_passed(passed)
    item = (
        QueueItem.objects.select_for_update(of=("self",))
        .select_related("queue", "result")
        .get(pk=visible.pk)
    )
    queue = item.queue
    user = actor_user(actor)
    now = timezone.now()
    fields = clean_field_values(queue, fields)
    reasoning = (reasoning or "").strip()
    if not passed and not reasoning and queue.fail_needs_reasoning:
        raise ValidationFailed(
            "Say why it fails: this queue asks for reasoning with every Fail.",
            field="reasoning",
        )
    existing = (
        Annotation.objects.select_for_update()
        .select_related("score")
        .filter(item=item, author=user)
        .first()
        if user is not None
        else None
    )
    if existing is None:
        if item.status != ItemStatus.OPEN:
            raise Conflict("This item already has its verdicts.", field="passed")
        exclusive = item.annotation_count >= queue.annotators_per_item - 1
        if (
            exclusive
            and item.is_locked_by_other(user, now)
            and (locker := item.locked_by) is not None
        ):
            raise Conflict(f"{locker.email} is annotating this item; try another.", field="passed")
    elif item.decided_at is not None:
        raise Conflict("An owner has decided this item; it can no longer change.")
    result = item.result
    author_label = user.email if user is not None else str(actor)
    if existing is None:
        score = Score(
            team=team,
            result=result,
            experiment_id=result.experiment_id if result is not None else None,
            evaluator=None,
            evaluator_name=HUMAN_EVALUATOR_NAME,
            source="human",
            author=user,
        )
        annotation = Annotation(item=item, team=team, author=user, author_label=author_label)
        before = None
    else:
        annotation, score = existing, existing.score
        before = {"passed": annotation.passed, "reasoning": annotation.reasoning}
    score.value = 1.0 if passed else 0.0
    score.passed = passed
    score.label = _score_label(queue, fields) or ("pass" if passed else "fail")
    score.explanation = reasoning
    score.save()
    annotation.score = score
    annotation.passed = passed
    annotation.reasoning = reasoning
    annotation.fields = fields
    annotation.corrected_expected = (corrected_expected or "").strip()
    annotation.updated_at = now
    annotation.save()
    if user is not None:
        Assignment.objects.filter(item=item, user=user).update(done_at=now, skipped_at=None)
    _settle(item, queue)
    if item.locked_by_id is not None and item.locked_by_id == getattr(user, "pk", None):
        item.locked_by, item.locked_until = None, None
        item.save(update_fields=["locked_by", "locked_until"])
    # Apps that show verdicts elsewhere (traces: on the span's trace) hear of each one.
    for listener in hook_implementations(VERDICT_SAVED):
        listener(team=team, actor=actor, item=item, annotation=annotation)
    audit_record(
        team=team,
        actor=actor,
        verb="annotation.create" if before is None else "annotation.update",
        target=annotation,
        before=before,
        after={
            "item": item.pk,
            "passed": passed,
            "reasoning": reasoning[:500],
            "fields": fields,
            "item_status": item.status,
        },
    )
    return annotation


def _settle(item: QueueItem, queue: AnnotationQueue) -> None:
    verdicts = _item_verdicts(item)
    item.annotation_count = len(verdicts)
    if item.decided_at is None:
        if len(verdicts) >= queue.annotators_per_item:
            item.status = ItemStatus.DISPUTED if len(set(verdicts)) > 1 else ItemStatus.DONE
        else:
            item.status = ItemStatus.OPEN
    item.save(update_fields=["annotation_count", "status"])


@transaction.atomic
def item_decide(
    *, team: Team, actor: Actor, item: QueueItem, passed: Any, reasoning: str = ""
) -> QueueItem:
    """An owner's final verdict on a disputed item; it becomes the item's human verdict."""
    require_own(actor, team)
    passed = parse_passed(passed)
    item = (
        QueueItem.objects.select_for_update(of=("self",)).select_related("result").get(pk=item.pk)
    )
    if item.status != ItemStatus.DISPUTED:
        raise Conflict("Only disputed items need a final decision.")
    user = actor_user(actor)
    now = timezone.now()
    result = item.result
    score = Score.objects.create(
        team=team,
        result=result,
        experiment_id=result.experiment_id if result is not None else None,
        evaluator=None,
        value=1.0 if passed else 0.0,
        passed=passed,
        evaluator_name=HUMAN_EVALUATOR_NAME,
        label="final decision",
        explanation=(reasoning or "").strip(),
        source="human",
        author=user,
    )
    item.final_passed = passed
    item.final_reasoning = (reasoning or "").strip()
    item.decided_by = user
    item.decided_at = now
    item.final_score = score
    item.status = ItemStatus.DONE
    item.save(
        update_fields=[
            "final_passed",
            "final_reasoning",
            "decided_by",
            "decided_at",
            "final_score",
            "status",
        ]
    )
    audit_record(
        team=team,
        actor=actor,
        verb="annotation.decide",
        target=item,
        after={"passed": passed, "reasoning": item.final_reasoning[:500]},
    )
    return item


@transaction.atomic
def span_annotation_save(
    *,
    team: Team,
    actor: Actor,
    queue: AnnotationQueue,
    span: Any,
    passed: Any,
    reasoning: str = "",
    fields: Any = None,
) -> Annotation:
    """A verdict on a trace's span given where the trace is read, under a queue's rules:
    the span becomes the queue's item if it is not one yet (which takes the right to fill
    the queue), then the actor's verdict is saved on it as in the queue itself (its
    reasoning rule, its extra fields, its number of annotators, its locks)."""
    item = QueueItem.objects.filter(queue=queue, span_id=span.pk).first()
    if item is None:
        added = queue_add_spans(team=team, actor=actor, queue=queue, spans=[span])
        item = added[0] if added else QueueItem.objects.get(queue=queue, span_id=span.pk)
    return annotation_save(
        team=team, actor=actor, item=item, passed=passed, reasoning=reasoning, fields=fields
    )
