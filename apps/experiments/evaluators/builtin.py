"""Built-in code evaluators: deterministic checks of one output."""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

import re2  # type: ignore[import-untyped]  # google-re2 ships no stubs
from rapidfuzz import fuzz

from apps.core.errors import ValidationFailed
from apps.experiments.evaluators.base import (
    EvalContext,
    EvalOutcome,
    EvaluatorKind,
    Param,
    error,
    register,
    verdict,
)
from apps.experiments.evaluators.patterns import PatternRefused, compile_pattern, re2_options
from apps.experiments.evaluators.schema import (
    MAX_VALIDATION_STEPS,
    ValidationBudgetExceeded,
    check_schema,
    schema_errors,
)

EXPECTED_FIELD = Param(
    "expected_field",
    "str",
    "",
    help="When the expected value is an object, compare with this key of it.",
)
NO_EXPECTED = "This example has no expected output to compare with."


def _expected(params: dict, ctx: EvalContext) -> tuple[Any, EvalOutcome | None]:
    expected = ctx.expected
    key = params.get("expected_field") or ""
    if key:
        if not isinstance(expected, dict) or key not in expected:
            return None, error(f"The expected value has no field '{key}'.")
        expected = expected[key]
    if expected is None or expected == "":
        return None, error(NO_EXPECTED)
    return expected, None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _alternatives(expected: Any) -> list[str]:
    """A list of expected strings means "any of these is right"."""
    if isinstance(expected, list) and expected and all(isinstance(v, str) for v in expected):
        return expected
    return [_as_text(expected)]


def _short(text: str, limit: int = 80) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- exact match -----------------------------------------------------------------


def normalise(
    text: str, *, case_sensitive: bool, normalize_whitespace: bool, strip_punctuation: bool
) -> str:
    text = unicodedata.normalize("NFC", text)
    if strip_punctuation:
        text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    if normalize_whitespace:
        text = " ".join(text.split())
    if not case_sensitive:
        text = text.casefold()
    return text


def _exact_match(params: dict, ctx: EvalContext) -> EvalOutcome:
    expected, problem = _expected(params, ctx)
    if problem:
        return problem
    options = {
        k: params[k] for k in ("case_sensitive", "normalize_whitespace", "strip_punctuation")
    }
    output = normalise(ctx.output or "", **options)
    for candidate in _alternatives(expected):
        if normalise(candidate, **options) == output:
            return verdict(True, f"Output matches {_short(candidate)!r}.")
    return verdict(
        False, f"Output {_short(ctx.output or '')!r} ≠ expected {_short(_as_text(expected))!r}."
    )


register(
    EvaluatorKind(
        kind="exact_match",
        name="Exact match",
        description="The output equals the expected value after normalisation.",
        params=(
            Param("case_sensitive", "bool", False),
            Param(
                "normalize_whitespace", "bool", True, help="Collapse runs of whitespace, trim ends."
            ),
            Param("strip_punctuation", "bool", False),
            EXPECTED_FIELD,
        ),
        evaluate=_exact_match,
    )
)


# --- contains --------------------------------------------------------------------


def _contains(params: dict, ctx: EvalContext) -> EvalOutcome:
    needles = params["values"]
    if not needles:
        expected, problem = _expected(params, ctx)
        if problem:
            return error(
                "No values to look for: set 'values' or give the example an expected value."
            )
        needles = expected if isinstance(expected, list) else [expected]
        needles = [_as_text(n) for n in needles]
    haystack = ctx.output or ""
    if not params["case_sensitive"]:
        haystack = haystack.casefold()
    found = [n for n in needles if (n if params["case_sensitive"] else n.casefold()) in haystack]
    missing = [n for n in needles if n not in found]
    fraction = len(found) / len(needles)
    passed = bool(found) if params["mode"] == "any" else not missing
    if passed:
        explanation = f"Found {len(found)} of {len(needles)}: {', '.join(map(repr, found[:5]))}."
    else:
        explanation = f"Missing {', '.join(map(repr, missing[:5]))}."
    return verdict(passed, explanation, value=fraction)


register(
    EvaluatorKind(
        kind="contains",
        name="Contains",
        description="The output contains any or all of the given texts (or the expected value).",
        params=(
            Param("values", "str_list", [], help="Texts to look for; empty: the expected value."),
            Param("mode", "choice", "any", choices=("any", "all")),
            Param("case_sensitive", "bool", False),
            EXPECTED_FIELD,
        ),
        evaluate=_contains,
    )
)


# --- regex (on RE2: see patterns.py) ----------------------------------------------

MAX_PATTERN = 1000


def _regex_compile(params: dict):
    return compile_pattern(
        params["pattern"],
        ignore_case=params["ignore_case"],
        multiline=params["multiline"],
        dotall=params["dotall"],
    )


def _regex_check(params: dict) -> None:
    if not params["pattern"]:
        raise ValidationFailed("Give a regular expression.", field="params")
    if len(params["pattern"]) > MAX_PATTERN:
        raise ValidationFailed(
            f"The pattern is longer than {MAX_PATTERN} characters.", field="params"
        )
    try:
        _regex_compile(params)
    except PatternRefused as exc:
        raise ValidationFailed(str(exc), field="params") from None


def _regex(params: dict, ctx: EvalContext) -> EvalOutcome:
    try:
        pattern = _regex_compile(params)
    except PatternRefused as exc:  # saved before patterns ran on RE2: edit the evaluator
        return error(str(exc))
    text = ctx.output or ""
    match = pattern.fullmatch(text) if params["match"] == "fullmatch" else pattern.search(text)
    matched = match is not None
    passed = matched != params["invert"]
    if matched:
        explanation = f"Pattern matched {_short(match.group(0))!r}."
    else:
        explanation = "Pattern did not match."
    if params["invert"]:
        explanation += " (Inverted: a match fails.)"
    return verdict(passed, explanation)


register(
    EvaluatorKind(
        kind="regex",
        name="Regular expression",
        description=(
            "The output matches a regular expression (RE2 syntax: linear time, "
            "no backreferences or lookaround)."
        ),
        params=(
            Param("pattern", "str"),
            Param("match", "choice", "search", choices=("search", "fullmatch")),
            Param("ignore_case", "bool", False),
            Param("multiline", "bool", False),
            Param("dotall", "bool", False),
            Param("invert", "bool", False, help="Pass when the pattern does NOT match."),
        ),
        evaluate=_regex,
        check=_regex_check,
    )
)


# --- JSON ------------------------------------------------------------------------

# On RE2: with Python's engine this pattern is quadratic in a run of spaces after the fence.
FENCE = re2.compile(r"(?s)^\s*```(?:json|JSON)?\s*\n(.*?)\n?\s*```\s*$", re2_options())


def parse_json_output(text: str, *, strip_code_fence: bool = True) -> tuple[Any, str | None]:
    """(value, None) or (None, a message saying where parsing failed)."""
    text = text or ""
    if strip_code_fence:
        fenced = FENCE.match(text)
        if fenced:
            text = fenced.group(1)
    if not text.strip():
        return None, "The output is empty, not JSON."
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
    except ValueError:  # an integer past Python's limit of digits
        return None, "Not usable JSON: a number in it has too many digits."
    except RecursionError:
        return None, "Not usable JSON: it is nested too deeply."


JSON_TYPES = {"object": dict, "array": list}


def _valid_json(params: dict, ctx: EvalContext) -> EvalOutcome:
    value, problem = parse_json_output(ctx.output, strip_code_fence=params["strip_code_fence"])
    if problem:
        return verdict(False, problem)
    wanted = params["require_type"]
    if wanted != "any" and not isinstance(value, JSON_TYPES[wanted]):
        return verdict(False, f"Valid JSON, but a {type(value).__name__}, not an {wanted}.")
    return verdict(True, "Valid JSON.")


register(
    EvaluatorKind(
        kind="valid_json",
        name="Valid JSON",
        description="The output parses as JSON (a ```json fence is allowed).",
        params=(
            Param("strip_code_fence", "bool", True),
            Param("require_type", "choice", "any", choices=("any", "object", "array")),
        ),
        evaluate=_valid_json,
    )
)


def _schema_check(params: dict) -> None:
    check_schema(params["schema"])


def _json_schema(params: dict, ctx: EvalContext) -> EvalOutcome:
    value, problem = parse_json_output(ctx.output, strip_code_fence=params["strip_code_fence"])
    if problem:
        return verdict(False, problem)
    try:
        errors = schema_errors(params["schema"], value)
    except ValueError as exc:
        return verdict(False, str(exc))
    except ValidationBudgetExceeded:
        return error(
            f"Validation stopped after {MAX_VALIDATION_STEPS} schema checks on this output; "
            "simplify the schema (a $ref that branches on every level costs the most)."
        )
    except PatternRefused as exc:  # saved before patterns ran on RE2: edit the evaluator
        return error(str(exc))
    if not errors:
        return verdict(True, "Output matches the schema.")
    shown = "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {_short(e.message, 200)}"
        for e in errors[:3]
    )
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    return verdict(False, f"Schema violations: {shown}{more}")


register(
    EvaluatorKind(
        kind="json_schema",
        name="JSON Schema",
        description="The output is JSON valid against a JSON Schema.",
        params=(Param("schema", "json"), Param("strip_code_fence", "bool", True)),
        evaluate=_json_schema,
        check=_schema_check,
    )
)


# --- similarity ------------------------------------------------------------------

SIMILARITY_METHODS = {
    "ratio": fuzz.ratio,
    "partial_ratio": fuzz.partial_ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "token_set_ratio": fuzz.token_set_ratio,
}


# rapidfuzz runs in C, in the worker's thread, where no timer can stop it, so its cost is
# bounded by construction: ratio-like scorers cost about len(a) * len(b) / 64 steps (two
# 100,000-character texts: 0.65 s), partial_ratio grows with the cube of the shorter text
# (two of 4,000 characters: 7 s; 500: 14 ms). Past these a comparison is an error score.
SIMILARITY_MAX_PAIRS = 2_000_000_000  # len(a) * len(b), summed over the alternatives
PARTIAL_MAX_SHORTER = 500


def _similarity(params: dict, ctx: EvalContext) -> EvalOutcome:
    expected, problem = _expected(params, ctx)
    if problem:
        return problem
    method = params["method"]
    scorer = SIMILARITY_METHODS[method]
    output = ctx.output or ""
    pairs = []
    work = 0
    for candidate in _alternatives(expected):
        a, b = (
            (output, candidate)
            if params["case_sensitive"]
            else (output.casefold(), candidate.casefold())
        )
        if method == "partial_ratio" and min(len(a), len(b)) > PARTIAL_MAX_SHORTER:
            return error(
                f"partial_ratio compares texts of at most {PARTIAL_MAX_SHORTER} characters "
                f"(the shorter one); these are {len(a)} and {len(b)}. Use ratio or token_set_ratio."
            )
        work += len(a) * len(b)
        if work > SIMILARITY_MAX_PAIRS:
            return error(
                f"Too long to compare: output and expected texts of {len(a)} and {len(b)} "
                f"characters exceed the similarity budget of {SIMILARITY_MAX_PAIRS:,} "
                "character pairs."
            )
        pairs.append((a, b))
    best = 0.0
    for a, b in pairs:
        best = max(best, scorer(a, b) / 100.0)
    passed = best >= params["threshold"]
    return verdict(
        passed,
        f"Similarity {best:.2f} {'≥' if passed else '<'} threshold {params['threshold']:.2f} ({params['method']}).",
        value=best,
    )


register(
    EvaluatorKind(
        kind="similarity",
        name="String similarity",
        description="rapidfuzz similarity to the expected value (0-1) against a threshold.",
        params=(
            Param("threshold", "float", 0.8, min=0.0, max=1.0),
            Param("method", "choice", "ratio", choices=tuple(SIMILARITY_METHODS)),
            Param("case_sensitive", "bool", False),
            EXPECTED_FIELD,
        ),
        evaluate=_similarity,
    )
)


# --- numeric ---------------------------------------------------------------------

NUMBER = re.compile(r"[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?(?:[eE][-+]?\d+)?")


def extract_number(text: str, where: str = "first") -> float | None:
    text = (text or "").strip()
    try:
        return float(text)
    except ValueError:
        pass
    found = [m.group(0) for m in NUMBER.finditer(text) if any(c.isdigit() for c in m.group(0))]
    if not found:
        return None
    if where == "whole":
        return None
    chosen = found[0] if where == "first" else found[-1]
    try:
        return float(chosen.replace(",", ""))
    except ValueError:
        return None


def _numeric(params: dict, ctx: EvalContext) -> EvalOutcome:
    expected, problem = _expected(params, ctx)
    if problem:
        return problem
    if isinstance(expected, bool):
        return error(f"The expected value {expected!r} is not a number.")
    try:
        target = (
            float(expected) if not isinstance(expected, str) else extract_number(expected, "whole")
        )
    except (TypeError, ValueError, OverflowError):
        target = None
    if target is None:
        return error(f"The expected value {_short(_as_text(expected))!r} is not a number.")
    value = extract_number(ctx.output, params["extract"])
    if value is None:
        return verdict(False, f"No number found in the output {_short(ctx.output or '')!r}.")
    tolerance = max(params["abs_tol"], params["rel_tol"] * abs(target))
    diff = abs(value - target)
    passed = diff <= tolerance
    return verdict(
        passed,
        f"{value:g} vs expected {target:g}: difference {diff:g} {'≤' if passed else '>'} tolerance {tolerance:g}.",
    )


register(
    EvaluatorKind(
        kind="numeric",
        name="Numeric within tolerance",
        description="A number in the output is within an absolute or relative tolerance of the expected number.",
        params=(
            Param("abs_tol", "float", 0.0, min=0.0, help="Absolute tolerance."),
            Param("rel_tol", "float", 0.0, min=0.0, help="Relative tolerance (0.05 = 5 %)."),
            Param("extract", "choice", "first", choices=("first", "last", "whole")),
            EXPECTED_FIELD,
        ),
        evaluate=_numeric,
    )
)


# --- length ----------------------------------------------------------------------


def _length_check(params: dict) -> None:
    low, high = params["min_length"], params["max_length"]
    if low is None and high is None:
        raise ValidationFailed("Give min_length, max_length or both.", field="params")
    if low is not None and high is not None and low > high:
        raise ValidationFailed("min_length is greater than max_length.", field="params")


def _length(params: dict, ctx: EvalContext) -> EvalOutcome:
    text = ctx.output or ""
    size = len(text.split()) if params["unit"] == "words" else len(text)
    low, high = params["min_length"], params["max_length"]
    unit = params["unit"]
    if low is not None and size < low:
        return verdict(False, f"{size} {unit} < minimum {low}.")
    if high is not None and size > high:
        return verdict(False, f"{size} {unit} > maximum {high}.")
    bounds = f"[{low if low is not None else '-'}, {high if high is not None else '-'}]"
    return verdict(True, f"{size} {unit} within {bounds}.")


register(
    EvaluatorKind(
        kind="length",
        name="Length bounds",
        description="The output length (characters or words) is within bounds.",
        params=(
            Param("min_length", "int", None, min=0),
            Param("max_length", "int", None, min=0),
            Param("unit", "choice", "chars", choices=("chars", "words")),
        ),
        evaluate=_length,
        check=_length_check,
    )
)


# --- latency and cost ------------------------------------------------------------


def _latency(params: dict, ctx: EvalContext) -> EvalOutcome:
    if ctx.latency_ms is None:
        return error("No latency was recorded for this result.")
    passed = ctx.latency_ms <= params["max_ms"]
    return verdict(passed, f"{ctx.latency_ms} ms {'≤' if passed else '>'} {params['max_ms']:g} ms.")


register(
    EvaluatorKind(
        kind="latency",
        name="Latency threshold",
        description="The call took at most max_ms milliseconds.",
        params=(Param("max_ms", "float", min=0.0),),
        evaluate=_latency,
    )
)


def _cost(params: dict, ctx: EvalContext) -> EvalOutcome:
    if ctx.cost is None:
        return error("No cost was recorded for this result (is the model priced?).")
    cost = float(ctx.cost)
    passed = cost <= params["max_cost"]
    return verdict(passed, f"${cost:.6f} {'≤' if passed else '>'} ${params['max_cost']:.6f}.")


register(
    EvaluatorKind(
        kind="cost",
        name="Cost threshold",
        description="The call cost at most max_cost (USD).",
        params=(Param("max_cost", "float", min=0.0),),
        evaluate=_cost,
    )
)
