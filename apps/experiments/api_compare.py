"""Comparison API: an experiment's summary (JSON) and the CI entry point behind
`promptyard eval` (candidate vs a tagged baseline on a dataset, created and started in one call).
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.errors import NotFound, ValidationFailed
from apps.experiments import comparison, selectors, services
from apps.experiments.models import Evaluator
from apps.teams.api_base import TeamAPIView

WRITE = "experiments:write"


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


def _candidate(*, team, actor, prompt, baseline, data):
    from apps.prompts import selectors as prompt_selectors
    from apps.prompts import services as prompt_services
    from apps.prompts.models import PromptVersion

    if data.get("candidate_version") is not None:
        return prompt_selectors.version_get(prompt, data["candidate_version"])
    template = data.get("candidate_template")
    if template is None:
        raise ValidationFailed(
            "Give candidate_version or candidate_template.", field="candidate_version"
        )
    if baseline.kind != "text":
        raise ValidationFailed(
            "A template file can only replace a text prompt; push a version instead.",
            field="candidate_template",
        )
    digest = prompt_services.content_hash(
        kind="text",
        template=template,
        messages=[],
        variables_schema=baseline.variables_schema or {},
        model_settings=prompt_services.normalize_model_settings(baseline.model_settings),
    )
    # The same file again (another CI run) reuses its version instead of failing.
    existing = (
        PromptVersion.objects.filter(prompt=prompt, content_hash=digest).order_by("-number").first()
    )
    if existing is not None:
        return existing
    return prompt_services.version_create(
        team=team,
        actor=actor,
        prompt=prompt,
        kind="text",
        template=template,
        variables_schema=baseline.variables_schema or {},
        model_settings=baseline.model_settings or {},
        commit_message="CI candidate",
        parent=baseline,
    )


class CIEvaluationView(TeamAPIView):
    """Create and start an experiment: the candidate against the version at baseline_tag."""

    write_scope = WRITE

    @extend_schema(request=CIEvaluationSerializer, responses={201: dict})
    def post(self, request):
        from apps.datasets import selectors as dataset_selectors
        from apps.prompts import selectors as prompt_selectors

        serializer = CIEvaluationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            prompt = prompt_selectors.prompt_get(data["prompt"])
        except Exception:
            raise NotFound(f"No prompt named {data['prompt']!r}.") from None
        baseline = prompt_selectors.version_at_tag(prompt, data["baseline_tag"])
        if baseline is None:
            raise ValidationFailed(
                f"{prompt.name} has no tag {data['baseline_tag']!r}.", field="baseline_tag"
            )
        ref = data["dataset"]
        dataset = (
            dataset_selectors.dataset_get(int(ref))
            if ref.isdigit()
            else dataset_selectors.dataset_get_by_name(ref)
        )
        if data["evaluators"]:
            evaluators = []
            for name in data["evaluators"]:
                evaluator = Evaluator.objects.filter(name=name).first()
                if evaluator is None:
                    raise ValidationFailed(f"Unknown evaluator {name!r}.", field="evaluators")
                evaluators.append(evaluator)
        else:
            evaluators = list(selectors.evaluator_list())
        if not evaluators:
            raise ValidationFailed("The team has no evaluators to judge with.", field="evaluators")
        candidate = _candidate(
            team=self.team, actor=self.actor, prompt=prompt, baseline=baseline, data=data
        )
        if candidate.pk == baseline.pk:
            raise ValidationFailed(
                f"The candidate is v{candidate.number}, the version at "
                f"{data['baseline_tag']!r} already.",
                field="candidate_version",
            )
        experiment = services.experiment_create(
            team=self.team,
            actor=self.actor,
            name=data["name"]
            or f"CI: {prompt.name} v{candidate.number} vs {data['baseline_tag']} (v{baseline.number})",
            dataset=dataset,
            variants=[
                services.VariantSpec(
                    prompt_version=baseline,
                    label=f"{data['baseline_tag']} v{baseline.number}",
                    is_baseline=True,
                ),
                services.VariantSpec(
                    prompt_version=candidate, label=f"candidate v{candidate.number}"
                ),
            ],
            evaluators=evaluators,
            concurrency=data["concurrency"],
        )
        services.experiment_start(team=self.team, actor=self.actor, experiment=experiment)
        return Response(
            {
                "experiment_id": experiment.pk,
                "prompt": prompt.name,
                "baseline_version": baseline.number,
                "candidate_version": candidate.number,
                "dataset": dataset.name,
                "dataset_revision": experiment.dataset_revision,
                "evaluators": [e.name for e in evaluators],
                "total_cells": experiment.total_cells,
            },
            status=status.HTTP_201_CREATED,
        )
