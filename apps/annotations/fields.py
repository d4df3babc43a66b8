"""The verdict form: the extra fields a queue defines, and the values an annotator gives."""

from __future__ import annotations

from apps.annotations.models import AnnotationQueue, FieldKind
from apps.core.errors import ValidationFailed

# The verdict itself uses these names; an extra field may not take them.
RESERVED_NAMES = {"passed", "reasoning", "corrected_expected"}


def clean_form_fields(raw) -> list[dict]:
    """Validate the extra verdict fields; returns them normalised."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise ValidationFailed("Extra fields must be a list.", field="form_fields")
    cleaned, names = [], set()
    for index, spec in enumerate(raw, start=1):
        if not isinstance(spec, dict):
            raise ValidationFailed(f"Field {index}: expected an object.", field="form_fields")
        name = str(spec.get("name", "")).strip()
        kind = spec.get("kind")
        if not name or not name.replace("_", "").isalnum():
            raise ValidationFailed(
                f"Field {index}: give it a name of letters, digits and underscores.",
                field="form_fields",
            )
        if name in names or name in RESERVED_NAMES:
            raise ValidationFailed(f"Field name {name!r} is used twice.", field="form_fields")
        names.add(name)
        if kind not in FieldKind.values:
            raise ValidationFailed(
                f"Field {name!r}: kind must be one of {', '.join(FieldKind.values)}.",
                field="form_fields",
            )
        field = {
            "name": name,
            "kind": kind,
            "label": str(spec.get("label") or name.replace("_", " ").capitalize())[:100],
            "required": bool(spec.get("required", False)),
        }
        if kind == FieldKind.LABEL:
            choices = [str(c).strip() for c in spec.get("choices") or [] if str(c).strip()]
            if len(choices) < 2 or len(set(choices)) != len(choices):
                raise ValidationFailed(
                    f"Field {name!r}: list at least two distinct labels.", field="form_fields"
                )
            field["choices"] = choices
        elif kind == FieldKind.NUMBER:
            try:
                low = float(spec["min"]) if spec.get("min") not in (None, "") else None
                high = float(spec["max"]) if spec.get("max") not in (None, "") else None
            except (TypeError, ValueError):
                raise ValidationFailed(
                    f"Field {name!r}: min and max must be numbers.", field="form_fields"
                ) from None
            if low is not None and high is not None and low > high:
                raise ValidationFailed(f"Field {name!r}: min is above max.", field="form_fields")
            field["min"], field["max"] = low, high
        cleaned.append(field)
    return cleaned


def clean_field_values(queue: AnnotationQueue, values) -> dict:
    """The annotator's extra field values, checked against the queue's fields."""
    values = values or {}
    if not isinstance(values, dict):
        raise ValidationFailed("Extra fields must be an object.", field="fields")
    cleaned: dict[str, str | int | float] = {}
    for spec in queue.form_fields or []:
        name, kind = spec["name"], spec["kind"]
        raw = values.get(name)
        if raw in (None, ""):
            if spec.get("required"):
                raise ValidationFailed(f"{spec['label']}: this field is required.", field=name)
            continue
        if kind == FieldKind.LABEL:
            if str(raw) not in spec["choices"]:
                raise ValidationFailed(
                    f"{spec['label']}: choose one of {', '.join(spec['choices'])}.", field=name
                )
            cleaned[name] = str(raw)
        elif kind == FieldKind.NUMBER:
            try:
                number = float(raw)
            except (TypeError, ValueError):
                raise ValidationFailed(f"{spec['label']}: enter a number.", field=name) from None
            if spec.get("min") is not None and number < spec["min"]:
                raise ValidationFailed(f"{spec['label']}: at least {spec['min']:g}.", field=name)
            if spec.get("max") is not None and number > spec["max"]:
                raise ValidationFailed(f"{spec['label']}: at most {spec['max']:g}.", field=name)
            cleaned[name] = int(number) if number.is_integer() else number
        else:
            cleaned[name] = str(raw)[:5000]
    unknown = set(values) - {s["name"] for s in queue.form_fields or []}
    if unknown:
        raise ValidationFailed(f"Unknown field {sorted(unknown)[0]!r}.", field="fields")
    return cleaned


def parse_passed(passed) -> bool:
    """A verdict from a bool or from the words forms and people use for one."""
    if isinstance(passed, bool):
        return passed
    text = str(passed or "").strip().lower()
    if text in {"pass", "passed", "true", "1", "yes", "p"}:
        return True
    if text in {"fail", "failed", "false", "0", "no", "f"}:
        return False
    raise ValidationFailed("Choose pass (P) or fail (F).", field="passed")
