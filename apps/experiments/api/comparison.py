"""Comparison API: an experiment's summary as JSON, with the regression gate's outcome."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from apps.core.query import query_params
from apps.experiments import comparison, selectors
from apps.experiments.services import WRITE
from apps.teams.api_base import TeamAPIView


class ComparisonFilters(serializers.Serializer):
    rule = serializers.ChoiceField(
        choices=list(comparison.GATE_RULES), required=False, help_text="Default: noninferiority."
    )
    threshold = serializers.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        help_text="The margin (noninferiority, default 0.05) or tolerance (default 0).",
    )
    evaluator = serializers.ListField(
        child=serializers.CharField(), required=False, help_text="Only these evaluators."
    )


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

    @extend_schema(parameters=[ComparisonFilters], responses={200: dict})
    def get(self, request, experiment_id):
        experiment = selectors.experiment_get(experiment_id)
        filters = query_params(ComparisonFilters, request)
        rule = filters.get("rule") or comparison.NONINFERIORITY
        threshold = filters.get("threshold")
        if threshold is None:
            # Non-inferiority needs a margin; "not worse by more than 0" would demand proof
            # of an improvement.
            threshold = comparison.DEFAULT_MARGIN if rule == comparison.NONINFERIORITY else 0.0
        return Response(
            summary_payload(
                experiment,
                rule=rule,
                threshold=threshold,
                evaluators=filters.get("evaluator") or None,
            )
        )
