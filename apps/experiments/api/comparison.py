"""Comparison API: an experiment's summary as JSON, with the regression gate's outcome."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from apps.core.errors import ValidationFailed
from apps.experiments import comparison, selectors
from apps.experiments.services import WRITE
from apps.teams.api_base import TeamAPIView


def _threshold(raw) -> float:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ValidationFailed("threshold must be a number.", field="threshold") from None
    if not 0.0 <= value <= 1.0:
        raise ValidationFailed("threshold must be between 0 and 1.", field="threshold")
    return value


def summary_payload(experiment, *, threshold: float = 0.0, evaluators=None) -> dict:
    summary = comparison.experiment_summary(experiment)
    payload = summary.as_dict()
    findings = comparison.gate_findings(summary, tolerance=threshold, evaluators=evaluators)
    payload["gate"] = {
        "threshold": threshold,
        "regression": bool(findings),
        "findings": [{**f.__dict__, "message": str(f)} for f in findings],
        "finished": not experiment.is_active and experiment.status != "draft",
    }
    return payload


class ComparisonSummaryView(TeamAPIView):
    """Pass rates with Wilson intervals, paired tests against the baseline, verdicts,
    latency/tokens/cost per variant, and the gate outcome at `threshold`."""

    write_scope = WRITE  # GET only: names the area, so reads need a scope (api_base)

    @extend_schema(
        parameters=[
            OpenApiParameter("threshold", float, required=False),
            OpenApiParameter("evaluator", str, required=False, many=True),
        ],
        responses={200: dict},
    )
    def get(self, request, experiment_id):
        experiment = selectors.experiment_get(experiment_id)
        return Response(
            summary_payload(
                experiment,
                threshold=_threshold(request.query_params.get("threshold", 0)),
                evaluators=request.query_params.getlist("evaluator") or None,
            )
        )
