"""The refine assistant: a question about a prompt, the assistant's answer and proposed
edit (stored as a conversation), and saving a proposal as a new version.

A turn is stored in two short transactions around the model call (the question, then the
answer), so no database transaction stays open while a model answers.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction

from apps.core.errors import NotFound, ValidationFailed
from apps.llm import gateway
from apps.llm.defaults import with_team_defaults
from apps.llm.model_settings import ModelSettings
from apps.llm.models import ProviderConfig
from apps.llm.selectors import provider_get, providers_for_team
from apps.playground import assistant
from apps.playground.models import RefineConversation, RefineMessage
from apps.prompts.models import Kind, Prompt, PromptVersion
from apps.prompts.selectors import version_at_tag, versions_of
from apps.prompts.services import prompt_create, version_create
from apps.teams.actors import Actor
from apps.teams.audit import audit_record
from apps.teams.models import PERM_EDIT, Team
from apps.teams.permissions import actor_user, require

ASSISTANT_TAG = "production"  # the assistant runs the version at this tag, else the newest


def _assistant_version(*, team: Team, actor: Actor) -> PromptVersion:
    """The team's assistant prompt version, seeding `refine-assistant` v1 on first use."""
    prompt = Prompt.objects.filter(name=assistant.ASSISTANT_PROMPT_NAME).first()
    if prompt is None:
        try:
            with transaction.atomic():
                prompt = prompt_create(
                    team=team,
                    actor=actor,
                    name=assistant.ASSISTANT_PROMPT_NAME,
                    description="The refine assistant's system prompt (seeded; edit it to "
                    "change how the assistant answers, and its model settings to change the "
                    "model it runs on).",
                )
                version_create(
                    team=team,
                    actor=actor,
                    prompt=prompt,
                    kind=Kind.TEXT,
                    template=assistant.DEFAULT_SYSTEM_PROMPT,
                    commit_message="Seeded: the refine assistant's default system prompt",
                )
        except (IntegrityError, ValidationFailed):
            # Another request seeded it at the same moment: use theirs.
            prompt = Prompt.objects.filter(name=assistant.ASSISTANT_PROMPT_NAME).first()
            if prompt is None:
                raise
    version = version_at_tag(prompt, ASSISTANT_TAG) or versions_of(prompt).first()
    if version is None:
        raise NotFound("The refine-assistant prompt has no version.")
    return version


def _system_text(version: PromptVersion) -> str:
    """The assistant version as a system prompt: a text template as written, a chat
    version's system and developer messages."""
    if version.kind == Kind.TEXT:
        return version.template
    return "\n\n".join(
        m.get("content", "")
        for m in version.messages or []
        if m.get("role") in ("system", "developer")
    )


def _model_for(team: Team, version: PromptVersion) -> tuple[ProviderConfig, ModelSettings]:
    """The assistant version's model, else the team default, else the first provider."""
    settings = ModelSettings.from_stored(with_team_defaults(version.model_settings or {}, team))
    provider = None
    if settings.provider_id:
        try:
            provider = provider_get(settings.provider_id)
        except NotFound:
            provider = None
    if provider is None:
        provider = providers_for_team().first()
        if provider is None:
            raise ValidationFailed(
                "Add a model provider first (Settings → Model providers).", field="ask"
            )
        settings = settings.replace(
            provider_id=provider.pk, model=(list(provider.models or []) or [""])[0]
        )
    if not settings.model:
        settings = settings.replace(model=(list(provider.models or []) or [""])[0])
    if not settings.max_tokens:
        settings = settings.replace(max_tokens=assistant.ANSWER_TOKENS)
    return provider, settings


def _history(conversation: RefineConversation) -> list[tuple[str, str]]:
    out = []
    for message in conversation.messages.order_by("created_at", "pk"):
        if message.error:
            continue
        if message.role == "user":
            out.append(("user", f"Request: {message.content}"))
        else:
            text = message.content
            if message.has_proposal:
                fence = assistant.fence_for(message.template)
                text += f"\n\n{fence}template\n{message.template}\n{fence}"
            out.append(("assistant", text))
    return out


def refine_message_add(
    *,
    team: Team,
    actor: Actor,
    ask: str,
    template: str,
    variables: list[str],
    rows: list[dict[str, Any]] | None = None,
    conversation: RefineConversation | None = None,
    prompt: Prompt | None = None,
    base_version: PromptVersion | None = None,
) -> RefineConversation:
    """Ask the assistant about `template`: stores the question and its answer (with the
    proposed template, if the answer holds one) in the conversation, new or continued."""
    require(actor, PERM_EDIT, team, message="Only editors can use the refine assistant.")
    ask = (ask or "").strip()
    if not ask:
        raise ValidationFailed("Ask the assistant something.", field="ask")
    if len(ask) > assistant.MAX_ASK:
        raise ValidationFailed(
            f"Keep the question under {assistant.MAX_ASK} characters.", field="ask"
        )
    template = template or ""
    if len(template) > assistant.MAX_TEMPLATE:
        raise ValidationFailed(
            f"The template is longer than {assistant.MAX_TEMPLATE} characters.", field="template"
        )
    rows = list(rows or [])[: assistant.MAX_ROWS]
    if base_version is not None and base_version.kind != Kind.TEXT:
        raise ValidationFailed(
            "The refine assistant edits text templates; this is a chat prompt.", field="ask"
        )
    with transaction.atomic():
        version = _assistant_version(team=team, actor=actor)
        provider, settings = _model_for(team, version)
        if conversation is None:
            if base_version is not None and prompt is None:
                prompt = base_version.prompt
            conversation = RefineConversation.objects.create(
                team=team,
                user=actor_user(actor),
                prompt=prompt,
                base_version=base_version,
                assistant_version=version,
                provider_name=provider.name,
                model=settings.model,
            )
        elif conversation.messages.filter(role="user").count() >= assistant.MAX_TURNS:
            raise ValidationFailed(
                f"This conversation has {assistant.MAX_TURNS} questions: start a new one.",
                field="ask",
            )
        history = _history(conversation)
        RefineMessage.objects.create(
            team=team,
            conversation=conversation,
            role="user",
            content=ask,
            template=template,
            rows=rows,
        )
    messages = assistant.conversation_messages(
        system=_system_text(version),
        history=history,
        question=assistant.question_text(
            template=template, variables=variables, ask=ask, rows=rows
        ),
    )
    answer = RefineMessage(team=team, conversation=conversation, role="assistant")
    try:
        completion = gateway.complete(provider, settings=settings, messages=messages)
    except gateway.GatewayError as exc:
        answer.error = exc.message
    else:
        proposal = assistant.parse_answer(completion.text)
        answer.content = proposal.explanation
        answer.has_proposal = proposal.template is not None
        answer.template = proposal.template or ""
        answer.input_tokens = completion.input_tokens
        answer.output_tokens = completion.output_tokens
        answer.cost = Decimal(str(completion.cost)) if completion.cost is not None else None
    with transaction.atomic():
        answer.save()
        audit_record(
            team=team,
            actor=actor,
            verb="playground.refine_ask",
            target=conversation,
            after={"proposal": answer.has_proposal, "error": bool(answer.error)},
        )
    return conversation


@transaction.atomic
def refine_version_save(
    *, team: Team, actor: Actor, message: RefineMessage, commit_message: str = ""
) -> PromptVersion:
    """Save an answer's proposed template as the next version of the conversation's
    prompt (settings and variable schema from the version it refined), and record it as
    what the conversation produced."""
    require(actor, PERM_EDIT, team, message="Only editors can save versions.")
    conversation = message.conversation
    if message.role != "assistant" or not message.has_proposal:
        raise ValidationFailed("This answer proposes no edit to save.", field="message")
    if conversation.prompt is None:
        raise ValidationFailed(
            "This conversation is about an unsaved prompt: apply the edit, then save it from "
            "the playground.",
            field="message",
        )
    base = conversation.base_version
    question = (
        conversation.messages.filter(role="user", created_at__lte=message.created_at)
        .order_by("-created_at", "-pk")
        .first()
    )
    commit_message = (commit_message or "").strip() or (
        f"Refine assistant: {question.content if question else 'proposed edit'}"
    )[:500]
    version = version_create(
        team=team,
        actor=actor,
        prompt=conversation.prompt,
        kind=Kind.TEXT,
        template=message.template,
        variables_schema=(base.variables_schema if base is not None else {}) or {},
        model_settings=(base.model_settings if base is not None else {}) or {},
        commit_message=commit_message,
        parent=base,
    )
    conversation.produced_version = version
    conversation.save(update_fields=["produced_version"])
    audit_record(
        team=team,
        actor=actor,
        verb="playground.refine_save",
        target=conversation,
        after={"prompt": conversation.prompt.name, "number": version.number},
    )
    return version
