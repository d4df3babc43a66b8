"""Versions: list, create, read. A saved version has no update route."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.prompts import selectors, services
from apps.prompts.api.base import HubAPIView, validated
from apps.prompts.api.serializers import VersionCreateSerializer, VersionSerializer


class VersionListCreateView(HubAPIView):
    serializer_class = VersionSerializer

    @extend_schema(responses=VersionSerializer(many=True))
    def get(self, request, prompt_name: str):
        prompt = selectors.prompt_get(prompt_name)
        versions = selectors.versions_with_parents(prompt)
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(VersionSerializer(page, many=True).data)

    @extend_schema(request=VersionCreateSerializer, responses={201: VersionSerializer})
    def post(self, request, prompt_name: str):
        prompt = selectors.prompt_get(prompt_name)
        data = dict(validated(VersionCreateSerializer, request))
        parent_number = data.pop("parent")
        parent = None
        if parent_number:
            parent = selectors.version_for_field(prompt, parent_number, field="parent")
        version = services.version_create(
            team=self.team, actor=self.actor, prompt=prompt, parent=parent, **data
        )
        return Response(VersionSerializer(version).data, status=status.HTTP_201_CREATED)


class VersionDetailView(HubAPIView):
    """Read only: a saved version never changes (no PUT, PATCH or DELETE)."""

    serializer_class = VersionSerializer

    @extend_schema(responses=VersionSerializer)
    def get(self, request, prompt_name: str, version_number: int):
        prompt = selectors.prompt_get(prompt_name)
        return Response(VersionSerializer(selectors.version_get(prompt, version_number)).data)
