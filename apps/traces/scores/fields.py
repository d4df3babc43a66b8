"""Reading scores out of request bodies: one score, a list of them, or {"scores": [...]};
every refusal names the field ("value", "scores[3].trace_id")."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from apps.core.errors import ValidationFailed
from apps.traces.models import ScoreKind, ScoreSource

BATCH_MAX = 1000
NAME_MAX = 100
CATEGORY_MAX = 200
COMMENT_MAX = 10_000
AUTHOR_MAX = 200
CLIENT_ID_MAX = 100
TRACE_HEX = re.compile(r"^[0-9a-f]{32}$")
SPAN_HEX = re.compile(r"^[0-9a-f]{16}$")
FIELDS = {"id", "trace_id", "span_id", "name", "value", "kind", "comment", "source", "author"}


@dataclass
class ScoreIn:
    """One score as asked for, validated (the trace not yet looked up)."""

    trace_hex: str
    span_hex: str
    name: str
    kind: str
    value: float | None
    category: str
    comment: str
    source: str
    author: str
    client_id: str
    where: str  # how errors name this score: "" (single) or "scores[3]."


def _text(raw: dict, key: str, where: str, limit: int, *, required: bool = False) -> str:
    value = raw.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{key} must be a string.", field=f"{where}{key}")
    value = value.strip()
    if required and not value:
        raise ValidationFailed(f"{key} is required.", field=f"{where}{key}")
    if len(value) > limit:
        raise ValidationFailed(f"{key} is longer than {limit} characters.", field=f"{where}{key}")
    return value


def _typed_value(raw: dict, where: str) -> tuple[str, float | None, str]:
    """(kind, number, category) of the value: a boolean, a finite number or a category
    label; `kind`, when sent, must agree with it."""
    field = f"{where}value"
    if "value" not in raw or raw["value"] is None:
        raise ValidationFailed(
            "value is required: true/false, a number or a category.", field=field
        )
    value = raw["value"]
    if isinstance(value, bool):
        kind, number, category = ScoreKind.BOOLEAN, 1.0 if value else 0.0, ""
    elif isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise ValidationFailed("value must be a finite number.", field=field)
        kind, category = ScoreKind.NUMBER, ""
    elif isinstance(value, str):
        category = value.strip()
        if not category or len(category) > CATEGORY_MAX:
            raise ValidationFailed(
                f"A category must be 1 to {CATEGORY_MAX} characters.", field=field
            )
        kind, number = ScoreKind.CATEGORY, None
    else:
        raise ValidationFailed(
            "value must be true/false, a number or a category (a string).", field=field
        )
    asked = raw.get("kind")
    if asked not in (None, ""):
        if asked not in ScoreKind.values:
            raise ValidationFailed(
                f"kind must be one of {', '.join(ScoreKind.values)}.", field=f"{where}kind"
            )
        if asked != kind:
            raise ValidationFailed(f"value is not a {asked}.", field=field)
    return kind, number, category


def score_parse(raw: Any, *, where: str = "", default_source: str = ScoreSource.API) -> ScoreIn:
    """One score from a request body (a dict), or ValidationFailed naming the field."""
    if not isinstance(raw, dict):
        raise ValidationFailed("A score is an object.", field=where.rstrip(".") or "body")
    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        raise ValidationFailed(f"Unknown field {unknown[0]}.", field=f"{where}{unknown[0]}")
    trace_hex = _text(raw, "trace_id", where, 32, required=True).lower()
    if not TRACE_HEX.match(trace_hex):
        raise ValidationFailed(
            "trace_id is an OTLP trace id: 32 hexadecimal characters.", field=f"{where}trace_id"
        )
    span_hex = _text(raw, "span_id", where, 16).lower()
    if span_hex and not SPAN_HEX.match(span_hex):
        raise ValidationFailed(
            "span_id is an OTLP span id: 16 hexadecimal characters.", field=f"{where}span_id"
        )
    kind, number, category = _typed_value(raw, where)
    source = _text(raw, "source", where, 10) or default_source
    if source not in ScoreSource.values:
        raise ValidationFailed(
            f"source must be one of {', '.join(ScoreSource.values)}.", field=f"{where}source"
        )
    return ScoreIn(
        trace_hex=trace_hex,
        span_hex=span_hex,
        name=_text(raw, "name", where, NAME_MAX, required=True),
        kind=kind,
        value=number,
        category=category,
        comment=_text(raw, "comment", where, COMMENT_MAX),
        source=source,
        author=_text(raw, "author", where, AUTHOR_MAX),
        client_id=_text(raw, "id", where, CLIENT_ID_MAX),
        where=where,
    )


def scores_parse(body: Any, *, default_source: str = ScoreSource.API) -> tuple[list[ScoreIn], bool]:
    """(scores, is_batch) from a body that is one score, a list of them, or {"scores": [...]}."""
    if isinstance(body, dict) and "scores" in body:
        body = body["scores"]
        if not isinstance(body, list):
            raise ValidationFailed("scores must be a list.", field="scores")
    if isinstance(body, list):
        if not body:
            raise ValidationFailed("scores is empty.", field="scores")
        if len(body) > BATCH_MAX:
            raise ValidationFailed(f"At most {BATCH_MAX} scores per request.", field="scores")
        items = [
            score_parse(raw, where=f"scores[{i}].", default_source=default_source)
            for i, raw in enumerate(body)
        ]
        seen: dict[str, int] = {}
        for i, item in enumerate(items):
            if item.client_id and item.client_id in seen:
                raise ValidationFailed(
                    f"id {item.client_id!r} is also scores[{seen[item.client_id]}]'s.",
                    field=f"scores[{i}].id",
                )
            seen[item.client_id] = i
        return items, True
    return [score_parse(body, default_source=default_source)], False
