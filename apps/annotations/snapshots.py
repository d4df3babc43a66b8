"""What an item copies from its source (an experiment result or a trace span), so the item
page is one query and stays as the annotator saw it if the source changes; and how a copied
value reads as text."""

from __future__ import annotations

import json


def _auto_scores(result) -> list[dict]:
    scores = []
    for score in result.scores.all():
        if score.source == "human":
            continue
        scores.append(
            {
                "evaluator": score.evaluator_name
                or (score.evaluator.name if score.evaluator_id else score.source),
                "evaluator_id": score.evaluator_id,
                "source": score.source,
                "value": score.value,
                "passed": score.passed,
                "label": score.label,
                "explanation": score.explanation,
            }
        )
    return scores


def _version_label(variant) -> str:
    version = getattr(variant, "prompt_version", None)
    if version is None:
        return ""
    prompt = getattr(version, "prompt", None)
    return f"{prompt.name} v{version.number}" if prompt is not None else f"v{version.number}"


def result_snapshot(result) -> dict:
    """What the annotator needs from an experiment result."""
    variant = result.variant
    return {
        "input": result.input,
        "expected": result.expected,
        "output": result.output,
        "error": result.error or "",
        "experiment": result.experiment.name,
        "experiment_id": result.experiment_id,
        "variant": variant.label,
        "variant_id": result.variant_id,
        "prompt_version": _version_label(variant),
        "example_id": str(result.example_id),
        "repetition": result.repetition,
        "auto_scores": _auto_scores(result),
    }


def span_snapshot(span) -> dict:
    """What the annotator needs from a model call seen in production."""
    version = getattr(span, "prompt_version", None)
    return {
        "input": span.input_text,
        "expected": None,
        "output": span.output_text,
        "error": span.status_message if span.status_code == "error" else "",
        "prompt_version": (
            f"{span.prompt_name} v{span.prompt_version_number}"
            if span.prompt_name and span.prompt_version_number
            else (str(version) if version else "")
        ),
        "span": span.name,
        "auto_scores": [],
    }


def snapshot_text(value) -> str:
    """A snapshot value as text: a one-key input shows just its value, other structures
    as indented JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        only = next(iter(value.values()))
        if isinstance(only, str):
            return only
    return json.dumps(value, indent=2, ensure_ascii=False)
