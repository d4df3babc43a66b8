"""Prompt versions: immutable once saved, numbered 1, 2, 3... per prompt."""

from __future__ import annotations

from typing import Any, ClassVar, NoReturn, Self

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.core.tenancy import TeamOwned, TeamScopedManager
from apps.prompts.models.prompts import Prompt


class ImmutableRowError(RuntimeError):
    """Someone tried to change or delete a prompt version after it was saved."""


class Kind(models.TextChoices):
    TEXT = "text", "Text"
    CHAT = "chat", "Chat"
    # An ordered list of steps, each another prompt's version (apps/prompts/chains.py).
    CHAIN = "chain", "Chain"


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


# Assigned rather than subclassed: the django-stubs plugin only follows this form.
PromptVersionManager = TeamScopedManager.from_queryset(ImmutableQuerySet, "PromptVersionManager")


class PromptVersion(TeamOwned):
    """One saved state of a prompt. Never changes after it is saved (also enforced by a
    database trigger on the content columns, see migration 0002)."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    template = models.TextField(blank=True)
    messages = models.JSONField(default=list, blank=True)
    # A chain's steps: [{name, prompt, version | tag, inputs: {variable: template}}].
    steps = models.JSONField(default=list, blank=True)
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

    objects: ClassVar[PromptVersionManager[Self]] = PromptVersionManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "number"], name="prompt_version_unique_number"
            )
        ]
        ordering = ["prompt_id", "-number"]

    def __str__(self) -> str:
        return f"{self.prompt.name} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRowError("Prompt versions are immutable; create a new version instead.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise ImmutableRowError("Prompt versions are immutable and cannot be deleted.")

    @property
    def is_chat(self) -> bool:
        return self.kind == Kind.CHAT
