"""Every write to prompts, versions, tags and promotion requests."""

from __future__ import annotations

import hashlib
import json
from functools import partial

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from guardian.shortcuts import assign_perm, remove_perm

from apps.core.errors import Conflict, PermissionRefused, ValidationFailed
from apps.prompts import gates
from apps.prompts.models import (
    PERM_APPROVE_PROMOTION,
    Kind,
    PromotionRequest,
    PromotionStatus,
    Prompt,
    PromptVersion,
    Tag,
    TagEvent,
)
from apps.prompts.rendering import RenderError, template_variables, validate_schema
from apps.prompts.signals import send_tag_moved
from apps.prompts.validators import LATEST_TAG, validate_prompt_name, validate_tag_name
from apps.teams.audit import actor_label, audit_record
from apps.teams.models import PERM_ADMIN, PERM_EDIT, PERM_VIEW, Membership
from apps.teams.permissions import actor_can, is_api_key, require

WRITE = "prompts:write"
SETTINGS_KEYS = (
    "provider_id",
    "model",
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "response_format",
    "tools",
)
RESPONSE_FORMATS = ("text", "json_object", "json_schema")


def _user(actor):
    """The person behind an actor: the user, or for an API key nobody."""
    return None if actor is None or is_api_key(actor) else actor


def _key(actor):
    return actor if is_api_key(actor) else None


# --- content -----------------------------------------------------------------------


def content_hash(
    *, kind: str, template: str, messages: list, variables_schema: dict, model_settings: dict
) -> str:
    """sha256 of a canonical JSON of everything that changes what a version produces."""
    canonical = json.dumps(
        {
            "kind": kind,
            "template": template,
            "messages": messages,
            "schema": variables_schema,
            "settings": model_settings,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _number(settings: dict, key: str, *, low: float, high: float, integer: bool = False):
    value = settings[key]
    if value in (None, ""):
        return None
    kind = int if integer else float
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationFailed(f"{key} must be a number.", field=f"model_settings.{key}")
    try:
        number = kind(value)
    except ValueError:
        raise ValidationFailed(f"{key} must be a number.", field=f"model_settings.{key}")
    if integer and isinstance(value, float) and value != int(value):
        raise ValidationFailed(f"{key} must be a whole number.", field=f"model_settings.{key}")
    if not low <= number <= high:
        raise ValidationFailed(
            f"{key} must be between {low:g} and {high:g}.", field=f"model_settings.{key}"
        )
    return number


def normalize_model_settings(settings: dict | None) -> dict:
    """Checked, canonical model settings; unset values are left out."""
    settings = dict(settings or {})
    if not isinstance(settings, dict):
        raise ValidationFailed("Model settings must be an object.", field="model_settings")
    unknown = sorted(set(settings) - set(SETTINGS_KEYS))
    if unknown:
        raise ValidationFailed(
            f"Unknown model setting {unknown[0]!r}; use {', '.join(SETTINGS_KEYS)}.",
            field="model_settings",
        )
    out: dict = {}
    if settings.get("provider_id") not in (None, ""):
        out["provider_id"] = int(
            _number(settings, "provider_id", low=1, high=2**63 - 1, integer=True)
        )
    if settings.get("model") not in (None, ""):
        if not isinstance(settings["model"], str) or len(settings["model"]) > 200:
            raise ValidationFailed("model must be a name.", field="model_settings.model")
        out["model"] = settings["model"].strip()
    for key, low, high, integer in (
        ("temperature", 0, 2, False),
        ("top_p", 0, 1, False),
        ("max_tokens", 1, 1_000_000, True),
    ):
        if key in settings:
            value = _number(settings, key, low=low, high=high, integer=integer)
            if value is not None:
                out[key] = value
    stop = settings.get("stop")
    if stop not in (None, "", []):
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) or len(stop) > 4:
            raise ValidationFailed("stop must be up to 4 strings.", field="model_settings.stop")
        out["stop"] = stop
    fmt = settings.get("response_format")
    if fmt not in (None, ""):
        if isinstance(fmt, str):
            fmt = {"type": fmt}
        if not isinstance(fmt, dict) or fmt.get("type") not in RESPONSE_FORMATS:
            raise ValidationFailed(
                "response_format type must be text, json_object or json_schema.",
                field="model_settings.response_format",
            )
        if fmt["type"] == "json_schema" and not isinstance(fmt.get("json_schema"), dict):
            raise ValidationFailed(
                "A json_schema response format needs a json_schema object.",
                field="model_settings.response_format",
            )
        if fmt["type"] != "text":
            out["response_format"] = fmt
    tools = settings.get("tools")
    if tools not in (None, "", []):
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            raise ValidationFailed(
                "tools must be a list of tool objects.", field="model_settings.tools"
            )
        out["tools"] = tools
    return out


def check_content(
    *, kind: str, template: str, messages: list | None, variables_schema: dict | None
) -> list[str]:
    """The variables of valid content, or ValidationFailed naming the field (and line)."""
    if kind not in Kind.values:
        raise ValidationFailed("Kind must be 'text' or 'chat'.", field="kind")
    try:
        variables = template_variables(kind, template, messages)
    except RenderError as exc:
        field = "template" if kind == Kind.TEXT else "messages"
        raise ValidationFailed(exc.message, field=field, errors={field: [exc.message]}) from None
    try:
        validate_schema(variables_schema)
    except RenderError as exc:
        raise ValidationFailed(exc.message, field="variables_schema") from None
    extra = sorted(set(variables_schema or {}) - set(variables))
    if extra:
        raise ValidationFailed(
            f"The variables schema names {extra[0]!r}, which the template does not use.",
            field="variables_schema",
        )
    return variables


# --- prompts -----------------------------------------------------------------------


@transaction.atomic
def prompt_create(*, team, actor, name: str, description: str = "") -> Prompt:
    require(actor, PERM_EDIT, team, scope=WRITE)
    name = validate_prompt_name((name or "").strip())
    if Prompt.objects.unscoped().filter(team=team, name=name).exists():
        raise ValidationFailed(f"A prompt named {name!r} already exists.", field="name")
    prompt = Prompt(
        team=team, name=name, description=(description or "").strip(), owner=_user(actor)
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
def prompt_update(*, team, actor, prompt: Prompt, description: str) -> Prompt:
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


@transaction.atomic
def version_create(
    *,
    team,
    actor,
    prompt: Prompt,
    kind: str,
    template: str = "",
    messages: list | None = None,
    variables_schema: dict | None = None,
    model_settings: dict | None = None,
    commit_message: str,
    parent: PromptVersion | None = None,
) -> PromptVersion:
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
    )
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
        variables=variables,
        variables_schema=variables_schema,
        model_settings=model_settings,
        commit_message=commit_message,
        author=_user(actor),
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


# --- tags --------------------------------------------------------------------------


def _apply_move(
    *,
    team,
    actor,
    prompt: Prompt,
    tag_name: str,
    version: PromptVersion,
    reason: str = "",
    approver=None,
    promotion: PromotionRequest | None = None,
    is_rollback: bool = False,
    is_emergency: bool = False,
    tag: Tag | None = None,
) -> TagEvent:
    """Point the tag at `version` and record the move. Caller holds the transaction."""
    if tag is None:
        tag = _locked_tag(prompt, tag_name)
    from_version = tag.version if tag is not None else None
    now = timezone.now()
    if tag is None:
        try:
            with transaction.atomic():
                Tag.objects.create(
                    team=team, prompt=prompt, name=tag_name, version=version, updated_at=now
                )
        except IntegrityError:
            raise Conflict(f"Tag {tag_name!r} was just created by someone else; try again.")
    else:
        tag.version = version
        tag.updated_at = now
        tag.save(update_fields=["version", "updated_at"])
    event = TagEvent.objects.create(
        team=team,
        prompt=prompt,
        tag_name=tag_name,
        from_version=from_version,
        to_version=version,
        actor_user=_user(actor),
        actor_api_key=_key(actor),
        actor_label=actor_label(actor),
        approver=approver,
        promotion=promotion,
        reason=reason,
        is_rollback=is_rollback,
        is_emergency=is_emergency,
        created_at=now,
    )
    # Requests made against the old position can no longer be approved as they stand.
    stale = PromotionRequest.objects.filter(
        prompt=prompt, tag_name=tag_name, status=PromotionStatus.OPEN
    )
    if promotion is not None:
        stale = stale.exclude(pk=promotion.pk)
    for request in stale.select_for_update():
        if request.current_version_id != version.pk or request.candidate_id == version.pk:
            request.status = PromotionStatus.SUPERSEDED
            request.closed_at = now
            request.save(update_fields=["status", "closed_at"])
            audit_record(
                team=team,
                actor=actor,
                verb="prompt.promotion_supersede",
                target=request,
                after={"reason": f"{tag_name} moved to v{version.number}"},
            )
    transaction.on_commit(partial(send_tag_moved, team.pk, prompt.name, tag_name))
    return event


def _lock_prompt(prompt: Prompt) -> Prompt:
    """Every tag move takes the prompt's row lock first: one lock order, no deadlocks, and
    a tag that does not exist yet is serialised too."""
    return Prompt.objects.select_for_update().get(pk=prompt.pk)


def _refuse_latest(tag_name: str) -> None:
    if tag_name == LATEST_TAG:
        raise ValidationFailed("'latest' follows the newest version by itself.", field="tag_name")


def _locked_tag(prompt: Prompt, tag_name: str) -> Tag | None:
    return Tag.objects.select_for_update().filter(prompt=prompt, name=tag_name).first()


def _refuse_same_version(tag: Tag | None, tag_name: str, version: PromptVersion) -> None:
    if tag is not None and tag.version_id == version.pk:
        raise Conflict(f"'{tag_name}' already points at v{version.number}.")


def _tag_target(prompt: Prompt, tag_name: str, version: PromptVersion) -> None:
    validate_tag_name(tag_name)
    if version.prompt_id != prompt.pk:
        raise ValidationFailed("That version belongs to another prompt.", field="version")


@transaction.atomic
def tag_move(
    *, team, actor, prompt: Prompt, tag_name: str, version: PromptVersion, reason: str = ""
) -> TagEvent:
    require(actor, PERM_EDIT, team, scope=WRITE)
    _tag_target(prompt, tag_name, version)
    _refuse_latest(tag_name)
    if team.is_protected_tag(tag_name):
        raise PermissionRefused(
            f"'{tag_name}' is protected: request a promotion and have it approved."
        )
    _lock_prompt(prompt)
    tag = _locked_tag(prompt, tag_name)
    _refuse_same_version(tag, tag_name, version)
    before = {"version": tag.version.number} if tag is not None else None
    event = _apply_move(
        team=team,
        actor=actor,
        prompt=prompt,
        tag_name=tag_name,
        version=version,
        reason=(reason or "").strip(),
        tag=tag,
    )
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.tag_move",
        target=event,
        before=before,
        after={"prompt": prompt.name, "tag": tag_name, "version": version.number},
    )
    return event


def previous_version_ids(prompt: Prompt, tag_name: str) -> set[int]:
    """Versions this tag pointed at before (from its recorded history)."""
    events = TagEvent.objects.filter(prompt=prompt, tag_name=tag_name)
    ids = set(events.values_list("to_version_id", flat=True))
    ids |= {i for i in events.values_list("from_version_id", flat=True) if i}
    return ids


@transaction.atomic
def tag_rollback(
    *, team, actor, prompt: Prompt, tag_name: str, version: PromptVersion, reason: str = ""
) -> TagEvent:
    """Move a tag back to a version it pointed at before. On a protected tag this is an
    emergency rollback: owners and admins only, without review, with a mandatory reason."""
    _tag_target(prompt, tag_name, version)
    reason = (reason or "").strip()
    protected = team.is_protected_tag(tag_name)
    if protected:
        require(
            actor,
            PERM_ADMIN,
            team,
            message=f"'{tag_name}' is protected: only owners and admins may roll it back "
            "without review.",
        )
        if not reason:
            raise ValidationFailed(
                "An emergency rollback needs a reason; it goes into the history and the audit trail.",
                field="reason",
            )
    else:
        require(actor, PERM_EDIT, team, scope=WRITE)
    _refuse_latest(tag_name)
    _lock_prompt(prompt)
    tag = _locked_tag(prompt, tag_name)
    if tag is None:
        raise ValidationFailed(f"'{tag_name}' has never pointed anywhere.", field="tag_name")
    _refuse_same_version(tag, tag_name, version)
    if version.pk not in previous_version_ids(prompt, tag_name):
        raise ValidationFailed(
            f"'{tag_name}' never pointed at v{version.number}; roll back only to an earlier position.",
            field="version",
        )
    before = {"version": tag.version.number}
    event = _apply_move(
        team=team,
        actor=actor,
        prompt=prompt,
        tag_name=tag_name,
        version=version,
        reason=reason,
        is_rollback=True,
        is_emergency=protected,
        tag=tag,
    )
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.tag_emergency_rollback" if protected else "prompt.tag_rollback",
        target=event,
        before=before,
        after={
            "prompt": prompt.name,
            "tag": tag_name,
            "version": version.number,
            "reason": reason,
            "emergency": protected,
        },
    )
    return event


# --- promotion requests ------------------------------------------------------------


@transaction.atomic
def promotion_request_create(
    *,
    team,
    actor,
    prompt: Prompt,
    tag_name: str,
    candidate: PromptVersion,
    description: str = "",
    evidence: list | None = None,
) -> PromotionRequest:
    require(actor, PERM_EDIT, team, scope=WRITE)
    _tag_target(prompt, tag_name, candidate)
    _refuse_latest(tag_name)
    evidence = list(evidence or [])
    if not all(isinstance(e, int) and not isinstance(e, bool) for e in evidence):
        raise ValidationFailed("Evidence is a list of experiment ids.", field="evidence")
    tag = Tag.objects.filter(prompt=prompt, name=tag_name).first()
    _refuse_same_version(tag, tag_name, candidate)
    duplicate = PromotionRequest.objects.filter(
        prompt=prompt, tag_name=tag_name, candidate=candidate, status=PromotionStatus.OPEN
    ).first()
    if duplicate is not None:
        raise Conflict(
            f"Request #{duplicate.pk} already asks to move '{tag_name}' to v{candidate.number}."
        )
    request = PromotionRequest.objects.create(
        team=team,
        prompt=prompt,
        tag_name=tag_name,
        candidate=candidate,
        current_version=tag.version if tag is not None else None,
        description=(description or "").strip(),
        evidence=evidence,
        requester=_user(actor),
        requester_api_key=_key(actor),
        requester_label=actor_label(actor),
    )
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.promotion_request",
        target=request,
        after={
            "prompt": prompt.name,
            "tag": tag_name,
            "candidate": candidate.number,
            "current": tag.version.number if tag is not None else None,
        },
    )
    return request


def _person(actor) -> int | None:
    """The user id behind an actor: the user, or the creator of an API key."""
    if actor is None:
        return None
    if is_api_key(actor):
        return actor.created_by_id
    return getattr(actor, "pk", None)


def _is_requester(actor, request: PromotionRequest) -> bool:
    """Same key, same person, or a key of the same person: four eyes means two people."""
    if is_api_key(actor) and actor.pk == request.requester_api_key_id:
        return True
    person = _person(actor)
    if person is None:
        return False
    requester_people = {request.requester_id}
    if request.requester_api_key_id is not None:
        requester_people.add(request.requester_api_key.created_by_id)
    return person in requester_people


def review_blockers(actor, request: PromotionRequest) -> list[str]:
    """Why `actor` may not approve or reject this request (empty: they may)."""
    team = request.team
    reasons = []
    if not request.is_open:
        reasons.append(f"This request is {request.get_status_display().lower()}.")
    if _is_requester(actor, request):
        reasons.append("You requested this promotion; a teammate must review it.")
    if is_api_key(actor):
        if not actor.has_scope("admin"):
            reasons.append("Only API keys with the admin scope may review promotions.")
    elif not can_review_prompt(actor, team, request.prompt):
        reasons.append(
            "Only team owners and admins, or people granted approval on this prompt, may review."
        )
    return reasons


def can_review_prompt(user, team, prompt: Prompt) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if not actor_can(user, PERM_VIEW, team):
        return False  # a grant outlives membership; a former member reviews nothing
    return actor_can(user, PERM_ADMIN, team) or user.has_perm(PERM_APPROVE_PROMOTION, prompt)


def _refuse_closed(request: PromotionRequest) -> None:
    if not request.is_open:
        raise Conflict(f"This request is already {request.get_status_display().lower()}.")


def _reviewer(actor):
    if is_api_key(actor):
        return actor.created_by
    return actor


@transaction.atomic
def _close_or_supersede(*, team, actor, request: PromotionRequest, comment: str, approve: bool):
    _lock_prompt(request.prompt)
    request = (
        PromotionRequest.objects.select_for_update()
        .select_related("prompt", "candidate", "team")
        .get(pk=request.pk)
    )
    _refuse_closed(request)
    blockers = review_blockers(actor, request)
    if blockers:
        raise PermissionRefused(blockers[0])
    now = timezone.now()
    request.reviewer = _reviewer(actor)
    request.reviewer_label = actor_label(actor)
    request.review_comment = comment
    request.reviewed_at = now
    request.closed_at = now
    if not approve:
        request.status = PromotionStatus.REJECTED
        request.save()
        audit_record(
            team=team,
            actor=actor,
            verb="prompt.promotion_reject",
            target=request,
            after={"comment": comment},
        )
        return request, None
    tag = _locked_tag(request.prompt, request.tag_name)
    if (tag.version_id if tag else None) != request.current_version_id:
        request.status = PromotionStatus.SUPERSEDED
        request.save()
        audit_record(
            team=team,
            actor=actor,
            verb="prompt.promotion_supersede",
            target=request,
            after={"reason": f"{request.tag_name} moved since the request was made"},
        )
        return request, None
    # A protected tag's policy may demand evidence (the registered gate); raises when missing.
    gates.approval_enforce(request)
    request.status = PromotionStatus.APPROVED
    request.save()
    requester = request.requester_api_key or request.requester
    event = _apply_move(
        team=team,
        actor=requester,
        prompt=request.prompt,
        tag_name=request.tag_name,
        version=request.candidate,
        reason=request.description or f"Promotion request #{request.pk}",
        approver=_reviewer(actor),
        promotion=request,
        tag=tag,
    )
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.promotion_approve",
        target=request,
        before={"version": tag.version.number if tag else None},
        after={
            "prompt": request.prompt.name,
            "tag": request.tag_name,
            "version": request.candidate.number,
            "comment": comment,
            "tag_event": event.pk,
        },
    )
    return request, event


def promotion_approve(*, team, actor, promotion: PromotionRequest, comment: str = ""):
    """Approve and move the tag in one transaction. Raises Conflict (after recording it)
    when the tag moved since the request was made: the request is then superseded."""
    request, event = _close_or_supersede(
        team=team, actor=actor, request=promotion, comment=(comment or "").strip(), approve=True
    )
    if request.status == PromotionStatus.SUPERSEDED:
        raise Conflict(
            f"'{request.tag_name}' moved since this request was made; the request is superseded. "
            "Request the promotion again against the current version."
        )
    return request


def promotion_reject(*, team, actor, promotion: PromotionRequest, comment: str = ""):
    comment = (comment or "").strip()
    if not comment:
        raise ValidationFailed("Say why you reject the request.", field="comment")
    request, _ = _close_or_supersede(
        team=team, actor=actor, request=promotion, comment=comment, approve=False
    )
    return request


@transaction.atomic
def promotion_cancel(*, team, actor, promotion: PromotionRequest) -> PromotionRequest:
    request = PromotionRequest.objects.select_for_update().get(pk=promotion.pk)
    if not _is_requester(actor, request):
        require(actor, PERM_ADMIN, team, message="Only the requester or an admin may cancel.")
    else:
        require(actor, PERM_EDIT, team, scope=WRITE)
    _refuse_closed(request)
    request.status = PromotionStatus.CANCELLED
    request.closed_at = timezone.now()
    request.save(update_fields=["status", "closed_at"])
    audit_record(team=team, actor=actor, verb="prompt.promotion_cancel", target=request)
    return request


# --- per-prompt approvers ----------------------------------------------------------


def _member_user(team, user):
    if user is None or is_api_key(user):
        raise ValidationFailed("Choose a member of the team.", field="user")
    if not Membership.objects.unscoped().filter(team=team, user=user).exists():
        raise ValidationFailed("Only members of the team can approve its prompts.", field="user")
    return user


@transaction.atomic
def approver_grant(*, team, actor, prompt: Prompt, user) -> None:
    require(actor, PERM_ADMIN, team)
    _member_user(team, user)
    assign_perm(PERM_APPROVE_PROMOTION, user, prompt)
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.approver_grant",
        target=prompt,
        after={"user": user.email},
    )


@transaction.atomic
def approver_revoke(*, team, actor, prompt: Prompt, user) -> None:
    require(actor, PERM_ADMIN, team)
    remove_perm(PERM_APPROVE_PROMOTION, user, prompt)
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.approver_revoke",
        target=prompt,
        before={"user": user.email},
    )
