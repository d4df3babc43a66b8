"""Fetch telemetry: how often each API key (and its environment) fetched which version.

Rows are written in batches by apps.prompts.telemetry (never one write per fetch).
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.core.tenancy import TeamOwned


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
