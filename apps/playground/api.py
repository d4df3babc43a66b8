"""Playground run history, read-only: what was run, by whom, with what result."""

from __future__ import annotations

from rest_framework import mixins
from rest_framework.response import Response

from apps.core.errors import NotFound
from apps.core.pagination import StandardPagination
from apps.playground.models import PlaygroundRun
from apps.playground.serializers import PlaygroundRunSerializer
from apps.teams.api_base import TeamGenericAPIView

READ = "prompts:read"


def _runs():
    return PlaygroundRun.objects.select_related("user").order_by("-created_at", "-pk")


class PlaygroundRunListView(mixins.ListModelMixin, TeamGenericAPIView):
    serializer_class = PlaygroundRunSerializer
    pagination_class = StandardPagination
    read_scope = READ

    def get_queryset(self):
        return _runs()

    def get(self, request):
        return self.list(request)


class PlaygroundRunDetailView(TeamGenericAPIView):
    serializer_class = PlaygroundRunSerializer
    read_scope = READ

    def get(self, request, playground_run_id):
        try:
            run = _runs().get(pk=playground_run_id)
        except PlaygroundRun.DoesNotExist:
            raise NotFound("No such playground run.") from None
        return Response(self.get_serializer(run).data)
