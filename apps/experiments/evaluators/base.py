"""The evaluator contract: declared parameters, validated once, and a uniform outcome.

An evaluator kind is a pure function of (params, context) -> EvalOutcome. Parameters are
declared with `Param` so the same declaration validates API input, form input and the
params stored on an Evaluator row.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apps.core.errors import ValidationFailed
from apps.core.jsonshape import shape_problem

REQUIRED = object()
# A JSON parameter (a schema, say) is refused past these, before anything recurses into it.
MAX_JSON_DEPTH = 64
MAX_JSON_VALUES = 20_000

SOURCE_CODE = "code"
SOURCE_LLM = "llm"

LABEL_PASS = "pass"
LABEL_FAIL = "fail"
LABEL_ERROR = "error"


@dataclass(frozen=True)
class EvalOutcome:
    """value is in [0, 1] (None for an error); passed is None when no verdict was reached."""

    value: float | None
    passed: bool | None
    label: str
    explanation: str = ""

    @property
    def is_error(self) -> bool:
        return self.label == LABEL_ERROR


def verdict(passed: bool, explanation: str, value: float | None = None) -> EvalOutcome:
    return EvalOutcome(
        value=(1.0 if passed else 0.0) if value is None else float(value),
        passed=passed,
        label=LABEL_PASS if passed else LABEL_FAIL,
        explanation=explanation,
    )


def error(explanation: str) -> EvalOutcome:
    return EvalOutcome(value=None, passed=None, label=LABEL_ERROR, explanation=explanation)


@dataclass
class EvalContext:
    """What an evaluator may look at for one result."""

    output: str = ""
    expected: Any = None
    input: dict = field(default_factory=dict)
    latency_ms: int | None = None
    cost: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass(frozen=True)
class Param:
    name: str
    type: str  # bool | str | float | int | choice | str_list | json
    default: Any = REQUIRED
    help: str = ""
    choices: tuple = ()
    min: float | None = None
    max: float | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def clean(self, value: Any) -> Any:
        name = self.name
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "on", "off"}:
                return value.lower() in {"true", "1", "on"}
            raise ValidationFailed(f"'{name}' must be true or false.", field="params")
        if self.type in ("float", "int"):
            if isinstance(value, bool):
                raise ValidationFailed(f"'{name}' must be a number.", field="params")
            try:
                number = float(value) if self.type == "float" else int(value)
            except (TypeError, ValueError):
                raise ValidationFailed(
                    f"'{name}' must be {'a number' if self.type == 'float' else 'an integer'}.",
                    field="params",
                ) from None
            if self.type == "int" and isinstance(value, float) and value != int(value):
                raise ValidationFailed(f"'{name}' must be an integer.", field="params")
            if number != number or number in (float("inf"), float("-inf")):
                raise ValidationFailed(f"'{name}' must be a finite number.", field="params")
            if self.min is not None and number < self.min:
                raise ValidationFailed(f"'{name}' must be at least {self.min:g}.", field="params")
            if self.max is not None and number > self.max:
                raise ValidationFailed(f"'{name}' must be at most {self.max:g}.", field="params")
            return number
        if self.type == "str":
            if not isinstance(value, str):
                raise ValidationFailed(f"'{name}' must be text.", field="params")
            return value
        if self.type == "choice":
            if value not in self.choices:
                raise ValidationFailed(
                    f"'{name}' must be one of {', '.join(map(str, self.choices))}.", field="params"
                )
            return value
        if self.type == "str_list":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValidationFailed(f"'{name}' must be a list of texts.", field="params")
            return list(value)
        if self.type == "json":
            problem = shape_problem(value, max_depth=MAX_JSON_DEPTH, max_values=MAX_JSON_VALUES)
            if problem:
                raise ValidationFailed(f"'{name}' {problem}.", field="params")
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                raise ValidationFailed(f"'{name}' must be JSON.", field="params") from None
            return value
        raise AssertionError(f"unknown param type {self.type}")


@dataclass(frozen=True)
class EvaluatorKind:
    kind: str
    name: str
    description: str
    params: tuple[Param, ...]
    evaluate: Callable[[dict, EvalContext], EvalOutcome] | None
    check: Callable[[dict], None] | None = None
    source: str = SOURCE_CODE

    def validate(self, params: dict | None) -> dict:
        """Clean params: defaults filled, types checked, unknown keys refused."""
        params = {} if params is None else params
        if not isinstance(params, dict):
            raise ValidationFailed("Parameters must be a JSON object.", field="params")
        known = {p.name for p in self.params}
        unknown = sorted(set(params) - known)
        if unknown:
            allowed = ", ".join(sorted(known)) or "none"
            raise ValidationFailed(
                f"Unknown parameter '{unknown[0]}' for {self.name} (allowed: {allowed}).",
                field="params",
            )
        cleaned = {}
        for param in self.params:
            if param.name in params and params[param.name] is not None:
                cleaned[param.name] = param.clean(params[param.name])
            elif param.required:
                raise ValidationFailed(
                    f"{self.name} needs the parameter '{param.name}'.", field="params"
                )
            else:
                cleaned[param.name] = param.default
        if self.check is not None:
            self.check(cleaned)
        return cleaned

    def defaults(self) -> dict:
        return {p.name: (None if p.required else p.default) for p in self.params}


REGISTRY: dict[str, EvaluatorKind] = {}


def register(kind: EvaluatorKind) -> EvaluatorKind:
    REGISTRY[kind.kind] = kind
    return kind


def get_kind(kind: str) -> EvaluatorKind:
    try:
        return REGISTRY[kind]
    except KeyError:
        raise ValidationFailed(f"Unknown evaluator kind '{kind}'.", field="kind") from None


def validate_params(kind: str, params: dict | None) -> dict:
    return get_kind(kind).validate(params)


def evaluate(kind: str, params: dict, ctx: EvalContext) -> EvalOutcome:
    """Run a code evaluator. Never raises: an unexpected failure becomes an error outcome."""
    spec = get_kind(kind)
    if spec.evaluate is None:
        raise ValueError(f"{kind} is not a code evaluator")
    try:
        return spec.evaluate(params, ctx)
    except Exception as exc:  # an evaluator bug must not fail the run
        return error(f"{spec.name} failed: {type(exc).__name__}: {exc}")
