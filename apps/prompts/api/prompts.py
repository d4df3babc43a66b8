"""Prompts: the paginated list, creating one, editing its description.

GET /prompts/ and GET /prompts/<name>/ are the serving views (apps.prompts.api.serving);
they hand the list (without ?tag) and every write method to the views here.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.prompts import selectors, services
from apps.prompts.api.base import HubAPIView, validated
from apps.prompts.api.serializers import (
    PromptCreateSerializer,
    PromptSerializer,
    PromptUpdateSerializer,
)


class PromptListCreateView(HubAPIView):
    serializer_class = PromptSerializer

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="Search name and description.")],
        responses=PromptSerializer(many=True),
    )
    def get(self, request, *args, **kwargs):
        prompts = selectors.prompt_list(search=request.query_params.get("q", ""))
        page = self.paginate_queryset(prompts)
        return self.get_paginated_response(PromptSerializer(page, many=True).data)

    @extend_schema(request=PromptCreateSerializer, responses={201: PromptSerializer})
    def post(self, request, *args, **kwargs):
        data = validated(PromptCreateSerializer, request)
        prompt = services.prompt_create(team=self.team, actor=self.actor, **data)
        return Response(PromptSerializer(prompt).data, status=status.HTTP_201_CREATED)


class PromptDetailView(HubAPIView):
    """Write methods on /prompts/<name>/ (GET there is the serving view)."""

    serializer_class = PromptSerializer

    @extend_schema(request=PromptUpdateSerializer, responses=PromptSerializer)
    def patch(self, request, prompt_name: str, *args, **kwargs):
        prompt = selectors.prompt_get(prompt_name)
        data = validated(PromptUpdateSerializer, request)
        prompt = services.prompt_update(
            team=self.team,
            actor=self.actor,
            prompt=prompt,
            description=data.get("description", prompt.description),
        )
        return Response(PromptSerializer(prompt).data)
