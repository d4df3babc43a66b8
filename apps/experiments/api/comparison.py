"""Comparison API: an experiment's summary as JSON, with the regression gate's outcome."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from apps.core.errors import ValidationFailed
from apps.experiments import comparison, selectors
from apps.experiments.services import WRITE
from apps.teams.api_base import TeamAPIView


def _rule(raw) -> str:
    rule = raw or comparison.NONINFERIORITY
    if rule not in comparison.GATE_RULES:
        raise ValidationFailed(
            f"rule must be one of {', '.join(comparison.GATE_RULES)}.", field="rule"
        )
    return rule


def _threshold(raw, rule: str) -> float:
    if raw in (None, ""):
        # Non-inferiority needs a margin; "not worse by more than 0" would demand proof of
        # an improvement.
        return comparison.DEFAULT_MARGIN if rule == comparison.NONINFERIORITY else 0.0
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValidationFailed("threshold must be a number.", field="threshold") from None
    if not 0.0 <= value <= 1.0:
        raise ValidationFailed("threshold must be between 0 and 1.", field="threshold")
    return value


def summary_payload(
    experiment, *, threshold: float = 0.0, evaluators=None, rule: str = comparison.NONINFERIORITY
) -> dict:
    summary = comparison.experiment_summary(experiment)
    payload = summary.as_dict()
    findings = comparison.gate_findings(
        summary, tolerance=threshold, evaluators=evaluators, rule=rule
    )
    payload["gate"] = {
        "rule": rule,
        "threshold": threshold,
        "undecided": any(f.undecided for f in findings),
        "regression": bool(findings),
        "findings": [{**f.__dict__, "message": str(f)} for f in findings],
        "finished": not experiment.is_active and experiment.status != "draft",
    }
    return payload


class ComparisonSummaryView(TeamAPIView):
    """Pass rates with Wilson intervals, paired tests over examples against the baseline,
    verdicts, latency/tokens/cost per variant, and the gate outcome: under `rule`
    `noninferiority` (default) the candidate must be shown not worse than the baseline by
    more than `threshold` (the margin, default 0.05); under `no_detectable_regression` (the
    weaker rule) it fails only when detectably worse by more than `threshold` (default 0)."""

    write_scope = WRITE  # GET only: names the area, so reads need a scope (api_base)

    @extend_schema(
        parameters=[
            OpenApiParameter("threshold", float, required=False),
            OpenApiParameter("rule", str, required=False, enum=list(comparison.GATE_RULES)),
            OpenApiParameter("evaluator", str, required=False, many=True),
        ],
        responses={200: dict},
    )
    def get(self, request, experiment_id):
        experiment = selectors.experiment_get(experiment_id)
        rule = _rule(request.query_params.get("rule"))
        return Response(
            summary_payload(
                experiment,
                rule=rule,
                threshold=_threshold(request.query_params.get("threshold"), rule),
                evaluators=request.query_params.getlist("evaluator") or None,
            )
        )
