"""Tags: list, move, roll back, and the history of their moves."""

from __future__ import annotations

from typing import ClassVar, Protocol

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.prompts import selectors, services
from apps.prompts.api.base import HubAPIView, validated
from apps.prompts.api.serializers import (
    TagCreateSerializer,
    TagEventSerializer,
    TagMoveSerializer,
    TagSerializer,
)
from apps.prompts.models import Prompt, PromptVersion, TagEvent
from apps.teams.actors import Actor
from apps.teams.models import Team


class TagListView(HubAPIView):
    serializer_class = TagSerializer
    pagination_class = None

    @extend_schema(responses=TagSerializer(many=True))
    def get(self, request, prompt_name: str):
        prompt = selectors.prompt_get(prompt_name)
        tags = selectors.tags_of(prompt)
        return Response(TagSerializer(tags, many=True, context={"team": self.team}).data)


class TagService(Protocol):
    """The services `_TagChangeView` calls (tag_move, tag_rollback)."""

    def __call__(
        self,
        *,
        team: Team,
        actor: Actor,
        prompt: Prompt,
        tag_name: str,
        version: PromptVersion,
        reason: str = ...,
    ) -> TagEvent: ...


class _TagChangeView(HubAPIView):
    """POST {version, reason}: one tag change through `tag_service`; 201 with the event."""

    serializer_class = TagEventSerializer
    tag_service: ClassVar[TagService]
    conflict_methods = ("post",)

    @extend_schema(request=TagMoveSerializer, responses={201: TagEventSerializer})
    def post(self, request, prompt_name: str, tag_name: str):
        return self.change(request, prompt_name, tag_name, TagMoveSerializer)

    def change(self, request, prompt_name: str, tag_name: str, shape, **extra) -> Response:
        prompt = selectors.prompt_get(prompt_name)
        data = validated(shape, request)
        version = selectors.version_for_field(prompt, data["version"], field="version")
        if "immutable" in data:
            extra["immutable"] = data["immutable"]
        event = self.tag_service(
            team=self.team,
            actor=self.actor,
            prompt=prompt,
            tag_name=tag_name,
            version=version,
            reason=data["reason"],
            **extra,
        )
        return Response(TagEventSerializer(event).data, status=status.HTTP_201_CREATED)


class TagMoveView(_TagChangeView):
    """Move an unprotected tag, or create it (`immutable`: as a frozen release label).
    Protected tags answer 403: request a promotion. A frozen tag answers 409."""

    tag_service = staticmethod(services.tag_move)

    @extend_schema(request=TagCreateSerializer, responses={201: TagEventSerializer})
    def post(self, request, prompt_name: str, tag_name: str):
        return self.change(request, prompt_name, tag_name, TagCreateSerializer)


class TagRollbackView(_TagChangeView):
    """Move a tag back to a version it pointed at before. On a protected tag: owners and
    admins (API keys: admin scope) only, with a mandatory reason."""

    tag_service = staticmethod(services.tag_rollback)


class TagHistoryView(HubAPIView):
    serializer_class = TagEventSerializer

    @extend_schema(responses=TagEventSerializer(many=True))
    def get(self, request, prompt_name: str, tag_name: str | None = None):
        prompt = selectors.prompt_get(prompt_name)
        events = selectors.tag_history(prompt, tag_name)
        page = self.paginate_queryset(events)
        return self.get_paginated_response(TagEventSerializer(page, many=True).data)
