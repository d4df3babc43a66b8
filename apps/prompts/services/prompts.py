"""Creating a prompt and editing its description."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.core.errors import ValidationFailed
from apps.prompts.models import Prompt
from apps.prompts.permissions import WRITE
from apps.prompts.validators import validate_prompt_name
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import PERM_EDIT, Team
from apps.teams.permissions import actor_user, require


@transaction.atomic
def prompt_create(*, team: Team, actor: Actor, name: str, description: str = "") -> Prompt:
    require(actor, PERM_EDIT, team, scope=WRITE)
    name = validate_prompt_name((name or "").strip())
    # The team is named explicitly: the check holds in whatever scope the caller runs.
    if Prompt.objects.unscoped().filter(team=team, name=name).exists():
        raise ValidationFailed(f"A prompt named {name!r} already exists.", field="name")
    prompt = Prompt(
        team=team, name=name, description=(description or "").strip(), owner=actor_user(actor)
    )
    try:
        with transaction.atomic():
            prompt.save()
    except IntegrityError:
        raise ValidationFailed(f"A prompt named {name!r} already exists.", field="name") from None
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.create",
        target=prompt,
        after={"name": name, "description": prompt.description},
    )
    return prompt


@transaction.atomic
def prompt_update(*, team: Team, actor: Actor, prompt: Prompt, description: str) -> Prompt:
    require(actor, PERM_EDIT, team, scope=WRITE)
    before = {"description": prompt.description}
    prompt.description = (description or "").strip()
    prompt.updated_at = timezone.now()
    prompt.save(update_fields=["description", "updated_at"])
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.update",
        target=prompt,
        before=before,
        after={"description": prompt.description},
    )
    return prompt
