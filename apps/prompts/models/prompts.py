"""A prompt: the named, team-owned thing applications fetch; its per-prompt approvers."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from apps.core.tenancy import TeamOwned
from apps.prompts.validators import PROMPT_NAME_RE, TAG_NAME_RE

PERM_APPROVE_PROMOTION = "prompts.approve_promotion"

prompt_name_validator = RegexValidator(
    PROMPT_NAME_RE,
    "Use 1-100 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit.",
)
tag_name_validator = RegexValidator(
    TAG_NAME_RE, "Use 1-36 lowercase letters, digits, '_', '.' or '-'."
)


class Prompt(TeamOwned):
    name = models.CharField(max_length=100, validators=[prompt_name_validator])
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    # Set on the rows `selectors.prompt_list` returns: {tag name: version number}.
    tag_map: dict[str, int]

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
