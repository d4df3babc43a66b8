"""A version's content: checking it (template syntax, schema, model settings) and its
hash. Reads only; the services call these before they write."""

from __future__ import annotations

import hashlib
import json

from apps.core.errors import ValidationFailed
from apps.prompts.models import Kind
from apps.prompts.rendering import RenderError, template_variables, validate_schema

SETTINGS_KEYS = (
    "provider_id",
    "model",
    "temperature",
    "max_tokens",
    "top_p",
    "stop",
    "response_format",
    "tools",
)
RESPONSE_FORMATS = ("text", "json_object", "json_schema")


def content_hash(
    *, kind: str, template: str, messages: list, variables_schema: dict, model_settings: dict
) -> str:
    """sha256 of a canonical JSON of everything that changes what a version produces."""
    canonical = json.dumps(
        {
            "kind": kind,
            "template": template,
            "messages": messages,
            "schema": variables_schema,
            "settings": model_settings,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _number(settings: dict, key: str, *, low: float, high: float, integer: bool = False):
    value = settings[key]
    if value in (None, ""):
        return None
    kind = int if integer else float
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValidationFailed(f"{key} must be a number.", field=f"model_settings.{key}")
    try:
        number = kind(value)
    except ValueError:
        raise ValidationFailed(f"{key} must be a number.", field=f"model_settings.{key}")
    if integer and isinstance(value, float) and value != int(value):
        raise ValidationFailed(f"{key} must be a whole number.", field=f"model_settings.{key}")
    if not low <= number <= high:
        raise ValidationFailed(
            f"{key} must be between {low:g} and {high:g}.", field=f"model_settings.{key}"
        )
    return number


def normalize_model_settings(settings: dict | None) -> dict:
    """Checked, canonical model settings; unset values are left out."""
    settings = dict(settings or {})
    if not isinstance(settings, dict):
        raise ValidationFailed("Model settings must be an object.", field="model_settings")
    unknown = sorted(set(settings) - set(SETTINGS_KEYS))
    if unknown:
        raise ValidationFailed(
            f"Unknown model setting {unknown[0]!r}; use {', '.join(SETTINGS_KEYS)}.",
            field="model_settings",
        )
    out: dict = {}
    if settings.get("provider_id") not in (None, ""):
        out["provider_id"] = int(
            _number(settings, "provider_id", low=1, high=2**63 - 1, integer=True)
        )
    if settings.get("model") not in (None, ""):
        if not isinstance(settings["model"], str) or len(settings["model"]) > 200:
            raise ValidationFailed("model must be a name.", field="model_settings.model")
        out["model"] = settings["model"].strip()
    for key, low, high, integer in (
        ("temperature", 0, 2, False),
        ("top_p", 0, 1, False),
        ("max_tokens", 1, 1_000_000, True),
    ):
        if key in settings:
            value = _number(settings, key, low=low, high=high, integer=integer)
            if value is not None:
                out[key] = value
    stop = settings.get("stop")
    if stop not in (None, "", []):
        if isinstance(stop, str):
            stop = [stop]
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop) or len(stop) > 4:
            raise ValidationFailed("stop must be up to 4 strings.", field="model_settings.stop")
        out["stop"] = stop
    fmt = settings.get("response_format")
    if fmt not in (None, ""):
        if isinstance(fmt, str):
            fmt = {"type": fmt}
        if not isinstance(fmt, dict) or fmt.get("type") not in RESPONSE_FORMATS:
            raise ValidationFailed(
                "response_format type must be text, json_object or json_schema.",
                field="model_settings.response_format",
            )
        if fmt["type"] == "json_schema" and not isinstance(fmt.get("json_schema"), dict):
            raise ValidationFailed(
                "A json_schema response format needs a json_schema object.",
                field="model_settings.response_format",
            )
        if fmt["type"] != "text":
            out["response_format"] = fmt
    tools = settings.get("tools")
    if tools not in (None, "", []):
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            raise ValidationFailed(
                "tools must be a list of tool objects.", field="model_settings.tools"
            )
        out["tools"] = tools
    return out


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
