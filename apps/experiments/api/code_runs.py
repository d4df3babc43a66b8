"""Code experiments API: what `promptyard.run_experiment` calls.

POST experiments/code-runs/                   open (idempotent by name: resume)
GET  experiments/<id>/cells/?after=<pos>      the examples to run, with recorded cells
POST experiments/<id>/records/                a batch of results and SDK scores
POST experiments/<id>/finish/                 done: complete, or score server-side
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.query import query_params
from apps.experiments import selectors
from apps.experiments.api.experiments import ExperimentDetailSerializer, _dataset
from apps.experiments.services import WRITE
from apps.experiments.services.code_runs import (
    MAX_BATCH,
    CodeVariantSpec,
    SdkEvaluatorSpec,
    code_experiment_start,
    code_results_record,
    code_run_record_end,
)
from apps.teams.api_base import TeamGenericAPIView


class CodeVariantSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=100)  # type: ignore[assignment]  # Field.label
    prompt = serializers.CharField(
        required=False, help_text="The prompt the task used (with version or tag)."
    )
    version = serializers.IntegerField(required=False, min_value=1, max_value=2**31 - 1)
    tag = serializers.CharField(required=False)
    settings = serializers.DictField(
        required=False, default=dict, help_text="The task's configuration, shown with it."
    )
    is_baseline = serializers.BooleanField(required=False, default=False)


class SdkEvaluatorSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    source_hash = serializers.CharField(required=False, allow_blank=True, max_length=128)


class CodeRunOpenSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    dataset = serializers.IntegerField(required=False, help_text="Dataset id.")
    dataset_name = serializers.CharField(required=False)
    dataset_revision = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=2**31 - 1
    )
    split = serializers.CharField(required=False, allow_blank=True, default="")
    variants = CodeVariantSerializer(many=True)
    evaluators = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        default=list,
        help_text="Server-side evaluators (ids or names), run by the worker on the outputs.",
    )
    sdk_evaluators = SdkEvaluatorSerializer(many=True, required=False, default=list)
    repetitions = serializers.IntegerField(required=False, default=1)
    concurrency = serializers.IntegerField(required=False, default=8)
    default_variant = serializers.BooleanField(
        required=False,
        default=False,
        help_text="The client named no variant: resuming takes the stored one.",
    )


class CodeRunSerializer(serializers.Serializer):
    created = serializers.BooleanField()
    experiment = ExperimentDetailSerializer()


class CellFilters(serializers.Serializer):
    after = serializers.IntegerField(
        required=False, min_value=0, max_value=2**62, help_text="Position to continue after."
    )


class CellSerializer(serializers.Serializer):
    example_id = serializers.UUIDField()
    position = serializers.IntegerField()
    input = serializers.JSONField()
    expected = serializers.JSONField(allow_null=True)
    done = serializers.ListField(
        child=serializers.ListField(child=serializers.IntegerField()),
        help_text="[variant id, repetition] of the cells recorded.",
    )


class CellPageSerializer(serializers.Serializer):
    results = CellSerializer(many=True)
    next_after = serializers.IntegerField(allow_null=True)


class RecordScoreSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    value = serializers.FloatField(required=False, allow_null=True)
    passed = serializers.BooleanField(required=False, allow_null=True)
    label = serializers.CharField(  # type: ignore[assignment]  # named like Field.label
        required=False, allow_blank=True, max_length=100
    )
    explanation = serializers.CharField(required=False, allow_blank=True)


class RecordRowSerializer(serializers.Serializer):
    variant = serializers.CharField(help_text="Variant label (or id).")
    example_id = serializers.UUIDField()
    repetition = serializers.IntegerField(required=False, default=0)
    output = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    error = serializers.CharField(required=False, allow_blank=True)
    latency_ms = serializers.IntegerField(required=False, allow_null=True)
    input_tokens = serializers.IntegerField(required=False, allow_null=True)
    output_tokens = serializers.IntegerField(required=False, allow_null=True)
    cost = serializers.FloatField(required=False, allow_null=True)
    scores = RecordScoreSerializer(many=True, required=False)


class RecordBatchSerializer(serializers.Serializer):
    rows = serializers.ListField(
        child=serializers.DictField(), max_length=MAX_BATCH, help_text="RecordRow objects."
    )
    finish = serializers.BooleanField(
        required=False, default=False, help_text="These are the last rows: finish the run."
    )


class RecordOutcomeSerializer(serializers.Serializer):
    stored = serializers.IntegerField()
    duplicates = serializers.IntegerField(help_text="Cells already recorded (not stored again).")
    scores = serializers.IntegerField()
    experiment = ExperimentDetailSerializer(
        required=False, allow_null=True, help_text="With finish: the finished experiment."
    )


def _variant_spec(spec: dict) -> CodeVariantSpec:
    version = None
    if spec.get("prompt"):
        version = selectors.prompt_version_for_field(spec, field="variants")
    return CodeVariantSpec(
        label=spec["label"],
        prompt_version=version,
        settings=spec.get("settings") or {},
        is_baseline=spec.get("is_baseline", False),
    )


class CodeRunOpenView(TeamGenericAPIView):
    write_scope = WRITE
    serializer_class = CodeRunSerializer
    conflict_methods = ("post",)

    @extend_schema(
        request=CodeRunOpenSerializer, responses={200: CodeRunSerializer, 201: CodeRunSerializer}
    )
    def post(self, request):
        serializer = CodeRunOpenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        experiment, created = code_experiment_start(
            team=self.team,
            actor=self.actor,
            name=data["name"],
            description=data.get("description", ""),
            dataset=_dataset(data),
            dataset_revision=data.get("dataset_revision"),
            split=data.get("split", ""),
            variants=[_variant_spec(spec) for spec in data["variants"]],
            evaluators=[
                selectors.evaluator_for_field(ref, field="evaluators")
                for ref in data.get("evaluators") or []
            ],
            sdk_evaluators=[
                SdkEvaluatorSpec(name=e["name"], source_hash=e.get("source_hash", ""))
                for e in data.get("sdk_evaluators") or []
            ],
            repetitions=data["repetitions"],
            concurrency=data["concurrency"],
            default_variant=data.get("default_variant", False),
        )
        body = {
            "created": created,
            "experiment": ExperimentDetailSerializer(selectors.experiment_get(experiment.pk)).data,
        }
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class CodeRunCellsView(TeamGenericAPIView):
    write_scope = WRITE
    serializer_class = CellPageSerializer

    @extend_schema(parameters=[CellFilters], responses=CellPageSerializer)
    def get(self, request, experiment_id):
        experiment = selectors.experiment_get(experiment_id)
        filters = query_params(CellFilters, request)
        rows, next_after = selectors.code_experiment_cells(experiment, after=filters.get("after"))
        return Response({"results": rows, "next_after": next_after})


class CodeRunRecordsView(TeamGenericAPIView):
    write_scope = WRITE
    serializer_class = RecordOutcomeSerializer
    conflict_methods = ("post",)

    @extend_schema(request=RecordBatchSerializer, responses=RecordOutcomeSerializer)
    def post(self, request, experiment_id):
        experiment = selectors.experiment_get(experiment_id)  # another team's: 404 first
        serializer = RecordBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        outcome = code_results_record(
            team=self.team,
            actor=self.actor,
            experiment=experiment,
            rows=serializer.validated_data["rows"],
        )
        body = {
            "stored": outcome.stored,
            "duplicates": outcome.duplicates,
            "scores": outcome.scores,
            "experiment": None,
        }
        if serializer.validated_data.get("finish"):
            code_run_record_end(team=self.team, actor=self.actor, experiment=experiment)
            body["experiment"] = ExperimentDetailSerializer(
                selectors.experiment_get(experiment.pk)
            ).data
        return Response(body)


class CodeRunFinishView(TeamGenericAPIView):
    write_scope = WRITE
    serializer_class = ExperimentDetailSerializer
    conflict_methods = ("post",)

    @extend_schema(request=None, responses=ExperimentDetailSerializer)
    def post(self, request, experiment_id):
        experiment = code_run_record_end(
            team=self.team, actor=self.actor, experiment=selectors.experiment_get(experiment_id)
        )
        return Response(ExperimentDetailSerializer(selectors.experiment_get(experiment.pk)).data)
