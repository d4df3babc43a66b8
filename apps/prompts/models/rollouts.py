"""Rollouts: a tag serving a candidate version to a share of traffic and its current
version to the rest, until the share reaches 100 % (the move) or is aborted (0 %)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TeamOwned
from apps.prompts.models.prompts import Prompt
from apps.prompts.models.versions import PromptVersion


class RolloutStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed (moved)"
    ABORTED = "aborted", "Aborted"
    SUPERSEDED = "superseded", "Ended by a move of the tag"


class Rollout(TeamOwned):
    """`tag_name` of `prompt` serves `candidate` to `percent` % of callers (by a sticky hash
    of the caller's key, promptyard.rollouts) and `base`, where the tag points, to the
    rest. The tag itself moves only when the rollout completes."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="rollouts")
    tag_name = models.CharField(max_length=36)
    base = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="+")
    candidate = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="+")
    percent = models.PositiveSmallIntegerField()
    status = models.CharField(
        max_length=12, choices=RolloutStatus.choices, default=RolloutStatus.ACTIVE
    )
    promotion = models.ForeignKey(
        "PromotionRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    started_by_label = models.CharField(max_length=200)
    # The guardrail (a worker checks it on a schedule): abort when the candidate's error
    # rate is worse than the current arm's by more than this margin (a fraction), with
    # significance. Null: no guardrail.
    guardrail_margin = models.FloatField(null=True, blank=True, default=0.02)
    # Optionally a score of the arms' traces too (feedback, online evaluators): abort when
    # the candidate's pass rate (boolean) or mean (number) is lower beyond the same margin
    # (points of a pass rate; the score's own units for a number). '' checks errors only.
    guardrail_score = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "tag_name"],
                condition=models.Q(status="active"),
                name="rollout_one_active_per_tag",
            ),
            models.CheckConstraint(
                condition=models.Q(percent__lte=100), name="rollout_percent_at_most_100"
            ),
        ]
        indexes = [models.Index(fields=["team", "status"], name="rollout_team_status")]

    def __str__(self):
        return f"{self.prompt.name}@{self.tag_name}: v{self.candidate.number} at {self.percent} %"

    @property
    def is_active(self) -> bool:
        return self.status == RolloutStatus.ACTIVE

    @property
    def base_percent(self) -> int:
        return 100 - self.percent
