"""Experiments API: create, start, cancel, resume and read experiments and their results.

Keys read with `experiments:read` (the read of the views' write scope, api_base) and
write with `experiments:write`; a key acts within its person's role, a signed-in user
within theirs (the services check).
"""

from __future__ import annotations

from typing import cast

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.errors import NotFound, ValidationFailed
from apps.core.query import query_params
from apps.datasets.selectors import dataset_for_field, dataset_get_by_name
from apps.experiments import estimates, selectors, services
from apps.experiments.models import (
    Experiment,
    ExperimentEvaluator,
    Result,
    Score,
    Status,
    Variant,
)
from apps.experiments.services import WRITE
from apps.teams.api_base import TeamGenericAPIView

# --- serializers -------------------------------------------------------------------------


class ExperimentScoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Score
        fields = [
            "id",
            "evaluator_id",
            "evaluator_name",
            "evaluator_version",
            "value",
            "passed",
            "label",
            "explanation",
            "source",
            "created_at",
        ]
        read_only_fields = fields


class ExperimentResultSerializer(serializers.ModelSerializer):
    input = serializers.JSONField()
    expected = serializers.JSONField(allow_null=True)
    scores = ExperimentScoreSerializer(many=True, read_only=True)
    cost = serializers.FloatField(allow_null=True)
    steps = serializers.ListField(
        child=serializers.DictField(),
        allow_null=True,
        read_only=True,
        help_text="A chain's steps as they ran (name, output, error, tokens, cost); null "
        "for a single prompt.",
    )

    class Meta:
        model = Result
        fields = [
            "id",
            "variant_id",
            "example_id",
            "position",
            "repetition",
            "input",
            "expected",
            "output",
            "steps",
            "error",
            "error_kind",
            "latency_ms",
            "input_tokens",
            "output_tokens",
            "cost",
            "created_at",
            "scores",
        ]
        read_only_fields = fields


class ExperimentVariantSerializer(serializers.ModelSerializer):
    prompt = serializers.CharField(source="prompt_version.prompt.name", allow_null=True)
    version = serializers.IntegerField(source="prompt_version.number", allow_null=True)
    overrides = serializers.JSONField()
    settings = serializers.JSONField()

    class Meta:
        model = Variant
        fields = [
            "id",
            "label",
            "is_baseline",
            "prompt",
            "version",
            "prompt_version_id",
            "overrides",
            "settings",
        ]
        read_only_fields = fields


class ExperimentEvaluatorLinkSerializer(serializers.ModelSerializer):
    params = serializers.JSONField()

    class Meta:
        model = ExperimentEvaluator
        fields = ["evaluator_id", "name", "kind", "params", "evaluator_version"]
        read_only_fields = fields


class ExperimentSerializer(serializers.ModelSerializer):
    dataset_name = serializers.CharField(source="dataset.name")
    cost_cap = serializers.FloatField(allow_null=True)
    cost_total = serializers.FloatField()
    progress_percent = serializers.IntegerField()
    variants = ExperimentVariantSerializer(many=True, read_only=True)
    sample = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="Example ids of the seeded sample the run is limited to; empty: every row.",
    )

    class Meta:
        model = Experiment
        fields = [
            "id",
            "name",
            "kind",
            "description",
            "status",
            "status_detail",
            "error",
            "dataset_id",
            "dataset_name",
            "dataset_revision",
            "split",
            "sample",
            "score_steps",
            "repetitions",
            "concurrency",
            "cost_cap",
            "total_cells",
            "done_count",
            "error_count",
            "progress_percent",
            "cost_total",
            "input_tokens_total",
            "output_tokens_total",
            "created_by_label",
            "created_at",
            "queued_at",
            "started_at",
            "finished_at",
            "variants",
        ]
        read_only_fields = fields


class ExperimentDetailSerializer(ExperimentSerializer):
    evaluators = serializers.SerializerMethodField()
    summary = serializers.SerializerMethodField()

    class Meta(ExperimentSerializer.Meta):
        fields = [*ExperimentSerializer.Meta.fields, "evaluators", "summary"]
        read_only_fields = fields

    def get_evaluators(self, obj) -> list[dict]:
        # many=True builds a ListSerializer, whose data is a list; the stubs cannot see it.
        return cast(
            "list[dict]",
            ExperimentEvaluatorLinkSerializer(selectors.evaluators_of(obj), many=True).data,
        )

    def get_summary(self, obj) -> list[dict]:
        return [
            {
                "variant_id": s.variant.pk,
                "label": s.variant.label,
                "is_baseline": s.variant.is_baseline,
                "done": s.done,
                "errors": s.errors,
                "cost": s.cost,
                "avg_latency_ms": s.avg_latency_ms,
                "input_tokens": s.input_tokens,
                "output_tokens": s.output_tokens,
                "evaluators": s.evaluators,
            }
            for s in selectors.summary(obj)
        ]


class ExperimentVariantWriteSerializer(serializers.Serializer):
    prompt_version_id = serializers.IntegerField(required=False)
    prompt = serializers.CharField(required=False, help_text="Prompt name (with version or tag).")
    version = serializers.IntegerField(required=False, min_value=1)
    tag = serializers.CharField(required=False, help_text="Use the version this tag points at.")
    overrides = serializers.DictField(required=False, default=dict)
    label = serializers.CharField(  # type: ignore[assignment]  # named like Field.label
        required=False, allow_blank=True, default="", max_length=100
    )
    is_baseline = serializers.BooleanField(required=False, default=False)


class ExperimentCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    dataset = serializers.IntegerField(required=False, help_text="Dataset id.")
    dataset_name = serializers.CharField(required=False)
    dataset_revision = serializers.IntegerField(required=False, allow_null=True, min_value=0)
    split = serializers.CharField(required=False, allow_blank=True, default="")
    sample_size = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Run a seeded random sample of this many rows (empty: every row).",
    )
    sample_seed = serializers.IntegerField(required=False, default=0)
    score_steps = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Chains: score every step's output with the evaluators too.",
    )
    variants = ExperimentVariantWriteSerializer(many=True)
    evaluators = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text="Evaluator ids or names.",
    )
    repetitions = serializers.IntegerField(required=False, default=1)
    concurrency = serializers.IntegerField(required=False, default=8)
    cost_cap = serializers.DecimalField(
        required=False, allow_null=True, max_digits=12, decimal_places=4, default=None
    )
    allow_unpriced = serializers.BooleanField(
        required=False,
        default=False,
        help_text="With a cost cap, run models without a price anyway (their cost is unknown "
        "and not counted against the cap).",
    )
    start = serializers.BooleanField(required=False, default=True)


class EstimateSerializer(serializers.Serializer):
    calls = serializers.IntegerField()
    examples = serializers.IntegerField()
    judge_calls = serializers.IntegerField()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    cost = serializers.DecimalField(
        max_digits=14,
        decimal_places=4,
        allow_null=True,
        help_text="US dollars; null when no variant's model has a price (unknown).",
    )
    unpriced = serializers.ListField(child=serializers.CharField())
    cap = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True)
    over_cap = serializers.BooleanField()
    render_problems = serializers.ListField(child=serializers.CharField())


class ExperimentResumeSerializer(serializers.Serializer):
    cost_cap = serializers.DecimalField(
        required=False, allow_null=True, max_digits=12, decimal_places=4
    )


# --- helpers -------------------------------------------------------------------------------


def _dataset(data):
    # A body's id is a field: an unknown or another team's dataset is a 400 naming it.
    if data.get("dataset") is not None:
        return dataset_for_field(data["dataset"], field="dataset")
    if data.get("dataset_name"):
        try:
            return dataset_get_by_name(data["dataset_name"])
        except NotFound:
            raise ValidationFailed("No such dataset.", field="dataset_name") from None
    raise ValidationFailed("Give a dataset id or dataset_name.", field="dataset")


_MAX_ID = 2**63 - 1  # an id no row can have past this would overflow the database integer


class ExperimentFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=Status.values, required=False)
    dataset = serializers.IntegerField(
        required=False, min_value=1, max_value=_MAX_ID, help_text="Dataset id."
    )


class ResultFilters(serializers.Serializer):
    variant = serializers.IntegerField(
        required=False, min_value=1, max_value=_MAX_ID, help_text="Variant id."
    )
    # A declared field, not Serializer.errors: DRF's metaclass takes it out of the class.
    errors = serializers.BooleanField(  # type: ignore[assignment]
        required=False, help_text="Only results with an error."
    )
    failed = serializers.BooleanField(required=False, help_text="Only results an evaluator failed.")


# --- views -----------------------------------------------------------------------------------


class ExperimentListCreateView(TeamGenericAPIView):
    write_scope = WRITE
    serializer_class = ExperimentSerializer
    conflict_methods = ("post",)  # created and started: a start can conflict

    @extend_schema(parameters=[ExperimentFilters], responses=ExperimentSerializer(many=True))
    def get(self, request):
        filters = query_params(ExperimentFilters, request)
        qs = selectors.experiment_list(
            status=filters.get("status", ""), dataset_id=filters.get("dataset")
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ExperimentSerializer(page, many=True).data)

    @extend_schema(request=ExperimentCreateSerializer, responses={201: ExperimentDetailSerializer})
    def post(self, request):
        serializer = ExperimentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        variants = _variant_specs(data)
        experiment = services.experiment_create(
            team=self.team,
            actor=self.actor,
            name=data["name"],
            description=data.get("description", ""),
            dataset=_dataset(data),
            dataset_revision=data.get("dataset_revision"),
            split=data.get("split", ""),
            variants=variants,
            evaluators=[
                selectors.evaluator_for_field(ref, field="evaluators")
                for ref in data.get("evaluators") or []
            ],
            repetitions=data["repetitions"],
            concurrency=data["concurrency"],
            cost_cap=data.get("cost_cap"),
            allow_unpriced=data.get("allow_unpriced", False),
            sample_size=data.get("sample_size"),
            sample_seed=data.get("sample_seed", 0),
            score_steps=data.get("score_steps", False),
        )
        if data.get("start", True):
            experiment = services.experiment_start(
                team=self.team, actor=self.actor, experiment=experiment
            )
        experiment = selectors.experiment_get(experiment.pk)
        return Response(ExperimentDetailSerializer(experiment).data, status=status.HTTP_201_CREATED)


class ExperimentEstimateView(TeamGenericAPIView):
    """What the experiment in the body would cost before it is created: calls, tokens and
    dollars from a sample render (the same body as creating one; nothing is written)."""

    write_scope = WRITE
    serializer_class = EstimateSerializer

    @extend_schema(request=ExperimentCreateSerializer, responses={200: EstimateSerializer})
    def post(self, request):
        serializer = ExperimentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        dataset = _dataset(data)
        evaluators = [
            selectors.evaluator_for_field(ref, field="evaluators")
            for ref in data.get("evaluators") or []
        ]
        result = estimates.estimate_specs(
            dataset=dataset,
            revision=data.get("dataset_revision"),
            split=data.get("split", ""),
            specs=_variant_specs(data),
            repetitions=data["repetitions"],
            cap=data.get("cost_cap"),
            evaluators=evaluators,
            team=self.team,
        )
        return Response(EstimateSerializer(result).data)


def _variant_specs(data) -> list[services.VariantSpec]:
    return [
        services.VariantSpec(
            prompt_version=selectors.prompt_version_for_field(spec, field="variants"),
            overrides=spec.get("overrides") or {},
            label=spec.get("label") or "",
            is_baseline=spec.get("is_baseline", False),
        )
        for spec in data["variants"]
    ]


class ExperimentDetailView(TeamGenericAPIView):
    write_scope = WRITE
    serializer_class = ExperimentDetailSerializer
    conflict_methods = ("delete",)  # a running experiment is cancelled first

    def get(self, request, experiment_id):
        return Response(ExperimentDetailSerializer(selectors.experiment_get(experiment_id)).data)

    @extend_schema(responses={204: None})
    def delete(self, request, experiment_id):
        services.experiment_delete(
            team=self.team, actor=self.actor, experiment=selectors.experiment_get(experiment_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class _ExperimentActionView(TeamGenericAPIView):
    write_scope = WRITE
    serializer_class = ExperimentDetailSerializer
    action_name = ""
    conflict_methods = ("post",)

    def act(self, experiment, data):  # pragma: no cover - overridden
        raise NotImplementedError

    @extend_schema(request=None, responses=ExperimentDetailSerializer)
    def post(self, request, experiment_id):
        experiment = selectors.experiment_get(experiment_id)
        self.act(experiment, request.data)
        return Response(ExperimentDetailSerializer(selectors.experiment_get(experiment.pk)).data)


class ExperimentStartView(_ExperimentActionView):
    def act(self, experiment, data):
        services.experiment_start(team=self.team, actor=self.actor, experiment=experiment)


class ExperimentCancelView(_ExperimentActionView):
    def act(self, experiment, data):
        services.experiment_cancel(team=self.team, actor=self.actor, experiment=experiment)


class ExperimentResumeView(_ExperimentActionView):
    @extend_schema(request=ExperimentResumeSerializer, responses=ExperimentDetailSerializer)
    def post(self, request, experiment_id):
        return super().post(request, experiment_id)

    def act(self, experiment, data):
        serializer = ExperimentResumeSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        extra = {}
        if "cost_cap" in serializer.validated_data:
            extra["cost_cap"] = serializer.validated_data["cost_cap"]
        services.experiment_resume(team=self.team, actor=self.actor, experiment=experiment, **extra)


class ExperimentResultListView(TeamGenericAPIView):
    write_scope = WRITE  # GET only: names the area, so reads need a scope (api_base)
    serializer_class = ExperimentResultSerializer

    @extend_schema(parameters=[ResultFilters], responses=ExperimentResultSerializer(many=True))
    def get(self, request, experiment_id):
        experiment = selectors.experiment_get(experiment_id)
        filters = query_params(ResultFilters, request)
        qs = selectors.results_of(
            experiment,
            variant_id=filters.get("variant"),
            errors_only=filters.get("errors", False),
            failed_only=filters.get("failed", False),
        )
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(ExperimentResultSerializer(page, many=True).data)
