"""Evaluators: built-in code checks and the LLM judge, behind one registry.

validate_params(kind, params) -> cleaned params (raises ValidationFailed)
evaluate(kind, params, EvalContext(...)) -> EvalOutcome      (code evaluators)
resolve_judge(params).ajudge(ctx) -> EvalOutcome            (LLM judge, async)
"""

from apps.experiments.evaluators import builtin, judge  # noqa: F401  (registers the kinds)
from apps.experiments.evaluators.base import (
    LABEL_ERROR,
    LABEL_FAIL,
    LABEL_PASS,
    REGISTRY,
    SOURCE_CODE,
    SOURCE_LLM,
    EvalContext,
    EvalOutcome,
    EvaluatorKind,
    Param,
    evaluate,
    get_kind,
    validate_params,
)
from apps.experiments.evaluators.judge import BoundJudge, parse_judge_output, resolve_judge

__all__ = [
    "LABEL_ERROR",
    "LABEL_FAIL",
    "LABEL_PASS",
    "REGISTRY",
    "SOURCE_CODE",
    "SOURCE_LLM",
    "BoundJudge",
    "EvalContext",
    "EvalOutcome",
    "EvaluatorKind",
    "Param",
    "evaluate",
    "get_kind",
    "parse_judge_output",
    "resolve_judge",
    "validate_params",
]
