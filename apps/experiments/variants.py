"""What a variant runs: a prompt version with overrides, and the settings it resolves to."""

from __future__ import annotations

from dataclasses import dataclass, field

from apps.core.errors import ValidationFailed
from apps.prompts.services import normalize_model_settings


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
    merged = dict(version.model_settings or {})
    merged.update({k: v for k, v in overrides.items()})
    return normalize_model_settings({k: v for k, v in merged.items() if v is not None})
