"""Rollouts: a tag serving a candidate to a share of traffic (sticky per caller key, see
promptyard.rollouts), stepped up until 100 % moves the tag, or aborted back to 0 %.

On a protected tag a rollout starts only through an approved promotion request that asks
for one (apps.prompts.services.promotions), under the same review and policy as a move;
on other tags editors start it directly. Every start, step, abort and completion is a
TagEvent (with `rollout_percent`) and an audit record.
"""

from __future__ import annotations

from functools import partial

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.models import User
from apps.core.errors import Conflict, PermissionRefused, ValidationFailed
from apps.prompts.models import (
    PromotionRequest,
    Prompt,
    PromptVersion,
    Rollout,
    RolloutStatus,
    Tag,
    TagEvent,
)
from apps.prompts.permissions import WRITE, rollout_steer_blocker
from apps.prompts.services.tags import (
    _apply_move,
    _key,
    _lock_prompt,
    _locked_tag,
    _refuse_frozen,
    _refuse_latest,
    _refuse_same_version,
    _tag_target,
)
from apps.prompts.signals import send_rollout_changed
from apps.teams.actors import Actor
from apps.teams.audit import actor_label, audit_record
from apps.teams.models import PERM_EDIT, Team
from apps.teams.permissions import actor_person, actor_user, require


def _rollout_percent_checked(percent: object, *, field: str = "rollout_percent") -> int:
    """A rollout serves the candidate to 1-99 % of traffic (100 % is a move)."""
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 99:
        raise ValidationFailed(
            "A rollout serves the candidate to 1-99 % of traffic (for 100 %, ask for a move).",
            field=field,
        )
    return percent


def _refuse_active(prompt: Prompt, tag_name: str) -> None:
    active = Rollout.objects.filter(
        prompt=prompt, tag_name=tag_name, status=RolloutStatus.ACTIVE
    ).first()
    if active is not None:
        raise Conflict(
            f"'{tag_name}' already has rollout #{active.pk} under way "
            f"(v{active.candidate.number} at {active.percent} %): complete or abort it first."
        )


def _rollout_start_checked(prompt: Prompt, tag_name: str, candidate: PromptVersion) -> Tag:
    """What a rollout needs of the tag: it exists, is not frozen, is not `latest`, points
    elsewhere than the candidate and has no rollout under way. Returns the tag."""
    _tag_target(prompt, tag_name, candidate)
    _refuse_latest(tag_name)
    tag = Tag.objects.select_related("version").filter(prompt=prompt, name=tag_name).first()
    if tag is None:
        raise ValidationFailed(
            f"'{tag_name}' points at nothing yet: there is no current version to share "
            "traffic with. Move it instead.",
            field="tag_name",
        )
    _refuse_frozen(tag)
    _refuse_same_version(tag, tag_name, candidate)
    _refuse_active(prompt, tag_name)
    return tag


def _event(
    *,
    team: Team,
    actor: Actor | None,
    rollout: Rollout,
    percent: int,
    reason: str,
    from_version: PromptVersion,
    to_version: PromptVersion,
    approver: User | None = None,
) -> TagEvent:
    return TagEvent.objects.create(
        team=team,
        prompt=rollout.prompt,
        tag_name=rollout.tag_name,
        from_version=from_version,
        to_version=to_version,
        actor_user=actor_user(actor),
        actor_api_key=_key(actor),
        actor_label=actor_label(actor),
        approver=approver,
        promotion=rollout.promotion,
        reason=reason,
        rollout=rollout,
        rollout_percent=percent,
        created_at=rollout.updated_at,
    )


def _announce(team: Team, rollout: Rollout) -> None:
    # Served answers carry the rollout: drop them, and tell listeners (webhooks).
    transaction.on_commit(
        partial(send_rollout_changed, team.pk, rollout.prompt.name, rollout.tag_name, rollout.pk)
    )


def _open_rollout(
    *,
    team: Team,
    actor: Actor | None,
    prompt: Prompt,
    tag: Tag,
    candidate: PromptVersion,
    percent: int,
    reason: str,
    promotion: PromotionRequest | None = None,
    approver: User | None = None,
    guardrail_margin: float | None = 0.02,
    guardrail_score: str = "",
) -> Rollout:
    """Create the rollout (caller holds the prompt lock and checked everything)."""
    now = timezone.now()
    try:
        with transaction.atomic():
            rollout = Rollout.objects.create(
                team=team,
                prompt=prompt,
                tag_name=tag.name,
                base=tag.version,
                candidate=candidate,
                percent=percent,
                promotion=promotion,
                started_by=actor_person(actor),
                started_by_label=actor_label(actor),
                guardrail_margin=guardrail_margin,
                guardrail_score=guardrail_score,
                created_at=now,
                updated_at=now,
            )
    except IntegrityError:
        raise Conflict(f"'{tag.name}' already has a rollout under way; try again.")
    _event(
        team=team,
        actor=actor,
        rollout=rollout,
        percent=percent,
        reason=reason or f"Rollout of v{candidate.number} started at {percent} %",
        from_version=tag.version,
        to_version=candidate,
        approver=approver,
    )
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.rollout_start",
        target=rollout,
        after={
            "prompt": prompt.name,
            "tag": tag.name,
            "base": tag.version.number,
            "candidate": candidate.number,
            "percent": percent,
            "promotion": promotion.pk if promotion is not None else None,
        },
    )
    _announce(team, rollout)
    return rollout


def _guardrail_margin_check(margin: object) -> float | None:
    if margin is None:
        return None
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0 <= margin < 1:
        raise ValidationFailed(
            "The guardrail margin is a fraction between 0 and 1 (0.02 = two points).",
            field="guardrail_margin",
        )
    return float(margin)


def _guardrail_score_check(name: object) -> str:
    name = (name or "").strip() if isinstance(name, str) or name is None else name
    if not isinstance(name, str) or len(name) > 100:
        raise ValidationFailed(
            "The guardrail score is a score name of at most 100 characters.",
            field="guardrail_score",
        )
    return name


@transaction.atomic
def rollout_start(
    *,
    team: Team,
    actor: Actor,
    prompt: Prompt,
    tag_name: str,
    candidate: PromptVersion,
    percent: int,
    reason: str = "",
    guardrail_margin: float | None = 0.02,
    guardrail_score: str = "",
) -> Rollout:
    """Start a rollout on an unprotected tag. A protected tag answers 403: request a
    promotion that asks for a rollout, and have it approved."""
    require(actor, PERM_EDIT, team, scope=WRITE)
    percent = _rollout_percent_checked(percent, field="percent")
    guardrail_margin = _guardrail_margin_check(guardrail_margin)
    guardrail_score = _guardrail_score_check(guardrail_score)
    if team.is_protected_tag(tag_name):
        raise PermissionRefused(
            f"'{tag_name}' is protected: request a promotion with a rollout and have it approved."
        )
    _lock_prompt(prompt)  # every tag move takes it first: the tag stays as checked
    tag = _rollout_start_checked(prompt, tag_name, candidate)
    return _open_rollout(
        team=team,
        actor=actor,
        prompt=prompt,
        tag=tag,
        candidate=candidate,
        percent=percent,
        reason=(reason or "").strip(),
        guardrail_margin=guardrail_margin,
        guardrail_score=guardrail_score,
    )


@transaction.atomic
def rollout_guardrail_set(
    *,
    team: Team,
    actor: Actor,
    rollout: Rollout,
    margin: float | None,
    score: str = "",
) -> Rollout:
    """Change a running rollout's guardrail (the margin, null for none, and the score it
    also watches): whoever may steer the rollout may, and the audit trail says so."""
    margin = _guardrail_margin_check(margin)
    score = _guardrail_score_check(score)
    rollout = _locked_active(rollout)
    _require_steer(actor, team, rollout)
    before = {
        "guardrail_margin": rollout.guardrail_margin,
        "guardrail_score": rollout.guardrail_score,
    }
    rollout.guardrail_margin = margin
    rollout.guardrail_score = score
    rollout.updated_at = timezone.now()
    rollout.save(update_fields=["guardrail_margin", "guardrail_score", "updated_at"])
    audit_record(
        team=team,
        actor=actor,
        verb="prompt.rollout_guardrail",
        target=rollout,
        before=before,
        after={"guardrail_margin": margin, "guardrail_score": score},
    )
    return rollout


def _locked_active(rollout: Rollout) -> Rollout:
    _lock_prompt(rollout.prompt)
    locked = (
        # Only the rollout's row: `promotion` is nullable (an outer join, which PostgreSQL
        # cannot lock) and the prompt is already locked above.
        Rollout.objects.select_for_update(of=("self",))
        .select_related("prompt", "base", "candidate", "promotion")
        .get(pk=rollout.pk)
    )
    if not locked.is_active:
        raise Conflict(f"Rollout #{locked.pk} is {locked.get_status_display().lower()}.")
    return locked


def _require_steer(actor: Actor, team: Team, rollout: Rollout) -> None:
    blocker = rollout_steer_blocker(actor, team, rollout.prompt, rollout.tag_name)
    if blocker:
        raise PermissionRefused(blocker)


@transaction.atomic
def rollout_step(
    *, team: Team, actor: Actor, rollout: Rollout, percent: int, reason: str = ""
) -> Rollout:
    """Serve the candidate to more traffic; 100 % completes the rollout: the tag moves to
    the candidate. Going down is an abort (all traffic back at once)."""
    if isinstance(percent, bool) or not isinstance(percent, int) or not 1 <= percent <= 100:
        raise ValidationFailed("A step is a share of traffic from 1 to 100 %.", field="percent")
    rollout = _locked_active(rollout)
    _require_steer(actor, team, rollout)
    if percent <= rollout.percent:
        raise ValidationFailed(
            f"Rollout #{rollout.pk} is at {rollout.percent} %: a step goes up. To send all "
            "traffic back to the current version, abort it.",
            field="percent",
        )
    before = {"percent": rollout.percent}
    reason = (reason or "").strip()
    now = timezone.now()
    rollout.percent = percent
    rollout.updated_at = now
    if percent == 100:
        rollout.status = RolloutStatus.COMPLETED
        rollout.ended_at = now
        rollout.end_reason = reason or "Completed at 100 %"
        rollout.save()
        tag = _locked_tag(rollout.prompt, rollout.tag_name)
        event = _apply_move(
            team=team,
            actor=actor,
            prompt=rollout.prompt,
            tag_name=rollout.tag_name,
            version=rollout.candidate,
            reason=reason or f"Rollout #{rollout.pk} completed at 100 %",
            promotion=rollout.promotion,
            tag=tag,
            completing=rollout,
        )
        verb = "prompt.rollout_complete"
    else:
        rollout.save(update_fields=["percent", "updated_at"])
        event = _event(
            team=team,
            actor=actor,
            rollout=rollout,
            percent=percent,
            reason=reason or f"Rollout of v{rollout.candidate.number} stepped to {percent} %",
            from_version=rollout.base,
            to_version=rollout.candidate,
        )
        verb = "prompt.rollout_step"
    audit_record(
        team=team,
        actor=actor,
        verb=verb,
        target=rollout,
        before=before,
        after={
            "prompt": rollout.prompt.name,
            "tag": rollout.tag_name,
            "candidate": rollout.candidate.number,
            "percent": percent,
            "tag_event": event.pk,
        },
    )
    _announce(team, rollout)
    return rollout


def _end(
    *, team: Team, actor: Actor | None, rollout: Rollout, status: str, reason: str, verb: str
) -> Rollout:
    before = {"percent": rollout.percent}
    now = timezone.now()
    rollout.status = status
    rollout.percent = 0
    rollout.updated_at = now
    rollout.ended_at = now
    rollout.end_reason = reason
    rollout.save()
    _event(
        team=team,
        actor=actor,
        rollout=rollout,
        percent=0,
        reason=reason,
        from_version=rollout.candidate,
        to_version=rollout.base,
    )
    audit_record(
        team=team,
        actor=actor,
        verb=verb,
        target=rollout,
        before=before,
        after={
            "prompt": rollout.prompt.name,
            "tag": rollout.tag_name,
            "candidate": rollout.candidate.number,
            "percent": 0,
            "reason": reason,
        },
    )
    _announce(team, rollout)
    return rollout


@transaction.atomic
def rollout_abort(*, team: Team, actor: Actor, rollout: Rollout, reason: str = "") -> Rollout:
    """All traffic back to the current version at once (0 %); the tag never moved."""
    rollout = _locked_active(rollout)
    _require_steer(actor, team, rollout)
    reason = (reason or "").strip() or f"Aborted by {actor_label(actor)}"
    return _end(
        team=team,
        actor=actor,
        rollout=rollout,
        status=RolloutStatus.ABORTED,
        reason=reason,
        verb="prompt.rollout_abort",
    )


@transaction.atomic
def rollout_abort_by_guardrail(*, team: Team, rollout: Rollout, reason: str) -> Rollout | None:
    """The guardrail's abort (no person: the audit trail says "system"). None when the
    rollout ended meanwhile."""
    try:
        rollout = _locked_active(rollout)
    except Conflict:
        return None
    return _end(
        team=team,
        actor=None,
        rollout=rollout,
        status=RolloutStatus.ABORTED,
        reason=f"Guardrail: {reason}",
        verb="prompt.rollout_guardrail_abort",
    )
