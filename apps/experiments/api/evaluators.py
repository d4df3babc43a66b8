"""Evaluators API: list, create, read, update (a new version when the rule changes), delete."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.experiments import selectors, services
from apps.experiments.evaluators.base import REGISTRY
from apps.experiments.models import Evaluator
from apps.experiments.services import WRITE
from apps.teams.api_base import TeamGenericAPIView


class ExperimentEvaluatorSerializer(serializers.ModelSerializer):
    params = serializers.JSONField()

    class Meta:
        model = Evaluator
        fields = ["id", "name", "description", "kind", "params", "version", "created_at"]
        read_only_fields = fields


def evaluator_kinds() -> list[str]:
    """The registered evaluator kinds (the registry fills as the evaluator modules load);
    the schema's EvaluatorKindEnum (settings.SPECTACULAR_SETTINGS)."""
    return sorted(REGISTRY)


class EvaluatorKindField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault("error_messages", {"invalid_choice": "Unknown evaluator kind '{input}'."})
        super().__init__(choices=evaluator_kinds(), **kwargs)


class ExperimentEvaluatorWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = EvaluatorKindField()
    params = serializers.DictField(required=False, default=dict)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ExperimentEvaluatorUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    kind = EvaluatorKindField(required=False)
    params = serializers.DictField(required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class EvaluatorListCreateView(TeamGenericAPIView):
    write_scope = WRITE
    serializer_class = ExperimentEvaluatorSerializer

    @extend_schema(responses=ExperimentEvaluatorSerializer(many=True))
    def get(self, request):
        page = self.paginate_queryset(selectors.evaluator_list())
        return self.get_paginated_response(ExperimentEvaluatorSerializer(page, many=True).data)

    @extend_schema(
        request=ExperimentEvaluatorWriteSerializer, responses={201: ExperimentEvaluatorSerializer}
    )
    def post(self, request):
        serializer = ExperimentEvaluatorWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        evaluator = services.evaluator_create(
            team=self.team, actor=self.actor, **serializer.validated_data
        )
        return Response(
            ExperimentEvaluatorSerializer(evaluator).data, status=status.HTTP_201_CREATED
        )


class EvaluatorDetailView(TeamGenericAPIView):
    write_scope = WRITE
    serializer_class = ExperimentEvaluatorSerializer

    def get(self, request, evaluator_id):
        return Response(ExperimentEvaluatorSerializer(selectors.evaluator_get(evaluator_id)).data)

    @extend_schema(
        request=ExperimentEvaluatorUpdateSerializer, responses=ExperimentEvaluatorSerializer
    )
    def patch(self, request, evaluator_id):
        evaluator = selectors.evaluator_get(evaluator_id)
        serializer = ExperimentEvaluatorUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        evaluator = services.evaluator_update(
            team=self.team, actor=self.actor, evaluator=evaluator, **serializer.validated_data
        )
        return Response(ExperimentEvaluatorSerializer(evaluator).data)

    @extend_schema(responses={204: None})
    def delete(self, request, evaluator_id):
        services.evaluator_delete(
            team=self.team, actor=self.actor, evaluator=selectors.evaluator_get(evaluator_id)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
