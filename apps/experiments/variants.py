"""What a variant runs: a prompt version with overrides, and the settings it resolves to."""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.core.errors import ValidationFailed
from apps.llm.model_settings import ModelSettings


@dataclass
class VariantSpec:
    prompt_version: object
    overrides: dict = field(default_factory=dict)
    label: str = ""
    is_baseline: bool = False


def effective_settings(version, overrides: dict | None) -> dict:
    """The version's model settings with the overrides on top, normalised; what the variant
    stores and the runner calls the model with."""
    overrides = overrides or {}
    if not isinstance(overrides, dict):
        raise ValidationFailed("Overrides must be an object of model settings.", field="variants")
    return ModelSettings.from_stored(version.model_settings).with_overrides(overrides).to_json()
