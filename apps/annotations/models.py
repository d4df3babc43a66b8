"""Annotation queues: people judge outputs; each verdict is a human Score.

An item carries a snapshot of what the annotator needs (input, expected, output, prompt
version, automatic scores) so its page is one query and stays stable if the source changes.
An annotation is a `experiments.Score` row with source "human" (so comparisons show human
and automatic verdicts side by side) plus an `Annotation` row for what a Score cannot hold:
the extra form fields and a corrected expected output.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TeamOwned

LOCK_DURATION = timedelta(minutes=10)


class FieldKind(models.TextChoices):
    LABEL = "label", "Categorical label"
    NUMBER = "number", "Number in a range"
    TEXT = "text", "Free text"


class AnnotationQueue(TeamOwned):
    name = models.CharField(max_length=100)
    instructions = models.TextField(blank=True, help_text="Markdown.")
    # Extra verdict fields beyond pass/fail + reasoning, each
    # {"name", "kind": label|number|text, "label", "choices": [...], "min", "max", "required"}.
    form_fields = models.JSONField(default=list, blank=True)
    annotators_per_item = models.PositiveSmallIntegerField(default=1)
    hide_auto_scores = models.BooleanField(default=False)
    # "pass/fail *with reasoning*": a Fail verdict says why, unless the queue opts out.
    fail_needs_reasoning = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Next position handed to a new item: fills append, order is stable.
    next_position = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="annotation_queue_unique_name"),
            models.CheckConstraint(
                condition=models.Q(annotators_per_item__gte=1), name="annotation_queue_min_one"
            ),
        ]

    def __str__(self):
        return self.name


class ItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    DISPUTED = "disputed", "Disputed"


class QueueItem(TeamOwned):
    queue = models.ForeignKey(AnnotationQueue, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    result = models.ForeignKey(
        "experiments.Result",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="annotation_items",
    )
    # No database constraint: on PostgreSQL spans live in a partitioned table, whose keys
    # must hold its partition key, so no foreign key can name a span by id alone. Django
    # still nulls this when a span is deleted through the ORM, and retention nulls it
    # before dropping a partition (apps/traces/partitions.py).
    span = models.ForeignKey(
        "traces.Span",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="annotation_items",
        db_constraint=False,
    )
    # Where the item came from, readable after its source is gone ("result:12", "span:…").
    source_ref = models.CharField(max_length=300, blank=True)
    # {input, expected, output, error, prompt_version, variant, experiment, example_id, auto_scores}
    snapshot = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=ItemStatus.choices, default=ItemStatus.OPEN)
    annotation_count = models.PositiveSmallIntegerField(default=0)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    locked_until = models.DateTimeField(null=True, blank=True)
    # An owner's final decision on a disputed item.
    final_passed = models.BooleanField(null=True, blank=True)
    final_reasoning = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    final_score = models.OneToOneField(
        "experiments.Score",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="annotation_decision",
    )
    # Set once the item became a dataset example ("Add to dataset").
    added_to_dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    added_example_id = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["queue", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["queue", "position"], name="queue_item_unique_position"
            ),
            models.UniqueConstraint(
                fields=["queue", "result"],
                condition=models.Q(result__isnull=False),
                name="queue_item_unique_result",
            ),
        ]
        indexes = [models.Index(fields=["queue", "status", "position"], name="queue_item_status")]

    def __str__(self):
        return f"{self.queue_id}#{self.position}"

    def is_locked_by_other(self, user, now=None) -> bool:
        now = now or timezone.now()
        return (
            self.locked_by_id is not None
            and self.locked_by_id != getattr(user, "pk", None)
            and self.locked_until is not None
            and self.locked_until > now
        )


class Assignment(TeamOwned):
    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="assignments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="annotation_assignments"
    )
    created_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    # Skipped items come back last in the annotator's order.
    skipped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "user"], name="assignment_unique_user")
        ]
        indexes = [models.Index(fields=["user", "done_at"], name="assignment_user_open")]

    def __str__(self):
        return f"{self.item_id} -> {self.user_id}"


class Annotation(TeamOwned):
    """One person's verdict on one item; the verdict itself is `score` (source human)."""

    item = models.ForeignKey(QueueItem, on_delete=models.CASCADE, related_name="annotations")
    score = models.OneToOneField(
        "experiments.Score", on_delete=models.CASCADE, related_name="annotation"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="annotations",
    )
    author_label = models.CharField(max_length=200, blank=True)
    passed = models.BooleanField()
    reasoning = models.TextField(blank=True)
    fields = models.JSONField(default=dict, blank=True)
    corrected_expected = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["item", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "author"],
                condition=models.Q(author__isnull=False),
                name="annotation_unique_author",
            )
        ]

    def __str__(self):
        return f"{'pass' if self.passed else 'fail'} on {self.item_id} by {self.author_label}"
