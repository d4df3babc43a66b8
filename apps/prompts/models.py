"""Prompts, their immutable versions, tags, the tag history and promotion requests."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from apps.core.tenancy import TeamOwned, TeamScopedManager
from apps.prompts.validators import PROMPT_NAME_RE, TAG_NAME_RE

PERM_APPROVE_PROMOTION = "prompts.approve_promotion"

prompt_name_validator = RegexValidator(
    PROMPT_NAME_RE,
    "Use 1-100 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit.",
)
tag_name_validator = RegexValidator(
    TAG_NAME_RE, "Use 1-36 lowercase letters, digits, '_', '.' or '-'."
)


class ImmutableRowError(RuntimeError):
    """Someone tried to change or delete a prompt version after it was saved."""


class Kind(models.TextChoices):
    TEXT = "text", "Text"
    CHAT = "chat", "Chat"


class Prompt(TeamOwned):
    name = models.CharField(max_length=100, validators=[prompt_name_validator])
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="prompt_unique_name")]
        permissions = [("approve_promotion", "Approve promotion requests of this prompt")]
        ordering = ["name"]

    def __str__(self):
        return self.name


class PromptUserObjectPermission(UserObjectPermissionBase):
    # Guardian's direct-FK grant rows: they are reached through their Prompt (which is
    # TeamOwned), and guardian queries them with its own managers, outside any team scope.
    content_object = models.ForeignKey(Prompt, on_delete=models.CASCADE)


class PromptGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Prompt, on_delete=models.CASCADE)


class ImmutableQuerySet(models.QuerySet):
    """Bulk writes would bypass save(): refuse them. Cascading deletes of a whole team or
    prompt go through Django's collector, which does not call these."""

    def update(self, **kwargs):
        raise ImmutableRowError("Prompt versions are immutable; create a new version instead.")

    def delete(self):
        raise ImmutableRowError("Prompt versions are immutable and cannot be deleted.")

    def bulk_update(self, objs, fields, batch_size=None):
        raise ImmutableRowError("Prompt versions are immutable; create a new version instead.")

    def update_or_create(self, *args, **kwargs):
        raise ImmutableRowError("Prompt versions are immutable; create a new version instead.")


class PromptVersionManager(TeamScopedManager.from_queryset(ImmutableQuerySet)):
    pass


class PromptVersion(TeamOwned):
    """One saved state of a prompt. Never changes after it is saved (also enforced by a
    database trigger on the content columns, see migration 0002)."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    template = models.TextField(blank=True)
    messages = models.JSONField(default=list, blank=True)
    variables = models.JSONField(default=list, blank=True)
    variables_schema = models.JSONField(default=dict, blank=True)
    model_settings = models.JSONField(default=dict, blank=True)
    commit_message = models.CharField(max_length=500)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_label = models.CharField(max_length=200, blank=True)
    # DO_NOTHING: versions only disappear with their whole prompt (deferred FK check).
    parent = models.ForeignKey(
        "self", on_delete=models.DO_NOTHING, null=True, blank=True, related_name="+"
    )
    content_hash = models.CharField(max_length=64, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = PromptVersionManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "number"], name="prompt_version_unique_number"
            )
        ]
        ordering = ["prompt_id", "-number"]

    def __str__(self):
        return f"{self.prompt.name} v{self.number}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRowError("Prompt versions are immutable; create a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRowError("Prompt versions are immutable and cannot be deleted.")

    @property
    def is_chat(self) -> bool:
        return self.kind == Kind.CHAT


class Tag(TeamOwned):
    """A movable name on one version. `latest` follows the newest version by itself."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="tags")
    name = models.CharField(max_length=36, validators=[tag_name_validator])
    version = models.ForeignKey(PromptVersion, on_delete=models.CASCADE, related_name="tags")
    updated_at = models.DateTimeField(default=timezone.now)

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
    is_rollback = models.BooleanField(default=False)
    is_emergency = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["prompt", "tag_name", "-created_at"], name="tagevent_tag")]

    def __str__(self):
        return f"{self.tag_name}: {self.from_version_id} -> {self.to_version_id}"


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
    # Experiment ids comparing candidate and current; the experiments app may replace
    # this with a relation.
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
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["team", "status"], name="promotion_team_status")]

    def __str__(self):
        return f"#{self.pk} {self.prompt.name}@{self.tag_name} -> v{self.candidate.number}"

    @property
    def is_open(self) -> bool:
        return self.status == PromotionStatus.OPEN


class TagPolicy(TeamOwned):
    """Evidence a protected tag demands before a promotion is approved (apps.prompts.policy):
    an experiment on `dataset`'s current revision where the candidate is not worse than the
    version at the tag, on `evaluators`, beyond `tolerance` (a fraction: 0.02 = two points)."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="tag_policies")
    tag_name = models.CharField(max_length=36, validators=[tag_name_validator])
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.CASCADE, related_name="+")
    # Evaluator ids (apps.experiments.Evaluator); ids survive a rename.
    evaluators = models.JSONField(default=list, blank=True)
    tolerance = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prompt", "tag_name"], name="tag_policy_unique")
        ]

    def __str__(self):
        return f"{self.prompt.name}@{self.tag_name} policy"


from apps.prompts.models_telemetry import FetchStat  # noqa: E402,F401  (fetch telemetry)
