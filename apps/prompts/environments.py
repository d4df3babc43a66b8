"""What each environment last fetched, per prompt: how often and when, with drift flags
(the Hub's Environments page). Reads only, inside the team scope.

Drift: an environment whose keys last fetched a version the tag no longer points at (it
still serves the old prompt), or one that stopped fetching (silent longer than
PROMPTYARD_FETCH_SILENT_AFTER_SECONDS, default one hour).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone

from apps.prompts.models import FetchStat, Prompt, Rollout, RolloutStatus, Tag

SILENT_AFTER = timedelta(
    seconds=float(os.environ.get("PROMPTYARD_FETCH_SILENT_AFTER_SECONDS", "3600"))
)


@dataclass
class KeyState:
    name: str
    version: int
    last_fetched_at: datetime


@dataclass
class EnvironmentRow:
    prompt: Prompt
    tag: str  # "" for pinned versions
    environment: str
    last_version: int
    last_fetched_at: datetime
    current_version: int | None = None
    fetches: int = 0
    keys: dict[int, KeyState] = field(default_factory=dict)
    silent: bool = False
    behind: list[KeyState] = field(default_factory=list)

    @property
    def drift(self) -> bool:
        return bool(self.behind)

    @property
    def needs_attention(self) -> bool:
        return self.drift or self.silent


def environment_rows(*, prompt_name: str = "", now: datetime | None = None) -> list[EnvironmentRow]:
    """Rows per (prompt, tag, environment), in 3 queries, inside the team scope."""
    now = now or timezone.now()
    stats = FetchStat.objects.select_related("prompt", "api_key").order_by(
        "prompt__name", "tag", "environment"
    )
    if prompt_name:
        stats = stats.filter(prompt__name=prompt_name)
    current = {
        (tag.prompt_id, tag.name): tag.version.number
        for tag in Tag.objects.select_related("version").only(
            "id", "prompt_id", "name", "team_id", "version__id", "version__number"
        )
    }
    # Under a rollout a key that fetched the candidate serves what the tag asks of it.
    candidates = {
        (r["prompt_id"], r["tag_name"]): r["candidate__number"]
        for r in Rollout.objects.filter(status=RolloutStatus.ACTIVE).values(
            "prompt_id", "tag_name", "candidate__number"
        )
    }
    rows: dict[tuple, EnvironmentRow] = {}
    for stat in stats:
        row = rows.get((stat.prompt_id, stat.tag, stat.environment))
        if row is None:
            row = rows[(stat.prompt_id, stat.tag, stat.environment)] = EnvironmentRow(
                prompt=stat.prompt,
                tag=stat.tag,
                environment=stat.environment,
                last_version=stat.version_number,
                last_fetched_at=stat.last_fetched_at,
                current_version=current.get((stat.prompt_id, stat.tag)),
            )
        row.fetches += stat.fetch_count
        if stat.last_fetched_at > row.last_fetched_at:
            row.last_fetched_at = stat.last_fetched_at
            row.last_version = stat.version_number
        key = row.keys.get(stat.api_key_id)
        if key is None or stat.last_fetched_at > key.last_fetched_at:
            row.keys[stat.api_key_id] = KeyState(
                name=stat.api_key.name,
                version=stat.version_number,
                last_fetched_at=stat.last_fetched_at,
            )
    for row in rows.values():
        row.silent = now - row.last_fetched_at > SILENT_AFTER
        if row.tag and row.current_version is not None:
            # A key that went silent is flagged as such, not as holding a version.
            serving = {row.current_version, candidates.get((row.prompt.pk, row.tag))}
            row.behind = [
                k
                for k in row.keys.values()
                if k.version not in serving and now - k.last_fetched_at <= SILENT_AFTER
            ]
    return list(rows.values())
