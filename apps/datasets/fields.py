"""The fields of one example: validated the same way for a form, the API, a bulk write and
an import preview, and the lower-cased text the table's search runs on."""

from __future__ import annotations

import hashlib
import json

from apps.core.errors import ValidationFailed
from apps.datasets.models import ExampleSource

SPLIT_MAX = 40


def _has_nul(value) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def _json_value(value, *, what: str, where: str):
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationFailed(f"{where}{what} is not JSON-serialisable.", field=what) from None
    except RecursionError:
        raise ValidationFailed(f"{where}{what} is nested too deeply.", field=what) from None
    # PostgreSQL cannot store NUL in text or jsonb; the dump shows one cheaply ("\u0000").
    if "\\u0000" in text and _has_nul(value):
        raise ValidationFailed(f"{where}{what} contains a NUL character.", field=what)
    return value


def _flatten_text(value, out: list[str]) -> None:
    """Leaf values in document order; iterative, so deep nesting cannot overflow the stack."""
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None:
            continue
        if isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
        else:
            out.append(str(item))


def search_text_for(input: dict, expected) -> str:
    parts: list[str] = []
    _flatten_text(input, parts)
    _flatten_text(expected, parts)
    return "\n".join(parts).lower()


def _normalised(value):
    """Text with runs of whitespace as one space and no edges; containers element-wise."""
    if isinstance(value, str):
        return " ".join(value.split())
    if isinstance(value, dict):
        return {str(k): _normalised(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalised(v) for v in value]
    return value


def content_key(input, expected) -> str:
    """The identity of an example's content: equal for two examples whose input and
    expected output differ only in whitespace around and between words, or in key order.
    No expected output and an empty one are the same. "" when the value cannot be keyed."""
    if expected == "":
        expected = None
    try:
        text = json.dumps(
            [_normalised(input), _normalised(expected)],
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
    except (TypeError, ValueError, RecursionError):
        return ""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def clean_example_fields(
    *,
    input,
    expected=None,
    metadata=None,
    split="",
    source="manual",
    source_ref="",
    line=None,
    row=None,
) -> dict:
    """Validate one example's fields; errors name the file line (or the row of a list)."""
    where = f"Line {line}: " if line is not None else (f"Row {row}: " if row is not None else "")
    if not isinstance(input, dict):
        raise ValidationFailed(
            f"{where}input must be a JSON object of prompt variables, not {type(input).__name__}.",
            field="input",
        )
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise ValidationFailed(f"{where}metadata must be a JSON object.", field="metadata")
    if isinstance(split, (dict, list)):
        raise ValidationFailed(
            f"{where}split must be text, not a JSON object or list.", field="split"
        )
    split = "" if split is None else str(split).strip()
    if len(split) > SPLIT_MAX:
        raise ValidationFailed(
            f"{where}split is longer than {SPLIT_MAX} characters.", field="split"
        )
    if source not in ExampleSource.values:
        raise ValidationFailed(
            f"{where}source must be one of {', '.join(ExampleSource.values)}.", field="source"
        )
    source_ref = str(source_ref or "")[:500]
    if "\x00" in split or "\x00" in source_ref:
        raise ValidationFailed(f"{where}split or source_ref contains a NUL character.")
    _json_value(input, what="input", where=where)
    _json_value(expected, what="expected", where=where)
    _json_value(metadata, what="metadata", where=where)
    return {
        "input": input,
        "expected": expected,
        "metadata": metadata,
        "split": split,
        "source": source,
        "source_ref": source_ref,
        "search_text": search_text_for(input, expected),
        "content_key": content_key(input, expected),
    }
