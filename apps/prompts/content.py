"""A version's content: checking it (template syntax, schema, model settings) and its
hash. Reads only; the services call these before they write. The rules of model settings
are apps.llm.model_settings.ModelSettings's."""

from __future__ import annotations

import hashlib
import json

from apps.core.errors import ValidationFailed
from apps.core.jsonshape import shape_problem
from apps.llm.model_settings import ModelSettings
from apps.prompts.models import Kind
from apps.prompts.rendering import RenderError, template_variables, validate_schema


def content_hash(
    *,
    kind: str,
    template: str,
    messages: list,
    variables_schema: dict,
    model_settings: dict,
    steps: list | None = None,
) -> str:
    """sha256 of a canonical JSON of everything that changes what a version produces (a
    chain's steps only when it has them, so other versions keep their hashes)."""
    content: dict = {
        "kind": kind,
        "template": template,
        "messages": messages,
        "schema": variables_schema,
        "settings": model_settings,
    }
    if steps:
        content["steps"] = steps
    canonical = json.dumps(
        content,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


# Model settings carry JSON a tenant writes (a response_format schema, tool definitions):
# refused past these before anything recurses into them (json.dumps for the hash, say).
MAX_SETTINGS_DEPTH = 64
MAX_SETTINGS_VALUES = 20_000


def normalize_model_settings(settings: dict | None) -> dict:
    """Checked, canonical model settings as a version stores them; unset values are left
    out. ValidationFailed names the setting at fault (`model_settings.<key>`)."""
    problem = shape_problem(settings, max_depth=MAX_SETTINGS_DEPTH, max_values=MAX_SETTINGS_VALUES)
    if problem:
        raise ValidationFailed(f"model_settings {problem}.", field="model_settings")
    return ModelSettings.from_json(settings).to_json()


def check_content(
    *, kind: str, template: str, messages: list | None, variables_schema: dict | None
) -> list[str]:
    """The variables of valid content, or ValidationFailed naming the field (and line)."""
    if kind not in Kind.values:
        raise ValidationFailed("Kind must be 'text' or 'chat'.", field="kind")
    try:
        variables = template_variables(kind, template, messages)
    except RenderError as exc:
        field = "template" if kind == Kind.TEXT else "messages"
        raise ValidationFailed(exc.message, field=field, errors={field: [exc.message]}) from None
    try:
        validate_schema(variables_schema)
    except RenderError as exc:
        raise ValidationFailed(exc.message, field="variables_schema") from None
    extra = sorted(set(variables_schema or {}) - set(variables))
    if extra:
        raise ValidationFailed(
            f"The variables schema names {extra[0]!r}, which the template does not use.",
            field="variables_schema",
        )
    return variables
