"""Showing dataset cells: always as escaped text (the autoescaping does the escaping)."""

from __future__ import annotations

import json

from django import template

register = template.Library()


@register.filter
def as_text(value) -> str:
    """A JSON value as compact text: strings as they are, everything else as JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


@register.filter
def input_items(value) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        return [("", as_text(value))]
    return [(key, as_text(item)) for key, item in value.items()]
