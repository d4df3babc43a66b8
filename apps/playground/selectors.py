"""Reads for the playground: its runs, and the versions and prompts it opens and saves to."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.core.errors import NotFound, ValidationFailed
from apps.playground.models import PlaygroundRun
from apps.prompts.models import Prompt, PromptVersion

PROMPT_CHOICES = 500  # prompts offered to save to


def run_list() -> QuerySet[PlaygroundRun]:
    """The team's runs, newest first."""
    return PlaygroundRun.objects.select_related("user", "prompt_version__prompt").order_by(
        "-created_at", "-pk"
    )


def run_get(run_id: Any) -> PlaygroundRun:
    try:
        return run_list().get(pk=int(run_id))
    except (PlaygroundRun.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such playground run.") from None


def version_named(version_id: Any) -> PromptVersion | None:
    """The version a page or post names by id (`?version=`, `version_id`): None when it
    names none, NotFound when there is no such version."""
    if not version_id:
        return None
    try:
        return PromptVersion.objects.select_related("prompt").get(pk=int(version_id))
    except (PromptVersion.DoesNotExist, ValueError, TypeError):
        raise NotFound("No such prompt version.") from None


def prompt_for_field(value: Any, *, field: str = "prompt_id") -> Prompt:
    """The prompt a posted id names, or ValidationFailed on `field`."""
    try:
        return Prompt.objects.get(pk=int(value or 0))
    except (Prompt.DoesNotExist, ValueError, TypeError):
        raise ValidationFailed("Choose the prompt to save to.", field=field) from None


def prompt_choices() -> QuerySet[Prompt]:
    """The prompts a variant may be saved to, by name."""
    return Prompt.objects.order_by("name")[:PROMPT_CHOICES]
