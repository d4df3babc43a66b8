"""Showing dataset cells: always as escaped text (the autoescaping does the escaping)."""

from __future__ import annotations

import json

from django import template

from apps.core.web import role_allows
from apps.teams.models import PERM_EDIT

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


@register.simple_tag(takes_context=True)
def can_edit_datasets(context) -> bool:
    """Whether the signed-in member may change datasets (for links shown on every page)."""
    request = context.get("request")
    return request is not None and role_allows(request, PERM_EDIT)
