"""Each built-in evaluator's edge cases, and parameter validation."""

from __future__ import annotations

import pytest

from apps.core.errors import ValidationFailed
from apps.experiments.evaluators import (
    REGISTRY,
    EvalContext,
    evaluate,
    parse_judge_output,
    validate_params,
)


def run(kind, params=None, **ctx):
    return evaluate(kind, validate_params(kind, params or {}), EvalContext(**ctx))


# --- registry and params ---------------------------------------------------------


def test_it_registers_every_builtin_kind():
    assert {
        "exact_match",
        "contains",
        "regex",
        "valid_json",
        "json_schema",
        "similarity",
        "numeric",
        "length",
        "latency",
        "cost",
        "llm_judge",
    } <= set(REGISTRY)


def test_it_refuses_unknown_kind_and_unknown_params():
    with pytest.raises(ValidationFailed, match="Unknown evaluator kind"):
        validate_params("nope", {})
    with pytest.raises(ValidationFailed, match="Unknown parameter 'colour'"):
        validate_params("exact_match", {"colour": "red"})
    with pytest.raises(ValidationFailed, match="JSON object"):
        validate_params("exact_match", ["x"])


def test_it_fills_defaults_and_checks_types():
    assert validate_params("exact_match", {}) == {
        "case_sensitive": False,
        "normalize_whitespace": True,
        "strip_punctuation": False,
        "expected_field": "",
    }
    with pytest.raises(ValidationFailed, match="true or false"):
        validate_params("exact_match", {"case_sensitive": "maybe"})
    with pytest.raises(ValidationFailed, match="at most 1"):
        validate_params("similarity", {"threshold": 1.5})
    with pytest.raises(ValidationFailed, match="a number"):
        validate_params("similarity", {"threshold": True})
    with pytest.raises(ValidationFailed, match="one of any, all"):
        validate_params("contains", {"mode": "some"})
    with pytest.raises(ValidationFailed, match="needs the parameter 'max_ms'"):
        validate_params("latency", {})
    with pytest.raises(ValidationFailed, match="finite"):
        validate_params("latency", {"max_ms": float("nan")})


# --- exact match -----------------------------------------------------------------


def test_it_matches_exactly_with_normalisation():
    assert run("exact_match", output="  Paris \n", expected="paris").passed is True
    assert (
        run("exact_match", {"case_sensitive": True}, output="Paris", expected="paris").passed
        is False
    )
    assert run("exact_match", output="Paris.", expected="Paris").passed is False
    assert run("exact_match", {"strip_punctuation": True}, output="Paris!", expected="Paris").passed
    assert (
        run("exact_match", {"normalize_whitespace": False}, output="a  b", expected="a b").passed
        is False
    )


def test_it_matches_any_of_a_list_of_expected_answers():
    outcome = run("exact_match", output="NYC", expected=["New York", "nyc"])
    assert outcome.passed is True and outcome.value == 1.0


def test_it_reads_a_field_of_an_object_expected():
    assert run(
        "exact_match", {"expected_field": "answer"}, output="4", expected={"answer": "4"}
    ).passed
    outcome = run("exact_match", {"expected_field": "answer"}, output="4", expected={"x": 1})
    assert outcome.label == "error" and "no field 'answer'" in outcome.explanation


def test_it_reports_a_missing_expected_value_as_an_error():
    outcome = run("exact_match", output="x", expected=None)
    assert outcome.passed is None and outcome.value is None
    assert "no expected output" in outcome.explanation


def test_it_compares_non_text_expected_as_json():
    assert run("exact_match", output="42", expected=42).passed is True


# --- contains --------------------------------------------------------------------


def test_it_checks_contains_any_and_all():
    assert run("contains", {"values": ["cat", "dog"]}, output="A DOG barked").passed is True
    outcome = run("contains", {"values": ["cat", "dog"], "mode": "all"}, output="a dog")
    assert outcome.passed is False and outcome.value == 0.5 and "'cat'" in outcome.explanation
    assert (
        run("contains", {"values": ["Dog"], "case_sensitive": True}, output="dog").passed is False
    )


def test_it_falls_back_to_the_expected_value_for_contains():
    assert run("contains", output="The capital is Paris.", expected="paris").passed is True
    assert run("contains", output="x", expected=None).label == "error"


# --- regex -----------------------------------------------------------------------


def test_it_matches_a_regex():
    assert run("regex", {"pattern": r"\d{3}"}, output="code 123").passed is True
    assert (
        run("regex", {"pattern": r"\d{3}", "match": "fullmatch"}, output="code 123").passed is False
    )
    assert run("regex", {"pattern": "hello", "ignore_case": True}, output="HELLO").passed is True
    assert run("regex", {"pattern": "sorry", "invert": True}, output="Sorry, no").passed is True
    assert run("regex", {"pattern": "sorry", "invert": True}, output="sorry, no").passed is False


def test_it_refuses_an_invalid_regex():
    with pytest.raises(ValidationFailed, match="not a valid regular expression"):
        validate_params("regex", {"pattern": "(unclosed"})
    with pytest.raises(ValidationFailed, match="Give a regular expression"):
        validate_params("regex", {"pattern": ""})


# --- JSON ------------------------------------------------------------------------


def test_it_checks_valid_json():
    assert run("valid_json", output='{"a": 1}').passed is True
    assert run("valid_json", output='```json\n{"a": 1}\n```').passed is True
    assert (
        run("valid_json", {"strip_code_fence": False}, output='```json\n{"a": 1}\n```').passed
        is False
    )
    bad = run("valid_json", output='{"a": 1')
    assert bad.passed is False and "line 1" in bad.explanation
    assert run("valid_json", output="").passed is False
    assert run("valid_json", {"require_type": "object"}, output="[1]").passed is False


def test_it_validates_against_a_json_schema():
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name"],
    }
    assert run("json_schema", {"schema": schema}, output='{"name": "x"}').passed is True
    outcome = run("json_schema", {"schema": schema}, output='{"age": "old"}')
    assert outcome.passed is False
    assert "'name' is a required property" in outcome.explanation
    assert "age: 'old' is not of type 'integer'" in outcome.explanation
    assert run("json_schema", {"schema": schema}, output="not json").passed is False


def test_it_refuses_an_invalid_json_schema():
    with pytest.raises(ValidationFailed, match="not a valid JSON Schema"):
        validate_params("json_schema", {"schema": {"type": "nonsense"}})
    with pytest.raises(ValidationFailed, match="JSON Schema object"):
        validate_params("json_schema", {"schema": "string"})


# --- similarity ------------------------------------------------------------------


def test_it_scores_similarity_against_a_threshold():
    outcome = run("similarity", output="kitten", expected="sitting")
    assert 0 < outcome.value < 0.8 and outcome.passed is False
    assert run("similarity", {"threshold": 0.5}, output="kitten", expected="sitting").passed
    assert run("similarity", output="Hello World", expected="hello world").value == 1.0
    assert run("similarity", {"case_sensitive": True}, output="ABC", expected="abc").value == 0.0
    assert run("similarity", {"threshold": 0.0}, output="", expected="x").passed is True


def test_it_scores_token_set_similarity():
    outcome = run("similarity", {"method": "token_set_ratio"}, output="b a c", expected="a b c")
    assert outcome.value == 1.0


# --- numeric ---------------------------------------------------------------------


def test_it_compares_numbers_with_tolerances():
    assert run("numeric", output="42", expected=42).passed is True
    assert run("numeric", output="The answer is 41.5", expected="42").passed is False
    assert run("numeric", {"abs_tol": 0.5}, output="The answer is 41.5", expected=42).passed
    assert run("numeric", {"rel_tol": 0.05}, output="1,040", expected=1000).passed is True
    assert run("numeric", {"rel_tol": 0.01}, output="1,040", expected=1000).passed is False
    assert run("numeric", {"extract": "last"}, output="2 + 2 = 4", expected=4).passed is True
    assert run("numeric", output="-3.5e2", expected=-350).passed is True


def test_it_fails_when_the_output_has_no_number_and_errors_on_a_bad_expected():
    assert run("numeric", output="no idea", expected=3).passed is False
    assert run("numeric", output="3", expected="three").label == "error"
    assert run("numeric", output="1", expected=True).label == "error"
    assert run("numeric", {"extract": "whole"}, output="about 3", expected=3).passed is False


# --- length ----------------------------------------------------------------------


def test_it_checks_length_bounds():
    assert run("length", {"max_length": 5}, output="hello").passed is True
    assert run("length", {"max_length": 4}, output="hello").passed is False
    assert run("length", {"min_length": 2, "unit": "words"}, output="one").passed is False
    assert run("length", {"min_length": 2, "unit": "words"}, output="one two").passed is True
    assert run("length", {"min_length": 0}, output="").passed is True


def test_it_refuses_length_without_bounds_or_with_crossed_bounds():
    with pytest.raises(ValidationFailed, match="min_length, max_length"):
        validate_params("length", {})
    with pytest.raises(ValidationFailed, match="greater than"):
        validate_params("length", {"min_length": 5, "max_length": 2})
    with pytest.raises(ValidationFailed, match="integer"):
        validate_params("length", {"min_length": 1.5})


# --- latency and cost ------------------------------------------------------------


def test_it_checks_latency_and_cost_thresholds():
    assert run("latency", {"max_ms": 100}, latency_ms=100).passed is True
    assert run("latency", {"max_ms": 100}, latency_ms=101).passed is False
    assert run("latency", {"max_ms": 100}).label == "error"
    assert run("cost", {"max_cost": 0.01}, cost=0.01).passed is True
    assert run("cost", {"max_cost": 0.01}, cost=0.02).passed is False
    assert "not" not in run("cost", {"max_cost": 0}, cost=0).explanation
    assert run("cost", {"max_cost": 0.01}, cost=None).label == "error"


def test_it_turns_an_evaluator_crash_into_an_error_outcome():
    outcome = evaluate("exact_match", {"bogus": 1}, EvalContext(output="x", expected="x"))
    assert outcome.label == "error" and "failed" in outcome.explanation


# --- LLM judge parsing -----------------------------------------------------------


def test_it_parses_a_well_formed_judge_answer():
    outcome = parse_judge_output('{"passed": true, "reasoning": "Correct capital."}')
    assert (
        outcome.passed is True
        and outcome.value == 1.0
        and outcome.explanation == "Correct capital."
    )
    fenced = parse_judge_output('```json\n{"passed": false, "reasoning": "Wrong."}\n```')
    assert fenced.passed is False and fenced.label == "fail"
    prose = parse_judge_output('Verdict: {"passed": true, "reasoning": "ok", "score": 0.7} done')
    assert prose.passed is True and prose.value == 0.7


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty answer"),
        ("I think it passed", "not JSON"),
        ("[true]", "JSON list, not an object"),
        ('{"reasoning": "fine"}', "no 'passed' field"),
        ('{"passed": "yes", "reasoning": "fine"}', "must be true or false"),
        ('{"passed": true, "reasoning": 5}', "'reasoning' must be text"),
        ('{"passed": true, "reasoning": "unterminated', "not JSON"),
    ],
)
def test_it_turns_malformed_judge_output_into_a_clear_error(text, message):
    outcome = parse_judge_output(text)
    assert outcome.label == "error" and outcome.passed is None and outcome.value is None
    assert message in outcome.explanation


def test_it_validates_judge_params():
    assert validate_params("llm_judge", {"prompt": "judge", "version": 2}) == {
        "prompt": "judge",
        "version": 2,
    }
    with pytest.raises(ValidationFailed, match="at least 1"):
        validate_params("llm_judge", {"prompt": "judge", "version": 0})
    with pytest.raises(ValidationFailed, match="Name the judge"):
        validate_params("llm_judge", {"prompt": " ", "version": 1})


# --- budgets: nothing a tenant writes runs unbounded --------------------------------


def test_it_runs_regex_patterns_on_re2_in_linear_time():
    from apps.experiments.evaluators.patterns import compile_pattern

    # RE2 matches without backtracking: (a+)+$ on "aaa…!" is exponential in Python's re.
    assert type(compile_pattern("(a+)+$")).__module__.startswith("re2")
    outcome = run("regex", {"pattern": "(a+)+$"}, output="a" * 26 + "!")
    assert outcome.passed is False and outcome.label == "fail"
    outcome = run("regex", {"pattern": "(a+)+$"}, output="a" * 100_000 + "!")
    assert outcome.passed is False
    assert (
        run("regex", {"pattern": "(x+x+)+y", "match": "fullmatch"}, output="x" * 5000).passed
        is False
    )
    # The flags still apply.
    assert run("regex", {"pattern": "^b$", "multiline": True}, output="a\nb\nc").passed is True
    assert run("regex", {"pattern": "a.b", "dotall": True}, output="a\nb").passed is True


@pytest.mark.parametrize(
    "pattern, why",
    [
        (r"(a)\1", "invalid escape sequence"),
        (r"foo(?=bar)", "invalid perl operator"),
        (r"(?<!x)y", "invalid perl operator"),
    ],
)
def test_it_refuses_patterns_re2_cannot_run_naming_them(pattern, why):
    with pytest.raises(ValidationFailed) as caught:
        validate_params("regex", {"pattern": pattern})
    assert repr(pattern) in caught.value.message
    assert why in caught.value.message and "RE2" in caught.value.message


def test_it_refuses_a_non_re2_pattern_with_a_400_through_the_api(
    api_client, acme, alice, api_key_for
):
    from django.urls import reverse

    from tests.conftest import bearer

    raw = api_key_for(acme, alice, scopes=["experiments:write"])
    response = api_client.post(
        reverse("api:evaluator-list"),
        {"name": "lookahead", "kind": "regex", "params": {"pattern": "foo(?=bar)"}},
        format="json",
        **bearer(raw),
    )
    assert response.status_code == 400
    assert "'foo(?=bar)'" in response.json()["detail"]
    assert "lookaround" in response.json()["detail"]


def test_it_strips_a_code_fence_in_linear_time():
    from apps.experiments.evaluators.builtin import FENCE

    # Python's engine is quadratic in a run of spaces after an unclosed fence.
    assert type(FENCE).__module__.startswith("re2")
    assert run("valid_json", output="```\n" + " " * 200_000).passed is False
    assert run("valid_json", output="```json\n[1, 2]\n```").passed is True


def _nested(depth: int, leaf=None):
    value = leaf if leaf is not None else {}
    for _ in range(depth):
        value = {"type": "object", "properties": {"a": value}}
    return value


def test_it_refuses_a_deep_json_schema_with_a_400_through_the_api(
    api_client, acme, alice, api_key_for
):
    from django.urls import reverse

    from tests.conftest import bearer

    raw = api_key_for(acme, alice, scopes=["experiments:write"])
    # 80: within the body's limit (apps.core.parsers.MAX_DEPTH), past the schema's.
    for levels, says in ((80, "nested deeper than 64 levels"), (900, "nested")):
        schema: dict = {}
        for _ in range(levels):
            schema = {"items": schema}
        response = api_client.post(
            reverse("api:evaluator-list"),
            {"name": "deep", "kind": "json_schema", "params": {"schema": schema}},
            format="json",
            **bearer(raw),
        )
        assert response.status_code == 400
        assert says in response.json()["detail"]


def test_it_limits_json_schema_depth_and_size():
    from apps.experiments.evaluators.schema import MAX_SCHEMA_DEPTH, MAX_SCHEMA_VALUES

    assert validate_params("json_schema", {"schema": _nested(10)})
    with pytest.raises(ValidationFailed, match=f"nested deeper than {MAX_SCHEMA_DEPTH} levels"):
        validate_params("json_schema", {"schema": _nested(20)})  # two levels per _nested step
    wide = {"enum": list(range(MAX_SCHEMA_VALUES + 1))}
    with pytest.raises(ValidationFailed, match=f"more than {MAX_SCHEMA_VALUES} values"):
        validate_params("json_schema", {"schema": wide})


def test_it_runs_json_schema_patterns_on_re2():
    schema = {
        "type": "object",
        "properties": {"word": {"type": "string", "pattern": "^(a+)+$"}},
        "patternProperties": {"^(x+x+)+y$": {"type": "integer"}},
        "additionalProperties": False,
    }
    outcome = run("json_schema", {"schema": schema}, output='{"word": "' + "a" * 40 + '!"}')
    assert outcome.passed is False and "does not match" in outcome.explanation
    outcome = run("json_schema", {"schema": schema}, output='{"' + "x" * 40 + '": 1}')
    assert outcome.passed is False and "do" in outcome.explanation
    assert run("json_schema", {"schema": schema}, output='{"word": "aaa", "xxy": 3}').passed
    with pytest.raises(ValidationFailed, match=r"'\(\?=a\)' is not a valid regular expression"):
        validate_params("json_schema", {"schema": {"pattern": "(?=a)"}})
    with pytest.raises(ValidationFailed, match="unevaluatedProperties"):
        validate_params(
            "json_schema",
            {"schema": {"patternProperties": {"^a": {}}, "unevaluatedProperties": False}},
        )


def test_it_checks_unique_items_by_json_equality():
    schema = {"type": "array", "uniqueItems": True}
    assert (
        run("json_schema", {"schema": schema}, output='[{"a": 1, "b": 2}, {"b": 2, "a": 1}]').passed
        is False
    )
    assert run("json_schema", {"schema": schema}, output="[1, 1.0]").passed is False
    assert run("json_schema", {"schema": schema}, output='[1, true, "1", [1], {"1": 1}]').passed
    many = "[" + ", ".join(f'{{"i": {i}}}' for i in range(20_000)) + "]"
    assert run("json_schema", {"schema": schema}, output=many).passed is True


def test_it_stops_an_exponential_schema_at_its_step_budget():
    from apps.experiments.evaluators.schema import MAX_VALIDATION_STEPS

    # Each level of the output is validated twice over: 2^depth keyword applications.
    schema = {
        "$defs": {
            "n": {
                "type": "object",
                "properties": {"a": {"allOf": [{"$ref": "#/$defs/n"}, {"$ref": "#/$defs/n"}]}},
            }
        },
        "$ref": "#/$defs/n",
    }
    output = {}
    for _ in range(20):
        output = {"a": output}
    import json

    outcome = run("json_schema", {"schema": schema}, output=json.dumps(output))
    assert outcome.label == "error"
    assert f"after {MAX_VALIDATION_STEPS} schema checks" in outcome.explanation
    small = {"a": {"a": {}}}
    assert run("json_schema", {"schema": schema}, output=json.dumps(small)).passed is True


def test_it_refuses_deep_or_huge_json_outputs_without_a_crash():
    deep = "[" * 100_000 + "]" * 100_000
    outcome = run("json_schema", {"schema": {"type": "array"}}, output=deep)
    assert outcome.passed is False and "nested" in outcome.explanation
    assert run("valid_json", output=deep).passed is False
    huge = "[" + "9" * 5000 + "]"
    outcome = run("valid_json", output=huge)
    assert outcome.passed is False and "too many digits" in outcome.explanation
    outcome = run("json_schema", {"schema": {"type": "array"}}, output="[" * 70 + "]" * 70)
    assert outcome.passed is False and "nested deeper than 64 levels" in outcome.explanation


def test_it_bounds_similarity_by_the_size_of_the_texts():
    from apps.experiments.evaluators.builtin import PARTIAL_MAX_SHORTER, SIMILARITY_MAX_PAIRS

    long_text = "ab " * 40_000
    outcome = run("similarity", output=long_text, expected=long_text)
    assert outcome.label == "error" and f"{SIMILARITY_MAX_PAIRS:,}" in outcome.explanation
    outcome = run("similarity", {"method": "partial_ratio"}, output="x" * 4000, expected="y" * 4000)
    assert outcome.label == "error" and f"at most {PARTIAL_MAX_SHORTER}" in outcome.explanation
    assert (
        run(
            "similarity", {"method": "partial_ratio"}, output="x" * 5000 + "abc", expected="abc"
        ).value
        == 1.0
    )
