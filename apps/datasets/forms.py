from __future__ import annotations

import json

from django import forms

from apps.core import jsonshape
from apps.datasets.importing import TARGETS


def int_or_none(value) -> int | None:
    """A whole-number query parameter; anything else (absent, junk) is None."""
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


class DatasetForm(forms.Form):
    name = forms.CharField(max_length=100)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))


def _json_object(value: str, label: str, *, required: bool) -> dict:
    value = (value or "").strip()
    if not value:
        if required:
            raise forms.ValidationError(f"Enter the {label} as a JSON object.")
        return {}
    try:
        parsed = jsonshape.loads(value)
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(f"Not valid JSON: {exc.msg} (line {exc.lineno}).") from None
    except ValueError as exc:  # too deep, a huge number
        raise forms.ValidationError(f"Not usable JSON: {exc}.") from None
    if not isinstance(parsed, dict):
        raise forms.ValidationError(f'The {label} must be a JSON object, like {{"ticket": "…"}}.')
    return parsed


def parse_expected(value: str):
    """Expected output is text, or JSON when it is written as an object or an array."""
    value = value or ""
    if not value.strip():
        return None
    stripped = value.strip()
    if stripped[:1] in "{[":
        try:
            return jsonshape.loads(stripped)
        except ValueError:  # not JSON after all (or too deep, a huge number): the text
            pass
    return value


def format_expected(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False)


class ExampleForm(forms.Form):
    input = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        help_text='The prompt variables as a JSON object, e.g. {"ticket": "My card was charged twice"}.',
    )
    expected = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Text, or JSON when it starts with { or [.",
    )
    metadata = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 1, "class": "mono"})
    )
    split = forms.CharField(required=False, max_length=40)

    def clean_input(self):
        return _json_object(self.cleaned_data["input"], "input", required=True)

    def clean_metadata(self):
        return _json_object(self.cleaned_data.get("metadata", ""), "metadata", required=False)

    def clean_expected(self):
        return parse_expected(self.cleaned_data.get("expected", ""))

    @classmethod
    def initial_for(cls, row) -> dict:
        return {
            "input": json.dumps(row.input, indent=2, ensure_ascii=False),
            "expected": format_expected(row.expected),
            "metadata": json.dumps(row.metadata, ensure_ascii=False) if row.metadata else "",
            "split": row.split,
        }


class UploadForm(forms.Form):
    FORMAT_CHOICES = [
        ("", "Detect from the file name"),
        ("csv", "CSV (with a header row)"),
        ("jsonl", "JSON Lines (one object per line)"),
        ("json", "JSON array of objects"),
    ]
    file = forms.FileField()
    format = forms.ChoiceField(choices=FORMAT_CHOICES, required=False)


TARGET_LABELS = {
    "input": "Input variable",
    "expected": "Expected output",
    "metadata": "Metadata",
    "split": "Split",
    "ignore": "Ignore",
}
TARGET_CHOICES = [(t, TARGET_LABELS[t]) for t in TARGETS]


def mapping_from_post(data, columns: list[str]) -> dict[str, str]:
    """Read `target-<i>` / `name-<i>` fields (indexed: column names may be anything)."""
    mapping = {}
    for index, column in enumerate(columns):
        target = data.get(f"target-{index}", "ignore")
        if target == "input":
            name = (data.get(f"name-{index}") or "").strip()
            target = f"input:{name}" if name else "input"
        mapping[column] = target
    return mapping


def mapping_rows(columns: list[str], mapping: dict[str, str]) -> list[dict]:
    rows = []
    for index, column in enumerate(columns):
        target = mapping.get(column, "ignore")
        base, _, name = target.partition(":")
        rows.append({"index": index, "column": column, "target": base, "name": name or column})
    return rows
