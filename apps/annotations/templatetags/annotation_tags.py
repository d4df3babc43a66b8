from django import template

from apps.annotations.snapshots import snapshot_text

register = template.Library()


@register.filter
def preview(value) -> str:
    """Readable text of a snapshot value on one line (a one-key input shows just its value)."""
    return " ".join(snapshot_text(value).split())
