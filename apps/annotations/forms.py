from __future__ import annotations

import re

from django import forms

from apps.annotations.services import MAX_ANNOTATORS
from apps.core.errors import ValidationFailed

FIELD_LINE = re.compile(
    r"^(?P<name>\w+)(?P<required>\*)?\s*:\s*(?P<kind>label|number|text)\s*(?:\((?P<args>.*)\))?\s*$"
)
FIELDS_HELP = (
    "Optional extra fields, one per line: <code>tone: label(polite, neutral, rude)</code>, "
    "<code>quality: number(1..5)</code>, <code>notes: text</code>. "
    "A <code>*</code> after the name makes it required."
)


def parse_fields_spec(text: str) -> list[dict]:
    fields = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = FIELD_LINE.match(line)
        if match is None:
            raise ValidationFailed(
                f"Line {number}: write 'name: label(a, b)', 'name: number(1..5)' or 'name: text'.",
                field="fields_spec",
            )
        spec = {
            "name": match["name"],
            "kind": match["kind"],
            "required": bool(match["required"]),
        }
        args = (match["args"] or "").strip()
        if match["kind"] == "label":
            spec["choices"] = [c.strip() for c in args.split(",") if c.strip()]
        elif match["kind"] == "number" and args:
            low, _, high = args.partition("..")
            spec["min"], spec["max"] = low.strip() or None, high.strip() or None
        fields.append(spec)
    return fields


def fields_spec_text(fields: list[dict]) -> str:
    lines = []
    for spec in fields or []:
        head = f"{spec['name']}{'*' if spec.get('required') else ''}: {spec['kind']}"
        if spec["kind"] == "label":
            head += f"({', '.join(spec.get('choices', []))})"
        elif spec["kind"] == "number" and (
            spec.get("min") is not None or spec.get("max") is not None
        ):
            low = "" if spec.get("min") is None else f"{spec['min']:g}"
            high = "" if spec.get("max") is None else f"{spec['max']:g}"
            head += f"({low}..{high})"
        lines.append(head)
    return "\n".join(lines)


class QueueForm(forms.Form):
    name = forms.CharField(max_length=100)
    instructions = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Markdown: what a pass means, with examples.",
    )
    annotators_per_item = forms.IntegerField(
        min_value=1,
        max_value=MAX_ANNOTATORS,
        initial=1,
        help_text="More than one measures agreement between annotators.",
    )
    hide_auto_scores = forms.BooleanField(
        required=False,
        label="Hide automatic scores from annotators",
        help_text="Avoids anchoring people on the judge's verdict.",
    )
    fail_needs_reasoning = forms.BooleanField(
        required=False,
        initial=True,
        label="A Fail needs reasoning",
        help_text="Annotators say why an output fails: the reasons are what the next "
        "version fixes.",
    )
    fields_spec = forms.CharField(
        required=False,
        label="Extra fields",
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        help_text=FIELDS_HELP,
    )
