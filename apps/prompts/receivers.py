"""Signal receivers of the prompts app, connected once in PromptsConfig.ready().

Serving caches answers by team: any change to a tag or prompt row drops the team's
answers. Fetch telemetry is flushed after responses have been sent and at process exit.
(A changed API key is forgotten by teams' own receiver, apps.teams.keys.)
"""

from __future__ import annotations

import atexit

from django.core.signals import request_finished
from django.db.models.signals import post_delete, post_save

from apps.prompts import serving, telemetry
from apps.prompts.signals import rollout_changed, tag_moved


def _on_tag_moved(sender, team_id, prompt_name, tag_name, **kwargs):
    serving.invalidate_team(team_id)


def _on_rollout_changed(sender, team_id, **kwargs):
    serving.invalidate_team(team_id)


def _on_prompt_row_change(sender, instance, **kwargs):
    # Any write to a tag or prompt row (including paths that do not send tag_moved, and
    # deletions) drops the team's cached answers once the transaction commits.
    serving.invalidate_on_commit(instance.team_id)


def connect() -> None:
    tag_moved.connect(_on_tag_moved, dispatch_uid="serving_tag_moved")
    rollout_changed.connect(_on_rollout_changed, dispatch_uid="serving_rollout_changed")
    for model in ("prompts.Tag", "prompts.Prompt"):
        post_save.connect(_on_prompt_row_change, sender=model, dispatch_uid=f"serving_save_{model}")
        post_delete.connect(
            _on_prompt_row_change, sender=model, dispatch_uid=f"serving_del_{model}"
        )
    request_finished.connect(telemetry.flush_if_due, dispatch_uid="prompt_fetch_telemetry_flush")
    atexit.register(telemetry.flush_if_due_at_exit)
