"""Versions: list, create, read. A saved version has no update route."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.core.errors import ValidationFailed
from apps.core.query import query_integer
from apps.prompts import selectors, services
from apps.prompts.api.base import HubAPIView, validated
from apps.prompts.api.serializers import (
    VersionCreateSerializer,
    VersionDiffSerializer,
    VersionSerializer,
)
from apps.prompts.diffing import version_diff


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


def _version_number(request, name: str) -> int:
    number = query_integer(request.query_params, name, minimum=1, maximum=2**31 - 1)
    if number is None:
        raise ValidationFailed(f"{name} is required: a version number.", field=name)
    return number


def _unified_text(section: dict, old: int, new: int) -> str:
    if section["same"]:
        return ""
    lines = [f"--- {section['title']} v{old}", f"+++ {section['title']} v{new}"]
    lines += [line.text for line in section["unified"]]
    return "\n".join(lines) + "\n"


class VersionDiffView(HubAPIView):
    """What changed from one version to another, as the diff page shows it: the content
    and the model settings, each a unified diff."""

    serializer_class = VersionDiffSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                name, {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, required=True
            )
            for name in ("from", "to")
        ],
        responses=VersionDiffSerializer,
    )
    def get(self, request, prompt_name: str):
        prompt = selectors.prompt_get(prompt_name)
        old = selectors.version_get(prompt, _version_number(request, "from"))
        new = selectors.version_get(prompt, _version_number(request, "to"))
        diff = version_diff(old, new)
        return Response(
            {
                "prompt": prompt.name,
                "from_version": old.number,
                "to_version": new.number,
                "sections": [
                    {
                        "title": section["title"],
                        "same": section["same"],
                        "unified": _unified_text(section, old.number, new.number),
                    }
                    for section in diff["sections"]
                ],
            }
        )
