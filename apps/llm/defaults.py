"""The team's default provider and model: what a prompt version saved without a model
("None (choose when running)") runs with, in experiments, the promotion gate and the
playground, unless the run names a model itself. Reads only; `team_defaults_set`
(apps.llm.services) writes them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def team_defaults(team) -> dict[str, Any]:
    """{"provider_id", "model"} of the team's defaults, the set ones only."""
    out: dict[str, Any] = {}
    if team is not None and team.default_provider_id:
        out["provider_id"] = team.default_provider_id
        if team.default_model:
            out["model"] = team.default_model
    return out


def with_team_defaults(settings: Mapping[str, Any], team) -> dict[str, Any]:
    """`settings` (stored JSON) with the team's default provider and model filled in where
    they name none. A version that names its own provider but no model gets the default
    model only when that provider is the default one: another server's model names differ."""
    out = dict(settings or {})
    defaults = team_defaults(team)
    if not defaults:
        return out
    if not out.get("provider_id"):
        out["provider_id"] = defaults["provider_id"]
        if not out.get("model") and defaults.get("model"):
            out["model"] = defaults["model"]
    elif not out.get("model") and out["provider_id"] == defaults["provider_id"]:
        if defaults.get("model"):
            out["model"] = defaults["model"]
    return out


def default_label(team) -> str:
    """ "provider · model" of the defaults, or "" when the team has none."""
    if team is None or not team.default_provider_id:
        return ""
    provider = team.default_provider
    name = provider.name if provider is not None else ""
    return f"{name} · {team.default_model}" if team.default_model else name
