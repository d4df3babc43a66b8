"""JSON Schema validation with bounded cost, for schemas a tenant writes.

jsonschema runs in the worker's thread, where it cannot be interrupted, so its cost is
bounded by construction rather than by a timer:
- the schema is refused at save time past MAX_SCHEMA_DEPTH levels or MAX_SCHEMA_VALUES
  values (a 900-level schema is a 400, not a RecursionError), and when a `pattern` or a
  `patternProperties` key is not an RE2 pattern;
- `pattern`, `patternProperties` and `additionalProperties` match with RE2 (linear time),
  not Python's backtracking engine; `unevaluatedProperties` next to `patternProperties`
  is refused, since jsonschema would match those patterns with Python's engine;
- `uniqueItems` is linear (jsonschema falls back to comparing every pair);
- every keyword application is counted and one output gets at most MAX_VALIDATION_STEPS
  (a `$ref` that branches at every level of a deep output is exponential otherwise);
- the output's JSON is refused past MAX_OUTPUT_DEPTH levels.
"""

from __future__ import annotations

import functools
import json
from contextvars import ContextVar

import jsonschema
from jsonschema.exceptions import ValidationError

from apps.core.errors import ValidationFailed
from apps.core.jsonshape import shape_problem
from apps.experiments.evaluators.patterns import PatternRefused, compile_pattern

MAX_SCHEMA_DEPTH = 32
MAX_SCHEMA_VALUES = 5_000
MAX_OUTPUT_DEPTH = 64
MAX_VALIDATION_STEPS = 50_000


class ValidationBudgetExceeded(Exception):
    """Validating one output took more than MAX_VALIDATION_STEPS keyword applications."""


_steps_left: ContextVar[list[int] | None] = ContextVar("schema_steps_left", default=None)


def _counted(keyword):
    def apply(validator, value, instance, schema):
        left = _steps_left.get()
        if left is not None:
            left[0] -= 1
            if left[0] < 0:
                raise ValidationBudgetExceeded
        return keyword(validator, value, instance, schema)

    return apply


def _pattern(validator, pattern, instance, schema):
    if validator.is_type(instance, "string") and not compile_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator, patterns, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        compiled = compile_pattern(pattern)
        for key, value in instance.items():
            if compiled.search(key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional(instance: dict, schema: dict) -> list:
    properties = schema.get("properties", {})
    patterns = [compile_pattern(p) for p in schema.get("patternProperties", {})]
    return [
        key
        for key in instance
        if key not in properties and not any(p.search(key) for p in patterns)
    ]


def _additional_properties(validator, allowed, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    extras = _additional(instance, schema)
    if validator.is_type(allowed, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], allowed, path=extra)
    elif not allowed and extras:
        shown = ", ".join(repr(each) for each in sorted(extras, key=str))
        if "patternProperties" in schema:
            patterns = ", ".join(repr(each) for each in sorted(schema["patternProperties"]))
            verb = "does" if len(extras) == 1 else "do"
            yield ValidationError(f"{shown} {verb} not match any of the regexes: {patterns}")
        else:
            verb = "was" if len(extras) == 1 else "were"
            yield ValidationError(
                f"Additional properties are not allowed ({shown} {verb} unexpected)"
            )


def _normalised(value):
    """Equal JSON values (1 and 1.0, objects in any key order) dump the same way."""
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalised(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _unique_items(validator, unique, instance, schema):
    if not unique or not validator.is_type(instance, "array"):
        return
    seen = set()
    for item in instance:
        key = json.dumps(_normalised(item), sort_keys=True, default=str)
        if key in seen:
            yield ValidationError(f"{instance!r} has non-unique elements")
            return
        seen.add(key)


_OVERRIDES = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
    "uniqueItems": _unique_items,
}


@functools.cache
def _bounded(base):
    """`base` (a jsonschema validator class) with every keyword counted, patterns on RE2."""
    keywords = dict(base.VALIDATORS)
    keywords.update({k: fn for k, fn in _OVERRIDES.items() if k in keywords})
    return jsonschema.validators.extend(base, {name: _counted(fn) for name, fn in keywords.items()})


def _walk_patterns(schema) -> tuple[list[str], set[str]]:
    """Every `pattern` string and `patternProperties` key, and which of the keywords
    `patternProperties`/`unevaluatedProperties` appear (iteratively: depth is checked
    before this runs, but a stack is cheaper than recursion anyway)."""
    patterns: list[str] = []
    seen: set[str] = set()
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "pattern" and isinstance(value, str):
                    patterns.append(value)
                elif key == "patternProperties" and isinstance(value, dict):
                    patterns.extend(value)
                    seen.add(key)
                elif key == "unevaluatedProperties":
                    seen.add(key)
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return patterns, seen


def check_schema(schema) -> None:
    """Refuse (ValidationFailed, a 400) a schema we will not run, saying why."""
    if not isinstance(schema, (dict, bool)):
        raise ValidationFailed("'schema' must be a JSON Schema object.", field="params")
    problem = shape_problem(schema, max_depth=MAX_SCHEMA_DEPTH, max_values=MAX_SCHEMA_VALUES)
    if problem:
        raise ValidationFailed(f"'schema' {problem}; simplify it.", field="params")
    patterns, keywords = _walk_patterns(schema)
    for pattern in patterns:
        try:
            compile_pattern(pattern)
        except PatternRefused as exc:
            raise ValidationFailed(f"'schema': {exc}", field="params") from None
    if {"patternProperties", "unevaluatedProperties"} <= keywords:
        raise ValidationFailed(
            "'schema': unevaluatedProperties cannot be combined with patternProperties here; "
            "use additionalProperties.",
            field="params",
        )
    try:
        # true and false are schemas too; the stubs only know objects.
        jsonschema.validators.validator_for(schema).check_schema(schema)  # type: ignore[arg-type]
    except jsonschema.SchemaError as exc:
        raise ValidationFailed(
            f"'schema' is not a valid JSON Schema: {exc.message}", field="params"
        ) from None


def schema_errors(schema, value) -> list[ValidationError]:
    """The validation errors of `value` (sorted by path), or ValidationBudgetExceeded, or
    ValueError when the value is nested too deeply to validate."""
    problem = shape_problem(value, max_depth=MAX_OUTPUT_DEPTH)
    if problem:
        raise ValueError(f"The output's JSON {problem}.")
    validator = _bounded(jsonschema.validators.validator_for(schema))(schema)
    token = _steps_left.set([MAX_VALIDATION_STEPS])
    try:
        return sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    finally:
        _steps_left.reset(token)
