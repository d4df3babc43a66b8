"""The CI entry point behind `promptyard eval`: the candidate (a version, or a template file
saved as one) against the version at a baseline tag, on a dataset, created and started in
one call; the client then polls the comparison API for the gate's outcome."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.errors import NotFound, ValidationFailed
from apps.datasets.selectors import dataset_get, dataset_get_by_name
from apps.experiments import selectors, services
from apps.experiments.services import WRITE
from apps.prompts import content as prompt_content
from apps.prompts import selectors as prompt_selectors
from apps.prompts import services as prompt_services
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


def _candidate(*, team, actor, prompt, baseline, data):
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
    digest = prompt_content.content_hash(
        kind="text",
        template=template,
        messages=[],
        variables_schema=baseline.variables_schema or {},
        model_settings=prompt_content.normalize_model_settings(baseline.model_settings),
    )
    # The same file again (another CI run) reuses its version instead of failing.
    existing = selectors.prompt_version_with_hash(prompt, digest)
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
        dataset = dataset_get(int(ref)) if ref.isdigit() else dataset_get_by_name(ref)
        if data["evaluators"]:
            evaluators = [
                selectors.evaluator_for_field(name, field="evaluators", by_id=False)
                for name in data["evaluators"]
            ]
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
