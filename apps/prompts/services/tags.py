"""Moving tags: one move function every path shares (new versions move `latest`,
approved promotions move protected tags), each move recorded as a TagEvent."""

from __future__ import annotations

from datetime import datetime
from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core.errors import Conflict, PermissionRefused, ValidationFailed
from apps.prompts.models import (
    PromotionRequest,
    PromotionStatus,
    Prompt,
    PromptVersion,
    Rollout,
    RolloutStatus,
    Tag,
    TagEvent,
)
from apps.prompts.permissions import WRITE
from apps.prompts.selectors import previous_version_ids
from apps.prompts.signals import send_tag_moved
from apps.prompts.validators import LATEST_TAG, validate_tag_name
from apps.teams.actors import Actor
from apps.teams.audit import actor_label, audit_record
from apps.teams.models import PERM_ADMIN, PERM_EDIT, ApiKey, Team
from apps.teams.permissions import actor_user, is_api_key, require


def _key(actor: Actor | None) -> ApiKey | None:
    return actor if is_api_key(actor) else None


def _apply_move(
    *,
    team: Team,
    actor: Actor | None,
    prompt: Prompt,
    tag_name: str,
    version: PromptVersion,
    reason: str = "",
    approver: User | None = None,
    promotion: PromotionRequest | None = None,
    is_rollback: bool = False,
    is_emergency: bool = False,
    tag: Tag | None = None,
    immutable: bool = False,
    completing: Rollout | None = None,
) -> TagEvent:
    """Point the tag at `version` and record the move. Caller holds the transaction.
    `completing`: the rollout whose 100 % step this move is (any other rollout under way
    on the tag ends: the tag's traffic is wherever the move put it)."""
    if tag is None:
        tag = _locked_tag(prompt, tag_name)
    _refuse_frozen(tag)
    from_version = tag.version if tag is not None else None
    now = timezone.now()
    if tag is None:
        try:
            with transaction.atomic():
                Tag.objects.create(
                    team=team,
                    prompt=prompt,
                    name=tag_name,
                    version=version,
                    updated_at=now,
                    immutable=immutable,
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
        actor_user=actor_user(actor),
        actor_api_key=_key(actor),
        actor_label=actor_label(actor),
        approver=approver,
        promotion=promotion,
        reason=reason,
        is_rollback=is_rollback,
        is_emergency=is_emergency,
        created_at=now,
        rollout=completing,
        rollout_percent=100 if completing is not None else None,
    )
    _end_rollouts_by_move(
        team=team, actor=actor, prompt=prompt, tag_name=tag_name, version=version, now=now
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


def _end_rollouts_by_move(
    *,
    team: Team,
    actor: Actor | None,
    prompt: Prompt,
    tag_name: str,
    version: PromptVersion,
    now: datetime,
) -> None:
    """A move of the tag (a rollback, an approved plain promotion) ends a rollout under
    way on it: superseded, at 0 %. Caller holds the prompt lock."""
    active = Rollout.objects.select_for_update().filter(
        prompt=prompt, tag_name=tag_name, status=RolloutStatus.ACTIVE
    )
    for rollout in active:
        rollout.status = RolloutStatus.SUPERSEDED
        rollout.percent = 0
        rollout.updated_at = now
        rollout.ended_at = now
        rollout.end_reason = f"{tag_name} moved to v{version.number}"
        rollout.save()
        audit_record(
            team=team,
            actor=actor,
            verb="prompt.rollout_supersede",
            target=rollout,
            after={"reason": rollout.end_reason},
        )


def _lock_prompt(prompt: Prompt) -> Prompt:
    """Every tag move takes the prompt's row lock first: one lock order, no deadlocks, and
    a tag that does not exist yet is serialised too."""
    return Prompt.objects.select_for_update().get(pk=prompt.pk)


def _refuse_latest(tag_name: str) -> None:
    if tag_name == LATEST_TAG:
        raise ValidationFailed("'latest' follows the newest version by itself.", field="tag_name")


def _locked_tag(prompt: Prompt, tag_name: str) -> Tag | None:
    return Tag.objects.select_for_update().filter(prompt=prompt, name=tag_name).first()


def _refuse_frozen(tag: Tag | None) -> None:
    """A frozen release label never moves, whoever asks and however (move, rollback,
    promotion, rollout)."""
    if tag is not None and tag.immutable:
        raise Conflict(
            f"'{tag.name}' is a frozen release label: it points at v{tag.version.number} for "
            "good and never moves. Create a new tag instead."
        )


def _refuse_same_version(tag: Tag | None, tag_name: str, version: PromptVersion) -> None:
    if tag is not None and tag.version_id == version.pk:
        raise Conflict(f"'{tag_name}' already points at v{version.number}.")


def _tag_target(prompt: Prompt, tag_name: str, version: PromptVersion) -> None:
    validate_tag_name(tag_name)
    if version.prompt_id != prompt.pk:
        raise ValidationFailed("That version belongs to another prompt.", field="version")


@transaction.atomic
def tag_move(
    *,
    team: Team,
    actor: Actor,
    prompt: Prompt,
    tag_name: str,
    version: PromptVersion,
    reason: str = "",
    immutable: bool = False,
) -> TagEvent:
    """Move an unprotected tag, or create it; `immutable` creates a frozen release label
    (only a new tag can be created frozen)."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    _tag_target(prompt, tag_name, version)
    _refuse_latest(tag_name)
    if team.is_protected_tag(tag_name):
        raise PermissionRefused(
            f"'{tag_name}' is protected: request a promotion and have it approved."
        )
    _lock_prompt(prompt)
    tag = _locked_tag(prompt, tag_name)
    _refuse_frozen(tag)
    if immutable and tag is not None:
        raise ValidationFailed(
            f"'{tag_name}' already exists: only a new tag can be created frozen.",
            field="immutable",
        )
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
        immutable=immutable,
    )
    after = {"prompt": prompt.name, "tag": tag_name, "version": version.number}
    if immutable:
        after["immutable"] = True
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.tag_move",
        target=event,
        before=before,
        after=after,
    )
    return event


@transaction.atomic
def tag_rollback(
    *,
    team: Team,
    actor: Actor,
    prompt: Prompt,
    tag_name: str,
    version: PromptVersion,
    reason: str = "",
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
    _refuse_frozen(tag)
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
