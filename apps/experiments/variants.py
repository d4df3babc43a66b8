"""What a variant runs: a prompt version with overrides, and the settings it resolves to."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apps.core.errors import ValidationFailed
from apps.llm.defaults import with_team_defaults
from apps.llm.model_settings import ModelSettings

if TYPE_CHECKING:
    from apps.prompts.models import PromptVersion, TagPolicy
    from apps.teams.models import Team


@dataclass
class VariantSpec:
    prompt_version: PromptVersion
    overrides: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    is_baseline: bool = False


def effective_settings(
    version: PromptVersion, overrides: dict[str, Any] | None, *, team: Team | None = None
) -> dict[str, Any]:
    """The version's model settings with the overrides on top and, where neither names a
    provider or model, the team's defaults (apps.llm.defaults), normalised; what the
    variant stores and the runner calls the model with. `team` defaults to the version's."""
    overrides = overrides or {}
    if not isinstance(overrides, dict):
        raise ValidationFailed("Overrides must be an object of model settings.", field="variants")
    merged = ModelSettings.from_stored(version.model_settings).with_overrides(overrides).to_json()
    team = team if team is not None else getattr(version, "team", None)
    return ModelSettings.from_stored(with_team_defaults(merged, team)).to_json()


def unique_specs(specs: list[VariantSpec], *, team: Team | None = None) -> list[VariantSpec]:
    """The specs without repeats: two variants running the same version with the same
    effective settings measure the same thing twice (e.g. "also try" naming the version's
    own model). The first one wins, so a chosen baseline or label is kept; a later repeat
    that is marked as the baseline passes the mark on."""
    seen: dict[tuple, VariantSpec] = {}
    for spec in specs:
        version = spec.prompt_version
        key = (
            getattr(version, "pk", id(version)),
            json.dumps(effective_settings(version, spec.overrides, team=team), sort_keys=True),
        )
        if key in seen:
            seen[key].is_baseline = seen[key].is_baseline or spec.is_baseline
            continue
        seen[key] = spec
    return list(seen.values())


def policy_overrides(policy: TagPolicy | None, version: PromptVersion) -> dict[str, Any]:
    """What the gating experiment overrides on `version`: nothing when the version names
    its own provider and model; else the policy's model, if it names one (else the team
    default fills in, through `effective_settings`)."""
    own = version.model_settings or {}
    if own.get("provider_id") and own.get("model"):
        return {}
    chosen = (policy.model_settings or {}) if policy is not None else {}
    if chosen.get("provider_id") and chosen.get("model"):
        return {"provider_id": chosen["provider_id"], "model": chosen["model"]}
    return {}


def missing_model(settings_: dict[str, Any]) -> bool:
    """Whether resolved settings still lack a provider or a model: such a variant cannot run."""
    return not settings_.get("provider_id") or not settings_.get("model")
