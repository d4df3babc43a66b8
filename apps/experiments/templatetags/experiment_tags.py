import json

from django import template

register = template.Library()


@register.filter
def as_json(value, indent=None):
    """JSON text of a value (strings shown as they are); autoescaped by the template."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, indent=int(indent) if indent else None)
    except (TypeError, ValueError):
        return str(value)


@register.filter
def percent(value, digits=0):
    if value is None:
        return "—"
    return f"{value * 100:.{int(digits)}f} %"


@register.filter
def seconds(value):
    if value is None:
        return "—"
    value = float(value)
    if value < 60:
        return f"{value:.1f} s"
    minutes, secs = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def usd(value, digits=4):
    if value is None:
        return "—"
    return f"${float(value):.{int(digits)}f}"


@register.filter
def status_pill(status):
    return {
        "completed": "pill-success",
        "running": "pill-warning",
        "queued": "pill-warning",
        "failed": "pill-danger",
        "capped": "pill-danger",
        "cancelled": "pill-muted",
        "draft": "pill-muted",
    }.get(status, "")


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key)


STEP_SCORE = " · "  # a per-step score is named "<evaluator> · <step>" (the runner's StepLink)


@register.filter
def chain_steps(result):
    """A chain cell's steps as they ran, each with its own scores (from the result's
    prefetched scores: no query); [] for a single prompt."""
    steps = getattr(result, "steps", None) or []
    if not steps:
        return []
    scores = list(result.scores.all())
    shown = []
    for step in steps:
        suffix = f"{STEP_SCORE}{step.get('name')}"
        own = [s for s in scores if (s.evaluator_name or "").endswith(suffix)]
        shown.append({**step, "scores": own})
    return shown
