"""The CI entry point behind `promptyard eval`: the candidate (a version, or a template file
saved as one) against the version at a baseline tag, on a dataset, created and started in
one call; the client then polls the comparison API for the gate's outcome."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.experiments.services import WRITE, ci_evaluation_start
from apps.teams.api_base import TeamAPIView


class CIEvaluationSerializer(serializers.Serializer):
    prompt = serializers.CharField()
    candidate_version = serializers.IntegerField(required=False, min_value=1)
    candidate_template = serializers.CharField(
        required=False, trim_whitespace=False, help_text="Text template; saved as a version."
    )
    baseline_tag = serializers.CharField(required=False, default="production")
    dataset = serializers.CharField(help_text="Dataset name (or id).")
    evaluators = serializers.ListField(child=serializers.CharField(), required=False, default=list)
    name = serializers.CharField(required=False, allow_blank=True, default="")
    concurrency = serializers.IntegerField(required=False, default=8)
    model = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Run the candidate on this model; without a candidate, the version at the "
        "tag on this model (a model swap).",
    )
    max_cost = serializers.DecimalField(
        required=False,
        allow_null=True,
        max_digits=12,
        decimal_places=4,
        default=None,
        help_text="US dollars: the run's cost cap; refused up front when the estimate exceeds it.",
    )


class CIEvaluationView(TeamAPIView):
    """Create and start an experiment: the candidate against the version at baseline_tag."""

    write_scope = WRITE
    conflict_methods = ("post",)  # created and started: a start can conflict

    @extend_schema(request=CIEvaluationSerializer, responses={201: dict})
    def post(self, request):
        serializer = CIEvaluationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        started = ci_evaluation_start(
            team=self.team,
            actor=self.actor,
            prompt_name=data["prompt"],
            dataset_ref=data["dataset"],
            baseline_tag=data["baseline_tag"],
            candidate_version=data.get("candidate_version"),
            candidate_template=data.get("candidate_template"),
            evaluator_names=data["evaluators"],
            name=data["name"],
            concurrency=data["concurrency"],
            model=data["model"],
            max_cost=data.get("max_cost"),
        )
        experiment, estimate = started.experiment, started.estimate
        return Response(
            {
                "experiment_id": experiment.pk,
                "prompt": started.baseline.prompt.name,
                "baseline_version": started.baseline.number,
                "candidate_version": started.candidate.number,
                "model": started.model,
                "dataset": experiment.dataset.name,
                "dataset_revision": experiment.dataset_revision,
                "evaluators": started.evaluator_names,
                "total_cells": experiment.total_cells,
                "estimate": {
                    "calls": estimate.calls,
                    "input_tokens": estimate.input_tokens,
                    "output_tokens": estimate.output_tokens,
                    "cost": None if estimate.cost is None else str(estimate.cost),
                    "unpriced": estimate.unpriced,
                },
                "max_cost": None if experiment.cost_cap is None else str(experiment.cost_cap),
            },
            status=status.HTTP_201_CREATED,
        )
