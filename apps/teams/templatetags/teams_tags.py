import json

from django import template

register = template.Library()


@register.filter
def compact_json(value) -> str:
    """A before/after snapshot as one line of JSON (autoescaped by the template as usual)."""
    if value is None:
        return ""
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)
