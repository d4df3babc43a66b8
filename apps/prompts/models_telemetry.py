"""Fetch telemetry: how often each API key (and its environment) fetched which version.

Rows are written in batches by apps.prompts.telemetry (never one write per fetch).
Imported at the bottom of apps/prompts/models.py so the app registry sees the model.
"""

from __future__ import annotations

from django.db import models
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from apps.core.tenancy import TeamOwned
from apps.prompts.signals import tag_moved


class FetchStat(TeamOwned):
    """Fetches of one version by one key, for one tag ("" when the version was pinned)."""

    api_key = models.ForeignKey("teams.ApiKey", on_delete=models.CASCADE, related_name="+")
    environment = models.CharField(max_length=40, blank=True)
    prompt = models.ForeignKey(
        "prompts.Prompt", on_delete=models.CASCADE, related_name="fetch_stats"
    )
    tag = models.CharField(max_length=36, blank=True)
    version_number = models.PositiveIntegerField()
    fetch_count = models.BigIntegerField(default=0)
    first_fetched_at = models.DateTimeField(default=timezone.now)
    last_fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "environment", "prompt", "tag", "version_number"],
                name="fetchstat_unique_series",
            )
        ]
        indexes = [models.Index(fields=["team", "prompt", "tag"], name="fetchstat_prompt_tag")]

    def __str__(self):
        return f"{self.environment or '-'} {self.tag or 'pinned'} v{self.version_number}"


# --- cache invalidation hooks (serving reads tags; these keep its cache honest) --------


def _on_tag_moved(sender, team_id, prompt_name, tag_name, **kwargs):
    from apps.prompts.serving import invalidate_team

    invalidate_team(team_id)


def _on_prompt_row_change(sender, instance, **kwargs):
    # Any write to a tag or prompt row (including paths that do not send tag_moved, and
    # deletions) drops the team's cached answers once the transaction commits.
    from apps.prompts.serving import invalidate_on_commit

    invalidate_on_commit(instance.team_id)


tag_moved.connect(_on_tag_moved, dispatch_uid="serving_tag_moved")
for _model in ("prompts.Tag", "prompts.Prompt"):
    post_save.connect(_on_prompt_row_change, sender=_model, dispatch_uid=f"serving_save_{_model}")
    post_delete.connect(_on_prompt_row_change, sender=_model, dispatch_uid=f"serving_del_{_model}")
