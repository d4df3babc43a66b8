"""Tags (movable names on versions) and the history of their moves."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TeamOwned
from apps.prompts.models.prompts import Prompt, tag_name_validator
from apps.prompts.models.versions import PromptVersion


class Tag(TeamOwned):
    """A movable name on one version. `latest` follows the newest version by itself."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=36, validators=[tag_name_validator])
    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="tags")
    updated_at = models.DateTimeField(default=timezone.now)
    # A frozen release label (e.g. `prod-v1.2` quoted in a bug report): set when the tag is
    # created, and from then on it never moves.
    immutable = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["prompt", "name"], name="tag_unique_name")]
        ordering = ["name"]

    def __str__(self):
        return f"{self.prompt.name}@{self.name}"


class TagEvent(TeamOwned):
    """One move of a tag: who, when, from, to, why, approved by whom."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="tag_events")
    tag_name = models.CharField(max_length=36)
    from_version = models.ForeignKey(
        PromptVersion, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    to_version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="+")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_api_key = models.ForeignKey(
        "teams.ApiKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    promotion = models.ForeignKey(
        "PromotionRequest", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.TextField(blank=True)
    # Rollout steps are recorded here too: start and steps (from base to candidate at
    # `rollout_percent`), abort (back to base, 0) and completion (the move, 100).
    rollout = models.ForeignKey(
        "Rollout", on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    rollout_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    is_rollback = models.BooleanField(default=False)
    is_emergency = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["prompt", "tag_name", "-created_at"], name="tagevent_tag")]

    def __str__(self):
        return f"{self.tag_name}: {self.from_version_id} -> {self.to_version_id}"

    @property
    def is_rollout_step(self) -> bool:
        """A step of a rollout that did not move the tag (start, step up, abort)."""
        return self.rollout_percent is not None and self.rollout_percent < 100
