"""What a variant runs: a prompt version with overrides, and the settings it resolves to."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from apps.core.errors import ValidationFailed
from apps.llm.model_settings import ModelSettings

if TYPE_CHECKING:
    from apps.prompts.models import PromptVersion


@dataclass
class VariantSpec:
    prompt_version: PromptVersion
    overrides: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    is_baseline: bool = False


def effective_settings(version: PromptVersion, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The version's model settings with the overrides on top, normalised; what the variant
    stores and the runner calls the model with."""
    overrides = overrides or {}
    if not isinstance(overrides, dict):
        raise ValidationFailed("Overrides must be an object of model settings.", field="variants")
    return ModelSettings.from_stored(version.model_settings).with_overrides(overrides).to_json()


def unique_specs(specs: list[VariantSpec]) -> list[VariantSpec]:
    """The specs without repeats: two variants running the same version with the same
    effective settings measure the same thing twice (e.g. "also try" naming the version's
    own model). The first one wins, so a chosen baseline or label is kept; a later repeat
    that is marked as the baseline passes the mark on."""
    seen: dict[tuple, VariantSpec] = {}
    for spec in specs:
        version = spec.prompt_version
        key = (
            getattr(version, "pk", id(version)),
            json.dumps(effective_settings(version, spec.overrides), sort_keys=True),
        )
        if key in seen:
            seen[key].is_baseline = seen[key].is_baseline or spec.is_baseline
            continue
        seen[key] = spec
    return list(seen.values())
