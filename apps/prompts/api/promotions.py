"""Promotion requests: list, create, read, and the review decisions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response

from apps.core.query import query_params
from apps.prompts import selectors, services
from apps.prompts.api.base import HubAPIView, validated
from apps.prompts.api.serializers import (
    PromotionCreateSerializer,
    PromotionSerializer,
    ReviewSerializer,
)
from apps.prompts.models import PromotionStatus


class PromotionFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=PromotionStatus.values, required=False)
    prompt = serializers.CharField(required=False, help_text="Prompt name.")


class PromotionListCreateView(HubAPIView):
    serializer_class = PromotionSerializer
    conflict_methods = ("post",)

    @extend_schema(parameters=[PromotionFilters], responses=PromotionSerializer(many=True))
    def get(self, request):
        filters = query_params(PromotionFilters, request)
        prompt = None
        if filters.get("prompt"):
            prompt = selectors.prompt_for_field(filters["prompt"], field="prompt")
        qs = selectors.promotions(prompt=prompt, status=filters.get("status"))
        page = self.paginate_queryset(qs)
        return self.get_paginated_response(PromotionSerializer(page, many=True).data)

    @extend_schema(request=PromotionCreateSerializer, responses={201: PromotionSerializer})
    def post(self, request):
        data = validated(PromotionCreateSerializer, request)
        prompt = selectors.prompt_for_field(data["prompt"], field="prompt")
        candidate = selectors.version_for_field(prompt, data["candidate"], field="candidate")
        promotion = services.promotion_request_create(
            team=self.team,
            actor=self.actor,
            prompt=prompt,
            tag_name=data["tag_name"],
            candidate=candidate,
            description=data["description"],
            evidence=data["evidence"],
            rollout_percent=data["rollout_percent"],
        )
        return Response(PromotionSerializer(promotion).data, status=status.HTTP_201_CREATED)


class PromotionDetailView(HubAPIView):
    serializer_class = PromotionSerializer

    @extend_schema(responses=PromotionSerializer)
    def get(self, request, promotion_id: int):
        return Response(PromotionSerializer(selectors.promotion_get(promotion_id)).data)


class _PromotionDecisionView(HubAPIView):
    serializer_class = PromotionSerializer
    conflict_methods = ("post",)
    decision = ""

    @extend_schema(request=ReviewSerializer, responses=PromotionSerializer)
    def post(self, request, promotion_id: int):
        promotion = selectors.promotion_get(promotion_id)
        comment = validated(ReviewSerializer, request)["comment"]
        if self.decision == "approve":
            promotion = services.promotion_approve(
                team=self.team, actor=self.actor, promotion=promotion, comment=comment
            )
        elif self.decision == "reject":
            promotion = services.promotion_reject(
                team=self.team, actor=self.actor, promotion=promotion, comment=comment
            )
        else:
            promotion = services.promotion_cancel(
                team=self.team, actor=self.actor, promotion=promotion
            )
        return Response(PromotionSerializer(selectors.promotion_get(promotion.pk)).data)


class PromotionApproveView(_PromotionDecisionView):
    """Approve and move the tag. 409 when the tag moved since the request (superseded)."""

    decision = "approve"


class PromotionRejectView(_PromotionDecisionView):
    decision = "reject"


class PromotionCancelView(_PromotionDecisionView):
    decision = "cancel"
