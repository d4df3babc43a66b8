"""Saving a new version: numbered under the prompt's row lock, never changed after."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max

from apps.core.errors import ValidationFailed
from apps.llm.selectors import provider_id_check
from apps.prompts import chains
from apps.prompts.content import check_content, content_hash, normalize_model_settings
from apps.prompts.models import Kind, Prompt, PromptVersion
from apps.prompts.permissions import WRITE
from apps.prompts.services.tags import _apply_move
from apps.prompts.validators import LATEST_TAG
from apps.teams.actors import Actor
from apps.teams.audit import actor_label, audit_record
from apps.teams.models import PERM_EDIT, Team
from apps.teams.permissions import actor_user, require


@transaction.atomic
def version_create(
    *,
    team: Team,
    actor: Actor,
    prompt: Prompt,
    kind: str,
    template: str = "",
    messages: list[dict[str, Any]] | None = None,
    variables_schema: dict[str, Any] | None = None,
    model_settings: dict[str, Any] | None = None,
    commit_message: str,
    parent: PromptVersion | None = None,
    steps: list[dict[str, Any]] | None = None,
) -> PromptVersion:
    """The next version of `prompt`; a `chain` version takes `steps` instead of a template
    (apps/prompts/chains.py)."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    commit_message = (commit_message or "").strip()
    if not commit_message:
        raise ValidationFailed("Describe the change in a commit message.", field="commit_message")
    if len(commit_message) > 500:
        raise ValidationFailed(
            "Keep the commit message under 500 characters.", field="commit_message"
        )
    template = template or ""
    messages = list(messages or [])
    if kind == Kind.TEXT:
        messages = []
    elif kind == Kind.CHAT:
        template = ""
        if not messages:
            raise ValidationFailed("A chat prompt needs at least one message.", field="messages")
    variables_schema = dict(variables_schema or {})
    if kind == Kind.CHAIN:
        template, messages = "", []
        steps = chains.clean_steps(steps, chain_prompt=prompt)
        variables = chains.chain_variables(steps, chain_prompt=prompt)
        extra = sorted(set(variables_schema) - set(variables))
        if extra:
            raise ValidationFailed(
                f"The variables schema names {extra[0]!r}, which the chain does not use.",
                field="variables_schema",
            )
    else:
        steps = []
        variables = check_content(
            kind=kind, template=template, messages=messages, variables_schema=variables_schema
        )
    model_settings = normalize_model_settings(model_settings)
    if parent is not None and parent.prompt_id != prompt.pk:
        raise ValidationFailed("The parent version belongs to another prompt.", field="parent")

    # The prompt row lock serialises version numbering: max+1 under the lock has no gaps.
    prompt = Prompt.objects.select_for_update().get(pk=prompt.pk)
    newest = PromptVersion.objects.filter(prompt=prompt).order_by("-number").first()
    digest = content_hash(
        kind=kind,
        template=template,
        messages=messages,
        variables_schema=variables_schema,
        model_settings=model_settings,
        steps=steps,
    )
    provider_id = model_settings.get("provider_id")
    carried = newest is not None and newest.model_settings.get("provider_id") == provider_id
    if provider_id is not None and not carried:
        # A posted id is checked against the team; one carried over unchanged from the
        # previous version may name a provider deleted since.
        provider_id_check(provider_id, team=team, field="model_settings.provider_id")
    if newest is not None and newest.content_hash == digest:
        raise ValidationFailed(
            f"Nothing changed since v{newest.number}; edit the prompt or its settings first.",
            field="template" if kind == Kind.TEXT else "messages",
        )
    number = (PromptVersion.objects.filter(prompt=prompt).aggregate(n=Max("number"))["n"] or 0) + 1
    version = PromptVersion(
        team=team,
        prompt=prompt,
        number=number,
        kind=kind,
        template=template,
        messages=messages,
        steps=steps,
        variables=variables,
        variables_schema=variables_schema,
        model_settings=model_settings,
        commit_message=commit_message,
        author=actor_user(actor),
        author_label=actor_label(actor),
        parent=parent if parent is not None else newest,
        content_hash=digest,
    )
    version.save()
    prompt.updated_at = version.created_at
    prompt.save(update_fields=["updated_at"])
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.version_create",
        target=version,
        after={
            "prompt": prompt.name,
            "number": number,
            "content_hash": digest,
            "commit_message": commit_message,
        },
    )
    _apply_move(
        team=team,
        actor=actor,
        prompt=prompt,
        tag_name=LATEST_TAG,
        version=version,
        reason=f"New version v{number}",
    )
    return version
