from django import template

register = template.Library()


@register.filter
def preview(value) -> str:
    """Readable text of a snapshot value (a one-key input shows just its value)."""
    from apps.annotations.views import _pretty

    text = _pretty(value)
    return " ".join(text.split())
