"""Requests to move a protected tag, and the evidence a tag's policy demands."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TeamOwned
from apps.prompts.models.prompts import Prompt, tag_name_validator
from apps.prompts.models.versions import PromptVersion


class PromotionStatus(models.TextChoices):
    OPEN = "open", "Open"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    SUPERSEDED = "superseded", "Superseded"


class PromotionRequest(TeamOwned):
    """A request to move a protected tag, reviewed by someone other than the requester."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="promotions")
    tag_name = models.CharField(max_length=36, validators=[tag_name_validator])
    candidate = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="+")
    # What the tag pointed at when the request was made; null if the tag did not exist yet.
    current_version = models.ForeignKey(
        PromptVersion, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    description = models.TextField(blank=True)
    # Asks for a rollout at this share of traffic (1-99 %) instead of a move; null: a move.
    rollout_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    # Evidence comparing candidate and current: experiment ids (ints), and other kinds the
    # gate knows as "<kind>:<id>" strings, e.g. "optimisation:7" (apps.prompts.gates).
    evidence = models.JSONField(default=list, blank=True)
    status = models.CharField(
        max_length=12, choices=PromotionStatus.choices, default=PromotionStatus.OPEN
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requester_api_key = models.ForeignKey(
        "teams.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requester_label = models.CharField(max_length=200)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewer_label = models.CharField(max_length=200, blank=True)
    review_comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    # People asked to review it: [{"user_id", "email", "asked_by", "at"}] (the reviewers'
    # inbox marks these).
    review_asks = models.JSONField(default=list, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "status"], name="promotion_team_status")]

    def __str__(self):
        return f"#{self.pk} {self.prompt.name}@{self.tag_name} -> v{self.candidate.number}"

    @property
    def is_open(self) -> bool:
        return self.status == PromotionStatus.OPEN


class GateRule(models.TextChoices):
    NONINFERIORITY = "noninferiority", "Non-inferiority: shown not worse by more than the margin"
    NO_DETECTABLE_REGRESSION = (
        "no_detectable_regression",
        "Weaker: blocks only a regression the data can detect",
    )


class TagPolicy(TeamOwned):
    """Evidence a protected tag demands before a promotion is approved (the gate that
    apps.experiments registers): an experiment on `dataset`'s current revision comparing the
    candidate with the version at the tag on `evaluators`. Under `rule` non-inferiority the
    candidate must be shown not worse by more than `tolerance` (the margin, a fraction:
    0.02 = two points); under the weaker rule it fails only when detectably worse by more
    than `tolerance`."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="tag_policies")
    tag_name = models.CharField(max_length=36, validators=[tag_name_validator])
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.CASCADE, related_name="+")
    # Evaluator ids (apps.experiments.Evaluator); ids survive a rename.
    evaluators = models.JSONField(default=list, blank=True)
    tolerance = models.FloatField(default=0.0)
    rule = models.CharField(
        max_length=32, choices=GateRule.choices, default=GateRule.NONINFERIORITY
    )
    # {"provider_id", "model"}: what the gating experiment runs a version saved without a
    # model with (empty: the team's default model).
    model_settings = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prompt", "tag_name"], name="tag_policy_unique")
        ]

    def __str__(self):
        return f"{self.prompt.name}@{self.tag_name} policy"
