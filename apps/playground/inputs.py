"""Reading the playground's POSTs: one variant (its prompt and model settings), the variables
schema and the variables' values."""

from __future__ import annotations

from typing import Any

from apps.core import jsonshape
from apps.core.errors import ServiceError, ValidationFailed
from apps.llm.chat import EDITOR_ROLES, PLACEHOLDER
from apps.llm.model_settings import ModelSettings
from apps.playground.variants import Variant

MAX_VARIANTS = 4


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
            if role not in EDITOR_ROLES:
                raise ValidationFailed(f"Unknown role {role!r}.", field="messages")
            if role == PLACEHOLDER:
                messages.append({"role": PLACEHOLDER, "name": content.strip()})
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
    response_format: dict[str, Any] | None = None
    if fmt_type == "json_object":
        response_format = {"type": "json_object"}
    elif fmt_type == "json_schema":
        try:
            schema = jsonshape.loads(post.get("json_schema") or "{}")
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
    # Unchecked (the constructor, not from_json): a run sends what was typed and the
    # provider answers for a value out of its range; saving checks through the Hub.
    settings = ModelSettings(
        provider_id=provider_id,
        model=model,
        temperature=_number(post, "temperature"),
        max_tokens=_number(post, "max_tokens", integer=True),
        top_p=_number(post, "top_p"),
        stop=tuple(stop),
        response_format=response_format,
    )
    return Variant(
        kind=kind,
        template=post.get("template", "") if kind == "text" else "",
        messages=messages,
        settings=settings,
        label=(post.get("label") or "")[:20],
    )


def variants_from_post(post, *, strict: bool = False) -> list[Variant]:
    """Every variant of the page form (fields prefixed v0-, v1-, …); one that does not
    parse is left out, or with `strict` refused (naming its field)."""
    variants: list[Variant] = []
    for index in range(MAX_VARIANTS):
        prefix = f"v{index}-"
        if f"{prefix}kind" not in post:
            continue
        sub = post.__class__(mutable=True)
        for key in post:
            if key.startswith(prefix):
                sub.setlist(key[len(prefix) :], post.getlist(key))
        try:
            variants.append(parse_variant(sub))
        except ServiceError:
            if strict:
                raise
            continue
    return variants


def parse_schema(post) -> dict:
    try:
        schema = jsonshape.loads(post.get("variables_schema") or "{}")
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
        value = jsonshape.loads(raw)
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
    return {m.get("name", "") for m in messages if m.get("role") == PLACEHOLDER}
