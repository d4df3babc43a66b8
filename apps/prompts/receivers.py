"""Signal receivers of the prompts app, connected once in PromptsConfig.ready().

Serving caches answers by team: any change to a tag or prompt row drops the team's
answers. Fetch telemetry is flushed after responses have been sent and at process exit.
Webhook deliveries are made from the audit trail (every write of the Hub is audited, so
one receiver sees every event) and from tag moves, after the commit.
(A changed API key is forgotten by teams' own receiver, apps.teams.keys.)
"""

from __future__ import annotations

import atexit
from functools import partial

from django.core.signals import request_finished
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from apps.core.tenancy import team_scope
from apps.prompts import serving, telemetry
from apps.prompts.models import Tag, WebhookEvent
from apps.prompts.services.webhooks import webhook_deliveries_create
from apps.prompts.signals import rollout_changed, tag_moved
from apps.teams.models import AuditEvent, Team

# Audit verbs -> the webhook event they are.
WEBHOOK_VERBS = {
    "prompt.version_create": WebhookEvent.VERSION_CREATED,
    "prompt.promotion_request": WebhookEvent.PROMOTION_REQUESTED,
    "prompt.promotion_approve": WebhookEvent.PROMOTION_APPROVED,
    "prompt.promotion_reject": WebhookEvent.PROMOTION_REJECTED,
    "prompt.rollout_start": WebhookEvent.ROLLOUT_STEP,
    "prompt.rollout_step": WebhookEvent.ROLLOUT_STEP,
    "prompt.rollout_complete": WebhookEvent.ROLLOUT_STEP,
    "prompt.rollout_abort": WebhookEvent.ROLLOUT_ABORTED,
    "prompt.rollout_guardrail_abort": WebhookEvent.ROLLOUT_ABORTED,
}


def _on_tag_moved(sender, team_id, prompt_name, tag_name, **kwargs):
    serving.invalidate_team(team_id)
    # Sent after the commit, outside any scope: the team is entered to read its tag.
    team = Team.objects.filter(pk=team_id).first()
    if team is None:
        return
    with team_scope(team):
        tag = (
            Tag.objects.select_related("version")
            .filter(prompt__name=prompt_name, name=tag_name)
            .first()
        )
        data = {"prompt": prompt_name, "tag": tag_name}
        data["version"] = tag.version.number if tag is not None else None
        webhook_deliveries_create(team=team, event_type=WebhookEvent.TAG_MOVED, data=data)


def _deliver_audited(team_id: int, event_type: str, data: dict) -> None:
    team = Team.objects.filter(pk=team_id).first()
    if team is not None:
        with team_scope(team):
            webhook_deliveries_create(team=team, event_type=event_type, data=data)


def _on_audit_event(sender, instance, created, **kwargs):
    event_type = WEBHOOK_VERBS.get(instance.verb)
    if not created or event_type is None:
        return
    data = {
        **(instance.after or {}),
        "actor": instance.actor_label,
        "target": {"type": instance.target_type, "id": instance.target_id},
        "verb": instance.verb,
    }
    transaction.on_commit(partial(_deliver_audited, instance.team_id, str(event_type), data))


def _on_rollout_changed(sender, team_id, **kwargs):
    serving.invalidate_team(team_id)


def _on_prompt_row_change(sender, instance, **kwargs):
    # Any write to a tag or prompt row (including paths that do not send tag_moved, and
    # deletions) drops the team's cached answers once the transaction commits.
    serving.invalidate_on_commit(instance.team_id)


def connect() -> None:
    tag_moved.connect(_on_tag_moved, dispatch_uid="serving_tag_moved")
    rollout_changed.connect(_on_rollout_changed, dispatch_uid="serving_rollout_changed")
    post_save.connect(_on_audit_event, sender=AuditEvent, dispatch_uid="prompt_webhooks_audit")
    for model in ("prompts.Tag", "prompts.Prompt"):
        post_save.connect(_on_prompt_row_change, sender=model, dispatch_uid=f"serving_save_{model}")
        post_delete.connect(
            _on_prompt_row_change, sender=model, dispatch_uid=f"serving_del_{model}"
        )
    request_finished.connect(telemetry.flush_if_due, dispatch_uid="prompt_fetch_telemetry_flush")
    atexit.register(telemetry.flush_if_due_at_exit)
