"""Optimisation API: create (and start), read, cancel and resume runs, and request the
promotion of a finished run's best version with its evidence.

Keys read with `experiments:read` and write with `experiments:write` (the services check
the person's role too)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.datasets.selectors import dataset_for_field
from apps.experiments.selectors import evaluators_for_field
from apps.optimisation import selectors, services
from apps.optimisation.models import Candidate, OptimisationRun, Proposal, Round
from apps.optimisation.services import WRITE
from apps.prompts.api.serializers import EvidenceRefField
from apps.teams.api_base import TeamGenericAPIView


class CandidateSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", allow_null=True)
    components = serializers.JSONField()

    class Meta:
        model = Candidate
        fields = [
            "index",
            "round",
            "parent_index",
            "version",
            "components",
            "rationale",
            "train_score",
            "train_pass_rate",
        ]
        read_only_fields = fields


class ProposalSerializer(serializers.ModelSerializer):
    parent_components = serializers.JSONField()
    components = serializers.JSONField()
    minibatch_ids = serializers.ListField(child=serializers.CharField())
    parent_scores = serializers.ListField(child=serializers.FloatField())
    scores = serializers.ListField(child=serializers.FloatField())

    class Meta:
        model = Proposal
        fields = [
            "round",
            "position",
            "parent_index",
            "parent_components",
            "components",
            "reflection",
            "rationale",
            "minibatch_ids",
            "parent_scores",
            "scores",
            "accepted",
            "candidate_index",
            "reason",
        ]
        read_only_fields = fields


class RoundSerializer(serializers.ModelSerializer):
    class Meta:
        model = Round
        fields = ["number", "accepted", "best_train_score", "calls_used"]
        read_only_fields = fields


class OptimisationRunSerializer(serializers.ModelSerializer):
    prompt = serializers.CharField(source="prompt_version.prompt.name")
    version = serializers.IntegerField(source="prompt_version.number")
    evaluators = serializers.SerializerMethodField()
    train_ids = serializers.JSONField()
    validation_ids = serializers.JSONField()
    task_settings = serializers.JSONField()
    reflection_settings = serializers.JSONField()
    comparison = serializers.JSONField()
    max_cost = serializers.FloatField(allow_null=True)
    cost_used = serializers.FloatField()
    best_version = serializers.SerializerMethodField()
    promotion_id = serializers.IntegerField(allow_null=True)
    rounds = serializers.SerializerMethodField()
    candidates = serializers.SerializerMethodField()
    proposals = serializers.SerializerMethodField(
        help_text="Every proposal, accepted into the pool or rejected on its minibatch."
    )

    class Meta:
        model = OptimisationRun
        fields = [
            "id",
            "name",
            "status",
            "status_detail",
            "error",
            "prompt",
            "version",
            "prompt_version_id",
            "dataset_id",
            "dataset_revision",
            "train_ids",
            "validation_ids",
            "split_note",
            "evaluators",
            "annotation_queue_id",
            "task_settings",
            "reflection_settings",
            "max_rounds",
            "max_calls",
            "max_cost",
            "rounds_done",
            "calls_used",
            "cost_used",
            "best_version",
            "comparison",
            "promotion_id",
            "created_at",
            "started_at",
            "finished_at",
            "rounds",
            "candidates",
            "proposals",
        ]
        read_only_fields = fields

    def get_evaluators(self, obj) -> list[int]:
        return sorted(e.pk for e in obj.evaluators.all())

    def get_best_version(self, obj) -> int | None:
        best = obj.best_candidate
        return best.version.number if best is not None and best.version is not None else None

    def get_rounds(self, obj) -> list[dict]:
        return [dict(RoundSerializer(r).data) for r in selectors.run_rounds(obj)]

    def get_candidates(self, obj) -> list[dict]:
        return [dict(CandidateSerializer(c).data) for c in selectors.run_candidates(obj)]

    @extend_schema_field(ProposalSerializer(many=True))
    def get_proposals(self, obj) -> list[dict]:
        return [dict(ProposalSerializer(p).data) for p in selectors.run_proposals(obj)]


class OptimisationCreateSerializer(serializers.Serializer):
    prompt_version_id = serializers.IntegerField(min_value=1, max_value=selectors.MAX_ID)
    dataset = serializers.IntegerField(min_value=1, max_value=selectors.MAX_ID)
    evaluators = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=selectors.MAX_ID), min_length=1
    )
    name = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)
    train_split = serializers.CharField(required=False, allow_blank=True, default="")
    validation_split = serializers.CharField(required=False, allow_blank=True, default="")
    train_ids = serializers.ListField(child=serializers.CharField(), required=False)
    validation_ids = serializers.ListField(child=serializers.CharField(), required=False)
    validation_share = serializers.FloatField(required=False, allow_null=True, default=None)
    annotation_queue = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=selectors.MAX_ID
    )
    task_provider_id = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=selectors.MAX_ID
    )
    task_model = serializers.CharField(required=False, allow_blank=True, default="")
    reflection_provider_id = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=selectors.MAX_ID
    )
    reflection_model = serializers.CharField(required=False, allow_blank=True, default="")
    max_rounds = serializers.IntegerField(required=False, default=5)
    max_calls = serializers.IntegerField(required=False, default=200)
    max_cost = serializers.DecimalField(
        required=False, allow_null=True, max_digits=12, decimal_places=4, default=None
    )
    minibatch_size = serializers.IntegerField(required=False, default=4)
    concurrency = serializers.IntegerField(required=False, default=8)
    margin = serializers.FloatField(required=False, default=0.05)
    seed = serializers.IntegerField(required=False, default=0)
    start = serializers.BooleanField(required=False, default=True)


class OptimisationPromotionRequestSerializer(serializers.Serializer):
    tag_name = serializers.CharField(required=False, default="production", max_length=100)
    description = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        default=None,
        help_text="Empty: the run's validation comparison (the evidence) in words.",
    )
    evidence = serializers.ListField(
        child=EvidenceRefField(),
        required=False,
        default=list,
        help_text="More evidence beside the run, which is always attached.",
    )


class OptimisationPromotionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    tag_name = serializers.CharField()
    candidate_version = serializers.IntegerField()
    description = serializers.CharField()
    evidence = serializers.ListField(
        child=EvidenceRefField(), help_text='The run ("optimisation:<id>") and any more.'
    )


class OptimisationListCreateView(TeamGenericAPIView):
    write_scope = WRITE
    serializer_class = OptimisationRunSerializer
    conflict_methods = ("post",)

    @extend_schema(responses=OptimisationRunSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(selectors.runs_list())
        return self.get_paginated_response(OptimisationRunSerializer(page, many=True).data)

    @extend_schema(request=OptimisationCreateSerializer, responses={201: OptimisationRunSerializer})
    def post(self, request):
        serializer = OptimisationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        start = data.pop("start")
        version = selectors.version_for_field(data.pop("prompt_version_id"))
        dataset = dataset_for_field(data.pop("dataset"), field="dataset")
        evaluators = evaluators_for_field(data.pop("evaluators"), field="evaluators")
        queue = selectors.queue_for_field(
            data.pop("annotation_queue"), team=self.team, actor=self.actor
        )
        run = services.optimisation_run_create(
            team=self.team,
            actor=self.actor,
            prompt_version=version,
            dataset=dataset,
            evaluators=evaluators,
            annotation_queue=queue,
            **data,
        )
        if start:
            run = services.optimisation_run_start(team=self.team, actor=self.actor, run=run)
        body = OptimisationRunSerializer(selectors.run_get(run.pk)).data
        return Response(body, status=status.HTTP_201_CREATED)


class OptimisationDetailView(TeamGenericAPIView):
    write_scope = WRITE  # GET only: names the area, so reads need a scope (api_base)
    serializer_class = OptimisationRunSerializer

    def get(self, request, optimisation_id):
        return Response(OptimisationRunSerializer(selectors.run_get(optimisation_id)).data)


class _ActionView(TeamGenericAPIView):
    write_scope = WRITE
    serializer_class = OptimisationRunSerializer
    conflict_methods = ("post",)

    def act(self, run: OptimisationRun) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    @extend_schema(request=None, responses=OptimisationRunSerializer)
    def post(self, request, optimisation_id):
        run = selectors.run_get(optimisation_id)
        self.act(run)
        return Response(OptimisationRunSerializer(selectors.run_get(run.pk)).data)


class OptimisationStartView(_ActionView):
    def act(self, run: OptimisationRun) -> None:
        services.optimisation_run_start(team=self.team, actor=self.actor, run=run)


class OptimisationCancelView(_ActionView):
    def act(self, run: OptimisationRun) -> None:
        services.optimisation_run_cancel(team=self.team, actor=self.actor, run=run)


class OptimisationResumeView(_ActionView):
    def act(self, run: OptimisationRun) -> None:
        services.optimisation_run_resume(team=self.team, actor=self.actor, run=run)


class OptimisationPromotionView(TeamGenericAPIView):
    """Request promotion of the run's best version, the comparison as its evidence."""

    write_scope = WRITE
    serializer_class = OptimisationPromotionSerializer
    conflict_methods = ("post",)

    @extend_schema(
        request=OptimisationPromotionRequestSerializer,
        responses={201: OptimisationPromotionSerializer},
    )
    def post(self, request, optimisation_id):
        run = selectors.run_get(optimisation_id)
        serializer = OptimisationPromotionRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        promotion = services.optimisation_promotion_create(
            team=self.team, actor=self.actor, run=run, **serializer.validated_data
        )
        body = {
            "id": promotion.pk,
            "tag_name": promotion.tag_name,
            "candidate_version": promotion.candidate.number,
            "description": promotion.description,
            "evidence": promotion.evidence,
        }
        return Response(OptimisationPromotionSerializer(body).data, status=status.HTTP_201_CREATED)
