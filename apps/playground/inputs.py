"""Reading one playground variant and the shared variables from a POST."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from apps.core.errors import ValidationFailed
from apps.prompts.rendering import RenderError, template_variables

ROLES = ("system", "user", "assistant", "placeholder")
MAX_VARIANTS = 4
LABELS = "ABCD"


@dataclass
class Variant:
    kind: str = "text"
    template: str = ""
    messages: list = field(default_factory=list)
    provider_id: int | None = None
    model: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    stop: list = field(default_factory=list)
    response_format: dict | None = None
    label: str = ""

    @property
    def model_settings(self) -> dict:
        """As a PromptVersion stores them (apps.prompts normalises them again)."""
        out = {
            "provider_id": self.provider_id,
            "model": self.model,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "top_p": self.top_p,
            "stop": self.stop or None,
            "response_format": self.response_format,
        }
        return {k: v for k, v in out.items() if v not in (None, "", [])}

    @property
    def response_format_type(self) -> str:
        return (self.response_format or {}).get("type", "text")

    @property
    def json_schema_text(self) -> str:
        fmt = self.response_format or {}
        if fmt.get("type") != "json_schema":
            return ""
        return json.dumps((fmt.get("json_schema") or {}).get("schema", {}), indent=2)

    @property
    def provider_model(self) -> str:
        return f"{self.provider_id or ''}::{self.model}"

    def variables(self) -> list[str]:
        try:
            return template_variables(self.kind, self.template, self.messages)
        except RenderError:
            return []

    @classmethod
    def from_version(cls, version, label: str = "A") -> Variant:
        settings = version.model_settings or {}
        stop = settings.get("stop") or []
        return cls(
            kind=version.kind,
            template=version.template or "",
            messages=list(version.messages or []),
            provider_id=settings.get("provider_id"),
            model=settings.get("model", ""),
            temperature=settings.get("temperature"),
            max_tokens=settings.get("max_tokens"),
            top_p=settings.get("top_p"),
            stop=[stop] if isinstance(stop, str) else list(stop),
            response_format=settings.get("response_format"),
            label=label,
        )


def _number(post, name: str, *, integer: bool = False):
    raw = (post.get(name) or "").strip()
    if not raw:
        return None
    try:
        return int(raw) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ValidationFailed(f"{name.replace('_', ' ').capitalize()} must be {kind}.", field=name)


def parse_variant(post) -> Variant:
    """A Variant from un-prefixed fields (kind, template, msg_role/msg_content, settings…)."""
    kind = post.get("kind", "text")
    if kind not in ("text", "chat"):
        raise ValidationFailed("Choose text or chat.", field="kind")
    messages = []
    if kind == "chat":
        roles = post.getlist("msg_role")
        contents = post.getlist("msg_content")
        for role, content in zip(roles, contents, strict=False):
            if role not in ROLES:
                raise ValidationFailed(f"Unknown role {role!r}.", field="messages")
            if role == "placeholder":
                messages.append({"role": "placeholder", "name": content.strip()})
            else:
                messages.append({"role": role, "content": content})
    provider_id, _, model = (post.get("provider_model") or "").partition("::")
    model = (post.get("model_override") or "").strip() or model.strip()
    try:
        provider_id = int(provider_id) if provider_id else None
    except ValueError:
        raise ValidationFailed("Choose a provider and model.", field="provider_model") from None
    stop = [s for s in (post.get("stop") or "").split("|") if s]
    fmt_type = post.get("response_format") or "text"
    response_format = None
    if fmt_type == "json_object":
        response_format = {"type": "json_object"}
    elif fmt_type == "json_schema":
        try:
            schema = json.loads(post.get("json_schema") or "{}")
        except ValueError as exc:
            raise ValidationFailed(f"The JSON schema is not valid JSON: {exc}", field="json_schema")
        if not isinstance(schema, dict):
            raise ValidationFailed("The JSON schema must be an object.", field="json_schema")
        response_format = {
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema},
        }
    elif fmt_type != "text":
        raise ValidationFailed("Unknown response format.", field="response_format")
    return Variant(
        kind=kind,
        template=post.get("template", "") if kind == "text" else "",
        messages=messages,
        provider_id=provider_id,
        model=model,
        temperature=_number(post, "temperature"),
        max_tokens=_number(post, "max_tokens", integer=True),
        top_p=_number(post, "top_p"),
        stop=stop,
        response_format=response_format,
        label=(post.get("label") or "")[:20],
    )


def parse_schema(post) -> dict:
    try:
        schema = json.loads(post.get("variables_schema") or "{}")
    except ValueError:
        return {}
    return schema if isinstance(schema, dict) else {}


def coerce_value(name: str, raw: str, spec: dict, *, placeholder: bool = False):
    """A typed value from a form field, by the variable's schema type."""
    kind = spec.get("type", "array" if placeholder else "string")
    if kind == "string":
        return raw
    raw = raw.strip()
    if raw == "" and kind != "boolean":
        return [] if placeholder else None
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
        if kind == "boolean":
            return raw.lower() in ("1", "true", "yes", "on")
        value = json.loads(raw)
    except ValueError:
        raise ValidationFailed(
            f"Variable '{name}' must be {'JSON ' if kind in ('array', 'object') else ''}{kind}.",
            field=f"var-{name}",
        ) from None
    return value


def parse_values(post, names: list[str], schema: dict, placeholders: set[str]) -> dict:
    values = {}
    for name in names:
        key = f"var-{name}"
        if key not in post:
            continue
        value = coerce_value(
            name, post.get(key, ""), schema.get(name, {}), placeholder=name in placeholders
        )
        if value is not None:
            values[name] = value
    return values


def placeholder_names(kind: str, messages: list) -> set[str]:
    if kind != "chat":
        return set()
    return {m.get("name", "") for m in messages if m.get("role") == "placeholder"}
