"""The audit trail: every write service calls `audit_record` inside its transaction.

An event names its person and, for a key's action, the key too: `actor_user` is the key's
person, `actor_api_key` the key, and the label keeps both when either is deleted."""

from __future__ import annotations

from apps.teams.models import ApiKey, AuditEvent


def actor_label(actor) -> str:
    if actor is None:
        return "system"
    if isinstance(actor, ApiKey):
        label = f"API key {actor.name} ({actor.prefix}…)"
        person = actor.created_by
        return f"{label} of {person.email}"[:200] if person is not None else label
    return actor.email


def audit_record(
    *, team, actor, verb: str, target=None, target_type: str = "", before=None, after=None
):
    is_key = isinstance(actor, ApiKey)
    # Services also record outside any team scope (commands, tests); the row names its team.
    return AuditEvent.objects.unscoped().create(
        team=team,
        actor_user_id=actor.created_by_id if is_key else getattr(actor, "pk", None),
        actor_api_key=actor if is_key else None,
        actor_label=actor_label(actor),
        verb=verb,
        target_type=target_type or (target._meta.label_lower if target is not None else ""),
        target_id=str(target.pk) if target is not None and target.pk is not None else "",
        target_label=str(target)[:200] if target is not None else "",
        before=before,
        after=after,
    )
