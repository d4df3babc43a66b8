"""Rollouts: start one on an unprotected tag, list and read them, step up, abort. (On a
protected tag a rollout starts through a promotion request with `rollout_percent`.)"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.query import query_params
from apps.prompts import rollout_measures, selectors, services
from apps.prompts.api.base import HubAPIView, validated
from apps.prompts.api.serializers import (
    RolloutAbortSerializer,
    RolloutDetailSerializer,
    RolloutGuardrailSerializer,
    RolloutSerializer,
    RolloutStartSerializer,
    RolloutStepSerializer,
)
from apps.prompts.models import RolloutStatus


class RolloutFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=RolloutStatus.values, required=False)
    prompt = serializers.CharField(required=False, help_text="Prompt name.")


class RolloutListView(HubAPIView):
    serializer_class = RolloutSerializer

    @extend_schema(parameters=[RolloutFilters], responses=RolloutSerializer(many=True))
    def get(self, request):
        filters = query_params(RolloutFilters, request)
        prompt = None
        if filters.get("prompt"):
            prompt = selectors.prompt_for_field(filters["prompt"], field="prompt")
        qs = selectors.rollouts(prompt=prompt, status=filters.get("status"))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(RolloutSerializer(page, many=True).data)


class RolloutStartView(HubAPIView):
    """Start a rollout of `candidate` on an unprotected tag at `percent` %. A protected tag
    answers 403: request a promotion with `rollout_percent` and have it approved."""

    serializer_class = RolloutSerializer
    conflict_methods = ("post",)

    @extend_schema(request=RolloutStartSerializer, responses={201: RolloutSerializer})
    def post(self, request, prompt_name: str, tag_name: str):
        prompt = selectors.prompt_get(prompt_name)
        data = validated(RolloutStartSerializer, request)
        candidate = selectors.version_for_field(prompt, data["candidate"], field="candidate")
        rollout = services.rollout_start(
            team=self.team,
            actor=self.actor,
            prompt=prompt,
            tag_name=tag_name,
            candidate=candidate,
            percent=data["percent"],
            reason=data["reason"],
            guardrail_margin=data["guardrail_margin"],
            guardrail_score=data["guardrail_score"],
        )
        return Response(
            RolloutSerializer(selectors.rollout_get(rollout.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class RolloutDetailView(HubAPIView):
    """The rollout, and under `comparison` how its arms compare in production (counts,
    error rates with intervals, latency p50/p95, cost per call, the guardrail's state)."""

    serializer_class = RolloutSerializer

    @extend_schema(responses=RolloutDetailSerializer)
    def get(self, request, rollout_id: int):
        rollout = selectors.rollout_get(rollout_id)
        data = dict(RolloutSerializer(rollout).data)
        data["comparison"] = rollout_measures.comparison(rollout)
        return Response(data)


class RolloutStepView(HubAPIView):
    """Serve the candidate to more traffic; 100 completes the rollout (the tag moves)."""

    serializer_class = RolloutSerializer
    conflict_methods = ("post",)

    @extend_schema(request=RolloutStepSerializer, responses=RolloutSerializer)
    def post(self, request, rollout_id: int):
        rollout = selectors.rollout_get(rollout_id)
        data = validated(RolloutStepSerializer, request)
        services.rollout_step(
            team=self.team,
            actor=self.actor,
            rollout=rollout,
            percent=data["percent"],
            reason=data["reason"],
        )
        return Response(RolloutSerializer(selectors.rollout_get(rollout_id)).data)


class RolloutAbortView(HubAPIView):
    """All traffic back to the current version at once (0 %)."""

    serializer_class = RolloutSerializer
    conflict_methods = ("post",)

    @extend_schema(request=RolloutAbortSerializer, responses=RolloutSerializer)
    def post(self, request, rollout_id: int):
        rollout = selectors.rollout_get(rollout_id)
        data = validated(RolloutAbortSerializer, request)
        services.rollout_abort(
            team=self.team, actor=self.actor, rollout=rollout, reason=data["reason"]
        )
        return Response(RolloutSerializer(selectors.rollout_get(rollout_id)).data)


class RolloutGuardrailView(HubAPIView):
    """Change a running rollout's guardrail: its margin (null: none) and the score of the
    arms' traces it watches besides the error rate. Whoever may steer the rollout may."""

    serializer_class = RolloutSerializer
    conflict_methods = ("post",)

    @extend_schema(request=RolloutGuardrailSerializer, responses=RolloutSerializer)
    def post(self, request, rollout_id: int):
        rollout = selectors.rollout_get(rollout_id)
        data = validated(RolloutGuardrailSerializer, request)
        services.rollout_guardrail_set(
            team=self.team,
            actor=self.actor,
            rollout=rollout,
            margin=data["guardrail_margin"],
            score=data["guardrail_score"],
        )
        return Response(RolloutSerializer(selectors.rollout_get(rollout_id)).data)
